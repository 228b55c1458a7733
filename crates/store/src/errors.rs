//! Database errors to store errors. Constraint names of the schema map to
//! meanings here and only here.

use keyzone_core::store::{Constraint, StoreError};
use sqlx::error::{DatabaseError, ErrorKind};

/// (PostgreSQL constraint name, SQLite "table.column, …" text, meaning).
/// SQLite does not report constraint names, only the columns involved.
const CONSTRAINTS: &[(&str, &str, Constraint)] = &[
    (
        "zones_organization_slug_key",
        "zones.organization_id, zones.slug",
        Constraint::ZoneSlugUnique,
    ),
    (
        "api_keys_key_hash_key",
        "api_keys.key_hash",
        Constraint::ApiKeyHashUnique,
    ),
    (
        "signing_keys_pkey",
        "signing_keys.kid",
        Constraint::SigningKeyKidUnique,
    ),
    (
        "user_agents_zone_identifier_key",
        "user_agents.zone_id, user_agents.identifier",
        Constraint::Other,
    ),
    (
        "providers_zone_identifier_key",
        "providers.zone_id, providers.identifier",
        Constraint::ProviderIdentifierUnique,
    ),
    (
        "providers_zone_slug_key",
        "providers.zone_id, providers.slug",
        Constraint::SlugUnique,
    ),
    (
        "applications_zone_identifier_key",
        "applications.zone_id, applications.identifier",
        Constraint::ApplicationIdentifierUnique,
    ),
    (
        "applications_zone_slug_key",
        "applications.zone_id, applications.slug",
        Constraint::SlugUnique,
    ),
    (
        "resources_zone_identifier_key",
        "resources.zone_id, resources.identifier",
        Constraint::ResourceIdentifierUnique,
    ),
    (
        "resources_zone_slug_key",
        "resources.zone_id, resources.slug",
        Constraint::SlugUnique,
    ),
    (
        "application_credentials_zone_identifier_key",
        "application_credentials.zone_id, application_credentials.identifier",
        Constraint::CredentialIdentifierUnique,
    ),
    (
        "application_credentials_zone_provider_subject_key",
        "application_credentials.zone_id, application_credentials.provider_id, application_credentials.identifier",
        Constraint::CredentialIdentifierUnique,
    ),
    (
        "users_zone_local_email_key",
        "users.zone_id, users.email",
        Constraint::UserEmailUnique,
    ),
    (
        "user_invitations_zone_email_key",
        "user_invitations.zone_id, user_invitations.email",
        Constraint::InvitationEmailUnique,
    ),
];

fn constraint_of(db: &dyn DatabaseError) -> Constraint {
    if let Some(name) = db.constraint() {
        if let Some((_, _, c)) = CONSTRAINTS.iter().find(|(n, _, _)| *n == name) {
            return *c;
        }
    }
    let message = db.message();
    if let Some(cols) = message.split_once("constraint failed: ").map(|(_, c)| c) {
        if let Some((_, _, c)) = CONSTRAINTS.iter().find(|(_, s, _)| *s == cols) {
            return *c;
        }
    }
    Constraint::Other
}

/// Contention the database resolved by aborting this transaction: a
/// PostgreSQL deadlock (40P01) or serialization failure (40001), or SQLite
/// still busy or locked after its busy timeout. Nothing was written; the
/// same transaction may be tried again.
pub fn is_transient(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    matches!(
        db.code().as_deref(),
        Some("40P01" | "40001" | "5" | "6" | "517" | "261" | "262")
    )
}

pub fn map_sqlx_error(e: sqlx::Error) -> StoreError {
    if is_transient(&e) {
        return StoreError::Unavailable(Box::new(e));
    }
    match e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict(constraint_of(db.as_ref())),
            // Callers check references first and name the field; this is the
            // race-proof backstop.
            ErrorKind::ForeignKeyViolation => StoreError::Conflict(Constraint::MissingReference),
            _ => StoreError::Other(Box::new(sqlx::Error::Database(db))),
        },
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(Box::new(e)),
        e => StoreError::Other(Box::new(e)),
    }
}
