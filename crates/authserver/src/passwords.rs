//! The rules a new password meets: a minimum length and, unless the
//! deployment turns it off (`password_blocklist = false`), not one of the
//! few hundred most common passwords (`common_passwords.txt`, compared
//! case-insensitively), which guessing attacks try first.

use std::collections::HashSet;
use std::sync::OnceLock;

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longer inputs are refused before hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn common() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    })
}

/// Whether `password` is on the built-in list of common passwords.
pub fn is_common(password: &str) -> bool {
    common().contains(&password.to_lowercase())
}

/// Why a new password is refused (the message for the `password` field),
/// or `None`.
pub fn problem(password: &str, blocklist: bool) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Some(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    if blocklist && is_common(password) {
        return Some(
            "is one of the most common passwords; choose one that is harder to guess".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_large_and_case_insensitive() {
        assert!(common().len() >= 300, "{}", common().len());
        for p in ["password", "PASSWORD", "Qwerty123", "123456789", "iloveyou"] {
            assert!(is_common(p), "{p}");
        }
        assert!(!is_common("correct horse battery staple"));
        assert!(problem("Password1", true).is_some());
        assert_eq!(problem("Password1", false), None);
        assert!(problem("short", false).is_some());
        assert_eq!(problem("a quite unusual phrase", true), None);
    }
}
