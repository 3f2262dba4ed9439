//! Route registration from ruma metadata: every path an endpoint has ever had (r0, v3, unstable)
//! is served, and no path string is typed by hand.

use axum::{
    Router,
    handler::Handler,
    routing::{MethodFilter, on},
};
use ruma::api::{Metadata, path_builder::PathBuilder as _};

use crate::AppState;

/// Adds `handler` at every path of endpoint `T`.
pub fn route<T, H, X>(mut router: Router<AppState>, handler: H) -> Router<AppState>
where
    T: Metadata,
    H: Handler<X, AppState> + Clone,
    X: 'static,
{
    let method =
        MethodFilter::try_from(T::METHOD).expect("ruma endpoints only use standard HTTP methods");
    for path in T::PATH_BUILDER.all_paths() {
        router = router.route(path, on(method, handler.clone()));
    }
    router
}

/// Like [`route`], and also serves the path without its last segment (`/state/{type}` and
/// `/state/{type}/`), which clients use for an empty state key; the extractor supplies the
/// missing argument as `""`.
pub fn route_with_optional_last_segment<T, H, X>(
    mut router: Router<AppState>,
    handler: H,
) -> Router<AppState>
where
    T: Metadata,
    H: Handler<X, AppState> + Clone,
    X: 'static,
{
    let method =
        MethodFilter::try_from(T::METHOD).expect("ruma endpoints only use standard HTTP methods");
    for path in T::PATH_BUILDER.all_paths() {
        router = router.route(path, on(method, handler.clone()));
        if let Some((prefix, last)) = path.rsplit_once('/')
            && last.starts_with('{')
        {
            router = router.route(prefix, on(method, handler.clone()));
            router = router.route(&format!("{prefix}/"), on(method, handler.clone()));
        }
    }
    router
}

/// How many `{parameters}` an endpoint's path has.
pub fn path_parameter_count<T: Metadata>() -> usize {
    T::PATH_BUILDER
        .all_paths()
        .next()
        .map_or(0, |path| path.matches('{').count())
}
