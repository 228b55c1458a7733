//! Users, user agents, sessions and delegated grants, as the management API
//! sees them: read, revoke, delete.

use crate::error::parse_id;
use crate::error::CoreError;
use crate::store::{GrantFilter, IdentityStore, SessionFilter, UserFilter, UserRecord};
use crate::zones::ZoneScope;
use keyzone_domain::identity::{Grant, Session, UserAgent};
use keyzone_domain::{GrantId, Page, PageRequest, SessionId, UserAgentId, UserId};
use std::sync::Arc;

pub struct Identity {
    store: Arc<dyn IdentityStore>,
}

impl Identity {
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        Self { store }
    }

    pub async fn get_user(&self, scope: &ZoneScope, id: &str) -> Result<UserRecord, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "user", UserId::parse)?;
        self.store
            .get_user(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound { entity: "user" })
    }

    pub async fn list_users(
        &self,
        scope: &ZoneScope,
        f: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserRecord>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_users(&zone, f, page).await?)
    }

    pub async fn get_user_agent(
        &self,
        scope: &ZoneScope,
        id: &str,
    ) -> Result<UserAgent, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "user agent", UserAgentId::parse)?;
        self.store
            .get_user_agent(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound {
                entity: "user agent",
            })
    }

    pub async fn list_user_agents(
        &self,
        scope: &ZoneScope,
        page: &PageRequest,
    ) -> Result<Page<UserAgent>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_user_agents(&zone, page).await?)
    }

    pub async fn get_session(&self, scope: &ZoneScope, id: &str) -> Result<Session, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "session", SessionId::parse)?;
        self.store
            .get_session(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound { entity: "session" })
    }

    pub async fn list_sessions(
        &self,
        scope: &ZoneScope,
        f: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_sessions(&zone, f, page).await?)
    }

    /// Revokes a session and the sessions nested under it.
    pub async fn revoke_session(&self, scope: &ZoneScope, id: &str) -> Result<Session, CoreError> {
        let zone_id = scope.id().clone();
        let sid = parse_id(id, "session", SessionId::parse)?;
        if !self.store.revoke_session(&zone_id, &sid).await? {
            return Err(CoreError::NotFound { entity: "session" });
        }
        self.get_session(scope, id).await
    }

    pub async fn delete_session(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "session", SessionId::parse)?;
        if self.store.delete_session(&zone, &id).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound { entity: "session" })
        }
    }

    pub async fn get_grant(&self, scope: &ZoneScope, id: &str) -> Result<Grant, CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "delegated grant", GrantId::parse)?;
        self.store
            .get_grant(&zone, &id)
            .await?
            .ok_or(CoreError::NotFound {
                entity: "delegated grant",
            })
    }

    pub async fn list_grants(
        &self,
        scope: &ZoneScope,
        f: &GrantFilter,
        page: &PageRequest,
    ) -> Result<Page<Grant>, CoreError> {
        let zone = scope.id().clone();
        Ok(self.store.list_grants(&zone, f, page).await?)
    }

    pub async fn revoke_grant(&self, scope: &ZoneScope, id: &str) -> Result<Grant, CoreError> {
        let zone_id = scope.id().clone();
        let gid = parse_id(id, "delegated grant", GrantId::parse)?;
        if !self.store.revoke_grant(&zone_id, &gid).await? {
            return Err(CoreError::NotFound {
                entity: "delegated grant",
            });
        }
        self.get_grant(scope, id).await
    }

    pub async fn delete_grant(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let zone = scope.id().clone();
        let id = parse_id(id, "delegated grant", GrantId::parse)?;
        if self.store.delete_grant(&zone, &id).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound {
                entity: "delegated grant",
            })
        }
    }
}
