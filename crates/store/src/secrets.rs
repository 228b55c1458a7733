use crate::sql::{Arg, Sql};
use crate::{errors::map_sqlx_error, on_pool, Store};
use async_trait::async_trait;
use keyzone_core::store::{SecretFilter, SecretStore, StoreError, StoredSecret};
use keyzone_domain::secret::{Secret, SecretKind};
use keyzone_domain::{SecretId, Timestamp, ZoneId};

const RECORD_COLUMNS: &str =
    "id, zone_id, name, entity_id, kind, description, metadata, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct SecretRow {
    id: String,
    zone_id: String,
    name: String,
    entity_id: String,
    kind: String,
    description: Option<String>,
    metadata: Option<String>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct StoredSecretRow {
    #[sqlx(flatten)]
    record: SecretRow,
    data: Vec<u8>,
}

impl TryFrom<SecretRow> for Secret {
    type Error = StoreError;
    fn try_from(r: SecretRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("secret {}: {what}", r.id));
        Ok(Secret {
            id: SecretId::parse(&r.id).map_err(|_| corrupt("id"))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone_id"))?,
            kind: SecretKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            metadata: r
                .metadata
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("metadata"))?,
            version: u32::try_from(r.version).map_err(|_| corrupt("version"))?,
            name: r.name,
            entity_id: r.entity_id,
            description: r.description,
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
        })
    }
}

#[async_trait]
impl SecretStore for Store {
    async fn insert_secret(&self, s: &StoredSecret) -> Result<(), StoreError> {
        let r = &s.secret;
        let metadata = r.metadata.as_ref().map(|m| m.to_string());
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO secrets (id, zone_id, name, entity_id, kind, description, metadata, \
                 version, data, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(r.id.as_str())
            .bind(r.zone_id.as_str())
            .bind(&r.name)
            .bind(&r.entity_id)
            .bind(r.kind.as_str())
            .bind(r.description.as_deref())
            .bind(metadata.as_deref())
            .bind(r.version as i64)
            .bind(&s.sealed_data[..])
            .bind(r.created_at.as_micros())
            .bind(r.updated_at.as_micros())
            .execute(p)
            .await
            .map(|_| ())
        })
        .map_err(map_sqlx_error)
    }

    async fn get_secret(
        &self,
        zone: &ZoneId,
        id: &SecretId,
    ) -> Result<Option<StoredSecret>, StoreError> {
        let sql =
            format!("SELECT {RECORD_COLUMNS}, data FROM secrets WHERE zone_id = $1 AND id = $2");
        let row: Option<StoredSecretRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(id.as_str())
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(|r| {
            Ok(StoredSecret {
                secret: r.record.try_into()?,
                sealed_data: r.data,
            })
        })
        .transpose()
    }

    async fn list_secrets(
        &self,
        zone: &ZoneId,
        filter: &SecretFilter,
    ) -> Result<Vec<Secret>, StoreError> {
        let mut q = Sql::new(&format!(
            "SELECT {RECORD_COLUMNS} FROM secrets WHERE zone_id = "
        ));
        q.arg(Arg::Text(zone.as_str().to_owned()));
        if let Some(e) = &filter.entity_id {
            q.push(" AND entity_id = ").arg(Arg::Text(e.clone()));
        }
        if let Some(k) = filter.kind {
            q.push(" AND kind = ").arg(Arg::Text(k.as_str().to_owned()));
        }
        q.push(" ORDER BY created_at, id");
        let rows: Vec<SecretRow> = on_pool!(self, |p| {
            crate::sql::bind_args!(sqlx::query_as::<_, SecretRow>(&q.text), &q.args)
                .fetch_all(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        rows.into_iter().map(Secret::try_from).collect()
    }

    async fn update_secret(
        &self,
        s: &StoredSecret,
        expected: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = &s.secret;
        let metadata = r.metadata.as_ref().map(|m| m.to_string());
        let n = on_pool!(self, |p| {
            sqlx::query(
                "UPDATE secrets SET name = $3, description = $4, metadata = $5, kind = $6, \
                 version = $7, data = $8, updated_at = $9 \
                 WHERE zone_id = $1 AND id = $2 AND updated_at = $10 AND version IN ($7, $7 - 1)",
            )
            .bind(r.zone_id.as_str())
            .bind(r.id.as_str())
            .bind(&r.name)
            .bind(r.description.as_deref())
            .bind(metadata.as_deref())
            .bind(r.kind.as_str())
            .bind(r.version as i64)
            .bind(&s.sealed_data[..])
            .bind(r.updated_at.as_micros())
            .bind(expected.as_micros())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }

    async fn delete_secret(&self, zone: &ZoneId, id: &SecretId) -> Result<bool, StoreError> {
        let n = on_pool!(self, |p| {
            sqlx::query("DELETE FROM secrets WHERE zone_id = $1 AND id = $2")
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
