//! Token revocation (RFC 7009): revoked access tokens are remembered by
//! `jti` until they expire.

use crate::token::{internal, TokenService};
use keyzone_domain::zone::Zone;
use keyzone_domain::Timestamp;
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::request::Form;
use keyzone_oauth::{ErrorCode, OAuthError};

impl TokenService {
    /// Token revocation (RFC 7009): only the client a token was issued to
    /// may revoke it; an unknown or dead token is not an error (§2.2).
    pub async fn revoke(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate(zone, auth).await?;
        let token = form.required("token")?;
        let Some(claims) = self.live_token(zone, token).await? else {
            return Ok(());
        };
        if claims.get("client_id").and_then(|v| v.as_str()) != Some(client.client_id.as_str()) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this token was not issued to the authenticated client",
            ));
        }
        let jti = claims
            .get("jti")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let exp = claims.get("exp").and_then(|v| v.as_u64()).unwrap_or(0);
        self.store
            .revoke_token(
                &zone.id,
                jti,
                Timestamp::from_micros(exp as i64 * 1_000_000),
            )
            .await
            .map_err(|e| internal(e.into()))
    }
}
