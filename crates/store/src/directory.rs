//! Providers, applications, resources, dependencies and credentials.

use crate::sql::{bind_args, push_any_like, push_in, Arg, Listing, Sql};
use crate::BeginWrite;
use crate::{errors::map_sqlx_error, get_in_zone, on_pool, Store};
use async_trait::async_trait;
use keyzone_core::store::{
    ApplicationStore, Constraint, CredentialStore, DependencyRecord, DependencyStore, ListFilter,
    ProviderStore, ResourceStore, SealedChange, StoreError,
};
use keyzone_domain::directory::{
    Application, ApplicationType, Consent, Credential, CredentialKind, Metadata, Provider,
    ProviderProtocols, ProviderType, Resource,
};
use keyzone_domain::zone::OwnerType;
use keyzone_domain::{
    ApplicationId, CredentialId, Page, PageRequest, ProviderId, ResourceId, Timestamp, ZoneId,
};
use std::collections::HashMap;

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of {id}"))
}

pub(crate) fn json<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref()
        .map(|v| serde_json::to_string(v).expect("serializes"))
}

fn from_json<T: serde::de::DeserializeOwned>(
    s: Option<String>,
    what: &str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    s.map(|s| serde_json::from_str(&s).map_err(|_| corrupt(what, id)))
        .transpose()
}

/// The tenant scope and the common filters of a directory list.
fn scoped(zone: &ZoneId, f: &ListFilter, named: bool) -> Sql {
    let mut q = Sql::new("zone_id = ");
    q.arg(Arg::Text(zone.as_str().to_owned()));
    push_in(&mut q, "id", &f.ids);
    push_in(&mut q, "identifier", &f.identifiers);
    push_in(&mut q, "slug", &f.slugs);
    if named {
        push_any_like(&mut q, &["name", "identifier"], &f.query_any);
        push_any_like(&mut q, &["name"], &f.query_name);
    }
    push_any_like(&mut q, &["identifier"], &f.query_identifier);
    if let Some(o) = f.owner_type {
        q.push(" AND owner_type = ")
            .arg(Arg::Text(o.as_str().into()));
    }
    q
}

// ----- providers -----

const PROVIDER_COLUMNS: &str = "id, zone_id, identifier, name, slug, description, type, \
    owner_type, client_id, client_secret IS NOT NULL AS client_secret_set, icon_url, protocols, \
    created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ProviderRow {
    id: String,
    zone_id: String,
    identifier: String,
    name: String,
    slug: String,
    description: Option<String>,
    #[sqlx(rename = "type")]
    kind: String,
    owner_type: String,
    client_id: Option<String>,
    client_secret_set: bool,
    icon_url: Option<String>,
    protocols: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ProviderRow> for Provider {
    type Error = StoreError;
    fn try_from(r: ProviderRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        Ok(Provider {
            id: ProviderId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
            kind: ProviderType::parse(&r.kind).ok_or_else(|| corrupt("type", &id))?,
            owner_type: OwnerType::parse(&r.owner_type).ok_or_else(|| corrupt("owner", &id))?,
            protocols: from_json::<ProviderProtocols>(r.protocols, "protocols", &id)?,
            identifier: r.identifier,
            name: r.name,
            slug: r.slug,
            description: r.description,
            client_id: r.client_id,
            client_secret_set: r.client_secret_set,
            icon_url: r.icon_url,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

/// Inserts a provider within a transaction of either driver.
macro_rules! insert_provider {
    ($conn:expr, $p:expr, $secret:expr) => {{
        let p: &keyzone_domain::directory::Provider = $p;
        let secret: Option<&[u8]> = $secret;
        sqlx::query(
            "INSERT INTO providers (id, zone_id, identifier, name, slug, description, type, \
             owner_type, client_id, client_secret, icon_url, protocols, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(p.id.as_str())
        .bind(p.zone_id.as_str())
        .bind(&p.identifier)
        .bind(&p.name)
        .bind(&p.slug)
        .bind(p.description.as_deref())
        .bind(p.kind.as_str())
        .bind(p.owner_type.as_str())
        .bind(p.client_id.as_deref())
        .bind(secret)
        .bind(p.icon_url.as_deref())
        .bind($crate::directory::protocols_json(p))
        .bind(p.created_at.as_micros())
        .bind(p.updated_at.as_micros())
        .execute($conn)
        .await?;
    }};
}
pub(crate) use insert_provider;

/// Inserts an application within a transaction of either driver.
macro_rules! insert_application {
    ($conn:expr, $a:expr) => {{
        let a: &keyzone_domain::directory::Application = $a;
        sqlx::query(
            "INSERT INTO applications (id, zone_id, identifier, name, slug, description, consent, \
             owner_type, traits, metadata, redirect_uris, post_logout_redirect_uris, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(a.id.as_str())
        .bind(a.zone_id.as_str())
        .bind(&a.identifier)
        .bind(&a.name)
        .bind(&a.slug)
        .bind(a.description.as_deref())
        .bind(a.consent.as_str())
        .bind(a.owner_type.as_str())
        .bind($crate::directory::traits_json(a))
        .bind($crate::directory::json(&a.metadata))
        .bind($crate::directory::json(&a.redirect_uris))
        .bind($crate::directory::json(&a.post_logout_redirect_uris))
        .bind(a.created_at.as_micros())
        .bind(a.updated_at.as_micros())
        .execute($conn)
        .await?;
    }};
}
pub(crate) use insert_application;

pub(crate) fn traits_json(a: &Application) -> String {
    serde_json::to_string(&a.traits).expect("serializes")
}

pub(crate) fn protocols_json(p: &Provider) -> Option<String> {
    json(&p.protocols)
}

// ----- applications -----

const APPLICATION_COLUMNS: &str = "id, zone_id, identifier, name, slug, description, consent, \
    owner_type, traits, metadata, redirect_uris, post_logout_redirect_uris, created_at, \
    updated_at, (SELECT COUNT(*) FROM application_dependencies d \
    WHERE d.application_id = applications.id) AS dependencies_count";

#[derive(sqlx::FromRow)]
struct ApplicationRow {
    id: String,
    zone_id: String,
    identifier: String,
    name: String,
    slug: String,
    description: Option<String>,
    consent: String,
    owner_type: String,
    traits: String,
    metadata: Option<String>,
    redirect_uris: Option<String>,
    post_logout_redirect_uris: Option<String>,
    created_at: i64,
    updated_at: i64,
    dependencies_count: i64,
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StoreError;
    fn try_from(r: ApplicationRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        Ok(Application {
            id: ApplicationId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
            consent: Consent::parse(&r.consent).ok_or_else(|| corrupt("consent", &id))?,
            owner_type: OwnerType::parse(&r.owner_type).ok_or_else(|| corrupt("owner", &id))?,
            traits: serde_json::from_str(&r.traits).map_err(|_| corrupt("traits", &id))?,
            metadata: from_json::<Metadata>(r.metadata, "metadata", &id)?,
            redirect_uris: from_json(r.redirect_uris, "redirect_uris", &id)?,
            post_logout_redirect_uris: from_json(
                r.post_logout_redirect_uris,
                "redirect_uris",
                &id,
            )?,
            identifier: r.identifier,
            name: r.name,
            slug: r.slug,
            description: r.description,
            dependencies_count: r.dependencies_count.max(0) as u32,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

// ----- resources -----

const RESOURCE_COLUMNS: &str = "id, zone_id, identifier, name, slug, description, application_id, \
    application_type, credential_provider_id, credential_lifetime_seconds, prefix, scopes, \
    metadata, owner_type, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ResourceRow {
    id: String,
    zone_id: String,
    identifier: String,
    name: String,
    slug: String,
    description: Option<String>,
    application_id: Option<String>,
    application_type: String,
    credential_provider_id: Option<String>,
    credential_lifetime_seconds: Option<i64>,
    prefix: bool,
    scopes: Option<String>,
    metadata: Option<String>,
    owner_type: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;
    fn try_from(r: ResourceRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        Ok(Resource {
            id: ResourceId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
            application_id: r
                .application_id
                .map(|a| ApplicationId::parse(&a).map_err(|_| corrupt("application", &id)))
                .transpose()?,
            application_type: ApplicationType::parse(&r.application_type)
                .ok_or_else(|| corrupt("application_type", &id))?,
            credential_provider_id: r
                .credential_provider_id
                .map(|p| ProviderId::parse(&p).map_err(|_| corrupt("provider", &id)))
                .transpose()?,
            credential_lifetime_seconds: r
                .credential_lifetime_seconds
                .map(|l| u32::try_from(l).map_err(|_| corrupt("lifetime", &id)))
                .transpose()?,
            scopes: from_json(r.scopes, "scopes", &id)?,
            metadata: from_json::<Metadata>(r.metadata, "metadata", &id)?,
            owner_type: OwnerType::parse(&r.owner_type).ok_or_else(|| corrupt("owner", &id))?,
            identifier: r.identifier,
            name: r.name,
            slug: r.slug,
            description: r.description,
            prefix: r.prefix,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

// ----- credentials -----

const CREDENTIAL_COLUMNS: &str = "id, zone_id, application_id, type, identifier, slug, \
    provider_id, subject, jwks_uri, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct CredentialRow {
    id: String,
    zone_id: String,
    application_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    identifier: String,
    slug: String,
    provider_id: Option<String>,
    subject: Option<String>,
    jwks_uri: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = StoreError;
    fn try_from(r: CredentialRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        let kind = match (r.kind.as_str(), r.provider_id, r.jwks_uri) {
            ("token", Some(p), _) => CredentialKind::Token {
                provider_id: ProviderId::parse(&p).map_err(|_| corrupt("provider", &id))?,
                subject: r.subject,
            },
            ("password", _, _) => CredentialKind::Password,
            ("public-key", _, Some(j)) => CredentialKind::PublicKey { jwks_uri: j },
            ("url", _, _) => CredentialKind::Url,
            ("public", _, _) => CredentialKind::Public,
            _ => return Err(corrupt("type", &id)),
        };
        Ok(Credential {
            id: CredentialId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
            application_id: ApplicationId::parse(&r.application_id)
                .map_err(|_| corrupt("application", &id))?,
            identifier: r.identifier,
            slug: r.slug,
            kind,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

fn credential_columns(c: &Credential) -> (Option<&str>, Option<&str>, Option<&str>) {
    match &c.kind {
        CredentialKind::Token {
            provider_id,
            subject,
        } => (Some(provider_id.as_str()), subject.as_deref(), None),
        CredentialKind::PublicKey { jwks_uri } => (None, None, Some(jwks_uri.as_str())),
        _ => (None, None, None),
    }
}

async fn rows_to<T, R: TryInto<T, Error = StoreError>>(
    page: Page<R>,
) -> Result<Page<T>, StoreError> {
    page.try_map(|r| r.try_into())
}

#[async_trait]
impl ProviderStore for Store {
    async fn insert_provider(
        &self,
        p: &Provider,
        sealed_client_secret: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| async {
            insert_provider!(pool, p, sealed_client_secret);
            Ok::<_, sqlx::Error>(())
        }
        .await)
        .map_err(map_sqlx_error)
    }

    async fn get_provider(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Provider>, StoreError> {
        get_in_zone!(self, ProviderRow, PROVIDER_COLUMNS, "providers", zone, id)
    }

    async fn provider_client_secret(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let v: Option<Option<Vec<u8>>> = on_pool!(self, |p| {
            sqlx::query_scalar("SELECT client_secret FROM providers WHERE zone_id = $1 AND id = $2")
                .bind(zone.as_str())
                .bind(id.as_str())
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        Ok(v.flatten())
    }

    async fn list_providers(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Provider>, StoreError> {
        let mut f = scoped(zone, filter, true);
        let types: Vec<String> = filter
            .provider_types
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        push_in(&mut f, "type", &types);
        let rows: Page<ProviderRow> = self
            .page(
                Listing {
                    select: PROVIDER_COLUMNS,
                    from: "providers",
                    filter: f,
                },
                page,
            )
            .await?;
        rows_to(rows).await
    }

    async fn update_provider(
        &self,
        p: &Provider,
        secret: &SealedChange,
        expected: Timestamp,
    ) -> Result<bool, StoreError> {
        let protocols = &protocols_json(p);
        let n = on_pool!(self, |pool| crate::retry_transient(|| async move {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE providers SET identifier = $3, name = $4, description = $5, client_id = $6, \
                 icon_url = $7, protocols = $8, updated_at = $9 \
                 WHERE zone_id = $1 AND id = $2 AND updated_at = $10",
            )
            .bind(p.zone_id.as_str())
            .bind(p.id.as_str())
            .bind(&p.identifier)
            .bind(&p.name)
            .bind(p.description.as_deref())
            .bind(p.client_id.as_deref())
            .bind(p.icon_url.as_deref())
            .bind(protocols.as_deref())
            .bind(p.updated_at.as_micros())
            .bind(expected.as_micros())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let value: Option<Option<&[u8]>> = match secret {
                SealedChange::Keep => None,
                SealedChange::Clear => Some(None),
                SealedChange::Set(v) => Some(Some(v.as_slice())),
            };
            if let (Some(v), true) = (value, n > 0) {
                sqlx::query("UPDATE providers SET client_secret = $3 WHERE zone_id = $1 AND id = $2")
                    .bind(p.zone_id.as_str())
                    .bind(p.id.as_str())
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })
        .await)
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }

    async fn delete_provider(&self, zone: &ZoneId, id: &ProviderId) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "UPDATE zones SET user_identity_provider_id = NULL \
                 WHERE id = $1 AND user_identity_provider_id = $2",
            )
            .bind(zone.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query("DELETE FROM providers WHERE zone_id = $1 AND id = $2")
                .bind(zone.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })
        .await)
        .map_err(|e| match map_sqlx_error(e) {
            // A reference that appeared after the caller's check.
            StoreError::Conflict(Constraint::MissingReference) => {
                StoreError::Conflict(Constraint::StillReferenced)
            }
            other => other,
        })?;
        Ok(n > 0)
    }

    async fn provider_dependents(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Vec<(&'static str, String)>, StoreError> {
        let (resources, credentials): (Vec<String>, Vec<String>) = on_pool!(self, |p| async {
            let r = sqlx::query_scalar(
                "SELECT id FROM resources WHERE zone_id = $1 AND credential_provider_id = $2 ORDER BY id",
            )
            .bind(zone.as_str())
            .bind(id.as_str())
            .fetch_all(p)
            .await?;
            let c = sqlx::query_scalar(
                "SELECT id FROM application_credentials WHERE zone_id = $1 AND provider_id = $2 ORDER BY id",
            )
            .bind(zone.as_str())
            .bind(id.as_str())
            .fetch_all(p)
            .await?;
            Ok::<_, sqlx::Error>((r, c))
        }
        .await)
        .map_err(map_sqlx_error)?;
        Ok(resources
            .into_iter()
            .map(|r| ("resource", r))
            .chain(credentials.into_iter().map(|c| ("credential", c)))
            .collect())
    }
}

#[async_trait]
impl ApplicationStore for Store {
    async fn insert_application(
        &self,
        a: &Application,
        dependencies: &[ResourceId],
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_micros();
        on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            insert_application!(&mut *tx, a);
            for r in dependencies {
                sqlx::query(
                    "INSERT INTO application_dependencies (zone_id, application_id, resource_id, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(a.zone_id.as_str())
                .bind(a.id.as_str())
                .bind(r.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
        .await)
        .map_err(map_sqlx_error)
    }

    async fn get_application(
        &self,
        zone: &ZoneId,
        id: &ApplicationId,
    ) -> Result<Option<Application>, StoreError> {
        get_in_zone!(
            self,
            ApplicationRow,
            APPLICATION_COLUMNS,
            "applications",
            zone,
            id
        )
    }

    async fn list_applications(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Application>, StoreError> {
        let f = scoped(zone, filter, true);
        let rows: Page<ApplicationRow> = self
            .page(
                Listing {
                    select: APPLICATION_COLUMNS,
                    from: "applications",
                    filter: f,
                },
                page,
            )
            .await?;
        rows_to(rows).await
    }

    async fn update_application(
        &self,
        a: &Application,
        expected: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| {
            sqlx::query(
                "UPDATE applications SET identifier = $3, name = $4, description = $5, consent = $6, \
                 metadata = $7, redirect_uris = $8, post_logout_redirect_uris = $9, updated_at = $10 \
                 WHERE zone_id = $1 AND id = $2 AND updated_at = $11",
            )
            .bind(a.zone_id.as_str())
            .bind(a.id.as_str())
            .bind(&a.identifier)
            .bind(&a.name)
            .bind(a.description.as_deref())
            .bind(a.consent.as_str())
            .bind(json(&a.metadata))
            .bind(json(&a.redirect_uris))
            .bind(json(&a.post_logout_redirect_uris))
            .bind(a.updated_at.as_micros())
            .bind(expected.as_micros())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }

    async fn delete_application(
        &self,
        zone: &ZoneId,
        id: &ApplicationId,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "UPDATE zones SET default_mcp_gateway_application_id = NULL \
                 WHERE id = $1 AND default_mcp_gateway_application_id = $2",
            )
            .bind(zone.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query("DELETE FROM applications WHERE zone_id = $1 AND id = $2")
                .bind(zone.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })
        .await)
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl ResourceStore for Store {
    async fn insert_resource(&self, r: &Resource) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO resources ({RESOURCE_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        on_pool!(self, |p| {
            sqlx::query(&sql)
                .bind(r.id.as_str())
                .bind(r.zone_id.as_str())
                .bind(&r.identifier)
                .bind(&r.name)
                .bind(&r.slug)
                .bind(r.description.as_deref())
                .bind(r.application_id.as_ref().map(|a| a.as_str()))
                .bind(r.application_type.as_str())
                .bind(r.credential_provider_id.as_ref().map(|a| a.as_str()))
                .bind(r.credential_lifetime_seconds.map(i64::from))
                .bind(r.prefix)
                .bind(json(&r.scopes))
                .bind(json(&r.metadata))
                .bind(r.owner_type.as_str())
                .bind(r.created_at.as_micros())
                .bind(r.updated_at.as_micros())
                .execute(p)
                .await
                .map(|_| ())
        })
        .map_err(map_sqlx_error)
    }

    async fn get_resource(
        &self,
        zone: &ZoneId,
        id: &ResourceId,
    ) -> Result<Option<Resource>, StoreError> {
        get_in_zone!(self, ResourceRow, RESOURCE_COLUMNS, "resources", zone, id)
    }

    async fn list_resources(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Resource>, StoreError> {
        let mut f = scoped(zone, filter, true);
        if let Some(p) = &filter.credential_provider_id {
            f.push(" AND credential_provider_id = ")
                .arg(Arg::Text(p.clone()));
        }
        if let Some(a) = &filter.application_id {
            f.push(" AND application_id = ").arg(Arg::Text(a.clone()));
        }
        if !filter.traits.is_empty() {
            f.push(" AND application_id IN (SELECT a.id FROM applications a WHERE a.zone_id = ")
                .arg(Arg::Text(zone.as_str().into()))
                .push(" AND (");
            for (i, t) in filter.traits.iter().enumerate() {
                if i > 0 {
                    f.push(" OR ");
                }
                f.push("a.traits LIKE ").arg(Arg::Text(format!(
                    "%\"{}\"%",
                    t.replace(['%', '_', '"'], "")
                )));
            }
            f.push("))");
        }
        let rows: Page<ResourceRow> = self
            .page(
                Listing {
                    select: RESOURCE_COLUMNS,
                    from: "resources",
                    filter: f,
                },
                page,
            )
            .await?;
        rows_to(rows).await
    }

    async fn resources_by_identifier(
        &self,
        zone: &ZoneId,
        candidates: &[String],
    ) -> Result<Vec<Resource>, StoreError> {
        if candidates.is_empty() {
            return Ok(vec![]);
        }
        let mut q = Sql::new(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources WHERE zone_id = "
        ));
        q.arg(Arg::Text(zone.as_str().into()));
        push_in(&mut q, "identifier", candidates);
        let rows: Vec<ResourceRow> = on_pool!(self, |p| {
            bind_args!(sqlx::query_as::<_, ResourceRow>(&q.text), &q.args)
                .fetch_all(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        rows.into_iter().map(Resource::try_from).collect()
    }

    async fn update_resource(&self, r: &Resource, expected: Timestamp) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| {
            sqlx::query(
                "UPDATE resources SET identifier = $3, name = $4, description = $5, application_id = $6, \
                 application_type = $7, credential_provider_id = $8, credential_lifetime_seconds = $9, \
                 prefix = $10, scopes = $11, metadata = $12, updated_at = $13 \
                 WHERE zone_id = $1 AND id = $2 AND updated_at = $14",
            )
            .bind(r.zone_id.as_str())
            .bind(r.id.as_str())
            .bind(&r.identifier)
            .bind(&r.name)
            .bind(r.description.as_deref())
            .bind(r.application_id.as_ref().map(|a| a.as_str()))
            .bind(r.application_type.as_str())
            .bind(r.credential_provider_id.as_ref().map(|a| a.as_str()))
            .bind(r.credential_lifetime_seconds.map(i64::from))
            .bind(r.prefix)
            .bind(json(&r.scopes))
            .bind(json(&r.metadata))
            .bind(r.updated_at.as_micros())
            .bind(expected.as_micros())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }

    async fn delete_resource(&self, zone: &ZoneId, id: &ResourceId) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            // Grants for the resource are revoked, not deleted: users and
            // auditors still see them.
            sqlx::query(
                "UPDATE delegated_grants SET status = 'revoked', updated_at = $3 \
                 WHERE zone_id = $1 AND resource_id = $2 AND status <> 'revoked'",
            )
            .bind(zone.as_str())
            .bind(id.as_str())
            .bind(Timestamp::now().as_micros())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE zones SET default_resource_id = NULL WHERE id = $1 AND default_resource_id = $2")
                .bind(zone.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            // A dependency whose only when_accessing resource this is would
            // become unconditional when the condition goes: fail closed and
            // remove the dependency instead.
            sqlx::query(
                "DELETE FROM application_dependencies WHERE zone_id = $1 AND EXISTS ( \
                   SELECT 1 FROM dependency_conditions c \
                   WHERE c.application_id = application_dependencies.application_id \
                     AND c.resource_id = application_dependencies.resource_id \
                     AND c.when_accessing_id = $2) \
                 AND NOT EXISTS ( \
                   SELECT 1 FROM dependency_conditions c \
                   WHERE c.application_id = application_dependencies.application_id \
                     AND c.resource_id = application_dependencies.resource_id \
                     AND c.when_accessing_id <> $2)",
            )
            .bind(zone.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            // Other dependencies and conditions naming it go by cascade.
            let n = sqlx::query("DELETE FROM resources WHERE zone_id = $1 AND id = $2")
                .bind(zone.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })
        .await)
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl DependencyStore for Store {
    async fn put_dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
        when_accessing: &[ResourceId],
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_micros();
        on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "INSERT INTO application_dependencies (zone_id, application_id, resource_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (application_id, resource_id) DO NOTHING",
            )
            .bind(zone.as_str())
            .bind(application.as_str())
            .bind(resource.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM dependency_conditions WHERE application_id = $1 AND resource_id = $2")
                .bind(application.as_str())
                .bind(resource.as_str())
                .execute(&mut *tx)
                .await?;
            for w in when_accessing {
                sqlx::query(
                    "INSERT INTO dependency_conditions (zone_id, application_id, resource_id, when_accessing_id) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(zone.as_str())
                .bind(application.as_str())
                .bind(resource.as_str())
                .bind(w.as_str())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
        .await)
        .map_err(map_sqlx_error)
    }

    async fn get_dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
    ) -> Result<Option<DependencyRecord>, StoreError> {
        let found: Option<i64> = on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT created_at FROM application_dependencies \
                 WHERE zone_id = $1 AND application_id = $2 AND resource_id = $3",
            )
            .bind(zone.as_str())
            .bind(application.as_str())
            .bind(resource.as_str())
            .fetch_optional(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        if found.is_none() {
            return Ok(None);
        }
        let Some(r) = self.get_resource(zone, resource).await? else {
            return Ok(None);
        };
        let mut when = self.conditions(application).await?;
        Ok(Some(DependencyRecord {
            when_accessing: when.remove(resource.as_str()).unwrap_or_default(),
            resource: r,
        }))
    }

    async fn list_dependencies(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        page: &PageRequest,
    ) -> Result<Page<DependencyRecord>, StoreError> {
        let mut f = Sql::new("zone_id = ");
        f.arg(Arg::Text(zone.as_str().into()))
            .push(" AND dependent_id = ")
            .arg(Arg::Text(application.as_str().into()));
        let rows: Page<ResourceRow> = self
            .page(
                Listing {
                    select: RESOURCE_COLUMNS,
                    from: "(SELECT r.*, d.application_id AS dependent_id FROM resources r \
                           JOIN application_dependencies d ON d.resource_id = r.id) t",
                    filter: f,
                },
                page,
            )
            .await?;
        let mut when = self.conditions(application).await?;
        rows.try_map(|r| {
            let resource = Resource::try_from(r)?;
            Ok(DependencyRecord {
                when_accessing: when.remove(resource.id.as_str()).unwrap_or_default(),
                resource,
            })
        })
    }

    async fn delete_dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| {
            sqlx::query(
                "DELETE FROM application_dependencies \
                 WHERE zone_id = $1 AND application_id = $2 AND resource_id = $3",
            )
            .bind(zone.as_str())
            .bind(application.as_str())
            .bind(resource.as_str())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl CredentialStore for Store {
    async fn insert_credential(
        &self,
        c: &Credential,
        secret_digest: Option<&[u8; 32]>,
    ) -> Result<(), StoreError> {
        let (provider, subject, jwks) = credential_columns(c);
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO application_credentials (id, zone_id, application_id, type, identifier, \
                 slug, provider_id, subject, jwks_uri, secret_digest, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(c.id.as_str())
            .bind(c.zone_id.as_str())
            .bind(c.application_id.as_str())
            .bind(c.kind.type_str())
            .bind(&c.identifier)
            .bind(&c.slug)
            .bind(provider)
            .bind(subject)
            .bind(jwks)
            .bind(secret_digest.map(|d| &d[..]))
            .bind(c.created_at.as_micros())
            .bind(c.updated_at.as_micros())
            .execute(p)
            .await
            .map(|_| ())
        })
        .map_err(map_sqlx_error)
    }

    async fn get_credential(
        &self,
        zone: &ZoneId,
        id: &CredentialId,
    ) -> Result<Option<Credential>, StoreError> {
        get_in_zone!(
            self,
            CredentialRow,
            CREDENTIAL_COLUMNS,
            "application_credentials",
            zone,
            id
        )
    }

    async fn credential_by_client_id(
        &self,
        zone: &ZoneId,
        client_id: &str,
    ) -> Result<Option<(Credential, Option<Vec<u8>>)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            c: CredentialRow,
            secret_digest: Option<Vec<u8>>,
        }
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS}, secret_digest FROM application_credentials \
             WHERE zone_id = $1 AND identifier = $2 AND type <> 'token'"
        );
        let row: Option<Row> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(client_id)
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(|r| Ok((Credential::try_from(r.c)?, r.secret_digest)))
            .transpose()
    }

    async fn token_credentials_for_subject(
        &self,
        zone: &ZoneId,
        subject: &str,
    ) -> Result<Vec<Credential>, StoreError> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM application_credentials \
             WHERE zone_id = $1 AND type = 'token' AND identifier IN ($2, '*') \
             ORDER BY CASE WHEN identifier = '*' THEN 1 ELSE 0 END, created_at, id"
        );
        let rows: Vec<CredentialRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(subject)
                .fetch_all(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        rows.into_iter().map(Credential::try_from).collect()
    }

    async fn list_credentials(
        &self,
        zone: &ZoneId,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Credential>, StoreError> {
        // Credentials have no owner type of their own: the filter does not apply.
        let filter = &ListFilter {
            owner_type: None,
            ..filter.clone()
        };
        let mut f = scoped(zone, filter, false);
        if let Some(a) = &filter.application_id {
            f.push(" AND application_id = ").arg(Arg::Text(a.clone()));
        }
        let rows: Page<CredentialRow> = self
            .page(
                Listing {
                    select: CREDENTIAL_COLUMNS,
                    from: "application_credentials",
                    filter: f,
                },
                page,
            )
            .await?;
        rows_to(rows).await
    }

    async fn update_credential(
        &self,
        c: &Credential,
        expected: Timestamp,
    ) -> Result<bool, StoreError> {
        let (_, subject, _) = credential_columns(c);
        let n = on_pool!(self, |p| {
            sqlx::query(
                "UPDATE application_credentials SET identifier = $3, slug = $4, subject = $5, \
                 updated_at = $6 WHERE zone_id = $1 AND id = $2 AND updated_at = $7",
            )
            .bind(c.zone_id.as_str())
            .bind(c.id.as_str())
            .bind(&c.identifier)
            .bind(&c.slug)
            .bind(subject)
            .bind(c.updated_at.as_micros())
            .bind(expected.as_micros())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }

    async fn delete_credential(
        &self,
        zone: &ZoneId,
        id: &CredentialId,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| {
            sqlx::query("DELETE FROM application_credentials WHERE zone_id = $1 AND id = $2")
                .bind(zone.as_str())
                .bind(id.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }
}

impl Store {
    /// `when_accessing` lists of an application's dependencies, by resource.
    async fn conditions(
        &self,
        application: &ApplicationId,
    ) -> Result<HashMap<String, Vec<ResourceId>>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT resource_id, when_accessing_id FROM dependency_conditions \
                 WHERE application_id = $1 ORDER BY when_accessing_id",
            )
            .bind(application.as_str())
            .fetch_all(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        let mut out: HashMap<String, Vec<ResourceId>> = HashMap::new();
        for (r, w) in rows {
            let w = ResourceId::parse(&w).map_err(|_| corrupt("condition", &r))?;
            out.entry(r).or_default().push(w);
        }
        Ok(out)
    }
}
