//! Users, user agents, sessions and delegated grants, as the management API
//! sees them: read, revoke, delete.

use crate::auth::Principal;
use crate::error::CoreError;
use crate::store::{GrantFilter, IdentityStore, SessionFilter, UserFilter, UserRecord};
use crate::zones::Zones;
use keyzone_domain::identity::{Grant, Session, UserAgent};
use keyzone_domain::{GrantId, Page, PageRequest, SessionId, UserAgentId, UserId, ZoneId};
use std::sync::Arc;

pub struct Identity {
    store: Arc<dyn IdentityStore>,
}

fn parse<T>(
    s: &str,
    entity: &'static str,
    f: fn(&str) -> Result<T, keyzone_domain::IdError>,
) -> Result<T, CoreError> {
    f(s).map_err(|_| CoreError::NotFound { entity })
}

impl Identity {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        Self { store }
    }

    async fn zone(&self, zones: &Zones, p: &Principal, zone: &str) -> Result<ZoneId, CoreError> {
        Ok(zones.get(p, zone).await?.id)
    }

    pub async fn get_user(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<UserRecord, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        let id = parse(id, "user", UserId::parse)?;
        self.store
            .get_user(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound { entity: "user" })
    }

    pub async fn list_users(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        f: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserRecord>, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        Ok(self.store.list_users(&zone, f, page).await?)
    }

    pub async fn get_user_agent(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<UserAgent, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        let id = parse(id, "user agent", UserAgentId::parse)?;
        self.store
            .get_user_agent(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound {
                entity: "user agent",
            })
    }

    pub async fn list_user_agents(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        page: &PageRequest,
    ) -> Result<Page<UserAgent>, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        Ok(self.store.list_user_agents(&zone, page).await?)
    }

    pub async fn get_session(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<Session, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        let id = parse(id, "session", SessionId::parse)?;
        self.store
            .get_session(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound { entity: "session" })
    }

    pub async fn list_sessions(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        f: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        Ok(self.store.list_sessions(&zone, f, page).await?)
    }

    /// Revokes a session and the sessions nested under it.
    pub async fn revoke_session(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<Session, CoreError> {
        let zone_id = self.zone(zones, p, zone).await?;
        let sid = parse(id, "session", SessionId::parse)?;
        if !self.store.revoke_session(&zone_id, &sid).await? {
            return Err(CoreError::NotFound { entity: "session" });
        }
        self.get_session(zones, p, zone, id).await
    }

    pub async fn delete_session(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<(), CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        let id = parse(id, "session", SessionId::parse)?;
        if self.store.delete_session(&zone, &id).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound { entity: "session" })
        }
    }

    pub async fn get_grant(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<Grant, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        let id = parse(id, "delegated grant", GrantId::parse)?;
        self.store
            .get_grant(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound {
                entity: "delegated grant",
            })
    }

    pub async fn list_grants(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        f: &GrantFilter,
        page: &PageRequest,
    ) -> Result<Page<Grant>, CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        Ok(self.store.list_grants(&zone, f, page).await?)
    }

    pub async fn revoke_grant(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<Grant, CoreError> {
        let zone_id = self.zone(zones, p, zone).await?;
        let gid = parse(id, "delegated grant", GrantId::parse)?;
        if !self.store.revoke_grant(&zone_id, &gid).await? {
            return Err(CoreError::NotFound {
                entity: "delegated grant",
            });
        }
        self.get_grant(zones, p, zone, id).await
    }

    pub async fn delete_grant(
        &self,
        zones: &Zones,
        p: &Principal,
        zone: &str,
        id: &str,
    ) -> Result<(), CoreError> {
        let zone = self.zone(zones, p, zone).await?;
        let id = parse(id, "delegated grant", GrantId::parse)?;
        if self.store.delete_grant(&zone, &id).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound {
                entity: "delegated grant",
            })
        }
    }
}
