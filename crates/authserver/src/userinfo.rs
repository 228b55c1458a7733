//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims of the
//! signed-in user a live user access token of the zone names, as its
//! scopes allow. Errors are RFC 6750 §3 `invalid_token`.

use crate::token::{internal, TokenService};
use keyzone_domain::identity::UserStatus;
use keyzone_domain::zone::Zone;
use keyzone_domain::UserId;
use keyzone_oauth::{ErrorCode, OAuthError};
use serde_json::{json, Value};

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the access token is not a live user token of this zone",
    )
}

impl TokenService {
    pub async fn userinfo(&self, zone: &Zone, bearer: Option<&str>) -> Result<Value, OAuthError> {
        let token = bearer.ok_or_else(invalid_token)?;
        let claims = self
            .live_token(zone, token)
            .await?
            .ok_or_else(invalid_token)?;
        if claims["sub_profile"] != "user" {
            return Err(invalid_token());
        }
        let user_id = claims["sub"]
            .as_str()
            .and_then(|s| UserId::parse(s).ok())
            .ok_or_else(invalid_token)?;
        let user = self
            .signin
            .get_user(&zone.id, &user_id)
            .await
            .map_err(|e| internal(e.into()))?
            .filter(|u| u.user.status == UserStatus::Active)
            .ok_or_else(invalid_token)?
            .user;
        let scopes: Vec<&str> = claims["scope"].as_str().unwrap_or("").split(' ').collect();
        let mut out = json!({ "sub": user.id.to_string() });
        if scopes.contains(&"profile") {
            if let Some(name) = self
                .signin
                .user_name(&zone.id, &user.id)
                .await
                .map_err(|e| internal(e.into()))?
            {
                out["name"] = json!(name);
            }
        }
        if scopes.contains(&"email") {
            out["email"] = json!(user.email);
            out["email_verified"] = json!(user.email_verified);
        }
        Ok(out)
    }
}
