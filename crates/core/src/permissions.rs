//! What `expand[]=permissions` reports: for each resource type, which actions
//! the caller may perform. Keyzone's principals today are organization admins
//! (API keys), who may do everything.

use crate::auth::Principal;
use std::collections::BTreeMap;

pub type Permissions = BTreeMap<&'static str, BTreeMap<&'static str, bool>>;

const RESOURCE_TYPES: &[&str] = &[
    "zones",
    "applications",
    "application_credentials",
    "resources",
    "providers",
    "secrets",
    "users",
    "user_agents",
    "sessions",
    "delegated_grants",
    "policies",
    "policy_sets",
    "policy_schemas",
];
const ACTIONS: &[&str] = &["read", "list", "create", "update", "delete"];

pub fn for_principal(principal: &Principal) -> Permissions {
    let allowed = match principal {
        Principal::OrganizationAdmin { .. } => true,
    };
    RESOURCE_TYPES
        .iter()
        .map(|r| (*r, ACTIONS.iter().map(|a| (*a, allowed)).collect()))
        .collect()
}
