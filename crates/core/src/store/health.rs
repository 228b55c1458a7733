//! Readiness.

use super::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Ok if the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
    /// (open connections, idle connections) of the database pool.
    fn pool_usage(&self) -> (u32, u32);
}
