//! The `client_credentials` grant (RFC 6749 §4.4): an application's own
//! token for the requested resources.

use super::issuance::Issuance;
use super::TokenService;
use crate::policy::{Grant, Subject};
use keyzone_domain::zone::Zone;
use keyzone_oauth::claims::TokenResponse;
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::request::Form;
use keyzone_oauth::OAuthError;

impl TokenService {
    pub(crate) async fn client_credentials(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate(zone, auth).await?;
        let resources = self.resources(zone, form).await?;
        let scopes = form.scopes()?;
        let subject = Subject {
            sub: client.application_id.to_string(),
            sub_profile: "app",
            client_id: client.client_id,
            application_id: Some(client.application_id),
            act: None,
            not_after: None,
        };
        self.issue(Issuance {
            zone,
            grant: Grant::ClientCredentials,
            subject,
            resources,
            scopes,
        })
        .await
    }
}
