//! The token path's look-ups, each cached for [`LOOKUP_TTL`] so the steady
//! state makes no queries: the zone, the client, resources by URL,
//! providers, workload credentials and dependencies. Changes made through
//! any node take effect within that time.

use crate::store::{ClientRecord, TokenStore};
use crate::token::internal;
use keyzone_core::cache::TtlCache;
use keyzone_core::store::DependencyRecord;
use keyzone_domain::directory::{
    prefix_candidates, protecting_resource, Credential, Provider, Resource,
};
use keyzone_domain::zone::Zone;
use keyzone_domain::{ApplicationId, ProviderId, ResourceId, ZoneId};
use keyzone_oauth::OAuthError;
use std::sync::Arc;
use std::time::Duration;

/// How long the token endpoint trusts a looked-up zone, client, resource or
/// provider: changes through any node take effect within this time.
pub const LOOKUP_TTL: Duration = Duration::from_secs(1);
const CACHE_ENTRIES: usize = 10_000;

pub(crate) struct Lookups {
    store: Arc<dyn TokenStore>,
    zones: TtlCache<String, Option<Arc<Zone>>>,
    clients: TtlCache<(ZoneId, String), Option<ClientRecord>>,
    resources: TtlCache<(ZoneId, String), Option<Resource>>,
    providers: TtlCache<(ZoneId, ProviderId), Option<Arc<Provider>>>,
    token_credentials: TtlCache<(ZoneId, String), Arc<Vec<Credential>>>,
    dependencies: TtlCache<(ZoneId, ApplicationId, ResourceId), Option<DependencyRecord>>,
}

impl Lookups {
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Self {
            store,
            zones: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            clients: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            resources: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            providers: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            token_credentials: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
            dependencies: TtlCache::new(LOOKUP_TTL, CACHE_ENTRIES),
        }
    }

    /// The zone of a public endpoint, or `None` (a 404).
    pub async fn zone(&self, id: &str) -> Result<Option<Arc<Zone>>, OAuthError> {
        // A malformed id names no zone; it is answered without the cache.
        let Ok(zone_id) = ZoneId::parse(id) else {
            return Ok(None);
        };
        self.zones
            .get_or_load(id.to_owned(), || async {
                Ok(self
                    .store
                    .zone(&zone_id)
                    .await
                    .map_err(|e| internal(e.into()))?
                    .map(Arc::new))
            })
            .await
    }

    pub async fn client(
        &self,
        zone: &ZoneId,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, OAuthError> {
        self.clients
            .get_or_load((zone.clone(), client_id.to_owned()), || async {
                self.store
                    .client(zone, client_id)
                    .await
                    .map_err(|e| internal(e.into()))
            })
            .await
    }

    /// The resource protecting `url` (exact, else longest prefix).
    pub async fn resolve(&self, zone: &ZoneId, url: &str) -> Result<Option<Resource>, OAuthError> {
        self.resources
            .get_or_load((zone.clone(), url.to_owned()), || async {
                let found = self
                    .store
                    .resources_by_identifier(zone, &prefix_candidates(url))
                    .await
                    .map_err(|e| internal(e.into()))?;
                Ok(protecting_resource(url, found))
            })
            .await
    }

    pub async fn provider(
        &self,
        zone: &ZoneId,
        id: &ProviderId,
    ) -> Result<Option<Arc<Provider>>, OAuthError> {
        self.providers
            .get_or_load((zone.clone(), id.clone()), || async {
                Ok(self
                    .store
                    .provider(zone, id)
                    .await
                    .map_err(|e| internal(e.into()))?
                    .map(Arc::new))
            })
            .await
    }

    pub async fn token_credentials(
        &self,
        zone: &ZoneId,
        subject: &str,
    ) -> Result<Arc<Vec<Credential>>, OAuthError> {
        self.token_credentials
            .get_or_load((zone.clone(), subject.to_owned()), || async {
                Ok(Arc::new(
                    self.store
                        .token_credentials(zone, subject)
                        .await
                        .map_err(|e| internal(e.into()))?,
                ))
            })
            .await
    }

    pub async fn dependency(
        &self,
        zone: &ZoneId,
        application: &ApplicationId,
        resource: &ResourceId,
    ) -> Result<Option<DependencyRecord>, OAuthError> {
        let key = (zone.clone(), application.clone(), resource.clone());
        self.dependencies
            .get_or_load(key, || async {
                self.store
                    .dependency(zone, application, resource)
                    .await
                    .map_err(|e| internal(e.into()))
            })
            .await
    }
}
