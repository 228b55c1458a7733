//! Failed sign-in counts (`sign_in_failures`), shared by every node.

use crate::{errors::map_sqlx_error, exec, on_pool, Store};
use async_trait::async_trait;
use keyzone_core::store::{SecretDigest, SignInThrottleStore, StoreError};
use keyzone_domain::{Timestamp, ZoneId};

#[async_trait]
impl SignInThrottleStore for Store {
    async fn sign_in_failures(
        &self,
        zone: &ZoneId,
        keys: &[SecretDigest],
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut most = 0;
        // One or two keys (account, address): a lookup each by primary key.
        for key in keys {
            let n: Option<i64> = on_pool!(self, |p| {
                sqlx::query_scalar(
                    "SELECT failures FROM sign_in_failures \
                     WHERE zone_id = $1 AND throttle_key = $2 AND window_ends_at > $3",
                )
                .bind(zone.as_str())
                .bind(&key[..])
                .bind(now.as_micros())
                .fetch_optional(p)
                .await
            })
            .map_err(map_sqlx_error)?;
            most = most.max(n.unwrap_or(0).max(0) as u64);
        }
        Ok(most)
    }

    async fn record_sign_in_failure(
        &self,
        zone: &ZoneId,
        keys: &[SecretDigest],
        now: Timestamp,
        window_ends_at: Timestamp,
    ) -> Result<(), StoreError> {
        for key in keys {
            // One statement per key, so concurrent failures on several
            // nodes all count.
            exec!(
                self,
                "INSERT INTO sign_in_failures (zone_id, throttle_key, failures, window_ends_at) \
                 VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (zone_id, throttle_key) DO UPDATE SET \
                 failures = CASE WHEN sign_in_failures.window_ends_at <= $4 THEN 1 \
                 ELSE sign_in_failures.failures + 1 END, \
                 window_ends_at = CASE WHEN sign_in_failures.window_ends_at <= $4 \
                 THEN excluded.window_ends_at ELSE sign_in_failures.window_ends_at END",
                zone.as_str(),
                &key[..],
                window_ends_at.as_micros(),
                now.as_micros()
            )?;
        }
        Ok(())
    }

    async fn clear_sign_in_failures(
        &self,
        zone: &ZoneId,
        key: &SecretDigest,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "DELETE FROM sign_in_failures WHERE zone_id = $1 AND throttle_key = $2",
            zone.as_str(),
            &key[..]
        )
        .map(|_| ())
    }

    async fn purge_sign_in_failures(&self, now: Timestamp) -> Result<u64, StoreError> {
        exec!(
            self,
            "DELETE FROM sign_in_failures WHERE window_ends_at <= $1",
            now.as_micros()
        )
    }
}
