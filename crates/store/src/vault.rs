//! Data keys, the master key record and signing keys.

use crate::BeginWrite;
use crate::{errors::map_sqlx_error, on_pool, Store};
use async_trait::async_trait;
use keyzone_core::store::{
    KeyWrapping, SigningKeyState, SigningKeyStore, StoreError, StoredSigningKey, VaultStore,
    WrappedDataKey,
};
use keyzone_domain::{Timestamp, ZoneId};

/// Writes a data key within a transaction of either driver.
macro_rules! insert_data_key {
    ($conn:expr, $w:expr) => {{
        let w: &keyzone_core::store::WrappedDataKey = $w;
        let (kind, master, arn) = $crate::vault::wrapping_columns(&w.wrapping);
        sqlx::query(
            "INSERT INTO zone_data_keys \
             (zone_id, version, wrapping, master_key_id, kms_key_arn, wrapped, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(w.zone_id.as_str())
        .bind(w.version as i64)
        .bind(kind)
        .bind(master)
        .bind(arn)
        .bind(&w.wrapped[..])
        .bind(w.created_at.as_micros())
        .execute($conn)
        .await?;
    }};
}
pub(crate) use insert_data_key;

/// Inside a zone-creating transaction: confirms the data key was wrapped
/// under the master key the database records, and holds that row so a
/// concurrent master-key rotation waits for this transaction (or this one
/// for it). Evaluates to false if the master key has changed.
macro_rules! master_key_still_current {
    ($conn:expr, $w:expr) => {{
        let w: &keyzone_core::store::WrappedDataKey = $w;
        match &w.wrapping {
            keyzone_core::store::KeyWrapping::Master { master_key_id } => sqlx::query(
                "UPDATE deployment SET value = value WHERE name = 'master_key_id' AND value = $1",
            )
            .bind(master_key_id.as_str())
            .execute($conn)
            .await?
            .rows_affected()
                == 1,
            keyzone_core::store::KeyWrapping::AwsKms { .. } => true,
        }
    }};
}
pub(crate) use master_key_still_current;

macro_rules! update_data_key_wrapping {
    ($conn:expr, $w:expr) => {{
        let w: &keyzone_core::store::WrappedDataKey = $w;
        let (kind, master, arn) = $crate::vault::wrapping_columns(&w.wrapping);
        sqlx::query(
            "UPDATE zone_data_keys SET wrapping = $3, master_key_id = $4, kms_key_arn = $5, \
             wrapped = $6 WHERE zone_id = $1 AND version = $2",
        )
        .bind(w.zone_id.as_str())
        .bind(w.version as i64)
        .bind(kind)
        .bind(master)
        .bind(arn)
        .bind(&w.wrapped[..])
        .execute($conn)
        .await?
        .rows_affected()
    }};
}
pub(crate) use update_data_key_wrapping;

macro_rules! insert_signing_key {
    ($conn:expr, $k:expr) => {{
        let k: &keyzone_core::store::StoredSigningKey = $k;
        sqlx::query(
            "INSERT INTO signing_keys (kid, zone_id, algorithm, state, public_jwk, private_key, \
             created_at, activated_at, retired_at, publish_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&k.kid)
        .bind(k.zone_id.as_str())
        .bind(&k.algorithm)
        .bind(k.state.as_str())
        .bind(&k.public_jwk)
        .bind(&k.sealed_private_key[..])
        .bind(k.created_at.as_micros())
        .bind(k.activated_at.map(Timestamp::as_micros))
        .bind(k.retired_at.map(Timestamp::as_micros))
        .bind(k.publish_until.map(Timestamp::as_micros))
        .execute($conn)
        .await?;
    }};
}
pub(crate) use insert_signing_key;

pub(crate) fn wrapping_columns(w: &KeyWrapping) -> (&'static str, Option<&str>, Option<&str>) {
    match w {
        KeyWrapping::Master { master_key_id } => ("master", Some(master_key_id.as_str()), None),
        KeyWrapping::AwsKms { arn } => ("aws-kms", None, Some(arn.as_str())),
    }
}

#[derive(sqlx::FromRow)]
struct DataKeyRow {
    zone_id: String,
    version: i64,
    wrapping: String,
    master_key_id: Option<String>,
    kms_key_arn: Option<String>,
    wrapped: Vec<u8>,
    created_at: i64,
}

impl TryFrom<DataKeyRow> for WrappedDataKey {
    type Error = StoreError;
    fn try_from(r: DataKeyRow) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("data key of zone {}", r.zone_id));
        let wrapping = match (r.wrapping.as_str(), r.master_key_id, r.kms_key_arn) {
            ("master", Some(id), _) => KeyWrapping::Master { master_key_id: id },
            ("aws-kms", _, Some(arn)) => KeyWrapping::AwsKms { arn },
            _ => return Err(corrupt()),
        };
        Ok(WrappedDataKey {
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt())?,
            version: u32::try_from(r.version).map_err(|_| corrupt())?,
            wrapping,
            wrapped: r.wrapped,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}

const DATA_KEY_COLUMNS: &str =
    "zone_id, version, wrapping, master_key_id, kms_key_arn, wrapped, created_at";

#[async_trait]
impl VaultStore for Store {
    async fn data_key(
        &self,
        zone: &ZoneId,
        version: u32,
    ) -> Result<Option<WrappedDataKey>, StoreError> {
        let sql = format!(
            "SELECT {DATA_KEY_COLUMNS} FROM zone_data_keys WHERE zone_id = $1 AND version = $2"
        );
        let row: Option<DataKeyRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(version as i64)
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(WrappedDataKey::try_from).transpose()
    }

    async fn master_wrapped_data_keys(&self) -> Result<Vec<WrappedDataKey>, StoreError> {
        let sql = format!(
            "SELECT {DATA_KEY_COLUMNS} FROM zone_data_keys WHERE wrapping = 'master' \
             ORDER BY zone_id, version"
        );
        let rows: Vec<DataKeyRow> =
            on_pool!(self, |p| sqlx::query_as(&sql).fetch_all(p).await).map_err(map_sqlx_error)?;
        rows.into_iter().map(WrappedDataKey::try_from).collect()
    }

    async fn rewrap_data_keys(
        &self,
        rewrapped: &[WrappedDataKey],
        expected_master_key_id: &str,
        new_master_key_id: &str,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            // Compare-and-set on the recorded key: it also locks the row, so
            // two rotations cannot interleave.
            let claimed = sqlx::query(
                "UPDATE deployment SET value = $1 WHERE name = 'master_key_id' AND value = $2",
            )
            .bind(new_master_key_id)
            .bind(expected_master_key_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            for w in rewrapped {
                update_data_key_wrapping!(&mut *tx, w);
            }
            // A key wrapped by the old master key that the caller did not
            // see (a zone created meanwhile) would be lost: start over.
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM zone_data_keys WHERE wrapping = 'master' AND master_key_id <> $1",
            )
            .bind(new_master_key_id)
            .fetch_one(&mut *tx)
            .await?;
            if left != 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
        .await)
        .map_err(map_sqlx_error)
    }

    async fn init_master_key_id(&self, candidate: &str) -> Result<String, StoreError> {
        on_pool!(self, |p| async {
            sqlx::query(
                "INSERT INTO deployment (name, value) VALUES ('master_key_id', $1) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(candidate)
            .execute(p)
            .await?;
            sqlx::query_scalar::<_, String>(
                "SELECT value FROM deployment WHERE name = 'master_key_id'",
            )
            .fetch_one(p)
            .await
        }
        .await)
        .map_err(map_sqlx_error)
    }
}

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    zone_id: String,
    algorithm: String,
    state: String,
    public_jwk: String,
    private_key: Vec<u8>,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    publish_until: Option<i64>,
}

impl TryFrom<SigningKeyRow> for StoredSigningKey {
    type Error = StoreError;
    fn try_from(r: SigningKeyRow) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("signing key {}", r.kid));
        Ok(StoredSigningKey {
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt())?,
            state: SigningKeyState::parse(&r.state).ok_or_else(corrupt)?,
            kid: r.kid,
            algorithm: r.algorithm,
            public_jwk: r.public_jwk,
            sealed_private_key: r.private_key,
            created_at: Timestamp::from_micros(r.created_at),
            activated_at: r.activated_at.map(Timestamp::from_micros),
            retired_at: r.retired_at.map(Timestamp::from_micros),
            publish_until: r.publish_until.map(Timestamp::from_micros),
        })
    }
}

#[async_trait]
impl SigningKeyStore for Store {
    async fn signing_keys(&self, zone: &ZoneId) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows: Vec<SigningKeyRow> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT kid, zone_id, algorithm, state, public_jwk, private_key, created_at, \
                 activated_at, retired_at, publish_until FROM signing_keys \
                 WHERE zone_id = $1 ORDER BY created_at, kid",
            )
            .bind(zone.as_str())
            .fetch_all(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        rows.into_iter().map(StoredSigningKey::try_from).collect()
    }

    async fn rotate_signing_keys(
        &self,
        zone: &ZoneId,
        current_kid: &str,
        next_kid: &str,
        publish_until: Timestamp,
        new_next: &StoredSigningKey,
    ) -> Result<bool, StoreError> {
        let now = Timestamp::now().as_micros();
        on_pool!(self, |p| crate::retry_transient(|| async move {
            let mut tx = p.begin_write().await?;
            // Order matters: each step keeps "one current, one next" true.
            let retired = sqlx::query(
                "UPDATE signing_keys SET state = 'retired', retired_at = $3, publish_until = $4 \
                 WHERE zone_id = $1 AND kid = $2 AND state = 'current'",
            )
            .bind(zone.as_str())
            .bind(current_kid)
            .bind(now)
            .bind(publish_until.as_micros())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let promoted = sqlx::query(
                "UPDATE signing_keys SET state = 'current', activated_at = $3 \
                 WHERE zone_id = $1 AND kid = $2 AND state = 'next'",
            )
            .bind(zone.as_str())
            .bind(next_kid)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if retired != 1 || promoted != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_signing_key!(&mut *tx, new_next);
            tx.commit().await?;
            Ok(true)
        })
        .await)
        .map_err(map_sqlx_error)
    }

    async fn zones_with_current_key_before(
        &self,
        before: Timestamp,
    ) -> Result<Vec<ZoneId>, StoreError> {
        let ids: Vec<String> = on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT zone_id FROM signing_keys WHERE state = 'current' AND activated_at < $1",
            )
            .bind(before.as_micros())
            .fetch_all(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        ids.iter()
            .map(|s| ZoneId::parse(s).map_err(|_| StoreError::Corrupt("zone id".into())))
            .collect()
    }

    async fn purge_signing_keys(&self, now: Timestamp) -> Result<u64, StoreError> {
        on_pool!(self, |p| {
            sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= $1")
                .bind(now.as_micros())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(map_sqlx_error)
    }
}
