//! People's passwords: argon2id (RFC 9106) in the PHC string format.
//!
//! Parameters: 19 MiB of memory, 2 passes, 1 lane — OWASP's first
//! recommended argon2id setting; one hash or check costs ~20–30 ms on this
//! project's 2-core machine (measured in `docs/benchmarks.md`). Stored
//! hashes carry their parameters, so raising them later keeps old hashes
//! verifiable.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A new PHC-format hash of `password` with a random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing of a password cannot fail with these parameters")
        .to_string()
}

/// Whether `password` matches `phc`. The comparison inside argon2 is
/// constant-time; a malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one check without a stored hash: an unknown email
/// and a wrong password take as long (no user enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("keyzone dummy password for timing"));
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse battery staple");
        let b = hash("correct horse battery staple");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify("correct horse battery staple", &a));
        assert!(!verify("correct horse battery stapl", &a));
        assert!(!verify("x", "not a hash"));
        verify_nothing("x");
    }
}
