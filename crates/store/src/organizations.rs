use crate::{errors::map_sqlx_error, on_pool, Store};
use async_trait::async_trait;
use keyzone_core::store::{ApiKeyRecord, ApiKeyStore, OrganizationStore, StoreError};
use keyzone_domain::organization::Organization;
use keyzone_domain::{ApiKeyId, OrganizationId, Timestamp};

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: String,
    label: String,
    name: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    organization_id: String,
    name: String,
    key_hash: Vec<u8>,
    created_at: i64,
}

#[async_trait]
impl OrganizationStore for Store {
    async fn insert_organization(&self, org: &Organization) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO organizations (id, label, name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(org.id.as_str())
            .bind(&org.label)
            .bind(&org.name)
            .bind(org.created_at.as_micros())
            .bind(org.updated_at.as_micros())
            .execute(p)
            .await
            .map(|_| ())
        })
        .map_err(map_sqlx_error)
    }

    async fn ensure_organization(
        &self,
        candidate: &Organization,
    ) -> Result<Organization, StoreError> {
        // The unique label makes concurrent first starts agree on one row.
        let row: OrganizationRow = on_pool!(self, |p| async {
            sqlx::query(
                "INSERT INTO organizations (id, label, name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (label) DO NOTHING",
            )
            .bind(candidate.id.as_str())
            .bind(&candidate.label)
            .bind(&candidate.name)
            .bind(candidate.created_at.as_micros())
            .bind(candidate.updated_at.as_micros())
            .execute(p)
            .await?;
            sqlx::query_as(
                "SELECT id, label, name, created_at, updated_at FROM organizations \
                 WHERE label = $1",
            )
            .bind(&candidate.label)
            .fetch_one(p)
            .await
        }
        .await)
        .map_err(map_sqlx_error)?;
        Ok(Organization {
            id: OrganizationId::parse(&row.id)
                .map_err(|_| StoreError::Corrupt("organization id".into()))?,
            label: row.label,
            name: row.name,
            created_at: Timestamp::from_micros(row.created_at),
            updated_at: Timestamp::from_micros(row.updated_at),
        })
    }
}

#[async_trait]
impl ApiKeyStore for Store {
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO api_keys (id, organization_id, name, key_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(k.id.as_str())
            .bind(k.organization_id.as_str())
            .bind(&k.name)
            .bind(&k.key_hash[..])
            .bind(k.created_at.as_micros())
            .execute(p)
            .await
            .map(|_| ())
        })
        .map_err(map_sqlx_error)?;
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<ApiKeyRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT id, organization_id, name, key_hash, created_at FROM api_keys \
                 WHERE key_hash = $1",
            )
            .bind(&key_hash[..])
            .fetch_optional(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        row.map(api_key_record).transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows: Vec<ApiKeyRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT id, organization_id, name, key_hash, created_at FROM api_keys \
                 ORDER BY created_at, id",
            )
            .fetch_all(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        rows.into_iter().map(api_key_record).collect()
    }

    async fn delete_api_key(&self, id: &ApiKeyId) -> Result<bool, StoreError> {
        let done = on_pool!(self, |p| {
            sqlx::query("DELETE FROM api_keys WHERE id = $1")
                .bind(id.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected() > 0)
        })
        .map_err(map_sqlx_error)?;
        Ok(done)
    }

    async fn count_api_keys(&self) -> Result<u64, StoreError> {
        let n: i64 = on_pool!(self, |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
                .fetch_one(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        Ok(n as u64)
    }
}

fn api_key_record(r: ApiKeyRow) -> Result<ApiKeyRecord, StoreError> {
    let corrupt = || StoreError::Corrupt("api key row".into());
    Ok(ApiKeyRecord {
        id: ApiKeyId::parse(&r.id).map_err(|_| corrupt())?,
        organization_id: OrganizationId::parse(&r.organization_id).map_err(|_| corrupt())?,
        name: r.name,
        key_hash: r.key_hash.try_into().map_err(|_| corrupt())?,
        created_at: Timestamp::from_micros(r.created_at),
    })
}
