//! Zone management: create, read, list, update, delete.

use crate::auth::Principal;
use crate::error::{check_precondition, CoreError, IfMatch, UPDATE_ATTEMPTS};
use crate::signing::{self, SigningKeys};
use crate::store::{Constraint, DirectoryStore, NewZoneKeys, ZoneFilter, ZoneStore};
use crate::vault::Vault;
use keyzone_domain::validation::slugify;
use keyzone_domain::zone::{Zone, ZoneChanges, ZoneDraft};
use keyzone_domain::{OrganizationId, Page, PageRequest, ValidationErrors, ZoneId};
use std::sync::Arc;

const ENTITY: &str = "zone";

/// What a request does with a zone's data. Role checks (zone managers and
/// viewers, organization roles) are decided in [`Zones::scope`] by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneAction {
    Read,
    Write,
}

/// A zone the caller may act on, and how: the only way into the
/// zone-scoped use cases (directory, identity, secrets, the zone itself).
/// Built by [`Zones::scope`] alone, so access to a zone's data is decided
/// in one place.
#[derive(Debug, Clone)]
pub struct ZoneScope {
    zone: Zone,
    principal: Principal,
    action: ZoneAction,
}

impl ZoneScope {
    pub fn id(&self) -> &ZoneId {
        &self.zone.id
    }
    pub fn zone(&self) -> &Zone {
        &self.zone
    }
    pub fn into_zone(self) -> Zone {
        self.zone
    }
    pub fn organization_id(&self) -> &OrganizationId {
        &self.zone.organization_id
    }
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    pub fn action(&self) -> ZoneAction {
        self.action
    }
}

pub struct Zones {
    store: Arc<dyn ZoneStore>,
    directory: Arc<dyn DirectoryStore>,
    vault: Arc<Vault>,
    signing: Arc<SigningKeys>,
}

impl Zones {
    pub fn new(
        store: Arc<dyn ZoneStore>,
        directory: Arc<dyn DirectoryStore>,
        vault: Arc<Vault>,
        signing: Arc<SigningKeys>,
    ) -> Self {
        Self {
            store,
            directory,
            vault,
            signing,
        }
    }

    /// `organization_id`, when a caller names one, must be the caller's own.
    fn check_organization(
        principal: &Principal,
        named: Option<&str>,
    ) -> Result<OrganizationId, CoreError> {
        let own = principal.organization_id();
        match named {
            Some(id) if id != own.as_str() => Err(CoreError::NotFound {
                entity: "organization",
            }),
            _ => Ok(own.clone()),
        }
    }

    pub async fn create(
        &self,
        principal: &Principal,
        organization_id: Option<&str>,
        draft: ZoneDraft,
    ) -> Result<Zone, CoreError> {
        draft.validate()?;
        let org = Self::check_organization(principal, organization_id)?;
        let explicit_slug = draft.slug.clone();
        let base = explicit_slug
            .clone()
            .unwrap_or_else(|| slugify(&draft.name));
        let with_gateway = draft.default_mcp_gateway_application;
        let mut zone = draft.into_zone(ZoneId::generate(), org, base.clone());
        let platform_applications = if with_gateway {
            let app = crate::directory::gateway_application(&zone.id);
            zone.default_mcp_gateway_application_id = Some(app.id.to_string());
            vec![app]
        } else {
            vec![]
        };
        // Key material first: a zone whose KMS key cannot be used is not created.
        let (dek, data_key) = self
            .vault
            .new_zone_key(&zone.id, zone.encryption_key.as_ref())
            .await?;
        let keys = NewZoneKeys {
            data_key,
            signing_keys: signing::initial_keys(&zone.id, &dek, Default::default())?,
            platform_providers: crate::directory::platform_providers(&zone.id),
            platform_applications,
        };
        // A derived slug that is taken gets a short random suffix; a slug the
        // caller chose is theirs to fix (409).
        let store = &self.store;
        let keys = &keys;
        zone.slug = crate::directory::insert_with_unique_slug(
            base,
            explicit_slug.is_none(),
            Constraint::ZoneSlugUnique,
            |slug| {
                let mut z = zone.clone();
                z.slug = slug;
                async move { store.insert_zone(&z, keys).await }
            },
        )
        .await?;
        self.vault.remember(&zone.id, dek);
        Ok(zone)
    }

    /// The access chokepoint: the zone `id` as `principal` may act on it
    /// for `action`, or 404. Today an organization's API keys may do
    /// everything in its zones; another organization's zone is not found
    /// (its existence is not revealed).
    pub async fn scope(
        &self,
        principal: &Principal,
        id: &str,
        action: ZoneAction,
    ) -> Result<ZoneScope, CoreError> {
        let id = crate::error::parse_id(id, ENTITY, ZoneId::parse)?;
        let zone = self
            .store
            .get_zone(principal.organization_id(), &id)
            .await?
            .ok_or(CoreError::NotFound { entity: ENTITY })?;
        Ok(ZoneScope {
            zone,
            principal: principal.clone(),
            action,
        })
    }

    pub async fn list(
        &self,
        principal: &Principal,
        organization_id: Option<&str>,
        filter: &ZoneFilter,
        page: &PageRequest,
    ) -> Result<Page<Zone>, CoreError> {
        let org = match Self::check_organization(principal, organization_id) {
            Ok(org) => org,
            // Filtering by another organization matches nothing.
            Err(_) => {
                return Ok(Page {
                    items: vec![],
                    has_next: false,
                    has_prev: false,
                    total_count: page.with_total.then_some(0),
                })
            }
        };
        Ok(self.store.list_zones(&org, filter, page).await?)
    }

    /// Applies `changes` atomically: a compare-and-set on `updated_at`,
    /// re-read and re-applied when another writer got there first, so
    /// concurrent updates of different fields both hold.
    pub async fn update(
        &self,
        scope: &ZoneScope,
        changes: ZoneChanges,
        if_match: IfMatch,
    ) -> Result<Zone, CoreError> {
        let zone = scope.zone.clone();
        changes.validate()?;
        if zone.owner_type == keyzone_domain::zone::OwnerType::Platform {
            return Err(CoreError::Forbidden(
                "platform-owned zones cannot be modified through the API",
            ));
        }
        // These fields name entities of the zone: they must exist in it.
        let mut errs = ValidationErrors::new();
        if let Some(Some(v)) = &changes.default_mcp_gateway_application_id {
            let found = match keyzone_domain::ApplicationId::parse(v) {
                Ok(id) => self
                    .directory
                    .get_application(&zone.id, &id)
                    .await?
                    .is_some(),
                Err(_) => false,
            };
            if !found {
                errs.add(
                    "default_mcp_gateway_application_id",
                    "does not name an application of this zone",
                );
            }
        }
        if let Some(Some(v)) = &changes.default_resource_id {
            let found = match keyzone_domain::ResourceId::parse(v) {
                Ok(id) => self.directory.get_resource(&zone.id, &id).await?.is_some(),
                Err(_) => false,
            };
            if !found {
                errs.add(
                    "default_resource_id",
                    "does not name a resource of this zone",
                );
            }
        }
        if let Some(Some(v)) = &changes.user_identity_provider_id {
            let found = match keyzone_domain::ProviderId::parse(v) {
                Ok(id) => self.directory.get_provider(&zone.id, &id).await?.is_some(),
                Err(_) => false,
            };
            if !found {
                errs.add(
                    "user_identity_provider_id",
                    "does not name a provider of this zone",
                );
            }
        }
        errs.into_result()?;
        let mut current = zone;
        for _ in 0..UPDATE_ATTEMPTS {
            check_precondition(current.updated_at, if_match)?;
            let expected = current.updated_at;
            let mut next = current.clone();
            changes.clone().apply(&mut next);
            // A new encryption key re-wraps the zone's data key (not the data).
            let rewrapped = if next.encryption_key != current.encryption_key {
                Some(
                    self.vault
                        .rewrap_for(&next.id, next.encryption_key.as_ref())
                        .await?,
                )
            } else {
                None
            };
            if self
                .store
                .update_zone(&next, expected, rewrapped.as_ref())
                .await?
            {
                return Ok(next);
            }
            current = self
                .store
                .get_zone(&current.organization_id, &current.id)
                .await?
                .ok_or(CoreError::NotFound { entity: ENTITY })?;
        }
        Err(CoreError::Contended)
    }

    pub async fn delete(&self, scope: &ZoneScope) -> Result<(), CoreError> {
        let zone = &scope.zone;
        if zone.owner_type == keyzone_domain::zone::OwnerType::Platform {
            return Err(CoreError::Forbidden(
                "platform-owned zones cannot be deleted through the API",
            ));
        }
        if self
            .store
            .delete_zone(&zone.organization_id, &zone.id)
            .await?
        {
            // The data key went with the zone's rows: its ciphertexts are
            // now unreadable, even from a backup of those rows.
            self.vault.forget(&zone.id);
            self.signing.forget(&zone.id);
            Ok(())
        } else {
            Err(CoreError::NotFound { entity: ENTITY })
        }
    }
}
