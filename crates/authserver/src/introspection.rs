//! Token introspection (RFC 7662) for authenticated applications of the zone.

use crate::token::TokenService;
use keyzone_domain::zone::Zone;
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::request::Form;
use keyzone_oauth::OAuthError;

impl TokenService {
    /// Token introspection (RFC 7662) for an authenticated application of
    /// the zone: `{"active": false}` for anything not live.
    pub async fn introspect(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<serde_json::Value, OAuthError> {
        self.authenticate(zone, auth).await?;
        let token = form.required("token")?;
        Ok(match self.live_token(zone, token).await? {
            Some(mut claims) => {
                claims["active"] = serde_json::json!(true);
                claims["token_type"] = serde_json::json!("Bearer");
                claims
            }
            None => serde_json::json!({ "active": false }),
        })
    }
}
