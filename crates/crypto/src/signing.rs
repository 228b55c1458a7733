//! Zone signing keys. A key is parsed once from PKCS#8 and kept ready:
//! re-parsing per signature halves RS256 throughput.

use crate::{b64url, CryptoError};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey,
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, RSA_PKCS1_SHA256,
};
use serde_json::{json, Value};
use std::fmt;
use zeroize::Zeroizing;

/// JWS algorithms (RFC 7518 §3.1, RFC 8037). The official Keycard clients
/// accept only RS256, hence the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }
}

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    inner: Inner,
    public_jwk: Value,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(kid={}, alg={})", self.kid, self.alg.as_str())
    }
}

fn jwk(kid: &str, alg: Algorithm, inner: &Inner) -> Value {
    match inner {
        Inner::Rsa(k) => {
            let c: PublicKeyComponents<Vec<u8>> = k.public_key().into();
            json!({"kty": "RSA", "use": "sig", "alg": alg.as_str(), "kid": kid,
                   "n": b64url(&c.n), "e": b64url(&c.e)})
        }
        Inner::Ec(k) => {
            // Uncompressed SEC1 point: 0x04 ‖ x ‖ y.
            let p = k.public_key().as_ref();
            json!({"kty": "EC", "use": "sig", "alg": alg.as_str(), "kid": kid, "crv": "P-256",
                   "x": b64url(&p[1..33]), "y": b64url(&p[33..65])})
        }
        Inner::Ed(k) => {
            json!({"kty": "OKP", "use": "sig", "alg": alg.as_str(), "kid": kid, "crv": "Ed25519",
                   "x": b64url(k.public_key().as_ref())})
        }
    }
}

impl SigningKey {
    /// A new key and its PKCS#8 encoding (to be encrypted before storage).
    pub fn generate(alg: Algorithm, kid: &str) -> Result<(Self, Zeroizing<Vec<u8>>), CryptoError> {
        let pkcs8 = Zeroizing::new(match alg {
            Algorithm::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map_err(|_| CryptoError::KeyGeneration)?
                .as_ref()
                .to_vec(),
            Algorithm::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| CryptoError::KeyGeneration)?
                .as_ref()
                .to_vec(),
            Algorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map_err(|_| CryptoError::KeyGeneration)?
                .as_ref()
                .to_vec(),
        });
        let key = Self::from_pkcs8(alg, kid, &pkcs8)?;
        Ok((key, pkcs8))
    }

    pub fn from_pkcs8(alg: Algorithm, kid: &str, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let inner = match alg {
            Algorithm::RS256 => {
                Inner::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError::InvalidKey)?)
            }
            Algorithm::ES256 => Inner::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| CryptoError::InvalidKey)?,
            ),
            Algorithm::EdDSA => {
                Inner::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError::InvalidKey)?)
            }
        };
        Ok(Self {
            public_jwk: jwk(kid, alg, &inner),
            kid: kid.to_owned(),
            alg,
            inner,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (`use: sig`, `alg`, `kid`); never any private part.
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// The JWS signature of `message` (RFC 7518 §3: PKCS#1 v1.5 for RS256,
    /// fixed-width r‖s for ES256).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.inner {
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .expect("RSA signing cannot fail with a valid key");
                sig
            }
            Inner::Ec(k) => k
                .sign(&self.rng, message)
                .expect("ECDSA signing cannot fail with a valid key")
                .as_ref()
                .to_vec(),
            Inner::Ed(k) => k.sign(message).as_ref().to_vec(),
        }
    }
}

/// Verifies a JWS signature against a public JWK of the given algorithm.
pub fn verify(jwk: &Value, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    use base64::Engine;
    let field = |name: &str| {
        jwk.get(name).and_then(Value::as_str).and_then(|s| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .ok()
        })
    };
    match alg {
        Algorithm::RS256 => match (field("n"), field("e")) {
            (Some(n), Some(e)) => signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            _ => false,
        },
        Algorithm::ES256 => match (field("x"), field("y")) {
            (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            _ => false,
        },
        Algorithm::EdDSA => match field("x") {
            Some(x) => UnparsedPublicKey::new(&ED25519, x)
                .verify(message, sig)
                .is_ok(),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_and_reloads() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let (key, pkcs8) = SigningKey::generate(alg, "k1").unwrap();
            let sig = key.sign(b"payload");
            let jwk = key.public_jwk();
            assert_eq!(jwk["kid"], "k1");
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg:?} leaks {private}");
            }
            assert!(verify(jwk, alg, b"payload", &sig), "{alg:?}");
            assert!(!verify(jwk, alg, b"payload!", &sig), "{alg:?}");
            let again = SigningKey::from_pkcs8(alg, "k1", &pkcs8).unwrap();
            assert_eq!(again.public_jwk(), jwk);
            assert!(verify(jwk, alg, b"x", &again.sign(b"x")));
        }
    }

    #[test]
    fn rsa_keys_are_2048_bits() {
        let (key, _) = SigningKey::generate(Algorithm::RS256, "k").unwrap();
        assert_eq!(key.sign(b"m").len(), 256);
    }

    #[test]
    fn wrong_algorithm_pkcs8_is_refused() {
        let (_, pkcs8) = SigningKey::generate(Algorithm::ES256, "k").unwrap();
        assert!(SigningKey::from_pkcs8(Algorithm::RS256, "k", &pkcs8).is_err());
    }
}
