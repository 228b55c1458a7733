//! How the client authenticated (RFC 6749 §2.3; RFC 7523 §2.2). A client
//! uses one method per request; more than one is refused.

use crate::error::OAuthError;
use crate::request::Form;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

pub const ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` or `client_secret_post`.
    Secret {
        client_id: String,
        secret: String,
        /// Basic only: the pair form-urlencoding-decoded, when that reads
        /// differently (see [`parse_basic`]).
        decoded: Option<(String, String)>,
    },
    /// `private_key_jwt` or a workload-identity token (RFC 7523).
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
    /// A public client naming itself, or no client at all.
    None { client_id: Option<String> },
}

impl ClientAuth {
    /// The client the request names, however it authenticates.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientAuth::Secret { client_id, .. } => Some(client_id),
            ClientAuth::Assertion { client_id, .. } | ClientAuth::None { client_id } => {
                client_id.as_deref()
            }
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::Secret { client_id, .. } => write!(f, "Secret({client_id}, <redacted>)"),
            ClientAuth::Assertion { client_id, .. } => {
                write!(f, "Assertion({client_id:?}, <redacted>)")
            }
            ClientAuth::None { client_id } => write!(f, "None({client_id:?})"),
        }
    }
}

/// `Basic base64(client_id:client_secret)`. RFC 6749 §2.3.1 (and Appendix
/// B) has clients form-urlencode both parts first, and strict clients
/// (oauth4webapi) do: a generated secret's `-`/`_` arrive as `%2D`/`%5F`.
/// The official Keycard clients do not encode. So the parts are taken as
/// they are, and the decoded reading is offered as a second candidate when
/// it differs; the caller tries the raw pair first.
fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic authorization header");
    let (scheme, rest) = header.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let raw = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    // Control characters (NUL included) are never part of a client id or
    // secret; refusing them here keeps them out of every look-up.
    if id.is_empty() || raw.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok((id.to_owned(), secret.to_owned()))
}

/// The client authentication of a token request. `authorization` is the
/// Authorization header, if any (a Bearer header is not client auth).
pub fn parse(authorization: Option<&str>, form: &Form) -> Result<ClientAuth, OAuthError> {
    let basic = match authorization {
        Some(h) if h.len() > 6 && h[..6].eq_ignore_ascii_case("basic ") => Some(parse_basic(h)?),
        _ => None,
    };
    let form_id = form.one("client_id")?;
    let form_secret = form.one("client_secret")?;
    let assertion = form.one("client_assertion")?;
    let assertion_type = form.one("client_assertion_type")?;

    let methods = basic.is_some() as u8 + form_secret.is_some() as u8 + assertion.is_some() as u8;
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((id, secret)) = basic {
        let decode = |v: &str| -> String {
            if !v.contains(['%', '+']) {
                return v.to_owned();
            }
            form_urlencoded::parse(format!("x={v}").as_bytes())
                .next()
                .map(|(_, d)| d.into_owned())
                .unwrap_or_default()
        };
        let (did, dsecret) = (decode(&id), decode(&secret));
        if did.chars().chain(dsecret.chars()).any(char::is_control) {
            return Err(OAuthError::invalid_client(
                "malformed Basic authorization header",
            ));
        }
        // A body client_id must agree with the Basic one (the confidential
        // PKCE client sends both), in either reading.
        if form_id.is_some_and(|f| f != id && f != did) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the authenticated client",
            ));
        }
        let decoded = (did != id || dsecret != secret).then_some((did, dsecret));
        return Ok(ClientAuth::Secret {
            client_id: id,
            secret,
            decoded,
        });
    }
    if let Some(secret) = form_secret {
        let id =
            form_id.ok_or_else(|| OAuthError::invalid_request("client_secret needs client_id"))?;
        return Ok(ClientAuth::Secret {
            client_id: id.to_owned(),
            secret: secret.to_owned(),
            decoded: None,
        });
    }
    if let Some(a) = assertion {
        if assertion_type != Some(ASSERTION_TYPE_JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {ASSERTION_TYPE_JWT_BEARER}"
            )));
        }
        return Ok(ClientAuth::Assertion {
            client_id: form_id.map(str::to_owned),
            assertion: a.to_owned(),
        });
    }
    Ok(ClientAuth::None {
        client_id: form_id.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn basic_is_read_raw_and_decoded() {
        let h = format!("Basic {}", STANDARD.encode("app%41:se:cret"));
        assert_eq!(
            parse(Some(&h), &form(&[])).unwrap(),
            ClientAuth::Secret {
                client_id: "app%41".into(),
                secret: "se:cret".into(),
                decoded: Some(("appA".into(), "se:cret".into())),
            }
        );
        // RFC 6749 Appendix B encoding of a generated secret.
        let h = format!("Basic {}", STANDARD.encode("abc:x%2Dy%5Fz"));
        match parse(Some(&h), &form(&[])).unwrap() {
            ClientAuth::Secret {
                secret, decoded, ..
            } => {
                assert_eq!(secret, "x%2Dy%5Fz");
                assert_eq!(decoded, Some(("abc".into(), "x-y_z".into())));
            }
            other => panic!("{other:?}"),
        }
        // Nothing to decode: no second reading.
        let h = format!("Basic {}", STANDARD.encode("abc:x-y_z"));
        assert!(matches!(
            parse(Some(&h), &form(&[])).unwrap(),
            ClientAuth::Secret { decoded: None, .. }
        ));
    }

    #[test]
    fn one_method_only() {
        let h = format!("Basic {}", STANDARD.encode("a:b"));
        assert!(parse(
            Some(&h),
            &form(&[("client_secret", "x"), ("client_id", "a")])
        )
        .is_err());
        assert!(parse(Some(&h), &form(&[("client_id", "other")])).is_err());
        assert!(parse(Some(&h), &form(&[("client_id", "a")])).is_ok());
        assert_eq!(
            parse(None, &form(&[("client_id", "a"), ("client_secret", "s")])).unwrap(),
            ClientAuth::Secret {
                client_id: "a".into(),
                secret: "s".into(),
                decoded: None,
            }
        );
        assert_eq!(
            parse(None, &form(&[])).unwrap(),
            ClientAuth::None { client_id: None }
        );
        assert!(parse(Some("Basic !!!"), &form(&[])).is_err());
        assert!(parse(None, &form(&[("client_assertion", "x")])).is_err());
        assert!(!format!("{:?}", parse(Some(&h), &form(&[])).unwrap()).contains(":b"));
    }
}
