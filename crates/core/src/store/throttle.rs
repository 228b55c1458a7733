//! Failed sign-ins, counted in the database so every node of a deployment
//! throttles the same account and address together.

use super::{SecretDigest, StoreError};
use async_trait::async_trait;
use keyzone_domain::{Timestamp, ZoneId};

#[async_trait]
pub trait SignInThrottleStore: Send + Sync {
    /// The most failures counted for any of `keys` in a window still open
    /// at `now` (0 when none is).
    async fn sign_in_failures(
        &self,
        zone: &ZoneId,
        keys: &[SecretDigest],
        now: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Counts one failure for each key, in its open window, or in a new one
    /// ending at `window_ends_at` when its last has closed.
    async fn record_sign_in_failure(
        &self,
        zone: &ZoneId,
        keys: &[SecretDigest],
        now: Timestamp,
        window_ends_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Forgets a key's failures (an account that signed in).
    async fn clear_sign_in_failures(
        &self,
        zone: &ZoneId,
        key: &SecretDigest,
    ) -> Result<(), StoreError>;
    /// Deletes counts whose windows closed before `now` (maintenance).
    async fn purge_sign_in_failures(&self, now: Timestamp) -> Result<u64, StoreError>;
}
