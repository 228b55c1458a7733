//! Field rules shared by every resource, and the error that names the field.

use std::fmt;

/// One rule broken by one field, named by its JSON path in the request body
/// (`protocols.oauth2.cimd.allowed_client_ids[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }
    /// Records the outcome of a rule under `field`.
    pub fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(message) = result {
            self.add(field, message);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// An HTML tag is `<` followed by a letter, `/` or `!`, with a `>` later on.
/// A lone `<` (as in "a < b") is ordinary text.
fn contains_html_tag(s: &str) -> bool {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'<' {
            if let Some(&next) = bytes.get(i + 1) {
                if (next.is_ascii_alphabetic() || next == b'/' || next == b'!')
                    && bytes[i + 1..].contains(&b'>')
                {
                    return true;
                }
            }
        }
    }
    false
}

/// Human-readable names: 1–255 characters, no HTML tags, no control characters.
pub fn name(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if n > 255 {
        return Err("must be at most 255 characters".into());
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if contains_html_tag(s) {
        return Err("must not contain HTML tags".into());
    }
    Ok(())
}

/// Descriptions: at most `max` characters, no HTML tags; line breaks and tabs
/// are allowed, other control characters are not.
pub fn description(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters".into());
    }
    if contains_html_tag(s) {
        return Err("must not contain HTML tags".into());
    }
    Ok(())
}

/// Slugs: 1–63 of `[a-z0-9-]`, not starting or ending with `-`, so they are
/// URL-safe and DNS-label-safe.
pub fn slug(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lowercase letters, digits and '-'".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(())
}

/// A slug derived from a name: lowercase ASCII letters and digits, runs of
/// anything else folded to one `-`, cut to fit a DNS label. Never empty: a
/// name with no ASCII letter or digit gets a short random slug.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(63));
    let mut dash = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
        if out.len() >= 55 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        crate::id::random_id()[..8].to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("Production").is_ok());
        assert!(name("a < b").is_ok());
        assert!(name(&"x".repeat(255)).is_ok());
        assert!(name("").is_err());
        assert!(name("   ").is_err());
        assert!(name(&"x".repeat(256)).is_err());
        assert!(name("<script>alert(1)</script>").is_err());
        assert!(name("a <b>bold</b>").is_err());
        assert!(name("tab\there").is_err());
        assert!(name("nul\u{0}").is_err());
    }

    #[test]
    fn descriptions() {
        assert!(description("two\nlines", 2048).is_ok());
        assert!(description(&"x".repeat(2048), 2048).is_ok());
        assert!(description(&"x".repeat(2049), 2048).is_err());
        assert!(description("<div>", 2048).is_err());
        assert!(description("bell\u{7}", 2048).is_err());
    }

    #[test]
    fn slugs() {
        assert!(slug("my-zone-1").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(slug(bad).is_err(), "{bad}");
        }
        assert_eq!(slugify("My Zone!  2"), "my-zone-2");
        assert_eq!(slugify("Ünïcode ☃"), "n-code");
        let s = slugify("!!!");
        assert_eq!(s.len(), 8);
        assert!(slug(&s).is_ok());
        assert!(slug(&slugify(&"Long name ".repeat(20))).is_ok());
    }
}
