//! Dynamic client registration (RFC 7591): validation of the client
//! metadata and the stable client_id derived from it.

use crate::error::{ErrorCode, OAuthError};
use serde_json::{Map, Value};

/// The metadata with explicit `null`s removed (the keycardai-mcp client
/// sends `null` for every field it does not set), keys sorted.
pub fn normalize(metadata: &Value) -> Result<Map<String, Value>, OAuthError> {
    let Value::Object(m) = metadata else {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the registration request must be a JSON object",
        ));
    };
    let mut out = Map::new();
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        let v = &m[k];
        if !v.is_null() && v.as_str() != Some("") {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

/// Checks what the zone must rely on: redirect URIs are absolute and carry
/// no fragment (RFC 6749 §3.1.2); only public clients register themselves.
pub fn validate(m: &Map<String, Value>) -> Result<(), OAuthError> {
    if let Some(uris) = m.get("redirect_uris") {
        let Some(list) = uris.as_array() else {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                "redirect_uris must be an array",
            ));
        };
        for u in list {
            let ok = u
                .as_str()
                .and_then(|s| keyzone_domain::directory::absolute_uri(s).ok())
                .is_some();
            if !ok {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRedirectUri,
                    format!("{u} is not an absolute URI without a fragment"),
                ));
            }
        }
    }
    match m.get("token_endpoint_auth_method").and_then(Value::as_str) {
        None | Some("none") => {}
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidClientMetadata,
                format!(
                    "token_endpoint_auth_method {other:?} is not offered to self-registered clients; use \"none\""
                ),
            ))
        }
    }
    if let Some(g) = m.get("grant_types") {
        let allowed = [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ];
        let ok = g.as_array().is_some_and(|a| {
            a.iter()
                .all(|v| v.as_str().is_some_and(|s| allowed.contains(&s)))
        });
        if !ok {
            return Err(OAuthError::new(
                ErrorCode::InvalidClientMetadata,
                format!("grant_types may contain only {}", allowed.join(", ")),
            ));
        }
    }
    if Value::Object(m.clone()).to_string().len() > 16 * 1024 {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the metadata is too large",
        ));
    }
    Ok(())
}

/// `ua:{sha256}` of the normalized metadata: the same software registering
/// again with the same metadata gets the same client.
pub fn client_id(m: &Map<String, Value>, digest: impl Fn(&[u8]) -> [u8; 32]) -> String {
    let canonical = Value::Object(m.clone()).to_string();
    let d = digest(canonical.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("ua:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fake_digest(b: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, x) in b.iter().enumerate() {
            out[i % 32] ^= x.wrapping_mul(31).wrapping_add(i as u8);
        }
        out
    }

    #[test]
    fn nulls_and_key_order_do_not_change_the_client() {
        let a = normalize(&json!({"client_name": "X", "redirect_uris": ["http://localhost/cb"], "logo_uri": null})).unwrap();
        let b = normalize(&json!({"redirect_uris": ["http://localhost/cb"], "client_name": "X"}))
            .unwrap();
        assert_eq!(client_id(&a, fake_digest), client_id(&b, fake_digest));
        assert!(client_id(&a, fake_digest).starts_with("ua:"));
    }

    #[test]
    fn validation() {
        let ok = normalize(&json!({"redirect_uris": ["http://localhost:3000/callback"], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]})).unwrap();
        assert!(validate(&ok).is_ok());
        for bad in [
            json!({"redirect_uris": ["relative"]}),
            json!({"redirect_uris": ["https://a.test/cb#frag"]}),
            json!({"redirect_uris": "https://a.test/cb"}),
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            json!({"grant_types": ["password"]}),
        ] {
            assert!(validate(&normalize(&bad).unwrap()).is_err(), "{bad}");
        }
        assert!(normalize(&json!([1])).is_err());
    }
}
