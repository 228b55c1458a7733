//! Users, user agents, sessions and delegated grants.

use crate::sql::{push_any_like, push_in, Arg, Listing, Sql};
use crate::{errors::map_sqlx_error, exec, get_in_zone, on_pool, BeginWrite, Store};
use async_trait::async_trait;
use keyzone_core::store::{
    GrantFilter, GrantStore, GrantTokens, RefreshedTokens, SessionFilter, SessionStore, StoreError,
    UserAgentStore, UserFilter, UserRecord, UserStore,
};
use keyzone_domain::identity::{
    Grant, RecordStatus, Session, SessionKind, User, UserAgent, UserStatus,
};
use keyzone_domain::{
    ApplicationId, GrantId, Page, PageRequest, ProviderId, ResourceId, SessionId, Timestamp,
    UserAgentId, UserId, ZoneId,
};

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of {id}"))
}

/// `status` over (stored revocation, expiry at `now`).
fn status_filter(q: &mut Sql, status: Option<RecordStatus>) {
    let now = Timestamp::now().as_micros();
    match status {
        None => {}
        Some(RecordStatus::Revoked) => {
            q.push(" AND status = 'revoked'");
        }
        Some(RecordStatus::Active) => {
            q.push(" AND status = 'active' AND expires_at > ")
                .arg(Arg::Int(now));
        }
        Some(RecordStatus::Expired) => {
            q.push(" AND status = 'active' AND expires_at <= ")
                .arg(Arg::Int(now));
        }
    }
}

// ----- users -----

const USER_COLUMNS: &str = "id, zone_id, identifier, email, email_verified, external, status, \
    issuer, subject, provider_id, authenticated_at, created_at, updated_at, \
    (SELECT COUNT(*) FROM delegated_grants g WHERE g.user_id = users.id) AS grant_count, \
    (SELECT COUNT(*) FROM sessions s WHERE s.user_id = users.id) AS session_count";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    zone_id: String,
    identifier: String,
    email: String,
    email_verified: bool,
    external: bool,
    status: String,
    issuer: Option<String>,
    subject: Option<String>,
    provider_id: Option<String>,
    authenticated_at: i64,
    created_at: i64,
    updated_at: i64,
    grant_count: i64,
    session_count: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        Ok(UserRecord {
            user: User {
                id: UserId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
                zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
                status: UserStatus::parse(&r.status).ok_or_else(|| corrupt("status", &id))?,
                provider_id: r
                    .provider_id
                    .map(|p| ProviderId::parse(&p).map_err(|_| corrupt("provider", &id)))
                    .transpose()?,
                identifier: r.identifier,
                email: r.email,
                email_verified: r.email_verified,
                external: r.external,
                issuer: r.issuer,
                subject: r.subject,
                authenticated_at: (r.authenticated_at > 0)
                    .then(|| Timestamp::from_micros(r.authenticated_at)),
                created_at: Timestamp::from_micros(r.created_at),
                updated_at: Timestamp::from_micros(r.updated_at),
            },
            grant_count: r.grant_count.max(0) as u64,
            session_count: r.session_count.max(0) as u64,
        })
    }
}

// ----- user agents -----

const USER_AGENT_COLUMNS: &str =
    "id, zone_id, identifier, name, slug, metadata, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct UserAgentRow {
    id: String,
    zone_id: String,
    identifier: String,
    name: String,
    slug: String,
    metadata: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserAgentRow> for UserAgent {
    type Error = StoreError;
    fn try_from(r: UserAgentRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        Ok(UserAgent {
            id: UserAgentId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
            metadata: r
                .metadata
                .map(|m| serde_json::from_str(&m).map_err(|_| corrupt("metadata", &id)))
                .transpose()?,
            identifier: r.identifier,
            name: r.name,
            slug: r.slug,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

// ----- sessions -----

const SESSION_COLUMNS: &str = "id, zone_id, session_type, parent_id, user_id, application_id, \
    user_agent_id, provider_id, issuer, subject, status, name, session_data, authenticated_at, \
    expires_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    zone_id: String,
    session_type: String,
    parent_id: Option<String>,
    user_id: Option<String>,
    application_id: Option<String>,
    user_agent_id: Option<String>,
    provider_id: Option<String>,
    issuer: Option<String>,
    subject: Option<String>,
    status: String,
    name: Option<String>,
    session_data: Option<String>,
    authenticated_at: Option<i64>,
    expires_at: i64,
    created_at: i64,
    updated_at: i64,
}

fn opt_id<T>(
    v: Option<String>,
    f: fn(&str) -> Result<T, keyzone_domain::IdError>,
    what: &str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    v.map(|s| f(&s).map_err(|_| corrupt(what, id))).transpose()
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        let application_id = opt_id(r.application_id, ApplicationId::parse, "application", &id)?;
        let provider_id = opt_id(r.provider_id, ProviderId::parse, "provider", &id)?;
        let kind = match r.session_type.as_str() {
            "user" => SessionKind::User {
                user_id: opt_id(r.user_id, UserId::parse, "user", &id)?
                    .ok_or_else(|| corrupt("user", &id))?,
                user_agent_id: opt_id(r.user_agent_id, UserAgentId::parse, "user agent", &id)?,
                application_id,
                provider_id,
                issuer: r.issuer,
                subject: r.subject,
            },
            "application" => SessionKind::Application {
                application_id: application_id.ok_or_else(|| corrupt("application", &id))?,
                provider_id: provider_id.ok_or_else(|| corrupt("provider", &id))?,
                issuer: r.issuer.ok_or_else(|| corrupt("issuer", &id))?,
                subject: r.subject.ok_or_else(|| corrupt("subject", &id))?,
            },
            _ => return Err(corrupt("session_type", &id)),
        };
        Ok(Session {
            id: SessionId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
            parent_id: opt_id(r.parent_id, SessionId::parse, "parent", &id)?,
            kind,
            revoked: r.status == "revoked",
            name: r.name,
            session_data: r
                .session_data
                .map(|d| serde_json::from_str(&d).map_err(|_| corrupt("session_data", &id)))
                .transpose()?,
            authenticated_at: r.authenticated_at.map(Timestamp::from_micros),
            expires_at: Timestamp::from_micros(r.expires_at),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

// ----- grants -----

const GRANT_COLUMNS: &str = "id, zone_id, user_id, resource_id, provider_id, scopes, status, \
    refresh_token_set, expires_at, refreshed_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    zone_id: String,
    user_id: String,
    resource_id: String,
    provider_id: String,
    scopes: String,
    status: String,
    refresh_token_set: bool,
    expires_at: i64,
    refreshed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        Ok(Grant {
            id: GrantId::parse(&r.id).map_err(|_| corrupt("id", &id))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone", &id))?,
            user_id: UserId::parse(&r.user_id).map_err(|_| corrupt("user", &id))?,
            resource_id: ResourceId::parse(&r.resource_id).map_err(|_| corrupt("resource", &id))?,
            provider_id: ProviderId::parse(&r.provider_id).map_err(|_| corrupt("provider", &id))?,
            scopes: serde_json::from_str(&r.scopes).map_err(|_| corrupt("scopes", &id))?,
            revoked: r.status == "revoked",
            refresh_token_set: r.refresh_token_set,
            expires_at: Timestamp::from_micros(r.expires_at),
            refreshed_at: r.refreshed_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

#[async_trait]
impl UserStore for Store {
    async fn insert_user(&self, u: &User) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO users (id, zone_id, identifier, email, email_verified, external, status, \
             issuer, subject, provider_id, authenticated_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            u.id.as_str(),
            u.zone_id.as_str(),
            &u.identifier,
            &u.email,
            u.email_verified,
            u.external,
            u.status.as_str(),
            u.issuer.as_deref(),
            u.subject.as_deref(),
            u.provider_id.as_ref().map(|p| p.as_str()),
            u.authenticated_at.map_or(0, Timestamp::as_micros),
            u.created_at.as_micros(),
            u.updated_at.as_micros()
        )
        .map(|_| ())
    }

    async fn get_user(&self, zone: &ZoneId, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        get_in_zone!(self, UserRow, USER_COLUMNS, "users", zone, id)
    }

    async fn list_users(
        &self,
        zone: &ZoneId,
        f: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserRecord>, StoreError> {
        let mut q = Sql::new("zone_id = ");
        q.arg(Arg::Text(zone.as_str().into()));
        push_in(&mut q, "id", &f.ids);
        push_in(&mut q, "email", &f.emails);
        push_in(&mut q, "identifier", &f.identifiers);
        push_in(&mut q, "issuer", &f.issuers);
        push_in(&mut q, "subject", &f.subjects);
        if let Some(e) = f.external {
            q.push(if e {
                " AND external = TRUE"
            } else {
                " AND external = FALSE"
            });
        }
        push_any_like(&mut q, &["email", "subject"], &f.query_any);
        push_any_like(&mut q, &["email"], &f.query_email);
        push_any_like(&mut q, &["subject"], &f.query_subject);
        let rows: Page<UserRow> = self
            .page(
                Listing {
                    select: USER_COLUMNS,
                    from: "users",
                    filter: q,
                },
                page,
            )
            .await?;
        rows.try_map(UserRecord::try_from)
    }
}

#[async_trait]
impl UserAgentStore for Store {
    async fn insert_user_agent(&self, ua: &UserAgent) -> Result<(), StoreError> {
        let metadata = ua.metadata.as_ref().map(|m| m.to_string());
        exec!(
            self,
            "INSERT INTO user_agents (id, zone_id, identifier, name, slug, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ua.id.as_str(),
            ua.zone_id.as_str(),
            &ua.identifier,
            &ua.name,
            &ua.slug,
            metadata.as_deref(),
            ua.created_at.as_micros(),
            ua.updated_at.as_micros()
        )
        .map(|_| ())
    }

    async fn get_user_agent(
        &self,
        zone: &ZoneId,
        id: &UserAgentId,
    ) -> Result<Option<UserAgent>, StoreError> {
        get_in_zone!(
            self,
            UserAgentRow,
            USER_AGENT_COLUMNS,
            "user_agents",
            zone,
            id
        )
    }

    async fn user_agent_by_identifier(
        &self,
        zone: &ZoneId,
        identifier: &str,
    ) -> Result<Option<UserAgent>, StoreError> {
        let sql = format!(
            "SELECT {USER_AGENT_COLUMNS} FROM user_agents WHERE zone_id = $1 AND identifier = $2"
        );
        let row: Option<UserAgentRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(identifier)
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(UserAgent::try_from).transpose()
    }

    async fn update_user_agent(&self, ua: &UserAgent) -> Result<bool, StoreError> {
        let metadata = ua.metadata.as_ref().map(|m| m.to_string());
        exec!(
            self,
            "UPDATE user_agents SET name = $1, slug = $2, metadata = $3, updated_at = $4 \
             WHERE zone_id = $5 AND id = $6",
            &ua.name,
            &ua.slug,
            metadata.as_deref(),
            ua.updated_at.as_micros(),
            ua.zone_id.as_str(),
            ua.id.as_str()
        )
        .map(|n| n > 0)
    }

    async fn list_user_agents(
        &self,
        zone: &ZoneId,
        page: &PageRequest,
    ) -> Result<Page<UserAgent>, StoreError> {
        let mut q = Sql::new("zone_id = ");
        q.arg(Arg::Text(zone.as_str().into()));
        let rows: Page<UserAgentRow> = self
            .page(
                Listing {
                    select: USER_AGENT_COLUMNS,
                    from: "user_agents",
                    filter: q,
                },
                page,
            )
            .await?;
        rows.try_map(UserAgent::try_from)
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn extend_application_session(
        &self,
        zone: &ZoneId,
        application: &keyzone_domain::ApplicationId,
        provider: &keyzone_domain::ProviderId,
        subject: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = exec!(
            self,
            "UPDATE sessions SET expires_at = $5, authenticated_at = $6, updated_at = $6 \
             WHERE zone_id = $1 AND session_type = 'application' AND application_id = $2 \
             AND provider_id = $3 AND subject = $4 AND status = 'active' AND expires_at > $6",
            zone.as_str(),
            application.as_str(),
            provider.as_str(),
            subject,
            expires_at.as_micros(),
            now.as_micros()
        )?;
        Ok(n > 0)
    }

    async fn insert_session(&self, s: &Session) -> Result<(), StoreError> {
        let (kind, user, app, ua, provider, issuer, subject) = match &s.kind {
            SessionKind::User {
                user_id,
                user_agent_id,
                application_id,
                provider_id,
                issuer,
                subject,
            } => (
                "user",
                Some(user_id.as_str()),
                application_id.as_ref().map(|a| a.as_str()),
                user_agent_id.as_ref().map(|a| a.as_str()),
                provider_id.as_ref().map(|a| a.as_str()),
                issuer.as_deref(),
                subject.as_deref(),
            ),
            SessionKind::Application {
                application_id,
                provider_id,
                issuer,
                subject,
            } => (
                "application",
                None,
                Some(application_id.as_str()),
                None,
                Some(provider_id.as_str()),
                Some(issuer.as_str()),
                Some(subject.as_str()),
            ),
        };
        let data = s.session_data.as_ref().map(|d| d.to_string());
        exec!(
            self,
            "INSERT INTO sessions (id, zone_id, session_type, parent_id, user_id, application_id, \
             user_agent_id, provider_id, issuer, subject, status, name, session_data, \
             authenticated_at, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            s.id.as_str(),
            s.zone_id.as_str(),
            kind,
            s.parent_id.as_ref().map(|p| p.as_str()),
            user,
            app,
            ua,
            provider,
            issuer,
            subject,
            if s.revoked { "revoked" } else { "active" },
            s.name.as_deref(),
            data.as_deref(),
            s.authenticated_at.map(Timestamp::as_micros),
            s.expires_at.as_micros(),
            s.created_at.as_micros(),
            s.updated_at.as_micros()
        )
        .map(|_| ())
    }

    async fn get_session(
        &self,
        zone: &ZoneId,
        id: &SessionId,
    ) -> Result<Option<Session>, StoreError> {
        get_in_zone!(self, SessionRow, SESSION_COLUMNS, "sessions", zone, id)
    }

    async fn list_sessions(
        &self,
        zone: &ZoneId,
        f: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        let mut q = Sql::new("zone_id = ");
        q.arg(Arg::Text(zone.as_str().into()));
        status_filter(&mut q, f.status);
        if let Some(t) = &f.session_type {
            q.push(" AND session_type = ").arg(Arg::Text(t.clone()));
        }
        if let Some(u) = &f.user_id {
            q.push(" AND user_id = ").arg(Arg::Text(u.clone()));
        }
        if !f.include_nested {
            q.push(" AND parent_id IS NULL");
        }
        let rows: Page<SessionRow> = self
            .page(
                Listing {
                    select: SESSION_COLUMNS,
                    from: "sessions",
                    filter: q,
                },
                page,
            )
            .await?;
        rows.try_map(Session::try_from)
    }

    async fn revoke_session(&self, zone: &ZoneId, id: &SessionId) -> Result<bool, StoreError> {
        let now = Timestamp::now().as_micros();
        exec!(
            self,
            "WITH RECURSIVE tree (id) AS ( \
               SELECT id FROM sessions WHERE zone_id = $1 AND id = $2 \
               UNION SELECT s.id FROM sessions s JOIN tree t ON s.parent_id = t.id ) \
             UPDATE sessions SET status = 'revoked', updated_at = $3 \
             WHERE zone_id = $1 AND id IN (SELECT id FROM tree)",
            zone.as_str(),
            id.as_str(),
            now
        )
        .map(|n| n > 0)
    }

    async fn delete_session(&self, zone: &ZoneId, id: &SessionId) -> Result<bool, StoreError> {
        exec!(
            self,
            "DELETE FROM sessions WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            id.as_str()
        )
        .map(|n| n > 0)
    }
}

#[async_trait]
impl GrantStore for Store {
    async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        let scopes = serde_json::to_string(&g.scopes).expect("serializes");
        exec!(
            self,
            "INSERT INTO delegated_grants (id, zone_id, user_id, resource_id, provider_id, scopes, \
             status, refresh_token_set, expires_at, refreshed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            g.id.as_str(),
            g.zone_id.as_str(),
            g.user_id.as_str(),
            g.resource_id.as_str(),
            g.provider_id.as_str(),
            &scopes,
            if g.revoked { "revoked" } else { "active" },
            g.refresh_token_set,
            g.expires_at.as_micros(),
            g.refreshed_at.map(Timestamp::as_micros),
            g.created_at.as_micros(),
            g.updated_at.as_micros()
        )
        .map(|_| ())
    }

    async fn get_grant(&self, zone: &ZoneId, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        get_in_zone!(self, GrantRow, GRANT_COLUMNS, "delegated_grants", zone, id)
    }

    async fn list_grants(
        &self,
        zone: &ZoneId,
        f: &GrantFilter,
        page: &PageRequest,
    ) -> Result<Page<Grant>, StoreError> {
        let mut q = Sql::new("zone_id = ");
        q.arg(Arg::Text(zone.as_str().into()));
        status_filter(&mut q, f.status);
        if let Some(r) = &f.resource_id {
            q.push(" AND resource_id = ").arg(Arg::Text(r.clone()));
        }
        if let Some(u) = &f.user_id {
            q.push(" AND user_id = ").arg(Arg::Text(u.clone()));
        }
        let rows: Page<GrantRow> = self
            .page(
                Listing {
                    select: GRANT_COLUMNS,
                    from: "delegated_grants",
                    filter: q,
                },
                page,
            )
            .await?;
        rows.try_map(Grant::try_from)
    }

    async fn revoke_grant(&self, zone: &ZoneId, id: &GrantId) -> Result<bool, StoreError> {
        exec!(
            self,
            "UPDATE delegated_grants SET status = 'revoked', access_token_sealed = NULL, \
             refresh_token_sealed = NULL, refresh_lease_until = NULL, version = version + 1, \
             updated_at = $3 WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            id.as_str(),
            Timestamp::now().as_micros()
        )
        .map(|n| n > 0)
    }

    async fn delete_grant(&self, zone: &ZoneId, id: &GrantId) -> Result<bool, StoreError> {
        exec!(
            self,
            "DELETE FROM delegated_grants WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            id.as_str()
        )
        .map(|n| n > 0)
    }

    async fn connect_grant(
        &self,
        g: &Grant,
        access: &[u8],
        refresh: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let scopes = &serde_json::to_string(&g.scopes).expect("serializes");
        on_pool!(self, |pool| crate::retry_transient(|| async move {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE delegated_grants SET status = 'revoked', access_token_sealed = NULL, \
                 refresh_token_sealed = NULL, version = version + 1, updated_at = $4 \
                 WHERE zone_id = $1 AND user_id = $2 AND resource_id = $3 AND status = 'active'",
            )
            .bind(g.zone_id.as_str())
            .bind(g.user_id.as_str())
            .bind(g.resource_id.as_str())
            .bind(g.created_at.as_micros())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO delegated_grants (id, zone_id, user_id, resource_id, provider_id, scopes, \
                 status, refresh_token_set, expires_at, refreshed_at, created_at, updated_at, \
                 access_token_sealed, refresh_token_sealed) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, NULL, $9, $9, $10, $11)",
            )
            .bind(g.id.as_str())
            .bind(g.zone_id.as_str())
            .bind(g.user_id.as_str())
            .bind(g.resource_id.as_str())
            .bind(g.provider_id.as_str())
            .bind(scopes)
            .bind(refresh.is_some())
            .bind(g.expires_at.as_micros())
            .bind(g.created_at.as_micros())
            .bind(access)
            .bind(refresh)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })
        .await)
        .map_err(map_sqlx_error)
    }

    async fn grant_tokens(
        &self,
        zone: &ZoneId,
        user: &UserId,
        resource: &ResourceId,
    ) -> Result<Option<GrantTokens>, StoreError> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS}, access_token_sealed, refresh_token_sealed, version, \
             refresh_lease_until FROM delegated_grants \
             WHERE zone_id = $1 AND user_id = $2 AND resource_id = $3 AND status = 'active' \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        let row: Option<GrantTokensRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(user.as_str())
                .bind(resource.as_str())
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(GrantTokens {
            access_token_sealed: r.access_token_sealed,
            refresh_token_sealed: r.refresh_token_sealed,
            version: r.version,
            refresh_lease_until: r.refresh_lease_until.map(Timestamp::from_micros),
            grant: Grant::try_from(r.grant)?,
        }))
    }

    async fn claim_grant_refresh(
        &self,
        zone: &ZoneId,
        id: &GrantId,
        version: i64,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        exec!(
            self,
            "UPDATE delegated_grants SET refresh_lease_until = $4, version = version + 1 \
             WHERE zone_id = $1 AND id = $2 AND version = $3 AND status = 'active' \
             AND (refresh_lease_until IS NULL OR refresh_lease_until < $5)",
            zone.as_str(),
            id.as_str(),
            version,
            lease_until.as_micros(),
            now.as_micros()
        )
        .map(|n| n > 0)
    }

    async fn store_refreshed_grant(
        &self,
        zone: &ZoneId,
        id: &GrantId,
        t: RefreshedTokens<'_>,
    ) -> Result<(), StoreError> {
        let scopes = t
            .scopes
            .map(|s| serde_json::to_string(s).expect("serializes"));
        exec!(
            self,
            "UPDATE delegated_grants SET access_token_sealed = $3, \
             refresh_token_sealed = COALESCE($4, refresh_token_sealed), expires_at = $5, \
             scopes = COALESCE($6, scopes), refreshed_at = $7, updated_at = $7, \
             refresh_lease_until = NULL, version = version + 1 \
             WHERE zone_id = $1 AND id = $2 AND status = 'active'",
            zone.as_str(),
            id.as_str(),
            t.access_token_sealed,
            t.refresh_token_sealed,
            t.expires_at.as_micros(),
            scopes.as_deref(),
            t.now.as_micros()
        )
        .map(|_| ())
    }

    async fn expire_grant(
        &self,
        zone: &ZoneId,
        id: &GrantId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE delegated_grants SET refresh_token_sealed = NULL, access_token_sealed = NULL, \
             refresh_token_set = FALSE, expires_at = CASE WHEN expires_at < $3 THEN expires_at ELSE $3 END, \
             refresh_lease_until = NULL, version = version + 1, updated_at = $3 \
             WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            id.as_str(),
            now.as_micros()
        )
        .map(|_| ())
    }

    async fn release_grant_refresh(&self, zone: &ZoneId, id: &GrantId) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE delegated_grants SET refresh_lease_until = NULL, version = version + 1 \
             WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            id.as_str()
        )
        .map(|_| ())
    }
}

#[derive(sqlx::FromRow)]
struct GrantTokensRow {
    #[sqlx(flatten)]
    grant: GrantRow,
    access_token_sealed: Option<Vec<u8>>,
    refresh_token_sealed: Option<Vec<u8>>,
    version: i64,
    refresh_lease_until: Option<i64>,
}

#[async_trait]
impl keyzone_core::store::RevocationStore for Store {
    async fn revoke_token(
        &self,
        zone: &ZoneId,
        jti: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO revoked_tokens (zone_id, jti, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (zone_id, jti) DO NOTHING",
            zone.as_str(),
            jti,
            expires_at.as_micros(),
            Timestamp::now().as_micros()
        )
        .map(|_| ())
    }

    async fn is_token_revoked(&self, zone: &ZoneId, jti: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT expires_at FROM revoked_tokens WHERE zone_id = $1 AND jti = $2",
            )
            .bind(zone.as_str())
            .bind(jti)
            .fetch_optional(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        Ok(found.is_some())
    }

    async fn purge_revocations(&self, now: Timestamp) -> Result<u64, StoreError> {
        let tokens = exec!(
            self,
            "DELETE FROM revoked_tokens WHERE expires_at <= $1",
            now.as_micros()
        )?;
        let jtis = exec!(
            self,
            "DELETE FROM client_assertion_jtis WHERE expires_at <= $1",
            now.as_micros()
        )?;
        Ok(tokens + jtis)
    }

    async fn consume_assertion_jti(
        &self,
        zone: &ZoneId,
        client_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        // A row left by an expired assertion (not yet purged) does not count
        // as a use: it is taken over.
        let n = exec!(
            self,
            "INSERT INTO client_assertion_jtis (zone_id, client_id, jti, expires_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (zone_id, client_id, jti) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE client_assertion_jtis.expires_at <= $5",
            zone.as_str(),
            client_id,
            jti,
            expires_at.as_micros(),
            now.as_micros()
        )?;
        Ok(n == 1)
    }
}
