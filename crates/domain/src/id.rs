//! Newtype identifiers, parsed at the edge.
//!
//! Every id is 20 characters of `[a-z0-9]` starting with a letter: a valid DNS
//! label (zone ids become host names under `KEYZONE_ZONE_DOMAIN`), lowercase,
//! and about 103 bits of randomness, so ids cannot be guessed or enumerated.

use rand::RngCore;
use std::fmt;

pub const ID_LEN: usize = 20;
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALPHANUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier")]
pub struct IdError;

/// A fresh random id string in the shape every Keyzone id has.
///
/// Drawn from the thread's CSPRNG (ChaCha12 seeded and periodically
/// reseeded from the OS, `rand::thread_rng`): ids are minted per token, as
/// `jti`, and a system call per id was measurable on the token endpoint.
/// Rejection sampling keeps every character uniform.
pub fn random_id() -> String {
    let mut s = String::with_capacity(ID_LEN);
    let mut buf = [0u8; 64];
    let mut rng = rand::thread_rng();
    loop {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            if s.is_empty() {
                // 234 = 9 × 26: bytes above would bias the first letter.
                if b < 234 {
                    s.push(LETTERS[(b % 26) as usize] as char);
                }
            } else if b < 252 {
                // 252 = 7 × 36.
                s.push(ALPHANUM[(b % 36) as usize] as char);
            }
            if s.len() == ID_LEN {
                return s;
            }
        }
    }
}

/// True if `s` has the shape of a Keyzone id. Anything else cannot name a row,
/// so callers answer "not found" without asking the store.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(random_id())
            }
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if is_valid_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError)
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                if is_valid_id(&s) { Ok(Self(s)) } else { Err(IdError) }
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A zone: one tenant, with its own authorization server.
    ZoneId
);
id_type!(
    /// The organization that owns zones. A deployment has one.
    OrganizationId
);
id_type!(
    /// A management API key.
    ApiKeyId
);
id_type!(
    /// A secret in a zone's vault.
    SecretId
);
id_type!(
    /// An application (agent, MCP server, service) of a zone.
    ApplicationId
);
id_type!(
    /// A resource (API, MCP server) a zone protects.
    ResourceId
);
id_type!(
    /// An identity or credential provider of a zone.
    ProviderId
);
id_type!(
    /// An application credential.
    CredentialId
);
id_type!(
    /// A user of a zone.
    UserId
);
id_type!(
    /// A dynamically registered client (user agent).
    UserAgentId
);
id_type!(
    /// A user or application session.
    SessionId
);
id_type!(
    /// A delegated grant.
    GrantId
);
id_type!(
    /// An invitation of an email address to sign up in a zone.
    InvitationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_dns_labels() {
        for _ in 0..1000 {
            let id = ZoneId::generate();
            let s = id.as_str();
            assert!(is_valid_id(s), "{s}");
            assert!(s.len() <= 63);
            assert!(s.as_bytes()[0].is_ascii_lowercase());
            assert_eq!(ZoneId::parse(s).unwrap(), id);
        }
    }

    #[test]
    fn ids_do_not_repeat() {
        let set: std::collections::HashSet<_> = (0..10_000).map(|_| random_id()).collect();
        assert_eq!(set.len(), 10_000);
    }

    #[test]
    fn characters_are_spread_evenly() {
        let mut first = [0u32; 26];
        let mut rest = std::collections::HashMap::new();
        for _ in 0..26_000 {
            let id = random_id();
            first[(id.as_bytes()[0] - b'a') as usize] += 1;
            for c in id.bytes().skip(1) {
                *rest.entry(c).or_insert(0u32) += 1;
            }
        }
        // Expected 1,000 per letter; 19 × 26,000 / 36 ≈ 13,722 per character.
        assert!(first.iter().all(|&n| (800..1200).contains(&n)), "{first:?}");
        assert_eq!(rest.len(), 36);
        assert!(
            rest.values().all(|&n| (12_500..15_000).contains(&n)),
            "{rest:?}"
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "ABCDEFGHIJKLMNOPQRST",
            "1bcdefghijklmnopqrst",
            "abcdefghijklmnopqrs",
            "abcdefghijklmnopqrstu",
            "abcdefghij-lmnopqrst",
            "abcdefghij'lmnopqrst",
        ] {
            assert!(ZoneId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
