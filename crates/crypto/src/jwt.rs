//! Compact JWS / JWT (RFC 7515, RFC 7519) signed with a zone key.

use crate::b64url;
use crate::signing::SigningKey;
use serde::Serialize;

/// `header.payload.signature`, with header `{alg, kid, typ}`.
pub fn sign(key: &SigningKey, typ: &str, claims: &impl Serialize) -> String {
    let header = serde_json::json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": typ});
    let claims = serde_json::to_vec(claims).expect("claims serialize");
    sign_parts(key, &b64url(header.to_string().as_bytes()), &claims)
}

/// Signs with a pre-encoded header: the token endpoint encodes a key's
/// header once, not per token.
pub fn sign_parts(key: &SigningKey, header_b64: &str, claims_json: &[u8]) -> String {
    let mut token = String::with_capacity(header_b64.len() + claims_json.len() * 4 / 3 + 400);
    token.push_str(header_b64);
    token.push('.');
    token.push_str(&b64url(claims_json));
    let sig = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&b64url(&sig));
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{verify, Algorithm};
    use base64::Engine;

    #[test]
    fn tokens_verify_against_the_jwk() {
        let (key, _) = SigningKey::generate(Algorithm::RS256, "kid-1").unwrap();
        let t = sign(&key, "at+jwt", &serde_json::json!({"sub": "x"}));
        let (signed, sig) = t.rsplit_once('.').unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        assert!(verify(
            key.public_jwk(),
            Algorithm::RS256,
            signed.as_bytes(),
            &sig
        ));
        let header = signed.split('.').next().unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "kid": "kid-1", "typ": "at+jwt"})
        );
    }
}
