//! Zones: tenants, each with its own OAuth 2.0 / OpenID Connect authorization
//! server.

use crate::id::{OrganizationId, ZoneId};
use crate::time::Timestamp;
use crate::validation::{self, ValidationErrors};

pub const DESCRIPTION_MAX: usize = 2048;
pub const CIMD_MAX_ENTRIES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerType {
    Platform,
    Customer,
}

impl OwnerType {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerType::Platform => "platform",
            OwnerType::Customer => "customer",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform" => Some(Self::Platform),
            "customer" => Some(Self::Customer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginFlow {
    #[default]
    Default,
    IdentifierFirst,
}

impl LoginFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFlow::Default => "default",
            LoginFlow::IdentifierFirst => "identifier_first",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "default" => Some(Self::Default),
            "identifier_first" => Some(Self::IdentifierFirst),
            _ => None,
        }
    }
}

/// Client ID Metadata Document auto-provisioning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cimd {
    pub enabled: bool,
    pub allowed_client_ids: Vec<String>,
}

/// A customer-managed AWS KMS key that wraps the zone's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionKey {
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub id: ZoneId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub owner_type: OwnerType,
    pub requires_invitation: bool,
    pub external_sync_enabled: bool,
    pub login_flow: LoginFlow,
    pub dcr_enabled: bool,
    pub pkce_required: bool,
    pub cimd: Cimd,
    pub encryption_key: Option<EncryptionKey>,
    pub default_mcp_gateway_application_id: Option<String>,
    pub default_resource_id: Option<String>,
    pub user_identity_provider_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl crate::page::Positioned for Zone {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

/// What a caller may choose when creating a zone; everything else is derived.
#[derive(Debug, Clone, Default)]
pub struct ZoneDraft {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub requires_invitation: Option<bool>,
    pub login_flow: Option<LoginFlow>,
    pub dcr_enabled: Option<bool>,
    pub pkce_required: Option<bool>,
    pub cimd: Option<Cimd>,
    pub encryption_key: Option<EncryptionKey>,
    /// Create a platform-owned MCP gateway application with the zone.
    pub default_mcp_gateway_application: bool,
}

impl ZoneDraft {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        errs.check("name", validation::name(&self.name));
        if let Some(slug) = &self.slug {
            errs.check("slug", validation::slug(slug));
        }
        if let Some(d) = &self.description {
            errs.check("description", validation::description(d, DESCRIPTION_MAX));
        }
        if let Some(c) = &self.cimd {
            validate_cimd(c, "protocols.oauth2.cimd", &mut errs);
        }
        if let Some(k) = &self.encryption_key {
            errs.check("encryption_key.arn", validate_arn(&k.arn));
        }
        errs.into_result()
    }

    /// The zone this draft describes, with Keyzone's defaults: invitation
    /// required, dynamic registration on (MCP clients register themselves) and
    /// PKCE required (OAuth 2.1), CIMD off.
    pub fn into_zone(self, id: ZoneId, organization_id: OrganizationId, slug: String) -> Zone {
        let now = Timestamp::now();
        Zone {
            id,
            organization_id,
            name: self.name,
            slug,
            description: self.description,
            owner_type: OwnerType::Customer,
            requires_invitation: self.requires_invitation.unwrap_or(true),
            external_sync_enabled: false,
            login_flow: self.login_flow.unwrap_or_default(),
            dcr_enabled: self.dcr_enabled.unwrap_or(true),
            pkce_required: self.pkce_required.unwrap_or(true),
            cimd: self.cimd.unwrap_or_default(),
            encryption_key: self.encryption_key,
            default_mcp_gateway_application_id: None,
            default_resource_id: None,
            user_identity_provider_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A partial update. `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct ZoneChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub requires_invitation: Option<bool>,
    pub external_sync_enabled: Option<bool>,
    pub login_flow: Option<LoginFlow>,
    pub dcr_enabled: Option<bool>,
    pub pkce_required: Option<bool>,
    pub cimd: Option<Cimd>,
    pub encryption_key: Option<Option<EncryptionKey>>,
    pub default_mcp_gateway_application_id: Option<Option<String>>,
    pub default_resource_id: Option<Option<String>>,
    pub user_identity_provider_id: Option<Option<String>>,
}

impl ZoneChanges {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if let Some(n) = &self.name {
            errs.check("name", validation::name(n));
        }
        if let Some(Some(d)) = &self.description {
            errs.check("description", validation::description(d, DESCRIPTION_MAX));
        }
        if let Some(c) = &self.cimd {
            validate_cimd(c, "protocols.oauth2.cimd", &mut errs);
        }
        if let Some(Some(k)) = &self.encryption_key {
            errs.check("encryption_key.arn", validate_arn(&k.arn));
        }
        errs.into_result()
    }

    /// Applies the changes to `zone`, stamping `updated_at`.
    pub fn apply(self, zone: &mut Zone) {
        fn set<T>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        set(&mut zone.name, self.name);
        set(&mut zone.description, self.description);
        set(&mut zone.requires_invitation, self.requires_invitation);
        set(&mut zone.external_sync_enabled, self.external_sync_enabled);
        set(&mut zone.login_flow, self.login_flow);
        set(&mut zone.dcr_enabled, self.dcr_enabled);
        set(&mut zone.pkce_required, self.pkce_required);
        set(&mut zone.cimd, self.cimd);
        set(&mut zone.encryption_key, self.encryption_key);
        set(
            &mut zone.default_mcp_gateway_application_id,
            self.default_mcp_gateway_application_id,
        );
        set(&mut zone.default_resource_id, self.default_resource_id);
        set(
            &mut zone.user_identity_provider_id,
            self.user_identity_provider_id,
        );
        // Never move backwards, even if the clock does: clients compare these.
        zone.updated_at = Timestamp::after(zone.updated_at);
    }
}

/// An AWS KMS key ARN, `arn:<partition>:kms:<region>:<account>:key/<id>`
/// or `…:alias/<name>` (AWS's ARN format for KMS keys and aliases). A
/// malformed one is refused here (400), before KMS is asked; a well-formed
/// one that names no usable key is KMS's answer (503). The OpenAPI
/// `KmsKeyArn` pattern states the same rule.
pub fn validate_arn(arn: &str) -> Result<(), String> {
    const FORMAT: &str = "must be an AWS KMS key ARN: arn:aws:kms:<region>:<12-digit account>:key/<key id> or …:alias/<alias name>";
    if arn.is_empty() {
        return Err("must not be empty".into());
    }
    if arn.len() > ARN_MAX_LEN {
        return Err(format!("must be at most {ARN_MAX_LEN} characters"));
    }
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("kms"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(FORMAT.into());
    };
    // `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, …
    let partition_ok = partition.strip_prefix("aws").is_some_and(|rest| {
        rest.is_empty()
            || rest.strip_prefix('-').is_some_and(|rest| {
                rest.split('-')
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
            })
    });
    // `us-east-1`, `eu-central-2`, `us-gov-west-1`, …
    let region_ok = (1..=32).contains(&region.len())
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && !region.ends_with('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let resource_ok = if let Some(id) = resource.strip_prefix("key/") {
        (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    } else if let Some(name) = resource.strip_prefix("alias/") {
        (1..=256).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    } else {
        false
    };
    if partition_ok && region_ok && account_ok && resource_ok {
        Ok(())
    } else {
        Err(FORMAT.into())
    }
}

/// The longest ARN accepted.
pub const ARN_MAX_LEN: usize = 2048;

fn validate_cimd(c: &Cimd, path: &str, errs: &mut ValidationErrors) {
    if c.allowed_client_ids.len() > CIMD_MAX_ENTRIES {
        errs.add(
            format!("{path}.allowed_client_ids"),
            format!("must have at most {CIMD_MAX_ENTRIES} entries"),
        );
        return;
    }
    for (i, entry) in c.allowed_client_ids.iter().enumerate() {
        errs.check(
            &format!("{path}.allowed_client_ids[{i}]"),
            cimd_allowlist_entry(entry),
        );
    }
}

/// An entry of the CIMD allowlist, as the API documents it: an exact client ID
/// URL; a wildcard origin whose single `*` replaces exactly one subdomain label
/// (`https://*.example.com`); or the literal `*`. Only one `*` per entry.
pub fn cimd_allowlist_entry(entry: &str) -> Result<(), String> {
    if entry == "*" {
        return Ok(());
    }
    if entry.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    if entry.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain whitespace or control characters".into());
    }
    let stars = entry.matches('*').count();
    if stars > 1 {
        return Err("only one '*' is permitted per entry".into());
    }
    let rest = if let Some(r) = entry.strip_prefix("https://") {
        r
    } else if let Some(r) = entry.strip_prefix("http://") {
        // Plain http only for a developer's own machine (the CIMD draft requires https).
        let host = r.split(['/', ':', '?', '#']).next().unwrap_or("");
        let loopback = host == "localhost" || host == "127.0.0.1" || r.starts_with("[::1]");
        if !loopback {
            return Err("must be an https URL".into());
        }
        r
    } else {
        return Err(
            "must be an https URL, a wildcard origin such as https://*.example.com, or '*'".into(),
        );
    };
    if stars == 0 {
        let url = url::Url::parse(entry).map_err(|_| "is not a valid URL".to_string())?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment".into());
        }
        return Ok(());
    }
    // Wildcard origin: scheme://*.label.label[:port] and nothing else.
    if rest.contains(['/', '?', '#', '@']) {
        return Err("a wildcard entry must be an origin (no path, query or fragment)".into());
    }
    let host = match rest.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return Err("has an invalid port".into()),
        None => rest,
    };
    let labels: Vec<&str> = host.split('.').collect();
    if labels[0] != "*" {
        return Err("'*' must replace the whole leftmost subdomain label".into());
    }
    if labels.len() < 3 {
        return Err("a wildcard must be followed by a domain of at least two labels".into());
    }
    for label in &labels[1..] {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("'{label}' is not a valid domain label"));
        }
    }
    Ok(())
}

/// Does `client_id` match an allowlist entry? (Used by the authorization server.)
pub fn cimd_allows(entry: &str, client_id: &str) -> bool {
    if entry == "*" {
        return true;
    }
    if !entry.contains('*') {
        return entry == client_id;
    }
    let Some((scheme, origin)) = entry.split_once("://*.") else {
        return false;
    };
    let Ok(url) = url::Url::parse(client_id) else {
        return false;
    };
    if url.scheme() != scheme {
        return false;
    }
    let (suffix, port) = match origin.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()),
        None => (origin, None),
    };
    if url.port() != port {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    match host.strip_suffix(suffix).and_then(|h| h.strip_suffix('.')) {
        Some(label) => !label.is_empty() && !label.contains('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_key_arns() {
        for ok in [
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws-cn:kms:cn-north-1:123456789012:key/k",
            "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/my/app_key-1",
            "arn:aws-iso-b:kms:us-isob-east-1:123456789012:alias/a",
        ] {
            assert_eq!(validate_arn(ok), Ok(()), "{ok}");
        }
        let long_alias = format!(
            "arn:aws:kms:us-east-1:123456789012:alias/{}",
            "a".repeat(257)
        );
        for bad in [
            "",
            "arn:foo",
            "arn:",
            "arn:aws:kms",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:1:key/x",
            "arn:aws:kms:us-east-1:12345678901a:key/x",
            "arn:aws:kms::123456789012:key/x",
            "arn:aws:kms:US-EAST-1:123456789012:key/x",
            "arn:aws:kms:us-east-:123456789012:key/x",
            "arn:aws:kms:1us:123456789012:key/x",
            "arn:aws:kms:us-east-1:123456789012:key/",
            "arn:aws:kms:us-east-1:123456789012:key/a b",
            "arn:aws:kms:us-east-1:123456789012:key/a:b",
            "arn:aws:kms:us-east-1:123456789012:key/a/b",
            "arn:aws:kms:us-east-1:123456789012:alias/",
            "arn:aws:kms:us-east-1:123456789012:1234abcd",
            "arn:azure:kms:us-east-1:123456789012:key/x",
            "arn:aws-:kms:us-east-1:123456789012:key/x",
            "arn:aws-CN:kms:us-east-1:123456789012:key/x",
            "ARN:aws:kms:us-east-1:123456789012:key/x",
            &long_alias,
        ] {
            assert!(validate_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cimd_entries() {
        for ok in [
            "*",
            "https://*.example.com",
            "https://*.example.com:8443",
            "https://app.example.org/client.json",
            "http://localhost:3000/client.json",
        ] {
            assert_eq!(cimd_allowlist_entry(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "**",
            "https://*.*.example.com",
            "https://a*.example.com",
            "https://app.*.example.com",
            "https://*.com",
            "https://*.example.com/path",
            "ftp://x.example.com",
            "example.com",
            "http://example.com/client.json",
            "https://app.example.com/x#frag",
        ] {
            assert!(cimd_allowlist_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cimd_matching() {
        assert!(cimd_allows(
            "https://*.example.com",
            "https://app.example.com/c.json"
        ));
        assert!(!cimd_allows(
            "https://*.example.com",
            "https://a.b.example.com/c.json"
        ));
        assert!(!cimd_allows(
            "https://*.example.com",
            "https://example.com/c.json"
        ));
        assert!(!cimd_allows(
            "https://*.example.com",
            "http://app.example.com/c.json"
        ));
        assert!(!cimd_allows(
            "https://*.example.com",
            "https://app.example.com:444/c"
        ));
        assert!(cimd_allows(
            "https://*.example.com:444",
            "https://app.example.com:444/c"
        ));
        assert!(cimd_allows("*", "https://anything.test/x"));
        assert!(cimd_allows(
            "https://a.test/c.json",
            "https://a.test/c.json"
        ));
        assert!(!cimd_allows(
            "https://a.test/c.json",
            "https://a.test/d.json"
        ));
    }

    #[test]
    fn drafts_are_validated_by_field() {
        let d = ZoneDraft {
            name: "<b>x</b>".into(),
            cimd: Some(Cimd {
                enabled: true,
                allowed_client_ids: vec!["*".into(), "https://*.*.a.b".into()],
            }),
            ..Default::default()
        };
        let errs = d.validate().unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "protocols.oauth2.cimd.allowed_client_ids[1]"]
        );
    }
}
