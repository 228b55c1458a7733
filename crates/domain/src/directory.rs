//! The zone directory: applications, resources, providers, dependencies and
//! application credentials, with their field rules.

use crate::id::{ApplicationId, CredentialId, ProviderId, ResourceId, ZoneId};
use crate::page::{Positioned, SortValue};
use crate::time::Timestamp;
use crate::validation::{self, ValidationErrors};
use crate::zone::OwnerType;
use serde::{Deserialize, Serialize};

pub const DESCRIPTION_MAX: usize = 2048;
pub const LIST_MAX: usize = 100;

/// Fields lists can sort by.
pub const SORT_FIELDS: &[&str] = &["created_at", "name", "identifier"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
}

/// A partial update of [`Metadata`]: `None` keeps a field, `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataPatch {
    pub docs_url: Option<Option<String>>,
    pub icon_url: Option<Option<String>>,
}

impl From<Metadata> for MetadataPatch {
    fn from(m: Metadata) -> Self {
        MetadataPatch {
            docs_url: Some(m.docs_url),
            icon_url: Some(m.icon_url),
        }
    }
}

impl MetadataPatch {
    /// The metadata after this patch; `None` when nothing is left.
    pub fn merge(self, existing: Option<Metadata>) -> Option<Metadata> {
        let mut m = existing.unwrap_or_default();
        if let Some(v) = self.docs_url {
            m.docs_url = v;
        }
        if let Some(v) = self.icon_url {
            m.icon_url = v;
        }
        (m.docs_url.is_some() || m.icon_url.is_some()).then_some(m)
    }

    fn validate(&self, errs: &mut ValidationErrors) {
        if let Some(Some(u)) = &self.docs_url {
            errs.check("metadata.docs_url", http_url(u));
        }
        if let Some(Some(u)) = &self.icon_url {
            errs.check("metadata.icon_url", http_url(u));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consent {
    #[default]
    Implicit,
    Required,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Implicit => "implicit",
            Consent::Required => "required",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "implicit" => Some(Self::Implicit),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApplicationType {
    #[default]
    Native,
    Web,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Native => "native",
            ApplicationType::Web => "web",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "native" => Some(Self::Native),
            "web" => Some(Self::Web),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderType {
    External,
    KeycardVault,
    KeycardSts,
}

impl ProviderType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderType::External => "external",
            ProviderType::KeycardVault => "keycard-vault",
            ProviderType::KeycardSts => "keycard-sts",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "external" => Some(Self::External),
            "keycard-vault" => Some(Self::KeycardVault),
            "keycard-sts" => Some(Self::KeycardSts),
            _ => None,
        }
    }
}

// ----- rules -----

/// An opaque identifier: 1–255 visible characters.
pub fn identifier(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 {
        return Err("must be 1 to 255 characters".into());
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}

/// An absolute URI without a fragment.
pub fn absolute_uri(s: &str) -> Result<(), String> {
    identifier(s)?;
    let u = url::Url::parse(s).map_err(|_| "must be an absolute URI".to_string())?;
    if u.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    Ok(())
}

/// An absolute http(s) URL.
pub fn http_url(s: &str) -> Result<(), String> {
    absolute_uri(s)?;
    let u = url::Url::parse(s).expect("checked");
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err("must be an absolute http or https URL".into());
    }
    Ok(())
}

/// An https URL (http only for loopback hosts, for local development).
pub fn https_url(s: &str) -> Result<(), String> {
    http_url(s)?;
    let u = url::Url::parse(s).expect("checked");
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if u.scheme() != "https" && !loopback {
        return Err("must be an https URL".into());
    }
    Ok(())
}

/// Schemes a redirect may never use: they run code or reach local content
/// in the user agent (RFC 9700 §4.1, RFC 8252 §8.x).
const FORBIDDEN_REDIRECT_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "ws",
    "wss",
    "ftp",
    "mailto",
    "tel",
    "sms",
];

/// A redirect URI a client may register (RFC 6749 §3.1.2, RFC 8252 §7,
/// OAuth 2.1 §2.3.1): absolute, no fragment, no userinfo; `https`, `http`
/// only on a loopback host (any port, RFC 8252 §7.3), or a private-use
/// scheme of a native app (RFC 8252 §7.1, e.g. `com.example.app:/cb`) —
/// never a scheme that runs code or reads local content.
pub fn redirect_uri(s: &str) -> Result<(), String> {
    absolute_uri(s)?;
    let u = url::Url::parse(s).expect("checked");
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not contain a user name or password".into());
    }
    match u.scheme() {
        "https" if u.host_str().is_none_or(str::is_empty) => {
            return Err("must name a host".into());
        }
        "https" => {}
        "http" => {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                return Err("http is allowed only on a loopback host (localhost, 127.0.0.1, [::1]); use https".into());
            }
        }
        scheme if FORBIDDEN_REDIRECT_SCHEMES.contains(&scheme) => {
            return Err(format!("the {scheme}: scheme is not allowed"));
        }
        _ => {}
    }
    Ok(())
}

fn check_list(
    errs: &mut ValidationErrors,
    field: &str,
    items: &[String],
    rule: fn(&str) -> Result<(), String>,
) {
    if items.len() > LIST_MAX {
        errs.add(field, format!("must have at most {LIST_MAX} entries"));
        return;
    }
    for (i, v) in items.iter().enumerate() {
        errs.check(&format!("{field}[{i}]"), rule(v));
    }
}

pub fn scope(s: &str) -> Result<(), String> {
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    if s.is_empty() || s.len() > 255 {
        return Err("must be 1 to 255 characters".into());
    }
    if !s
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    {
        return Err("is not a valid OAuth scope".into());
    }
    Ok(())
}

fn check_common(errs: &mut ValidationErrors, name: Option<&str>, description: Option<&str>) {
    if let Some(n) = name {
        errs.check("name", validation::name(n));
    }
    if let Some(d) = description {
        errs.check("description", validation::description(d, DESCRIPTION_MAX));
    }
}

// ----- applications -----

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: ApplicationId,
    pub zone_id: ZoneId,
    pub identifier: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub consent: Consent,
    pub owner_type: OwnerType,
    pub traits: Vec<String>,
    pub metadata: Option<Metadata>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Derived: the number of dependencies.
    pub dependencies_count: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Application fields a caller sets; `None` keeps (on update) or defaults.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFields {
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub consent: Option<Consent>,
    /// `Some(None)` clears all metadata; `Some(Some(p))` patches it.
    pub metadata: Option<Option<MetadataPatch>>,
    pub redirect_uris: Option<Option<Vec<String>>>,
    pub post_logout_redirect_uris: Option<Option<Vec<String>>>,
}

impl ApplicationFields {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if let Some(i) = &self.identifier {
            errs.check("identifier", identifier(i));
        }
        check_common(
            &mut errs,
            self.name.as_deref(),
            self.description.as_ref().and_then(|d| d.as_deref()),
        );
        if let Some(Some(m)) = &self.metadata {
            m.validate(&mut errs);
        }
        if let Some(Some(u)) = &self.redirect_uris {
            check_list(&mut errs, "protocols.oauth2.redirect_uris", u, absolute_uri);
        }
        if let Some(Some(u)) = &self.post_logout_redirect_uris {
            check_list(
                &mut errs,
                "protocols.oauth2.post_logout_redirect_uris",
                u,
                absolute_uri,
            );
        }
        errs.into_result()
    }

    pub fn apply(self, a: &mut Application) {
        if let Some(v) = self.identifier {
            a.identifier = v;
        }
        if let Some(v) = self.name {
            a.name = v;
        }
        if let Some(v) = self.description {
            a.description = v;
        }
        if let Some(v) = self.consent {
            a.consent = v;
        }
        match self.metadata {
            None => {}
            Some(None) => a.metadata = None,
            Some(Some(p)) => a.metadata = p.merge(a.metadata.take()),
        }
        if let Some(v) = self.redirect_uris {
            a.redirect_uris = v;
        }
        if let Some(v) = self.post_logout_redirect_uris {
            a.post_logout_redirect_uris = v;
        }
    }
}

impl Positioned for Application {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn sort_value(&self, field: &str) -> Option<SortValue> {
        match field {
            "name" => Some(SortValue::Text(self.name.clone())),
            "identifier" => Some(SortValue::Text(self.identifier.clone())),
            _ => None,
        }
    }
}

// ----- resources -----

#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: ResourceId,
    pub zone_id: ZoneId,
    pub identifier: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub application_id: Option<ApplicationId>,
    pub application_type: ApplicationType,
    pub credential_provider_id: Option<ProviderId>,
    pub credential_lifetime_seconds: Option<u32>,
    pub prefix: bool,
    pub scopes: Option<Vec<String>>,
    pub metadata: Option<Metadata>,
    pub owner_type: OwnerType,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub const CREDENTIAL_LIFETIME: std::ops::RangeInclusive<u32> = 60..=86_400;

#[derive(Debug, Clone, Default)]
pub struct ResourceFields {
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub application_id: Option<Option<ApplicationId>>,
    pub application_type: Option<ApplicationType>,
    pub credential_provider_id: Option<Option<ProviderId>>,
    pub credential_lifetime_seconds: Option<Option<u32>>,
    pub prefix: Option<bool>,
    pub scopes: Option<Option<Vec<String>>>,
    pub metadata: Option<Option<MetadataPatch>>,
}

impl ResourceFields {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if let Some(i) = &self.identifier {
            errs.check("identifier", absolute_uri(i));
        }
        check_common(
            &mut errs,
            self.name.as_deref(),
            self.description.as_ref().and_then(|d| d.as_deref()),
        );
        if let Some(Some(l)) = self.credential_lifetime_seconds {
            if !CREDENTIAL_LIFETIME.contains(&l) {
                errs.add("credential_lifetime_seconds", "must be from 60 to 86400");
            }
        }
        if let Some(Some(s)) = &self.scopes {
            check_list(&mut errs, "scopes", s, scope);
        }
        if let Some(Some(m)) = &self.metadata {
            m.validate(&mut errs);
        }
        errs.into_result()
    }

    pub fn apply(self, r: &mut Resource) {
        if let Some(v) = self.identifier {
            r.identifier = v;
        }
        if let Some(v) = self.name {
            r.name = v;
        }
        if let Some(v) = self.description {
            r.description = v;
        }
        if let Some(v) = self.application_id {
            r.application_id = v;
        }
        if let Some(v) = self.application_type {
            r.application_type = v;
        }
        if let Some(v) = self.credential_provider_id {
            r.credential_provider_id = v;
        }
        if let Some(v) = self.credential_lifetime_seconds {
            r.credential_lifetime_seconds = v;
        }
        if let Some(v) = self.prefix {
            r.prefix = v;
        }
        if let Some(v) = self.scopes {
            r.scopes = v;
        }
        match self.metadata {
            None => {}
            Some(None) => r.metadata = None,
            Some(Some(p)) => r.metadata = p.merge(r.metadata.take()),
        }
    }
}

impl Positioned for Resource {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn sort_value(&self, field: &str) -> Option<SortValue> {
        match field {
            "name" => Some(SortValue::Text(self.name.clone())),
            "identifier" => Some(SortValue::Text(self.identifier.clone())),
            _ => None,
        }
    }
}

/// The resource that protects `url` among `found` (the resources whose
/// identifier is one of [`prefix_candidates`]): the one whose identifier is
/// exactly `url`, else the prefix resource with the longest identifier.
pub fn protecting_resource(url: &str, found: Vec<Resource>) -> Option<Resource> {
    if let Some(i) = found.iter().position(|r| r.identifier == url) {
        return found.into_iter().nth(i);
    }
    found
        .into_iter()
        .filter(|r| r.prefix)
        .max_by_key(|r| r.identifier.len())
}

/// The identifiers a resource must have to protect `url`: the URL itself,
/// and every prefix of it that ends at a path, query or fragment boundary
/// (with and without a trailing `/`). Scheme and host always match exactly,
/// because every candidate keeps them whole. Longest first.
///
/// `https://api.example.com/v1` protects `…/v1/users?x=1` but not `…/v10`.
pub fn prefix_candidates(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    // Skip "scheme://authority": boundaries are only in what follows it.
    let start = match url.find("://") {
        Some(i) => match url[i + 3..].find(['/', '?', '#']) {
            Some(j) => i + 3 + j,
            None => return out,
        },
        None => return out,
    };
    for (i, c) in url[start..].char_indices().map(|(i, c)| (i + start, c)) {
        if matches!(c, '/' | '?' | '#') {
            out.push(url[..i].to_owned());
            if c == '/' {
                out.push(url[..=i].to_owned());
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

// ----- providers -----

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderOAuth2 {
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_parameters: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_resource_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_resource_parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_response_access_token_pointer: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderOpenId {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_logout_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_identifier_claim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderProtocols {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<ProviderOAuth2>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<ProviderOpenId>,
}

impl ProviderProtocols {
    fn validate(&self, errs: &mut ValidationErrors) {
        if let Some(o) = &self.oauth2 {
            match &o.issuer {
                None => errs.add("protocols.oauth2.issuer", "is required"),
                Some(i) => errs.check("protocols.oauth2.issuer", http_url(i)),
            }
            for (name, v) in [
                ("authorization_endpoint", &o.authorization_endpoint),
                ("jwks_uri", &o.jwks_uri),
                ("registration_endpoint", &o.registration_endpoint),
                ("token_endpoint", &o.token_endpoint),
            ] {
                if let Some(v) = v {
                    errs.check(&format!("protocols.oauth2.{name}"), http_url(v));
                }
            }
            if let Some(m) = &o.code_challenge_methods_supported {
                check_list(
                    errs,
                    "protocols.oauth2.code_challenge_methods_supported",
                    m,
                    identifier,
                );
            }
            if let Some(s) = &o.scopes_supported {
                check_list(errs, "protocols.oauth2.scopes_supported", s, scope);
            }
            if let Some(p) = &o.authorization_parameters {
                if p.len() > LIST_MAX {
                    errs.add(
                        "protocols.oauth2.authorization_parameters",
                        "too many parameters",
                    );
                }
            }
        }
        if let Some(o) = &self.openid {
            if let Some(u) = &o.userinfo_endpoint {
                errs.check("protocols.openid.userinfo_endpoint", http_url(u));
            }
            if let Some(s) = &o.scopes {
                check_list(errs, "protocols.openid.scopes", s, scope);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub id: ProviderId,
    pub zone_id: ZoneId,
    pub identifier: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub kind: ProviderType,
    pub owner_type: OwnerType,
    pub client_id: Option<String>,
    pub client_secret_set: bool,
    pub icon_url: Option<String>,
    pub protocols: Option<ProviderProtocols>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Positioned for Provider {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn sort_value(&self, field: &str) -> Option<SortValue> {
        match field {
            "name" => Some(SortValue::Text(self.name.clone())),
            "identifier" => Some(SortValue::Text(self.identifier.clone())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProviderFields {
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub client_id: Option<Option<String>>,
    /// Write-only. `Some(None)` unsets it.
    pub client_secret: Option<Option<String>>,
    pub icon_url: Option<Option<String>>,
    pub protocols: Option<Option<ProviderProtocols>>,
}

impl ProviderFields {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::new();
        if let Some(i) = &self.identifier {
            errs.check("identifier", identifier(i));
        }
        check_common(
            &mut errs,
            self.name.as_deref(),
            self.description.as_ref().and_then(|d| d.as_deref()),
        );
        if let Some(Some(c)) = &self.client_id {
            errs.check("client_id", identifier(c));
        }
        if let Some(Some(s)) = &self.client_secret {
            if s.is_empty() || s.len() > 4096 {
                errs.add("client_secret", "must be 1 to 4096 characters");
            }
        }
        if let Some(Some(u)) = &self.icon_url {
            errs.check("metadata.icon_url", http_url(u));
        }
        if let Some(Some(p)) = &self.protocols {
            p.validate(&mut errs);
        }
        errs.into_result()
    }
}

// ----- application credentials -----

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// Workload identity: a JWT from `provider_id` whose `sub` is `subject`
    /// (any subject when `None`).
    Token {
        provider_id: ProviderId,
        subject: Option<String>,
    },
    /// A client secret (OAuth `client_secret_basic` / `_post`).
    Password,
    /// `private_key_jwt` with keys from `jwks_uri`.
    PublicKey { jwks_uri: String },
    /// A URL client identity (client ID metadata document).
    Url,
    /// A public client: no secret.
    Public,
}

impl CredentialKind {
    pub fn type_str(&self) -> &'static str {
        match self {
            CredentialKind::Token { .. } => "token",
            CredentialKind::Password => "password",
            CredentialKind::PublicKey { .. } => "public-key",
            CredentialKind::Url => "url",
            CredentialKind::Public => "public",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub id: CredentialId,
    pub zone_id: ZoneId,
    pub application_id: ApplicationId,
    /// The OAuth client_id (for token credentials: the subject, or `*`).
    pub identifier: String,
    pub slug: String,
    pub kind: CredentialKind,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Positioned for Credential {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_candidates_stop_at_boundaries() {
        let c = prefix_candidates("https://api.example.com/v1/users?x=1#f");
        for want in [
            "https://api.example.com/v1/users?x=1#f",
            "https://api.example.com/v1/users?x=1",
            "https://api.example.com/v1/users",
            "https://api.example.com/v1/",
            "https://api.example.com/v1",
            "https://api.example.com/",
            "https://api.example.com",
        ] {
            assert!(c.contains(&want.to_owned()), "{want} missing from {c:?}");
        }
        assert!(!c.iter().any(|s| s == "https://api.example.com/v"), "{c:?}");
        assert!(!prefix_candidates("https://api.example.com/v10")
            .contains(&"https://api.example.com/v1".to_owned()));
        assert_eq!(
            prefix_candidates("https://api.example.com"),
            ["https://api.example.com"]
        );
        let c = prefix_candidates("https://a.test/x/y");
        assert!(
            c.windows(2).all(|w| w[0].len() >= w[1].len()),
            "longest first"
        );
    }

    #[test]
    fn field_rules() {
        assert!(absolute_uri("https://api.example.com/v1").is_ok());
        assert!(absolute_uri("urn:example:thing").is_ok());
        assert!(absolute_uri("relative/path").is_err());
        assert!(absolute_uri("https://a.test/#frag").is_err());
        assert!(https_url("https://a.test/jwks").is_ok());
        assert!(https_url("http://localhost:8080/jwks").is_ok());
        assert!(https_url("http://a.test/jwks").is_err());
        assert!(scope("read:all").is_ok());
        assert!(scope("a b").is_err());
        assert!(scope("a\"b").is_err());
        let f = ResourceFields {
            credential_lifetime_seconds: Some(Some(59)),
            ..Default::default()
        };
        assert_eq!(
            f.validate().unwrap_err().0[0].field,
            "credential_lifetime_seconds"
        );
    }
}

#[cfg(test)]
mod redirect_uri_tests {
    use super::redirect_uri;

    #[test]
    fn rfc_8252_and_oauth_2_1_rules() {
        for ok in [
            "https://app.example.com/callback",
            "http://127.0.0.1:53123/callback",
            "http://localhost:3000/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth2redirect",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
        ] {
            assert!(redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "vbscript:msgbox",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "http://app.example.com/cb",
            "http://10.0.0.1/cb",
            "relative/path",
        ] {
            assert!(redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
