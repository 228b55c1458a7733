//! RFC 8693 token exchange with zone-issued subject tokens: the dependency
//! and `when_accessing` rules, the nested actor chain, and lifetimes capped
//! by the subject token.

use super::client_auth::Client;
use super::issuance::Issuance;
use super::TokenService;
use crate::policy::{Grant, Subject};
use keyzone_domain::directory::CredentialKind;
use keyzone_domain::zone::Zone;
use keyzone_oauth::claims::TokenResponse;
use keyzone_oauth::client_auth::ClientAuth;
use keyzone_oauth::echo;
use keyzone_oauth::request::Form;
use keyzone_oauth::{ErrorCode, OAuthError};

pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Keycard's impersonation subject token: an unsigned JWT naming a user.
pub const TOKEN_TYPE_SUBSTITUTE_USER: &str = "urn:keycard:params:oauth:token-type:substitute-user";

/// The user a substitute-user token names. The token is `alg: none` by
/// design (`base64url(header).base64url({"sub": …}).`); it is parsed, never
/// trusted.
fn substitute_user(token: &str) -> Result<String, OAuthError> {
    use base64::Engine;
    let bad = || OAuthError::invalid_request("the substitute-user subject token is malformed");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    if token.len() > 8192 {
        return Err(bad());
    }
    let header: serde_json::Value =
        serde_json::from_slice(&b64.decode(h).map_err(|_| bad())?).map_err(|_| bad())?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") {
        return Err(bad());
    }
    let payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(p).map_err(|_| bad())?).map_err(|_| bad())?;
    payload
        .get("sub")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_owned)
        .ok_or_else(bad)
}

impl TokenService {
    /// RFC 8693 token exchange: a token for the requested resource, for the
    /// subject of `subject_token`, obtained by an application that depends
    /// on that resource.
    pub(crate) async fn token_exchange(
        &self,
        zone: &Zone,
        auth: ClientAuth,
        form: &Form,
    ) -> Result<TokenResponse, OAuthError> {
        let subject_token = form.required("subject_token")?;
        let subject_type = form.required("subject_token_type")?;
        let subject = match subject_type {
            TOKEN_TYPE_ACCESS_TOKEN | TOKEN_TYPE_JWT => {
                // RFC 8693 §2.2.2: an invalid subject token is invalid_request.
                self.live_token(zone, subject_token).await?.ok_or_else(|| {
                    OAuthError::invalid_request(
                        "the subject token is not a live access token of this zone",
                    )
                })?
            }
            TOKEN_TYPE_SUBSTITUTE_USER => {
                // Parsed only to refuse it precisely: impersonation needs a
                // policy that allows it, and the user's delegated grant.
                let user = substitute_user(subject_token)?;
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "impersonation of {} is not allowed: an administrator must allow it by \
                         policy and the user must hold a delegated grant (policies are not available \
                         in this version of Keyzone)",
                        echo(&user)
                    ),
                ));
            }
            other => {
                return Err(OAuthError::invalid_request(format!(
                    "unsupported subject_token_type {}",
                    echo(other)
                )))
            }
        };
        let actor = match form.one("actor_token")? {
            None => None,
            Some(t) => Some(self.live_token(zone, t).await?.ok_or_else(|| {
                OAuthError::invalid_request(
                    "the actor token is not a live access token of this zone",
                )
            })?),
        };
        // The subject token's audience, as resources of the zone.
        let subject_aud: Vec<String> = match &subject["aud"] {
            serde_json::Value::String(a) => vec![a.clone()],
            serde_json::Value::Array(v) => v
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        };
        let mut subject_resources = Vec::new();
        for a in &subject_aud {
            if let Some(r) = self.lookups.resolve(&zone.id, a).await? {
                subject_resources.push(r);
            }
        }
        // Who exchanges: the authenticated client, or (no client
        // authentication, as the official MCP servers send it) the
        // application providing the resource the subject token was for.
        let (app_id, client_id) = match auth {
            ClientAuth::None { client_id: None } => {
                let app = subject_resources
                    .iter()
                    .find_map(|r| r.application_id.clone())
                    .ok_or_else(|| {
                        OAuthError::invalid_client(
                            "no client authentication, and no application provides the resource the \
                             subject token was issued for",
                        )
                    })?;
                (app.clone(), app.to_string())
            }
            // A public client (`token_endpoint_auth_method: none`) names
            // itself; token exchange needs no secret from it (RFC 6749
            // §2.1: it cannot keep one), only the dependency rule below.
            ClientAuth::None {
                client_id: Some(id),
            } => match self.lookups.client(&zone.id, &id).await? {
                Some((c, _)) if c.kind == CredentialKind::Public => {
                    (c.application_id.clone(), c.identifier.clone())
                }
                _ => return Err(OAuthError::invalid_client(
                    "this client_id is not a public client of the zone; authenticate the client",
                )),
            },
            other => {
                let Client {
                    application_id,
                    client_id,
                } = self.authenticate(zone, other).await?;
                (application_id, client_id)
            }
        };
        let resources = self.resources(zone, form).await?;
        for r in &resources {
            let dep = self.lookups.dependency(&zone.id, &app_id, &r.id).await?;
            let dep = dep.ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "application {app_id} does not depend on {}; add the dependency \
                             (PUT /zones/{}/applications/{app_id}/dependencies/{})",
                        r.identifier, zone.id, r.id
                    ),
                )
            })?;
            if !dep.when_accessing.is_empty()
                && !subject_resources
                    .iter()
                    .any(|s| dep.when_accessing.contains(&s.id))
            {
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "application {app_id} may obtain tokens for {} only when the subject token was \
                         issued for one of its when_accessing resources",
                        r.identifier
                    ),
                ));
            }
        }
        let scopes = form.scopes()?;
        // RFC 8693 §4.1: the current actor, with the prior chain nested.
        let mut act = serde_json::json!({ "sub": app_id.to_string() });
        if let Some(a) = &actor {
            act["sub"] = a["sub"].clone();
        }
        if let Some(prior) = subject.get("act") {
            act["act"] = prior.clone();
        }
        let who = Subject {
            sub: subject["sub"].as_str().unwrap_or_default().to_owned(),
            sub_profile: if subject["sub_profile"] == "user" {
                "user"
            } else {
                "app"
            },
            client_id,
            application_id: Some(app_id),
            act: Some(act),
            // An exchanged token never outlives its subject token.
            not_after: subject["exp"].as_u64(),
        };
        self.issue(Issuance {
            zone,
            grant: Grant::TokenExchange,
            subject: who,
            resources,
            scopes,
        })
        .await
    }
}
