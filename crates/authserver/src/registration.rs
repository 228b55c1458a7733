//! Dynamic client registration (RFC 7591) of a zone: self-registered public
//! clients become user agents, identified by a digest of their metadata.

use crate::store::TokenStore;
use keyzone_core::StoreError;
use keyzone_domain::identity::UserAgent;
use keyzone_domain::zone::Zone;
use keyzone_domain::{Timestamp, UserAgentId};
use keyzone_oauth::registration::{client_id, normalize, validate};
use keyzone_oauth::{ErrorCode, OAuthError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub struct Registrations {
    store: Arc<dyn TokenStore>,
}

/// Why a registration was refused before looking at the request.
pub enum Refusal {
    /// The zone has dynamic registration turned off (HTTP 403).
    Disabled(OAuthError),
    Invalid(OAuthError),
}

impl Registrations {
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Self { store }
    }

    /// Registers (or finds again) the client described by `metadata`, and
    /// answers with RFC 7591 §3.2.1's response: the metadata as registered,
    /// `client_id` and `client_id_issued_at`. Public clients only: no
    /// secret is issued.
    pub async fn register(&self, zone: &Zone, metadata: &Value) -> Result<Value, Refusal> {
        if !zone.dcr_enabled {
            return Err(Refusal::Disabled(OAuthError::new(
                ErrorCode::AccessDenied,
                "dynamic client registration is disabled for this zone",
            )));
        }
        let m = normalize(metadata).map_err(Refusal::Invalid)?;
        validate(&m).map_err(Refusal::Invalid)?;
        let identifier = client_id(&m, |b| Sha256::digest(b).into());
        let name = m
            .get("client_name")
            .and_then(Value::as_str)
            .unwrap_or("Unnamed client")
            .chars()
            .take(255)
            .collect::<String>();
        let now = Timestamp::now();
        let ua = UserAgent {
            id: UserAgentId::generate(),
            zone_id: zone.id.clone(),
            identifier: identifier.clone(),
            slug: keyzone_domain::validation::slugify(&name),
            name,
            metadata: Some(Value::Object(m.clone())),
            created_at: now,
            updated_at: now,
        };
        let server = |e: StoreError| {
            tracing::error!(error = %e, "registration failed");
            Refusal::Invalid(OAuthError::server_error())
        };
        let registered = match self.store.insert_user_agent(&ua).await {
            Ok(()) => ua,
            // The same software registered before: the same client.
            Err(StoreError::Conflict(_)) => self
                .store
                .user_agent_by_identifier(&zone.id, &identifier)
                .await
                .map_err(server)?
                .ok_or_else(|| Refusal::Invalid(OAuthError::server_error()))?,
            Err(e) => return Err(server(e)),
        };
        let mut out = m;
        out.insert("client_id".into(), json!(registered.identifier));
        out.insert(
            "client_id_issued_at".into(),
            json!(registered.created_at.as_micros() / 1_000_000),
        );
        out.entry("token_endpoint_auth_method")
            .or_insert_with(|| json!("none"));
        Ok(Value::Object(out))
    }
}
