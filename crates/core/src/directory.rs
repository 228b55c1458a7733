//! The zone directory: providers, applications, resources, dependencies
//! and application credentials.
//!
//! References are checked here with field-level errors (an id in a body must
//! name an entity of the same zone); the schema's composite foreign keys
//! enforce the same rule against races.

use crate::error::CoreError;
use crate::error::{parse_id, IfMatch};
use crate::store::{
    Constraint, DependencyRecord, DirectoryStore, ListFilter, SealedChange, StoreError,
};
use crate::update::update_atomically;
use crate::vault::Vault;
use crate::zones::ZoneScope;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyzone_domain::directory::{
    self as dir, Application, ApplicationFields, ApplicationType, Consent, Credential,
    CredentialKind, Provider, ProviderFields, ProviderType, Resource, ResourceFields,
};
use keyzone_domain::validation::slugify;
use keyzone_domain::zone::OwnerType;
use keyzone_domain::{
    ApplicationId, CredentialId, Page, PageRequest, ProviderId, ResourceId, Timestamp,
    ValidationErrors, ZoneId,
};
use rand::RngCore;
use std::future::Future;
use std::sync::Arc;

/// Identifiers of the platform-owned providers every zone has.
pub const STS_PROVIDER: &str = "keycard-sts";
pub const VAULT_PROVIDER: &str = "keycard-vault";

pub struct Directory {
    store: Arc<dyn DirectoryStore>,
    vault: Arc<Vault>,
}

fn not_found(entity: &'static str) -> CoreError {
    CoreError::NotFound { entity }
}

/// Inserts with a slug derived from `base`; a taken slug gets a random
/// suffix and another try.
async fn with_unique_slug<F, Fut>(base: &str, insert: F) -> Result<String, CoreError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    insert_with_unique_slug(slugify(base), true, Constraint::SlugUnique, insert).await
}

/// The slug-suffix rule of every entity with a slug: `insert` is tried
/// with `stem`; while `taken` says the slug is in use (and `retry`: the
/// slug was derived, not chosen by the caller, whose 409 it is to fix), a
/// short random suffix is added and the insert tried again. Returns the
/// slug that was stored.
pub(crate) async fn insert_with_unique_slug<F, Fut>(
    stem: String,
    retry: bool,
    taken: Constraint,
    mut insert: F,
) -> Result<String, CoreError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    const ATTEMPTS: usize = 8;
    let mut slug = stem.clone();
    for attempt in 0..ATTEMPTS {
        match insert(slug.clone()).await {
            Ok(()) => return Ok(slug),
            Err(StoreError::Conflict(c)) if c == taken && retry && attempt + 1 < ATTEMPTS => {
                let suffix = &keyzone_domain::id::random_id()[..6];
                let head: String = stem.chars().take(63 - 7).collect();
                slug = format!("{}-{suffix}", head.trim_end_matches('-'));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(CoreError::Conflict(taken))
}

fn forbid_platform(owner: OwnerType, what: &'static str) -> Result<(), CoreError> {
    if owner == OwnerType::Platform {
        return Err(CoreError::Forbidden(what));
    }
    Ok(())
}

/// The providers a new zone starts with. Platform-owned: they cannot be
/// changed or deleted through the API.
pub fn platform_providers(zone: &ZoneId) -> Vec<Provider> {
    let now = Timestamp::now();
    [
        (STS_PROVIDER, "Keycard STS", ProviderType::KeycardSts),
        (VAULT_PROVIDER, "Keycard Vault", ProviderType::KeycardVault),
    ]
    .into_iter()
    .map(|(identifier, name, kind)| Provider {
        id: ProviderId::generate(),
        zone_id: zone.clone(),
        identifier: identifier.into(),
        name: name.into(),
        slug: identifier.into(),
        description: None,
        kind,
        owner_type: OwnerType::Platform,
        client_id: None,
        client_secret_set: false,
        icon_url: None,
        protocols: None,
        created_at: now,
        updated_at: now,
    })
    .collect()
}

/// The platform-owned MCP gateway application a zone may be created with.
pub fn gateway_application(zone: &ZoneId) -> Application {
    let now = Timestamp::now();
    Application {
        id: ApplicationId::generate(),
        zone_id: zone.clone(),
        identifier: "mcp-gateway".into(),
        name: "MCP Gateway".into(),
        slug: "mcp-gateway".into(),
        description: Some("The zone's default MCP gateway".into()),
        consent: Consent::Implicit,
        owner_type: OwnerType::Platform,
        traits: vec!["gateway".into()],
        metadata: None,
        redirect_uris: None,
        post_logout_redirect_uris: None,
        dependencies_count: 0,
        created_at: now,
        updated_at: now,
    }
}

/// A new client secret: 256 random bits, base64url.
fn new_client_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// What creating a credential needs beyond the application.
#[derive(Debug, Clone)]
pub enum NewCredential {
    Token {
        provider_id: String,
        subject: Option<String>,
    },
    Password {
        identifier: Option<String>,
    },
    PublicKey {
        jwks_uri: String,
        identifier: Option<String>,
    },
    Url {
        identifier: String,
    },
    Public {
        identifier: Option<String>,
    },
}

/// An update of a credential, with every field the client sent: what an
/// update may change depends on the credential's type, and a field that
/// does not apply to it is refused (400 on the field), not ignored.
#[derive(Debug, Clone, Default)]
pub struct CredentialChanges {
    /// `type` as sent (`Some(None)` for `null`): it must be the credential's
    /// own, as no update changes a type.
    pub kind: Option<Option<String>>,
    /// Token credentials: `Some(None)` makes it accept any subject.
    pub subject: Option<Option<String>>,
    /// URL and public credentials: `Some(None)` (`null`) keeps it.
    pub identifier: Option<Option<String>>,
    /// Fields of a new credential that no update changes
    /// (`application_id`, `provider_id`, `jwks_uri`), as the client named
    /// them.
    pub fixed: Vec<&'static str>,
}

impl Directory {
    pub fn new(store: Arc<dyn DirectoryStore>, vault: Arc<Vault>) -> Self {
        Self { store, vault }
    }

    async fn provider_in(
        &self,
        zone: &ZoneId,
        field: &str,
        id: &str,
    ) -> Result<ProviderId, CoreError> {
        let missing = || ValidationErrors::single(field, "does not name a provider of this zone");
        let pid = ProviderId::parse(id).map_err(|_| missing())?;
        match self.store.get_provider(zone, &pid).await? {
            Some(_) => Ok(pid),
            None => Err(missing().into()),
        }
    }

    async fn application_in(
        &self,
        zone: &ZoneId,
        field: &str,
        id: &str,
    ) -> Result<ApplicationId, CoreError> {
        let missing =
            || ValidationErrors::single(field, "does not name an application of this zone");
        let aid = ApplicationId::parse(id).map_err(|_| missing())?;
        match self.store.get_application(zone, &aid).await? {
            Some(_) => Ok(aid),
            None => Err(missing().into()),
        }
    }

    async fn resource_in(
        &self,
        zone: &ZoneId,
        field: &str,
        id: &str,
    ) -> Result<ResourceId, CoreError> {
        let missing = || ValidationErrors::single(field, "does not name a resource of this zone");
        let rid = ResourceId::parse(id).map_err(|_| missing())?;
        match self.store.get_resource(zone, &rid).await? {
            Some(_) => Ok(rid),
            None => Err(missing().into()),
        }
    }

    // ----- providers -----

    async fn seal_client_secret(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
        secret: &str,
    ) -> Result<Vec<u8>, CoreError> {
        self.vault
            .seal(
                zone,
                "provider",
                id.as_str(),
                "client_secret",
                secret.as_bytes(),
            )
            .await
    }

    /// The decrypted client secret of a provider, for calls upstream.
    pub async fn provider_client_secret(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<String>, CoreError> {
        let Some(sealed) = self.store.provider_client_secret(zone, id).await? else {
            return Ok(None);
        };
        let plain = self
            .vault
            .open(zone, "provider", id.as_str(), "client_secret", &sealed)
            .await?;
        Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
    }

    pub async fn create_provider(
        &self,
        scope: &ZoneScope,
        fields: ProviderFields,
    ) -> Result<Provider, CoreError> {
        let zone = scope.id().clone();
        fields.validate()?;
        let now = Timestamp::now();
        let id = ProviderId::generate();
        let sealed = match fields.client_secret.clone().flatten() {
            Some(s) => Some(self.seal_client_secret(&zone, &id, &s).await?),
            None => None,
        };
        let mut p = Provider {
            id,
            zone_id: zone,
            identifier: fields.identifier.unwrap_or_default(),
            name: fields.name.unwrap_or_default(),
            slug: String::new(),
            description: fields.description.flatten(),
            kind: ProviderType::External,
            owner_type: OwnerType::Customer,
            client_id: fields.client_id.flatten(),
            client_secret_set: sealed.is_some(),
            icon_url: fields.icon_url.flatten(),
            protocols: fields.protocols.flatten(),
            created_at: now,
            updated_at: now,
        };
        let base = p.name.clone();
        let slug = with_unique_slug(&base, |slug| {
            let mut q = p.clone();
            q.slug = slug;
            let store = self.store.clone();
            let sealed = sealed.clone();
            async move { store.insert_provider(&q, sealed.as_deref()).await }
        })
        .await?;
        p.slug = slug;
        Ok(p)
    }

    pub async fn get_provider(&self, scope: &ZoneScope, id: &str) -> Result<Provider, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "provider", ProviderId::parse)?;
        self.store
            .get_provider(&zone, &id)
            .await?
            .ok_or(not_found("provider"))
    }

    pub async fn list_providers(
        &self,
        scope: &ZoneScope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Provider>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_providers(&zone, filter, page).await?)
    }

    pub async fn update_provider(
        &self,
        scope: &ZoneScope,
        id: &str,
        fields: ProviderFields,
        if_match: IfMatch,
    ) -> Result<Provider, CoreError> {
        let p = self.get_provider(scope, id).await?;
        forbid_platform(
            p.owner_type,
            "platform-owned providers cannot be modified through the API",
        )?;
        fields.validate()?;
        // Sealed once: the ciphertext is bound to the zone and provider,
        // not to the version being replaced.
        let secret = match &fields.client_secret {
            None => SealedChange::Keep,
            Some(None) => SealedChange::Clear,
            Some(Some(s)) => {
                SealedChange::Set(self.seal_client_secret(&p.zone_id, &p.id, s).await?)
            }
        };
        let (zone, pid) = (p.zone_id.clone(), p.id.clone());
        let store = &self.store;
        let secret = &secret;
        update_atomically(
            "provider",
            p,
            if_match,
            |p| p.updated_at,
            |p| {
                let f = fields.clone();
                if let Some(v) = f.identifier {
                    p.identifier = v;
                }
                if let Some(v) = f.name {
                    p.name = v;
                }
                if let Some(v) = f.description {
                    p.description = v;
                }
                if let Some(v) = f.client_id {
                    p.client_id = v;
                }
                if let Some(v) = f.icon_url {
                    p.icon_url = v;
                }
                if let Some(v) = f.protocols {
                    p.protocols = v;
                }
                match secret {
                    SealedChange::Keep => {}
                    SealedChange::Clear => p.client_secret_set = false,
                    SealedChange::Set(_) => p.client_secret_set = true,
                }
                p.updated_at = Timestamp::after(p.updated_at);
            },
            move |p, expected| async move {
                let ok = store.update_provider(&p, secret, expected).await?;
                Ok((ok, p))
            },
            || store.get_provider(&zone, &pid),
        )
        .await
    }

    pub async fn delete_provider(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let p = self.get_provider(scope, id).await?;
        forbid_platform(
            p.owner_type,
            "platform-owned providers cannot be deleted through the API",
        )?;
        let users = self.store.provider_dependents(&p.zone_id, &p.id).await?;
        if !users.is_empty() {
            let list: Vec<String> = users.iter().map(|(k, id)| format!("{k} {id}")).collect();
            return Err(CoreError::InUse(format!(
                "provider {} is still used by {}; change or delete those first",
                p.id,
                list.join(", ")
            )));
        }
        match self.store.delete_provider(&p.zone_id, &p.id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_found("provider")),
            Err(StoreError::Conflict(Constraint::StillReferenced)) => Err(CoreError::InUse(
                format!("provider {} was put to use while being deleted", p.id),
            )),
            Err(e) => Err(e.into()),
        }
    }

    // ----- applications -----

    pub async fn create_application(
        &self,
        scope: &ZoneScope,
        fields: ApplicationFields,
        dependencies: &[String],
    ) -> Result<Application, CoreError> {
        let zone = scope.id().clone();
        fields.validate()?;
        let mut deps = Vec::new();
        for (i, d) in dependencies.iter().enumerate() {
            let rid = self
                .resource_in(&zone, &format!("dependencies[{i}].id"), d)
                .await?;
            if !deps.contains(&rid) {
                deps.push(rid);
            }
        }
        let now = Timestamp::now();
        let mut a = Application {
            id: ApplicationId::generate(),
            zone_id: zone,
            identifier: String::new(),
            name: String::new(),
            slug: String::new(),
            description: None,
            consent: Consent::default(),
            owner_type: OwnerType::Customer,
            traits: vec![],
            metadata: None,
            redirect_uris: None,
            post_logout_redirect_uris: None,
            dependencies_count: deps.len() as u32,
            created_at: now,
            updated_at: now,
        };
        fields.apply(&mut a);
        let base = a.name.clone();
        let slug = with_unique_slug(&base, |slug| {
            let mut q = a.clone();
            q.slug = slug;
            let store = self.store.clone();
            let deps = deps.clone();
            async move { store.insert_application(&q, &deps).await }
        })
        .await?;
        a.slug = slug;
        Ok(a)
    }

    pub async fn get_application(
        &self,
        scope: &ZoneScope,
        id: &str,
    ) -> Result<Application, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "application", ApplicationId::parse)?;
        self.store
            .get_application(&zone, &id)
            .await?
            .ok_or(not_found("application"))
    }

    pub async fn list_applications(
        &self,
        scope: &ZoneScope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Application>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_applications(&zone, filter, page).await?)
    }

    pub async fn update_application(
        &self,
        scope: &ZoneScope,
        id: &str,
        fields: ApplicationFields,
        if_match: IfMatch,
    ) -> Result<Application, CoreError> {
        let a = self.get_application(scope, id).await?;
        forbid_platform(
            a.owner_type,
            "platform-owned applications cannot be modified through the API",
        )?;
        fields.validate()?;
        let (zone, aid) = (a.zone_id.clone(), a.id.clone());
        let store = &self.store;
        update_atomically(
            "application",
            a,
            if_match,
            |a| a.updated_at,
            |a| {
                fields.clone().apply(a);
                a.updated_at = Timestamp::after(a.updated_at);
            },
            move |a, expected| async move {
                let ok = store.update_application(&a, expected).await?;
                Ok((ok, a))
            },
            || store.get_application(&zone, &aid),
        )
        .await
    }

    pub async fn delete_application(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let a = self.get_application(scope, id).await?;
        forbid_platform(
            a.owner_type,
            "platform-owned applications cannot be deleted through the API",
        )?;
        if self.store.delete_application(&a.zone_id, &a.id).await? {
            Ok(())
        } else {
            Err(not_found("application"))
        }
    }

    // ----- resources -----

    async fn check_resource_refs(
        &self,
        zone: &ZoneId,
        fields: &ResourceFields,
    ) -> Result<(), CoreError> {
        if let Some(Some(a)) = &fields.application_id {
            self.application_in(zone, "application_id", a.as_str())
                .await?;
        }
        if let Some(Some(p)) = &fields.credential_provider_id {
            self.provider_in(zone, "credential_provider_id", p.as_str())
                .await?;
        }
        Ok(())
    }

    pub async fn create_resource(
        &self,
        scope: &ZoneScope,
        fields: ResourceFields,
    ) -> Result<Resource, CoreError> {
        let zone = scope.id().clone();
        fields.validate()?;
        self.check_resource_refs(&zone, &fields).await?;
        let now = Timestamp::now();
        let mut r = Resource {
            id: ResourceId::generate(),
            zone_id: zone,
            identifier: String::new(),
            name: String::new(),
            slug: String::new(),
            description: None,
            application_id: None,
            application_type: ApplicationType::default(),
            credential_provider_id: None,
            credential_lifetime_seconds: None,
            prefix: false,
            scopes: None,
            metadata: None,
            owner_type: OwnerType::Customer,
            created_at: now,
            updated_at: now,
        };
        fields.apply(&mut r);
        let base = r.name.clone();
        let slug = with_unique_slug(&base, |slug| {
            let mut q = r.clone();
            q.slug = slug;
            let store = self.store.clone();
            async move { store.insert_resource(&q).await }
        })
        .await?;
        r.slug = slug;
        Ok(r)
    }

    pub async fn get_resource(&self, scope: &ZoneScope, id: &str) -> Result<Resource, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "resource", ResourceId::parse)?;
        self.store
            .get_resource(&zone, &id)
            .await?
            .ok_or(not_found("resource"))
    }

    pub async fn list_resources(
        &self,
        scope: &ZoneScope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Resource>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_resources(&zone, filter, page).await?)
    }

    /// The resource that protects `url`: the one whose identifier is exactly
    /// `url`, else the prefix resource with the longest identifier that is a
    /// prefix of `url` at a path, query or fragment boundary. One indexed
    /// lookup, whatever the size of the zone.
    pub async fn resolve_resource(
        &self,
        zone: &ZoneId,
        url: &str,
    ) -> Result<Option<Resource>, CoreError> {
        let candidates = dir::prefix_candidates(url);
        let found = self
            .store
            .resources_by_identifier(zone, &candidates)
            .await?;
        Ok(dir::protecting_resource(url, found))
    }

    /// `resolve_resource` for the management API's `identifier` filter.
    pub async fn resolve_resource_for(
        &self,
        scope: &ZoneScope,
        url: &str,
    ) -> Result<Option<Resource>, CoreError> {
        let zone = scope.id().clone();
        self.resolve_resource(&zone, url).await
    }

    pub async fn update_resource(
        &self,
        scope: &ZoneScope,
        id: &str,
        fields: ResourceFields,
        if_match: IfMatch,
    ) -> Result<Resource, CoreError> {
        let r = self.get_resource(scope, id).await?;
        forbid_platform(
            r.owner_type,
            "platform-owned resources cannot be modified through the API",
        )?;
        fields.validate()?;
        self.check_resource_refs(&r.zone_id, &fields).await?;
        let (zone, rid) = (r.zone_id.clone(), r.id.clone());
        let store = &self.store;
        update_atomically(
            "resource",
            r,
            if_match,
            |r| r.updated_at,
            |r| {
                fields.clone().apply(r);
                r.updated_at = Timestamp::after(r.updated_at);
            },
            move |r, expected| async move {
                let ok = store.update_resource(&r, expected).await?;
                Ok((ok, r))
            },
            || store.get_resource(&zone, &rid),
        )
        .await
    }

    pub async fn delete_resource(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let r = self.get_resource(scope, id).await?;
        forbid_platform(
            r.owner_type,
            "platform-owned resources cannot be deleted through the API",
        )?;
        if self.store.delete_resource(&r.zone_id, &r.id).await? {
            Ok(())
        } else {
            Err(not_found("resource"))
        }
    }

    // ----- dependencies -----

    pub async fn put_dependency(
        &self,
        scope: &ZoneScope,
        application: &str,
        resource: &str,
        when_accessing: &[String],
    ) -> Result<(), CoreError> {
        let app = self.get_application(scope, application).await?;
        let res = parse_id(resource, "resource", ResourceId::parse)?;
        self.store
            .get_resource(&app.zone_id, &res)
            .await?
            .ok_or(not_found("resource"))?;
        let mut when = Vec::new();
        for (i, w) in when_accessing.iter().enumerate() {
            let rid = self
                .resource_in(&app.zone_id, &format!("when_accessing[{i}]"), w)
                .await?;
            if !when.contains(&rid) {
                when.push(rid);
            }
        }
        Ok(self
            .store
            .put_dependency(&app.zone_id, &app.id, &res, &when)
            .await?)
    }

    pub async fn get_dependency(
        &self,
        scope: &ZoneScope,
        application: &str,
        resource: &str,
    ) -> Result<DependencyRecord, CoreError> {
        let app = self.get_application(scope, application).await?;
        let res = parse_id(resource, "dependency", ResourceId::parse)?;
        self.store
            .get_dependency(&app.zone_id, &app.id, &res)
            .await?
            .ok_or(not_found("dependency"))
    }

    pub async fn list_dependencies(
        &self,
        scope: &ZoneScope,
        application: &str,
        page: &PageRequest,
    ) -> Result<Page<DependencyRecord>, CoreError> {
        let app = self.get_application(scope, application).await?;
        Ok(self
            .store
            .list_dependencies(&app.zone_id, &app.id, page)
            .await?)
    }

    pub async fn delete_dependency(
        &self,
        scope: &ZoneScope,
        application: &str,
        resource: &str,
    ) -> Result<(), CoreError> {
        let app = self.get_application(scope, application).await?;
        let res = parse_id(resource, "dependency", ResourceId::parse)?;
        if self
            .store
            .delete_dependency(&app.zone_id, &app.id, &res)
            .await?
        {
            Ok(())
        } else {
            Err(not_found("dependency"))
        }
    }

    // ----- application credentials -----

    /// Creates a credential. For a password credential the plaintext client
    /// secret is returned, once; only a keyed digest of it is stored.
    pub async fn create_credential(
        &self,
        scope: &ZoneScope,
        application_id: &str,
        new: NewCredential,
    ) -> Result<(Credential, Option<String>), CoreError> {
        let zone = scope.id().clone();
        let application = self
            .application_in(&zone, "application_id", application_id)
            .await?;
        let mut errs = ValidationErrors::new();
        let generated = || keyzone_domain::id::random_id();
        let (kind, identifier) = match new {
            NewCredential::Token {
                provider_id,
                subject,
            } => {
                if let Some(s) = &subject {
                    errs.check("subject", dir::identifier(s));
                }
                errs.into_result()?;
                let provider_id = self.provider_in(&zone, "provider_id", &provider_id).await?;
                let identifier = subject.clone().unwrap_or_else(|| "*".into());
                (
                    CredentialKind::Token {
                        provider_id,
                        subject,
                    },
                    identifier,
                )
            }
            NewCredential::Password { identifier } => {
                if let Some(i) = &identifier {
                    errs.check("identifier", dir::identifier(i));
                }
                errs.into_result()?;
                (
                    CredentialKind::Password,
                    identifier.unwrap_or_else(generated),
                )
            }
            NewCredential::PublicKey {
                jwks_uri,
                identifier,
            } => {
                errs.check("jwks_uri", dir::https_url(&jwks_uri));
                if let Some(i) = &identifier {
                    errs.check("identifier", dir::identifier(i));
                }
                errs.into_result()?;
                (
                    CredentialKind::PublicKey { jwks_uri },
                    identifier.unwrap_or_else(generated),
                )
            }
            NewCredential::Url { identifier } => {
                errs.check("identifier", dir::https_url(&identifier));
                errs.into_result()?;
                (CredentialKind::Url, identifier)
            }
            NewCredential::Public { identifier } => {
                if let Some(i) = &identifier {
                    errs.check("identifier", dir::identifier(i));
                }
                errs.into_result()?;
                (CredentialKind::Public, identifier.unwrap_or_else(generated))
            }
        };
        let (secret, digest) = if kind == CredentialKind::Password {
            let s = new_client_secret();
            let d = self.vault.credential_digest(&zone, s.as_bytes()).await?;
            (Some(s), Some(d))
        } else {
            (None, None)
        };
        let now = Timestamp::now();
        let c = Credential {
            id: CredentialId::generate(),
            zone_id: zone,
            application_id: application,
            slug: slugify(&identifier),
            identifier,
            kind,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_credential(&c, digest.as_ref()).await?;
        Ok((c, secret))
    }

    pub async fn get_credential(
        &self,
        scope: &ZoneScope,
        id: &str,
    ) -> Result<Credential, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "credential", CredentialId::parse)?;
        self.store
            .get_credential(&zone, &id)
            .await?
            .ok_or(not_found("credential"))
    }

    pub async fn list_credentials(
        &self,
        scope: &ZoneScope,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Credential>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_credentials(&zone, filter, page).await?)
    }

    pub async fn update_credential(
        &self,
        scope: &ZoneScope,
        id: &str,
        changes: CredentialChanges,
        if_match: IfMatch,
    ) -> Result<Credential, CoreError> {
        let c = self.get_credential(scope, id).await?;
        // What may change depends on the credential's type, which no
        // update changes: checked once.
        let mut errs = ValidationErrors::new();
        let kind = c.kind.type_str();
        if let Some(sent) = &changes.kind {
            if sent.as_deref() != Some(kind) {
                errs.add(
                    "type",
                    format!("must be `{kind}`: a credential's type cannot change"),
                );
            }
        }
        let applies = |field: &str| match &c.kind {
            CredentialKind::Token { .. } => field == "subject",
            CredentialKind::Url | CredentialKind::Public => field == "identifier",
            CredentialKind::Password | CredentialKind::PublicKey { .. } => false,
        };
        for (field, sent) in [
            ("subject", changes.subject.is_some()),
            ("identifier", changes.identifier.is_some()),
        ] {
            if sent && !applies(field) {
                errs.add(field, format!("does not apply to a {kind} credential"));
            }
        }
        for field in &changes.fixed {
            errs.add(*field, "cannot be changed; create a new credential instead");
        }
        let identifier: Option<Option<String>> = match &c.kind {
            CredentialKind::Token { .. } => changes.subject.clone().inspect(|new| {
                if let Some(s) = new {
                    errs.check("subject", dir::identifier(s));
                }
            }),
            CredentialKind::Url => changes.identifier.clone().flatten().map(|i| {
                errs.check("identifier", dir::https_url(&i));
                Some(i)
            }),
            CredentialKind::Public => changes.identifier.clone().flatten().map(|i| {
                errs.check("identifier", dir::identifier(&i));
                Some(i)
            }),
            CredentialKind::Password | CredentialKind::PublicKey { .. } => None,
        };
        errs.into_result()?;
        let (zone, cid) = (c.zone_id.clone(), c.id.clone());
        let store = &self.store;
        update_atomically(
            "credential",
            c,
            if_match,
            |c| c.updated_at,
            |c| {
                if let Some(new) = &identifier {
                    match &mut c.kind {
                        CredentialKind::Token { subject, .. } => {
                            c.identifier = new.clone().unwrap_or_else(|| "*".into());
                            *subject = new.clone();
                        }
                        _ => c.identifier = new.clone().unwrap_or_default(),
                    }
                }
                c.slug = slugify(&c.identifier);
                c.updated_at = Timestamp::after(c.updated_at);
            },
            move |c, expected| async move {
                let ok = store.update_credential(&c, expected).await?;
                Ok((ok, c))
            },
            || store.get_credential(&zone, &cid),
        )
        .await
    }

    pub async fn delete_credential(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "credential", CredentialId::parse)?;
        if self.store.delete_credential(&zone, &id).await? {
            Ok(())
        } else {
            Err(not_found("credential"))
        }
    }
}
