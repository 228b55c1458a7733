//! Envelope encryption with AES-256-GCM.
//!
//! Sealed format: `"kz1"` ‖ key version (u32, big-endian) ‖ 96-bit random
//! nonce ‖ ciphertext ‖ 128-bit tag. The key version says which key opens
//! it, so keys can rotate; the associated data (never stored) says where the
//! ciphertext belongs, so a ciphertext copied to another row, field or zone
//! fails to open.

use crate::CryptoError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::fmt;
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
const MAGIC: &[u8; 3] = b"kz1";
const HEADER_LEN: usize = MAGIC.len() + 4 + NONCE_LEN;
const TAG_LEN: usize = 16;

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the system random source failed");
    b
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, CryptoError> {
    if bytes.len() != KEY_LEN {
        return Err(CryptoError::InvalidKey);
    }
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::InvalidKey)?,
    ))
}

fn seal(key: &LessSafeKey, version: u32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = random::<NONCE_LEN>();
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .expect("AES-GCM sealing cannot fail for in-memory buffers");
    out.extend_from_slice(&body);
    out
}

/// The key version a sealed value names.
pub fn sealed_version(sealed: &[u8]) -> Result<u32, CryptoError> {
    if sealed.len() < HEADER_LEN + TAG_LEN || &sealed[..3] != MAGIC {
        return Err(CryptoError::Malformed);
    }
    Ok(u32::from_be_bytes(
        sealed[3..7].try_into().expect("4 bytes"),
    ))
}

fn open(
    key: &LessSafeKey,
    version: u32,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed_version(sealed)? != version {
        return Err(CryptoError::Decrypt);
    }
    let nonce: [u8; NONCE_LEN] = sealed[7..HEADER_LEN].try_into().expect("12 bytes");
    let mut body = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    body.truncate(len);
    Ok(body)
}

/// Where a sealed value belongs: zone, kind of entity, entity id, field.
/// Encoded with length prefixes so no two distinct places share an encoding.
#[derive(Debug, Clone, Copy)]
pub struct SealedAad<'a> {
    pub zone: &'a str,
    pub entity: &'a str,
    pub id: &'a str,
    pub field: &'a str,
}

impl SealedAad<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"keyzone/aad/v1");
        for part in [self.zone, self.entity, self.id, self.field] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// The deployment's key-encryption key. Its `id` is a fingerprint (HMAC of
/// a fixed label), safe to store and print, that tells keys apart without
/// revealing them.
pub struct MasterKey {
    key: LessSafeKey,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={})", self.id)
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key = aead_key(bytes)?;
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes),
            b"keyzone master key id v1",
        );
        let id = mac.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self { key, id })
    }

    /// Standard base64 of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        use base64::Engine;
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|_| CryptoError::InvalidKey)?,
        );
        Self::from_bytes(&bytes)
    }

    /// A fresh key and its base64 form (to be written to a key file once).
    pub fn generate() -> (Self, Zeroizing<String>) {
        use base64::Engine;
        let raw = Zeroizing::new(random::<KEY_LEN>());
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*raw));
        (Self::from_bytes(&*raw).expect("32 bytes"), b64)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn context(zone: &str, version: u32) -> Vec<u8> {
        SealedAad {
            zone,
            entity: "zone_data_key",
            id: &version.to_string(),
            field: "key",
        }
        .encode()
    }

    /// Wraps a zone's data key, bound to that zone and key version.
    pub fn wrap(&self, zone: &str, dek: &DataKey) -> Vec<u8> {
        seal(
            &self.key,
            0,
            &Self::context(zone, dek.version),
            dek.raw.as_slice(),
        )
    }

    pub fn unwrap(&self, zone: &str, version: u32, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let raw = open(&self.key, 0, &Self::context(zone, version), wrapped)?;
        DataKey::from_raw(&raw, version)
    }
}

/// A zone's data-encryption key.
pub struct DataKey {
    key: LessSafeKey,
    raw: Zeroizing<Vec<u8>>,
    version: u32,
    /// `keyed_digest` subkeys by label, derived once: deriving them per
    /// call was ~22k instructions of each token request (callgrind).
    digest_keys: std::sync::RwLock<Vec<(&'static str, aws_lc_rs::hmac::Key)>>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey(version={}, <redacted>)", self.version)
    }
}

impl DataKey {
    pub fn generate(version: u32) -> Self {
        let raw = Zeroizing::new(random::<KEY_LEN>().to_vec());
        Self::from_raw(&raw, version).expect("32 bytes")
    }

    pub fn from_raw(raw: &[u8], version: u32) -> Result<Self, CryptoError> {
        Ok(Self {
            key: aead_key(raw)?,
            raw: Zeroizing::new(raw.to_vec()),
            version,
            digest_keys: std::sync::RwLock::new(Vec::new()),
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The raw key, for wrapping by an external KMS only.
    pub fn expose_raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn seal(&self, aad: &SealedAad<'_>, plaintext: &[u8]) -> Vec<u8> {
        seal(&self.key, self.version, &aad.encode(), plaintext)
    }

    /// HMAC-SHA256 of `data` under a subkey of this key, separated by
    /// `label`: a keyed digest for values that are verified, never read back
    /// (client secrets). Stable for the life of the zone.
    pub fn keyed_digest(&self, label: &'static str, data: &[u8]) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let cached = self
            .digest_keys
            .read()
            .expect("digest key lock")
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, k)| k.clone());
        let key = match cached {
            Some(k) => k,
            None => {
                let subkey = hmac::sign(
                    &hmac::Key::new(hmac::HMAC_SHA256, &self.raw),
                    label.as_bytes(),
                );
                let k = hmac::Key::new(hmac::HMAC_SHA256, subkey.as_ref());
                self.digest_keys
                    .write()
                    .expect("digest key lock")
                    .push((label, k.clone()));
                k
            }
        };
        let tag = hmac::sign(&key, data);
        tag.as_ref().try_into().expect("32-byte HMAC-SHA256")
    }

    pub fn open(
        &self,
        aad: &SealedAad<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.key, self.version, &aad.encode(), sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: SealedAad<'static> = SealedAad {
        zone: "zone1",
        entity: "secret",
        id: "s1",
        field: "data",
    };

    #[test]
    fn round_trip() {
        let k = DataKey::generate(1);
        let sealed = k.seal(&AAD, b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(&*k.open(&AAD, &sealed).unwrap(), b"hunter2");
        assert_eq!(sealed_version(&sealed), Ok(1));
        // Fresh nonce every time.
        assert_ne!(k.seal(&AAD, b"hunter2"), sealed);
    }

    #[test]
    fn aad_binds_the_place() {
        let k = DataKey::generate(1);
        let sealed = k.seal(&AAD, b"v");
        for other in [
            SealedAad {
                zone: "zone2",
                ..AAD
            },
            SealedAad {
                entity: "provider",
                ..AAD
            },
            SealedAad { id: "s2", ..AAD },
            SealedAad {
                field: "other",
                ..AAD
            },
            // Length prefixes keep "ab"+"c" apart from "a"+"bc".
            SealedAad {
                zone: "zone1s",
                entity: "ecret",
                ..AAD
            },
        ] {
            assert_eq!(
                k.open(&other, &sealed),
                Err(CryptoError::Decrypt),
                "{other:?}"
            );
        }
    }

    #[test]
    fn wrong_key_and_tampering_fail() {
        let k = DataKey::generate(1);
        let sealed = k.seal(&AAD, b"value");
        assert_eq!(
            DataKey::generate(1).open(&AAD, &sealed),
            Err(CryptoError::Decrypt)
        );
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(k.open(&AAD, &t).is_err(), "flipped byte {i} went unnoticed");
        }
        assert_eq!(k.open(&AAD, &sealed[..10]), Err(CryptoError::Malformed));
        // A key of another version does not even try.
        let k2 = DataKey::from_raw(k.expose_raw(), 2).unwrap();
        assert_eq!(k2.open(&AAD, &sealed), Err(CryptoError::Decrypt));
    }

    #[test]
    fn keyed_digests_depend_on_key_label_and_data() {
        let k = DataKey::generate(1);
        let d = k.keyed_digest("a", b"secret");
        assert_eq!(d, k.keyed_digest("a", b"secret"));
        assert_ne!(d, k.keyed_digest("b", b"secret"));
        assert_ne!(d, k.keyed_digest("a", b"secreT"));
        assert_ne!(d, DataKey::generate(1).keyed_digest("a", b"secret"));
    }

    #[test]
    fn master_key_wraps_per_zone() {
        let (m, b64) = MasterKey::generate();
        let again = MasterKey::from_base64(&b64).unwrap();
        assert_eq!(m.id(), again.id());
        assert_eq!(m.id().len(), 16);
        let dek = DataKey::generate(3);
        let wrapped = m.wrap("zone1", &dek);
        let back = again.unwrap("zone1", 3, &wrapped).unwrap();
        assert_eq!(back.expose_raw(), dek.expose_raw());
        assert!(m.unwrap("zone2", 3, &wrapped).is_err(), "bound to the zone");
        assert!(
            m.unwrap("zone1", 4, &wrapped).is_err(),
            "bound to the version"
        );
        let (other, _) = MasterKey::generate();
        assert_ne!(other.id(), m.id());
        assert!(other.unwrap("zone1", 3, &wrapped).is_err());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(!format!("{m:?}{dek:?}").contains(&*b64));
    }
}
