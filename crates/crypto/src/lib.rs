//! Keyzone's cryptography, on aws-lc-rs. No I/O and no hand-rolled
//! primitives: AES-256-GCM for encryption at rest, RSA/ECDSA/Ed25519 for
//! signatures, HMAC-SHA256 for key fingerprints.
//!
//! Envelope encryption: a deployment's master key (KEK) wraps one data key
//! (DEK) per zone; the DEK encrypts that zone's secrets. Every ciphertext is
//! bound by its associated data to the zone, entity and field it belongs to.

pub mod envelope;
pub mod jwt;
pub mod password;
pub mod signing;

pub use envelope::{DataKey, MasterKey, SealedAad};
pub use signing::{Algorithm, SigningKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("invalid key material")]
    InvalidKey,
    /// Wrong key, wrong place (associated data) or tampered bytes: AEAD
    /// cannot tell these apart, by design.
    #[error("decryption failed: wrong key, wrong context, or tampered data")]
    Decrypt,
    #[error("malformed ciphertext")]
    Malformed,
    #[error("key generation failed")]
    KeyGeneration,
}

/// Unpadded base64url (RFC 7515 §2).
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
