//! Endpoints of Synapse's admin API that the `synapse-admin-api` crate does not type, declared
//! the same way (ruma's metadata and request macros), so that their routes come from metadata
//! like every other route. Their shapes follow Synapse's `docs/admin_api/`. One file per
//! family; all are reached as `endpoints::<name>`.

/// An endpoint for administrators' tokens whose only parameters are in its path (a body or a
/// query string, where there is one, is read by the handler).
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal $(, $field:ident: $ty:ty)* $(,)?) => {
        $(#[$doc])*
        pub mod $name {
            use ruma::api::{auth_scheme::AccessToken, metadata, request, response};

            metadata! {
                method: $method,
                rate_limited: false,
                authentication: AccessToken,
                path: $path,
            }

            #[request]
            pub struct Request {
                $(
                    #[ruma_api(path)]
                    pub $field: $ty,
                )*
            }

            #[response]
            pub struct Response {}
        }
    };
}

mod media;
mod rooms;
mod server;
mod users;

pub use self::{media::*, rooms::*, server::*, users::*};
