//! Throw-away databases for tests: a fresh SQLite file, or a fresh schema in
//! the PostgreSQL named by `KEYZONE_TEST_POSTGRES_URL`. Every test gets its
//! own, so tests never see each other's rows and can run in parallel.

use crate::{ConnectOptions, Store};
use std::path::PathBuf;

pub const POSTGRES_URL_VAR: &str = "KEYZONE_TEST_POSTGRES_URL";

pub struct TestDb {
    pub store: Store,
    sqlite_dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

fn unique_suffix() -> String {
    keyzone_domain::id::random_id()
}

/// Whether a missing PostgreSQL must fail the run rather than skip.
fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("KEYZONE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("keyzone-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("keyzone.db").display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        Self {
            store,
            sqlite_dir: Some(dir),
            pg: None,
        }
    }

    /// `None` (after a loud message) when no PostgreSQL is configured, unless
    /// CI requires one, in which case this panics.
    pub async fn postgres() -> Option<Self> {
        let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
            if postgres_required() {
                panic!("{POSTGRES_URL_VAR} is not set, and CI requires the PostgreSQL tests");
            }
            eprintln!(
                "\n*** SKIPPING a PostgreSQL store test: set {POSTGRES_URL_VAR} \
                 (e.g. postgres://postgres@127.0.0.1:5432/test) to run it ***\n"
            );
            return None;
        };
        let schema = format!("kz_test_{}", unique_suffix());
        let store = Store::connect(
            &url,
            &ConnectOptions {
                max_connections: 4,
                pg_schema: Some(schema.clone()),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {POSTGRES_URL_VAR}: {e}"));
        store.migrate().await.expect("migrate postgres");
        Some(Self {
            store,
            sqlite_dir: None,
            pg: Some((url, schema)),
        })
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(dir) = self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((url, schema)) = self.pg {
            if let Ok(admin) = sqlx::PgPool::connect(&url).await {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&admin)
                    .await;
                admin.close().await;
            }
        }
    }
}

/// Runs each named `async fn(&Store)` on SQLite and on PostgreSQL, as
/// `sqlite::<name>` and `postgres::<name>` tests, each on a fresh database:
/// the one storage suite every backend passes.
///
/// ```text
/// keyzone_store::store_tests!(creates_a_zone, lists_zones);
/// ```
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test]
            async fn $name() {
                let db = $crate::testing::TestDb::sqlite().await;
                super::$name(&db.store).await;
                db.cleanup().await;
            }
        )* }
        mod postgres { $(
            #[tokio::test]
            async fn $name() {
                let Some(db) = $crate::testing::TestDb::postgres().await else { return };
                super::$name(&db.store).await;
                db.cleanup().await;
            }
        )* }
    };
}

/// A zone (in a default organization, its data key wrapped by master key
/// `m`) for store tests that need a zone to own their rows.
pub async fn zone(store: &Store) -> keyzone_domain::ZoneId {
    use keyzone_core::store::{
        KeyWrapping, NewZoneKeys, OrganizationStore, VaultStore, WrappedDataKey, ZoneStore,
    };
    use keyzone_domain::{zone::ZoneDraft, OrganizationId, Timestamp, ZoneId};
    let now = Timestamp::now();
    let org = store
        .ensure_organization(&keyzone_domain::organization::Organization {
            id: OrganizationId::generate(),
            label: "default".into(),
            name: "O".into(),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    store.init_master_key_id("m").await.unwrap();
    let z = ZoneDraft {
        name: "Z".into(),
        ..Default::default()
    }
    .into_zone(ZoneId::generate(), org.id, keyzone_domain::id::random_id());
    store
        .insert_zone(
            &z,
            &NewZoneKeys {
                data_key: WrappedDataKey {
                    zone_id: z.id.clone(),
                    version: 1,
                    wrapping: KeyWrapping::Master {
                        master_key_id: "m".into(),
                    },
                    wrapped: vec![1],
                    created_at: now,
                },
                signing_keys: vec![],
                platform_providers: vec![],
                platform_applications: vec![],
            },
        )
        .await
        .unwrap();
    z.id
}
