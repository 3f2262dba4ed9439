//! `GET /_synapse/admin/v2/users` and `GET /_synapse/admin/v3/users`: local accounts, paged,
//! searched and ordered as Synapse does.

use axum::{Json, extract::State, http::Uri};
use serde_json::{Value as JsonValue, json};
use synapse_admin_api::users::list_users::v2;

use super::{endpoints::list_users_v3, require_admin, user_details};
use crate::{
    ApiError, AppState, Ruma,
    extract::{query_parameter, query_parameters},
};

/// What the listing keeps, from the query string (both versions read the same parameters;
/// v3's `deactivated` is tri-state, v2's only adds deactivated accounts when `true`).
struct Listing {
    from: usize,
    limit: usize,
    user_id: Option<String>,
    name: Option<String>,
    guests: bool,
    deactivated: Option<bool>,
    admins: Option<bool>,
    locked: bool,
    /// User types to leave out (`not_user_type`, repeatable; empty for people without one).
    not_user_types: Vec<String>,
    order_by: String,
    backwards: bool,
}

fn flag(uri: &Uri, name: &str) -> Option<bool> {
    query_parameter(uri, name).map(|value| value == "true")
}

fn listing(uri: &Uri, v3: bool) -> Listing {
    let deactivated = flag(uri, "deactivated");
    Listing {
        from: query_parameter(uri, "from")
            .and_then(|from| from.parse().ok())
            .unwrap_or(0),
        limit: query_parameter(uri, "limit")
            .and_then(|limit| limit.parse().ok())
            .unwrap_or(100),
        user_id: query_parameter(uri, "user_id"),
        name: query_parameter(uri, "name"),
        guests: flag(uri, "guests").unwrap_or(true),
        deactivated: if v3 {
            deactivated
        } else if deactivated == Some(true) {
            None
        } else {
            Some(false)
        },
        admins: flag(uri, "admins"),
        locked: flag(uri, "locked").unwrap_or(false),
        not_user_types: query_parameters(uri, "not_user_type"),
        order_by: query_parameter(uri, "order_by").unwrap_or_else(|| "name".into()),
        backwards: query_parameter(uri, "dir").as_deref() == Some("b"),
    }
}

/// # `GET /_synapse/admin/v2/users`
pub async fn list_users(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<v2::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    list(&state, &listing(&uri, false))
}

/// # `GET /_synapse/admin/v3/users`
pub async fn list_users_v3(
    State(state): State<AppState>,
    uri: Uri,
    request: Ruma<list_users_v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    require_admin(&state, request.identity()?)?;
    list(&state, &listing(&uri, true))
}

fn list(state: &AppState, listing: &Listing) -> Result<Json<JsonValue>, ApiError> {
    if listing.limit == 0 || listing.limit > 10_000 {
        return Err(myelin_core::Error::InvalidParam(
            "Query parameter limit must be a positive integer up to 10000".into(),
        )
        .into());
    }
    let mut users = Vec::new();
    for (user_id, record) in state.services.users.list_accounts()? {
        let details = user_details(state, &user_id, &record)?;
        let matches_text = |needle: &str, fields: &[&str]| {
            let needle = needle.to_lowercase();
            fields.iter().any(|field| {
                details[*field]
                    .as_str()
                    .is_some_and(|value| value.to_lowercase().contains(&needle))
            })
        };
        if listing
            .user_id
            .as_deref()
            .is_some_and(|needle| !matches_text(needle, &["name"]))
            || listing
                .name
                .as_deref()
                .is_some_and(|needle| !matches_text(needle, &["name", "displayname"]))
            || listing
                .deactivated
                .is_some_and(|wanted| record.deactivated != wanted)
            || listing.admins.is_some_and(|wanted| record.admin != wanted)
            || (!listing.locked && details["locked"] == true)
            || listing
                .not_user_types
                .iter()
                .any(|kind| record.user_type.as_deref().unwrap_or_default() == kind)
        {
            continue;
        }
        // Myelin has no guest accounts: `guests=false` leaves everyone in.
        let _ = listing.guests;
        users.push(details);
    }
    let key = |user: &JsonValue| -> (String, String) {
        let field = &user[listing.order_by.as_str()];
        let value = match field {
            JsonValue::String(text) => text.clone(),
            JsonValue::Number(number) => format!("{:020}", number.as_u64().unwrap_or(0)),
            JsonValue::Bool(true) => "1".into(),
            _ => String::new(),
        };
        (value, user["name"].as_str().unwrap_or_default().to_owned())
    };
    users.sort_by_key(key);
    if listing.backwards {
        users.reverse();
    }
    let total = users.len();
    let page: Vec<JsonValue> = users
        .into_iter()
        .skip(listing.from)
        .take(listing.limit)
        .collect();
    let mut answer = json!({ "users": page, "total": total });
    if listing.from + listing.limit < total {
        answer["next_token"] = (listing.from + listing.limit).to_string().into();
    }
    Ok(Json(answer))
}
