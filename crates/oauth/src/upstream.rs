//! Token responses from upstream authorization servers (RFC 6749 §5.1 and
//! §5.2), as a zone reads them when it redeems a code or refreshes a
//! delegated grant at a provider.
//!
//! Providers differ: some nest the access token (Slack's user token is at
//! `/authed_user/access_token`), some send `expires_in` as a string, some
//! answer an error with HTTP 200. `access_token_pointer` (the provider's
//! `token_response_access_token_pointer`, an RFC 6901 JSON pointer) says
//! where the access token is.

use serde_json::Value;

/// A successful upstream token response.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamToken {
    pub access_token: String,
    pub token_type: Option<String>,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    /// Space-separated as RFC 6749 §3.3 has it; providers using `,` are
    /// normalised by the caller that knows their separator.
    pub scope: Option<String>,
    pub id_token: Option<String>,
}

/// Tokens are credentials: Debug shows only which parts are present.
impl std::fmt::Debug for UpstreamToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamToken")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.is_some())
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why an upstream token request did not yield a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The provider refused (RFC 6749 §5.2): `invalid_grant` means the
    /// grant or refresh token is dead.
    Refused {
        error: String,
        description: Option<String>,
    },
    /// The answer was not a token response.
    Malformed(&'static str),
}

/// Parses an upstream token endpoint's answer.
pub fn parse_token_response(
    status: u16,
    body: &Value,
    access_token_pointer: Option<&str>,
) -> Result<UpstreamToken, UpstreamError> {
    if let Some(error) = body.get("error").and_then(Value::as_str) {
        // Some providers answer errors with 200 (Slack's `ok: false`).
        return Err(UpstreamError::Refused {
            error: error.to_owned(),
            description: body
                .get("error_description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    if !(200..300).contains(&status) {
        return Err(UpstreamError::Malformed(
            "an error status without an error code",
        ));
    }
    let pointer = access_token_pointer
        .filter(|p| !p.is_empty())
        .unwrap_or("/access_token");
    let access_token = body
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(UpstreamError::Malformed("no access token"))?
        .to_owned();
    let string = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let expires_in = match body.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or(UpstreamError::Malformed(
            "expires_in is not a positive integer",
        ))?),
        Some(Value::String(s)) => Some(
            s.parse()
                .map_err(|_| UpstreamError::Malformed("expires_in is not a positive integer"))?,
        ),
        Some(_) => return Err(UpstreamError::Malformed("expires_in is not a number")),
    };
    Ok(UpstreamToken {
        access_token,
        token_type: string("token_type"),
        expires_in,
        refresh_token: string("refresh_token").filter(|t| !t.is_empty()),
        scope: string("scope"),
        id_token: string("id_token"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn standard_response() {
        let t = parse_token_response(
            200,
            &json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
                    "refresh_token": "rt", "scope": "a b"}),
            None,
        )
        .unwrap();
        assert_eq!(t.access_token, "at");
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.refresh_token.as_deref(), Some("rt"));
        assert!(!format!("{t:?}").contains("at\""), "no token in Debug");
    }

    #[test]
    fn quirks_nested_pointer_string_expiry_and_errors_with_200() {
        let slack =
            json!({"ok": true, "authed_user": {"access_token": "xoxp"}, "expires_in": "60"});
        let t = parse_token_response(200, &slack, Some("/authed_user/access_token")).unwrap();
        assert_eq!((t.access_token.as_str(), t.expires_in), ("xoxp", Some(60)));
        assert_eq!(
            parse_token_response(200, &json!({"ok": false, "error": "invalid_code"}), None),
            Err(UpstreamError::Refused {
                error: "invalid_code".into(),
                description: None
            })
        );
        assert!(matches!(
            parse_token_response(400, &json!({"error": "invalid_grant", "error_description": "expired"}), None),
            Err(UpstreamError::Refused { error, description: Some(_) }) if error == "invalid_grant"
        ));
        assert_eq!(
            parse_token_response(502, &Value::Null, None),
            Err(UpstreamError::Malformed(
                "an error status without an error code"
            ))
        );
        assert_eq!(
            parse_token_response(200, &json!({"token_type": "Bearer"}), None),
            Err(UpstreamError::Malformed("no access token"))
        );
        assert!(
            parse_token_response(200, &json!({"access_token": "a", "expires_in": -1}), None)
                .is_err()
        );
    }
}
