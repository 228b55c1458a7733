use crate::sql::{Arg, Listing, Sql};
use crate::vault::{
    insert_data_key, insert_signing_key, master_key_still_current, update_data_key_wrapping,
};
use crate::BeginWrite;
use crate::{errors::map_sqlx_error, on_pool, Store};
use async_trait::async_trait;
use keyzone_core::store::{NewZoneKeys, StoreError, WrappedDataKey, ZoneFilter, ZoneStore};
use keyzone_domain::zone::{Cimd, EncryptionKey, LoginFlow, OwnerType, Zone};
use keyzone_domain::{OrganizationId, Page, PageRequest, Timestamp, ZoneId};

const COLUMNS: &str = "id, organization_id, name, slug, description, owner_type, \
    requires_invitation, external_sync_enabled, login_flow, dcr_enabled, pkce_required, \
    cimd_enabled, cimd_allowed_client_ids, encryption_key_arn, \
    default_mcp_gateway_application_id, default_resource_id, user_identity_provider_id, \
    created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ZoneRow {
    id: String,
    organization_id: String,
    name: String,
    slug: String,
    description: Option<String>,
    owner_type: String,
    requires_invitation: bool,
    external_sync_enabled: bool,
    login_flow: String,
    dcr_enabled: bool,
    pkce_required: bool,
    cimd_enabled: bool,
    cimd_allowed_client_ids: String,
    encryption_key_arn: Option<String>,
    default_mcp_gateway_application_id: Option<String>,
    default_resource_id: Option<String>,
    user_identity_provider_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ZoneRow> for Zone {
    type Error = StoreError;
    fn try_from(r: ZoneRow) -> Result<Zone, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("zone {}: {what}", r.id));
        Ok(Zone {
            id: ZoneId::parse(&r.id).map_err(|_| corrupt("id"))?,
            organization_id: OrganizationId::parse(&r.organization_id)
                .map_err(|_| corrupt("organization_id"))?,
            owner_type: OwnerType::parse(&r.owner_type).ok_or_else(|| corrupt("owner_type"))?,
            login_flow: LoginFlow::parse(&r.login_flow).ok_or_else(|| corrupt("login_flow"))?,
            cimd: Cimd {
                enabled: r.cimd_enabled,
                allowed_client_ids: serde_json::from_str(&r.cimd_allowed_client_ids)
                    .map_err(|_| corrupt("cimd_allowed_client_ids"))?,
            },
            name: r.name,
            slug: r.slug,
            description: r.description,
            requires_invitation: r.requires_invitation,
            external_sync_enabled: r.external_sync_enabled,
            dcr_enabled: r.dcr_enabled,
            pkce_required: r.pkce_required,
            encryption_key: r.encryption_key_arn.map(|arn| EncryptionKey { arn }),
            default_mcp_gateway_application_id: r.default_mcp_gateway_application_id,
            default_resource_id: r.default_resource_id,
            user_identity_provider_id: r.user_identity_provider_id,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

fn cimd_json(zone: &Zone) -> String {
    serde_json::to_string(&zone.cimd.allowed_client_ids).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl ZoneStore for Store {
    async fn insert_zone(&self, z: &Zone, keys: &NewZoneKeys) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO zones ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        );
        let (cimd, sql) = (&cimd_json(z), &sql);
        let current = on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            sqlx::query(sql)
                .bind(z.id.as_str())
                .bind(z.organization_id.as_str())
                .bind(&z.name)
                .bind(&z.slug)
                .bind(z.description.as_deref())
                .bind(z.owner_type.as_str())
                .bind(z.requires_invitation)
                .bind(z.external_sync_enabled)
                .bind(z.login_flow.as_str())
                .bind(z.dcr_enabled)
                .bind(z.pkce_required)
                .bind(z.cimd.enabled)
                .bind(cimd)
                .bind(z.encryption_key.as_ref().map(|k| k.arn.as_str()))
                .bind(z.default_mcp_gateway_application_id.as_deref())
                .bind(z.default_resource_id.as_deref())
                .bind(z.user_identity_provider_id.as_deref())
                .bind(z.created_at.as_micros())
                .bind(z.updated_at.as_micros())
                .execute(&mut *tx)
                .await?;
            if !master_key_still_current!(&mut *tx, &keys.data_key) {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_data_key!(&mut *tx, &keys.data_key);
            for k in &keys.signing_keys {
                insert_signing_key!(&mut *tx, k);
            }
            for p in &keys.platform_providers {
                crate::directory::insert_provider!(&mut *tx, p, None);
            }
            for a in &keys.platform_applications {
                crate::directory::insert_application!(&mut *tx, a);
            }
            tx.commit().await?;
            Ok(true)
        })
        .await)
        .map_err(map_sqlx_error)?;
        if current {
            Ok(())
        } else {
            Err(StoreError::Conflict(
                keyzone_core::store::Constraint::MasterKeyChanged,
            ))
        }
    }

    async fn get_zone(
        &self,
        org: &OrganizationId,
        id: &ZoneId,
    ) -> Result<Option<Zone>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM zones WHERE organization_id = $1 AND id = $2");
        let row: Option<ZoneRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(org.as_str())
                .bind(id.as_str())
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(Zone::try_from).transpose()
    }

    async fn get_zone_by_id(&self, id: &ZoneId) -> Result<Option<Zone>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM zones WHERE id = $1");
        let row: Option<ZoneRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(id.as_str())
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(Zone::try_from).transpose()
    }

    async fn list_zones(
        &self,
        org: &OrganizationId,
        filter: &ZoneFilter,
        page: &PageRequest,
    ) -> Result<Page<Zone>, StoreError> {
        let mut f = Sql::new("organization_id = ");
        f.arg(Arg::Text(org.as_str().to_owned()));
        if let Some(slug) = &filter.slug {
            f.push(" AND slug = ").arg(Arg::Text(slug.clone()));
        }
        let rows: Page<ZoneRow> = self
            .page(
                Listing {
                    select: COLUMNS,
                    from: "zones",
                    filter: f,
                },
                page,
            )
            .await?;
        let items = rows
            .items
            .into_iter()
            .map(Zone::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            has_next: rows.has_next,
            has_prev: rows.has_prev,
            total_count: rows.total_count,
        })
    }

    async fn update_zone(
        &self,
        z: &Zone,
        expected: Timestamp,
        rewrapped: Option<&WrappedDataKey>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE zones SET name = $3, description = $4, requires_invitation = $5, \
            external_sync_enabled = $6, login_flow = $7, dcr_enabled = $8, pkce_required = $9, \
            cimd_enabled = $10, cimd_allowed_client_ids = $11, encryption_key_arn = $12, \
            default_mcp_gateway_application_id = $13, default_resource_id = $14, \
            user_identity_provider_id = $15, updated_at = $16, slug = $17 \
            WHERE organization_id = $1 AND id = $2 AND updated_at = $18";
        let cimd = &cimd_json(z);
        let done = on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(sql)
                .bind(z.organization_id.as_str())
                .bind(z.id.as_str())
                .bind(&z.name)
                .bind(z.description.as_deref())
                .bind(z.requires_invitation)
                .bind(z.external_sync_enabled)
                .bind(z.login_flow.as_str())
                .bind(z.dcr_enabled)
                .bind(z.pkce_required)
                .bind(z.cimd.enabled)
                .bind(cimd)
                .bind(z.encryption_key.as_ref().map(|k| k.arn.as_str()))
                .bind(z.default_mcp_gateway_application_id.as_deref())
                .bind(z.default_resource_id.as_deref())
                .bind(z.user_identity_provider_id.as_deref())
                .bind(z.updated_at.as_micros())
                .bind(&z.slug)
                .bind(expected.as_micros())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                if let Some(w) = rewrapped {
                    update_data_key_wrapping!(&mut *tx, w);
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        })
        .await)
        .map_err(map_sqlx_error)?;
        Ok(done > 0)
    }

    async fn delete_zone(&self, org: &OrganizationId, id: &ZoneId) -> Result<bool, StoreError> {
        let done = on_pool!(self, |p| {
            sqlx::query("DELETE FROM zones WHERE organization_id = $1 AND id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)?;
        Ok(done > 0)
    }
}
