//! JWT access tokens (RFC 9068) with the claims the Keycard clients read.

use serde::Serialize;

/// RFC 9068 §2.2 claims plus Keycard's `sub_profile`, `keycard_app_id` and
/// `resource`, and the RFC 8693 §4.1 `act` chain for exchanged tokens.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The resource identifiers (RFC 8707), a string when there is one.
    #[serde(serialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `user` or `app`.
    pub sub_profile: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keycard_app_id: Option<String>,
    /// The one resource the token is for (the official verifier reads a
    /// string); left out when there are several, `aud` lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

fn one_or_many<S: serde::Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    if v.len() == 1 {
        s.serialize_str(&v[0])
    } else {
        v.serialize(s)
    }
}

/// RFC 6749 §5.1 successful token response.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds, as a JSON number.
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 8693 §2.2.1, on token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    /// RFC 6749 §6: for clients registered with the `refresh_token` grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// OpenID Connect Core §3.1.3.3, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// OpenID Connect Core §2 ID token claims.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The client the token is for.
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The browser session (OIDC Front-/Back-Channel Logout `sid`).
    pub sid: String,
    /// OIDC Core §3.1.3.6: the access token's left-most half hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_audience_is_a_string() {
        let c = AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: vec!["https://a".into()],
            exp: 2,
            iat: 1,
            jti: "j".into(),
            client_id: "c".into(),
            scope: None,
            sub_profile: "app",
            keycard_app_id: None,
            resource: None,
            act: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["aud"], "https://a");
        assert!(v.get("scope").is_none());
        let mut c2 = c.clone();
        c2.aud.push("https://b".into());
        assert_eq!(
            serde_json::to_value(&c2).unwrap()["aud"],
            serde_json::json!(["https://a", "https://b"])
        );
    }
}
