//! `GET /_matrix/client/v3/account/whoami`

use ruma::api::client::account::whoami::v3;

use crate::{ApiError, Ruma, RumaResponse};

/// # `GET /_matrix/client/v3/account/whoami`
pub async fn whoami(request: Ruma<v3::Request>) -> Result<RumaResponse<v3::Response>, ApiError> {
    let identity = request.identity()?;
    let mut response = v3::Response::new(identity.user_id.clone(), false);
    response.device_id = Some(identity.device_id.clone());
    Ok(RumaResponse(response))
}
