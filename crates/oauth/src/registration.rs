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

/// Checks what the zone must rely on: redirect URIs follow RFC 8252 and
/// OAuth 2.1 (`keyzone_domain::directory::redirect_uri`); names follow the
/// management API's name rules (no control characters, no HTML); only
/// public clients register themselves.
pub fn validate(m: &Map<String, Value>) -> Result<(), OAuthError> {
    if Value::Object(m.clone()).to_string().len() > 16 * 1024 {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the metadata is too large",
        ));
    }
    if has_control_character(&Value::Object(m.clone())) {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "client metadata must not contain control characters",
        ));
    }
    for field in ["client_name", "software_id", "software_version"] {
        if let Some(v) = m.get(field) {
            let ok = v
                .as_str()
                .is_some_and(|s| keyzone_domain::validation::name(s).is_ok());
            if !ok {
                return Err(OAuthError::new(
                    ErrorCode::InvalidClientMetadata,
                    format!(
                        "{field} must be 1 to 255 characters of text without control characters or HTML"
                    ),
                ));
            }
        }
    }
    if let Some(uris) = m.get("redirect_uris") {
        let Some(list) = uris.as_array() else {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                "redirect_uris must be an array",
            ));
        };
        if list.len() > 20 {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                "at most 20 redirect_uris may be registered",
            ));
        }
        for u in list {
            let Some(s) = u.as_str() else {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRedirectUri,
                    "redirect_uris must be strings",
                ));
            };
            if let Err(why) = keyzone_domain::directory::redirect_uri(s) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRedirectUri,
                    format!("redirect URI {}: {why}", crate::error::echo(s)),
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
                    "token_endpoint_auth_method {} is not offered to self-registered clients; use \"none\"",
                    crate::error::echo(other)
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
    Ok(())
}

fn has_control_character(v: &Value) -> bool {
    match v {
        Value::String(s) => s.chars().any(char::is_control),
        Value::Array(items) => items.iter().any(has_control_character),
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.chars().any(char::is_control) || has_control_character(v)),
        _ => false,
    }
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
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            json!({"redirect_uris": ["data:text/html,x"]}),
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            json!({"redirect_uris": ["https://u:p@a.test/cb"]}),
            json!({"client_name": "<script>alert(1)</script>"}),
            json!({"client_name": "a\u{0}b"}),
            json!({"client_name": "bell\u{7}"}),
            json!({"client_name": 5}),
            json!({"logo_uri": "https://a.test/\u{0}"}),
        ] {
            assert!(validate(&normalize(&bad).unwrap()).is_err(), "{bad}");
        }
        assert!(normalize(&json!([1])).is_err());
    }
}
