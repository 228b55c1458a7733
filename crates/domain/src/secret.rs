//! Vault secrets: values kept for an entity of a zone (the upstream token
//! of a resource, a password), always encrypted at rest.

use crate::id::{SecretId, ZoneId};
use crate::time::Timestamp;
use crate::validation::{self, ValidationErrors};
use std::fmt;

pub const DESCRIPTION_MAX: usize = 128;
/// Largest secret value accepted, per field.
pub const VALUE_MAX: usize = 64 * 1024;
pub const METADATA_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Token,
    Password,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Token => "token",
            SecretKind::Password => "password",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "token" => Some(Self::Token),
            "password" => Some(Self::Password),
            _ => None,
        }
    }
}

/// The secret value itself. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SecretData {
    Token { token: String },
    Password { username: String, password: String },
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretData({}, <redacted>)", self.kind().as_str())
    }
}

impl SecretData {
    pub fn kind(&self) -> SecretKind {
        match self {
            SecretData::Token { .. } => SecretKind::Token,
            SecretData::Password { .. } => SecretKind::Password,
        }
    }

    fn validate(&self, errs: &mut ValidationErrors) {
        let mut check = |field: &str, v: &str| {
            if v.is_empty() {
                errs.add(format!("data.{field}"), "must not be empty");
            } else if v.len() > VALUE_MAX {
                errs.add(
                    format!("data.{field}"),
                    format!("must be at most {VALUE_MAX} bytes"),
                );
            }
        };
        match self {
            SecretData::Token { token } => check("token", token),
            SecretData::Password { username, password } => {
                check("username", username);
                check("password", password);
            }
        }
    }
}

/// A secret's record, without its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub id: SecretId,
    pub zone_id: ZoneId,
    pub name: String,
    pub entity_id: String,
    pub kind: SecretKind,
    pub description: Option<String>,
    /// Stored unencrypted, as the API documents.
    pub metadata: Option<serde_json::Value>,
    /// Starts at 1; each new value increments it.
    pub version: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn validate_entity_id(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 {
        return Err("must be 1 to 255 characters".into());
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}

fn validate_metadata(m: &serde_json::Value) -> Result<(), String> {
    if !m.is_object() {
        return Err("must be a JSON object".into());
    }
    if m.to_string().len() > METADATA_MAX {
        return Err(format!("must be at most {METADATA_MAX} bytes as JSON"));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SecretDraft {
    pub name: String,
    pub entity_id: String,
    pub data: SecretData,
    pub description: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

impl SecretDraft {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        errs.check("name", validation::name(&self.name));
        errs.check("entity_id", validate_entity_id(&self.entity_id));
        if let Some(d) = &self.description {
            errs.check("description", validation::description(d, DESCRIPTION_MAX));
        }
        if let Some(m) = &self.metadata {
            errs.check("metadata", validate_metadata(m));
        }
        self.data.validate(&mut errs);
        errs.into_result()
    }
}

/// A partial update. A new `data` makes a new version.
#[derive(Debug, Clone, Default)]
pub struct SecretChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub metadata: Option<Option<serde_json::Value>>,
    pub data: Option<SecretData>,
}

impl SecretChanges {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if let Some(n) = &self.name {
            errs.check("name", validation::name(n));
        }
        if let Some(Some(d)) = &self.description {
            errs.check("description", validation::description(d, DESCRIPTION_MAX));
        }
        if let Some(Some(m)) = &self.metadata {
            errs.check("metadata", validate_metadata(m));
        }
        if let Some(d) = &self.data {
            d.validate(&mut errs);
        }
        errs.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_show_in_debug() {
        let d = SecretData::Password {
            username: "admin".into(),
            password: "hunter2".into(),
        };
        let shown = format!("{d:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("admin"),
            "{shown}"
        );
    }

    #[test]
    fn drafts_name_their_fields() {
        let draft = SecretDraft {
            name: "".into(),
            entity_id: "a b".into(),
            data: SecretData::Token { token: "".into() },
            description: Some("x".repeat(129)),
            metadata: Some(serde_json::json!([1])),
        };
        let fields: Vec<String> = draft
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["name", "entity_id", "description", "metadata", "data.token"]
        );
    }
}
