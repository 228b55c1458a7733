//! JWT client assertions (RFC 7523 §2.2, §3): `private_key_jwt` with a
//! public-key credential's JWKS, URL client identities (the assertion's
//! `iss` = `sub` = a URL whose document names the keys) and workload
//! identity (a token from a provider the zone trusts, verified against the
//! provider's JWKS).
//!
//! This module parses and checks assertions and finds their keys; which
//! client an assertion stands for is decided in `client_auth`.

use crate::documents::DocumentCache;
use keyzone_core::outbound::FetchError;
use keyzone_crypto::signing::Algorithm;
use keyzone_oauth::echo;
use keyzone_oauth::{ErrorCode, OAuthError};
use serde_json::Value;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;
/// A `private_key_jwt` assertion is single-use and short-lived; its `jti`
/// is remembered until it expires, so a longer one is refused.
pub const MAX_SELF_SIGNED_LIFETIME_SECS: u64 = 3600;
/// Larger assertions are refused before any parsing.
const MAX_ASSERTION_LEN: usize = 16 * 1024;
/// At most this many candidate keys are tried for an assertion without `kid`.
const MAX_KEYS_TRIED: usize = 8;

pub struct Assertion {
    signing_input: String,
    signature: Vec<u8>,
    alg: Algorithm,
    kid: Option<String>,
    pub claims: Value,
}

/// Workload tokens are bearer credentials: Debug shows no claims or signature.
impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Assertion({}, kid {:?}, <redacted>)",
            self.alg.as_str(),
            self.kid
        )
    }
}

fn malformed() -> OAuthError {
    OAuthError::invalid_client("the client assertion is not a well-formed signed JWT")
}

impl Assertion {
    /// Parses a compact JWS without trusting it.
    pub fn parse(token: &str) -> Result<Self, OAuthError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        if token.len() > MAX_ASSERTION_LEN {
            return Err(malformed());
        }
        let (signing_input, sig) = token.rsplit_once('.').ok_or_else(malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
        let header: Value = serde_json::from_slice(&b64.decode(header).map_err(|_| malformed())?)
            .map_err(|_| malformed())?;
        let claims: Value = serde_json::from_slice(&b64.decode(payload).map_err(|_| malformed())?)
            .map_err(|_| malformed())?;
        if !claims.is_object() {
            return Err(malformed());
        }
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("none");
        // RFC 8725 §3.1: the algorithm is one we chose, never `none`.
        let alg = Algorithm::parse(alg).ok_or_else(|| {
            OAuthError::invalid_client(format!(
                "client assertions must be signed with RS256, ES256 or EdDSA (got alg {})",
                echo(alg)
            ))
        })?;
        if header.get("crit").is_some() {
            return Err(OAuthError::invalid_client(
                "client assertions with critical header parameters are not supported",
            ));
        }
        let signature = b64.decode(sig).map_err(|_| malformed())?;
        Ok(Self {
            signing_input: signing_input.to_owned(),
            signature,
            alg,
            kid: header.get("kid").and_then(Value::as_str).map(str::to_owned),
            claims,
        })
    }

    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn exp(&self) -> Option<u64> {
        self.claims.get("exp").and_then(Value::as_u64)
    }

    /// RFC 7523 §3 items 4–6: `exp` required and in the future; `nbf` and
    /// `iat` not in the future (with [`LEEWAY_SECS`]).
    pub fn check_times(&self, now: u64) -> Result<(), OAuthError> {
        let exp = self
            .exp()
            .ok_or_else(|| OAuthError::invalid_client("the client assertion has no exp claim"))?;
        if exp + LEEWAY_SECS <= now {
            return Err(OAuthError::invalid_client(
                "the client assertion has expired",
            ));
        }
        for claim in ["nbf", "iat"] {
            match self.claims.get(claim) {
                None => {}
                Some(v) => match v.as_u64() {
                    Some(t) if t <= now + LEEWAY_SECS => {}
                    _ => {
                        return Err(OAuthError::invalid_client(format!(
                            "the client assertion's {claim} is in the future or not a number"
                        )))
                    }
                },
            }
        }
        Ok(())
    }

    /// RFC 7523 §3 item 3: `aud` names this authorization server.
    pub fn check_audience(&self, accepted: &[&str]) -> Result<(), OAuthError> {
        let ok = match self.claims.get("aud") {
            Some(Value::String(a)) => accepted.contains(&a.as_str()),
            Some(Value::Array(v)) => v
                .iter()
                .filter_map(Value::as_str)
                .any(|a| accepted.contains(&a)),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(OAuthError::invalid_client(format!(
                "the client assertion's aud must be the zone's issuer or token endpoint ({})",
                accepted.first().copied().unwrap_or_default()
            )))
        }
    }

    fn verifies_with(&self, jwk: &Value) -> bool {
        keyzone_crypto::signing::verify(
            jwk,
            self.alg,
            self.signing_input.as_bytes(),
            &self.signature,
        )
    }

    /// The keys of `jwks` this assertion could be signed with.
    fn candidates<'a>(&self, jwks: &'a Value) -> Vec<&'a Value> {
        let kty = match self.alg {
            Algorithm::RS256 => "RSA",
            Algorithm::ES256 => "EC",
            Algorithm::EdDSA => "OKP",
        };
        let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
            return Vec::new();
        };
        keys.iter()
            .filter(|k| k.get("kty").and_then(Value::as_str) == Some(kty))
            .filter(|k| {
                k.get("alg")
                    .and_then(Value::as_str)
                    .is_none_or(|a| a == self.alg.as_str())
            })
            .filter(|k| {
                k.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "sig")
            })
            .filter(|k| match &self.kid {
                Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid.as_str()),
                None => true,
            })
            .take(MAX_KEYS_TRIED)
            .collect()
    }
}

/// Where an assertion's verification keys are.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS document to fetch (and cache).
    Uri(String),
    /// Keys given inline (a client identity document's `jwks`).
    Inline(Value),
    /// A client identity document at this URL, naming `jwks_uri` or `jwks`.
    Document(String),
}

/// The keys a client identity document names.
pub enum DocumentKeys {
    JwksUri(String),
    Jwks(Value),
}

fn fetch_error(e: FetchError, what: &str) -> OAuthError {
    match e {
        FetchError::Refused(url) => OAuthError::invalid_client(format!(
            "{what} at {url} cannot be fetched: only https URLs on public addresses are allowed"
        )),
        FetchError::Failed(url) => OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            format!("{what} could not be fetched from {url}; try again later"),
        ),
    }
}

/// Finds and caches the documents assertions are verified with.
pub struct AssertionKeys {
    documents: DocumentCache,
}

impl AssertionKeys {
    pub fn new(documents: DocumentCache) -> Self {
        Self { documents }
    }

    /// Verifies the assertion's signature with a key from `source`. An
    /// unknown `kid` refetches the JWKS (rotation), at most once per
    /// [`crate::documents::REFETCH_INTERVAL`].
    pub async fn verify(&self, a: &Assertion, source: &KeySource) -> Result<(), OAuthError> {
        let bad_signature = || {
            OAuthError::invalid_client(
                "the client assertion's signature does not verify with the client's keys",
            )
        };
        let verify_inline = |jwks: &Value| {
            if a.candidates(jwks).iter().any(|k| a.verifies_with(k)) {
                Ok(())
            } else {
                Err(bad_signature())
            }
        };
        let url = match source {
            KeySource::Uri(url) => url.clone(),
            KeySource::Inline(jwks) => return verify_inline(jwks),
            KeySource::Document(doc) => match self.identity_document_keys(doc).await? {
                DocumentKeys::JwksUri(url) => url,
                DocumentKeys::Jwks(jwks) => return verify_inline(&jwks),
            },
        };
        let url = url.as_str();
        let jwks = self
            .documents
            .get(url)
            .await
            .map_err(|e| fetch_error(e, "the client's JWKS"))?;
        let candidates = a.candidates(&jwks);
        if candidates.iter().any(|k| a.verifies_with(k)) {
            return Ok(());
        }
        if candidates.is_empty() {
            if let Some(again) = self.documents.refetch(url).await {
                let jwks = again.map_err(|e| fetch_error(e, "the client's JWKS"))?;
                if a.candidates(&jwks).iter().any(|k| a.verifies_with(k)) {
                    return Ok(());
                }
            }
        }
        Err(bad_signature())
    }

    /// The JWKS URI of an issuer, from its OpenID discovery document (or
    /// its RFC 8414 metadata), whose `issuer` must match exactly (OpenID
    /// Connect Discovery §4.3).
    pub async fn issuer_jwks_uri(&self, issuer: &str) -> Result<String, OAuthError> {
        let base = issuer.trim_end_matches('/');
        let mut last = None;
        for suffix in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let url = format!("{base}{suffix}");
            match self.documents.get(&url).await {
                Ok(doc) => {
                    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
                        return Err(OAuthError::invalid_client(format!(
                            "the discovery document at {url} names a different issuer"
                        )));
                    }
                    return doc
                        .get("jwks_uri")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            OAuthError::invalid_client(format!(
                                "the discovery document at {url} has no jwks_uri"
                            ))
                        });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(fetch_error(
            last.expect("two attempts"),
            "the provider's discovery document",
        ))
    }

    /// The keys a URL client identity document names: its `jwks_uri`, or
    /// inline `jwks`.
    pub async fn identity_document_keys(&self, url: &str) -> Result<DocumentKeys, OAuthError> {
        let doc = self
            .documents
            .get(url)
            .await
            .map_err(|e| fetch_error(e, "the client identity document"))?;
        if let Some(uri) = doc.get("jwks_uri").and_then(Value::as_str) {
            return Ok(DocumentKeys::JwksUri(uri.to_owned()));
        }
        if let Some(jwks) = doc.get("jwks").filter(|j| j.is_object()) {
            return Ok(DocumentKeys::Jwks(jwks.clone()));
        }
        Err(OAuthError::invalid_client(format!(
            "the client identity document at {url} has neither jwks_uri nor jwks"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyzone_crypto::signing::SigningKey;

    fn token(key: &SigningKey, claims: Value) -> String {
        keyzone_crypto::jwt::sign(key, "JWT", &claims)
    }

    #[test]
    fn parses_checks_and_verifies() {
        let (key, _) = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
        let t = token(
            &key,
            serde_json::json!({"iss": "c", "sub": "c", "aud": ["x", "https://as/token"], "exp": 1000, "iat": 990}),
        );
        let a = Assertion::parse(&t).unwrap();
        assert_eq!(a.claim("iss"), Some("c"));
        a.check_times(995).unwrap();
        assert!(a.check_times(1031).is_err());
        a.check_audience(&["https://as", "https://as/token"])
            .unwrap();
        assert!(a.check_audience(&["https://other"]).is_err());
        let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
        assert_eq!(a.candidates(&jwks).len(), 1);
        assert!(a.verifies_with(a.candidates(&jwks)[0]));
        let (other, _) = SigningKey::generate(Algorithm::ES256, "k1").unwrap();
        let jwks = serde_json::json!({ "keys": [other.public_jwk()] });
        assert!(!a.verifies_with(a.candidates(&jwks)[0]));
    }

    #[test]
    fn unsigned_and_malformed_assertions_are_refused() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none"}"#),
            b64.encode(br#"{"sub":"x"}"#)
        );
        assert!(Assertion::parse(&none).is_err());
        assert!(Assertion::parse("a.b").is_err());
        assert!(Assertion::parse(&"a".repeat(20_000)).is_err());
        let hs = format!(
            "{}.{}.c2ln",
            b64.encode(br#"{"alg":"HS256"}"#),
            b64.encode(br#"{"sub":"x"}"#)
        );
        assert_eq!(
            Assertion::parse(&hs).unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn future_iat_and_missing_exp_are_refused() {
        let (key, _) = SigningKey::generate(Algorithm::EdDSA, "k").unwrap();
        let a =
            Assertion::parse(&token(&key, serde_json::json!({"iat": 2000, "exp": 3000}))).unwrap();
        assert!(a.check_times(1000).is_err());
        let a = Assertion::parse(&token(&key, serde_json::json!({"iat": 2000}))).unwrap();
        assert!(a.check_times(2000).is_err());
    }
}
