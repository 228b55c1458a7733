//! The organization: the owner of a deployment's zones and API keys.

use crate::id::OrganizationId;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    /// Unique, URL-safe; the deployment's own organization is `default`.
    pub label: String,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
