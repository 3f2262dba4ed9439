//! `GET /_matrix/client/v3/login`

use ruma::api::client::session::get_login_types::v3::{
    self, LoginType, PasswordLoginType, TokenLoginType,
};

use crate::{Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/login`
pub async fn get_login_types(_request: Ruma<v3::Request>) -> RumaResponse<v3::Response> {
    let mut token = TokenLoginType::new();
    token.get_login_token = true;
    RumaResponse(v3::Response::new(vec![
        LoginType::Password(PasswordLoginType::new()),
        LoginType::Token(token),
    ]))
}
