//! `keyzone`: the server binary. Wires configuration, store, use cases and
//! HTTP together; owns nothing else.

mod config;
mod master_key;

/// The token endpoint allocates a little per request on every worker;
/// mimalloc's per-thread free lists measured faster than the system
/// allocator there (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, LogFormat, SettingsArgs};
use keyzone_api::AppState;
use keyzone_core::auth::{Bootstrap, PlaintextKey};
use keyzone_core::signing::RotateOutcome as KeyRotation;
use keyzone_core::vault::{MasterKeyMismatch, RotateOutcome as MasterRotation};
use keyzone_core::{ApiKeys, SigningKeys, Vault};
use keyzone_crypto::MasterKey;
use keyzone_domain::urls::IssuerLayout;
use keyzone_store::{ConnectOptions, Store};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "keyzone",
    version,
    about = "A self-hostable Keycard API server"
)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (applies migrations first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig,
    /// Manage admin API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage the master key and zone signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-wrap every zone data key under a new master key, in one
    /// transaction (the data itself is not re-encrypted). The new key comes
    /// from KEYZONE_NEW_MASTER_KEY or, with a key file, is generated into
    /// <file>.new. Safe to re-run after a crash.
    RotateMaster,
    /// Rotate a zone's signing keys: the published next key starts signing,
    /// the current key is retired (still published until its tokens
    /// expire), and a new next key is published.
    Rotate {
        #[arg(long)]
        zone: String,
        /// Algorithm of the newly published next key: RS256, ES256 or EdDSA.
        #[arg(long)]
        algorithm: Option<String>,
        /// Rotate even if the next key was published only moments ago
        /// (relying parties may not have fetched it yet).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Mint a new admin API key; it is printed once, only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keyzone: configuration error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyzone: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Pretty => builder.compact().init(),
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.expose().starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        restrict_permissions(&config.data_dir);
    }
    let store = Store::connect(
        config.database_url.expose(),
        &ConnectOptions {
            max_connections: config.database_max_connections,
            pg_schema: None,
        },
    )
    .await
    .with_context(|| format!("cannot open database {}", config.database_url.redacted()))?;
    store.migrate().await.context("database migration failed")?;
    Ok(store)
}

/// The data directory holds secrets-at-rest; only the owner may read it.
fn restrict_permissions(dir: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::CheckConfig => {
            print!("{}", config.render_redacted());
            Ok(())
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            store.close().await;
            eprintln!("keyzone: migrations applied");
            Ok(())
        }
        Command::ApiKey {
            command: ApiKeyCommand::Create { name },
        } => {
            let store = Arc::new(open_store(&config).await?);
            let keys = ApiKeys::new(store.clone(), store.clone());
            let (record, key) = keys.create(&name).await.map_err(anyhow::Error::msg)?;
            eprintln!(
                "keyzone: created API key {} ({name}); it is shown once:",
                record.id
            );
            println!("{}", key.expose());
            store.close().await;
            Ok(())
        }
        Command::Keys { command } => keys_command(command, config).await,
        Command::Serve => serve(config).await,
    }
}

/// The vault over `store`, with the configured master key, checked against
/// the database: a different key is refused before anything is written.
async fn open_vault(
    config: &Config,
    store: &Arc<Store>,
    create_key: bool,
) -> anyhow::Result<Arc<Vault>> {
    let kms: Arc<dyn keyzone_core::vault::Kms> =
        Arc::new(keyzone_kms::AwsKms::new(config.aws_kms_endpoint.clone()));
    let master = master_key::load(&config.master_key, create_key)?;
    let vault = Vault::new(master, Some(kms.clone()), store.clone());
    match vault.check_master_key().await {
        Ok(()) => Ok(Arc::new(vault)),
        Err(MasterKeyMismatch::Different { stored, .. }) => {
            match master_key::finish_interrupted_rotation(&config.master_key, &stored)? {
                Some(key) => {
                    let vault = Vault::new(key, Some(kms), store.clone());
                    vault.check_master_key().await?;
                    Ok(Arc::new(vault))
                }
                None => Err(vault.check_master_key().await.unwrap_err().into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn keys_command(command: KeysCommand, config: Config) -> anyhow::Result<()> {
    let store = Arc::new(open_store(&config).await?);
    match command {
        KeysCommand::RotateMaster => rotate_master(&config, &store).await?,
        KeysCommand::Rotate {
            zone,
            algorithm,
            force,
        } => {
            let vault = open_vault(&config, &store, false).await?;
            rotate_signing_keys(&store, vault, &zone, algorithm, force).await?
        }
    }
    store.close().await;
    Ok(())
}

async fn rotate_master(config: &Config, store: &Arc<Store>) -> anyhow::Result<()> {
    let from_env = std::env::var("KEYZONE_NEW_MASTER_KEY")
        .ok()
        .filter(|v| !v.is_empty());
    let (new, pending_file) = match (&from_env, &config.master_key) {
        (Some(v), source) => {
            let key = MasterKey::from_base64(v).map_err(|_| {
                anyhow::anyhow!("KEYZONE_NEW_MASTER_KEY must be the base64 of 32 random bytes")
            })?;
            // With a key file, the chosen key goes through <file>.new like a
            // generated one, so the file and the database never disagree.
            match source {
                config::MasterKeySource::File(p) => {
                    master_key::write_pending(p, v)?;
                    (key, Some(p.clone()))
                }
                config::MasterKeySource::Value(_) => (key, None),
            }
        }
        (None, config::MasterKeySource::File(p)) => {
            let pending = master_key::pending_path(p);
            let key = if pending.exists() {
                master_key::load(&config::MasterKeySource::File(pending), false)?
            } else {
                master_key::create_file(&pending)?
            };
            (key, Some(p.clone()))
        }
        (None, config::MasterKeySource::Value(_)) => anyhow::bail!(
            "set KEYZONE_NEW_MASTER_KEY to the new key (base64 of 32 bytes); \
             then run with KEYZONE_MASTER_KEY set to the new key"
        ),
    };
    let outcome = match open_vault(config, store, false).await {
        Ok(vault) => {
            let outcome = vault
                .rotate_master(&new)
                .await
                .map_err(anyhow::Error::msg)?;
            if let MasterRotation::Rewrapped(n) = outcome {
                eprintln!(
                    "keyzone: re-wrapped {n} zone data key(s) under master key {} (was {})",
                    new.id(),
                    vault.master_key_id()
                );
            }
            outcome
        }
        // Re-run after a completed rotation: the database is under the new key.
        Err(e) => match e.downcast_ref::<MasterKeyMismatch>() {
            Some(MasterKeyMismatch::Different { stored, .. }) if stored == new.id() => {
                MasterRotation::AlreadyDone
            }
            _ => return Err(e),
        },
    };
    if let Some(file) = pending_file {
        // Absent when opening the vault just finished an interrupted rotation.
        if master_key::pending_path(&file).exists() {
            master_key::commit_pending(&file)?;
        }
    }
    if outcome == MasterRotation::AlreadyDone {
        eprintln!("keyzone: the database already uses master key {}", new.id());
    }
    if from_env.is_some() {
        eprintln!("keyzone: now set KEYZONE_MASTER_KEY to the new key on every node");
    }
    Ok(())
}

async fn rotate_signing_keys(
    store: &Arc<Store>,
    vault: Arc<Vault>,
    zone: &str,
    algorithm: Option<String>,
    force: bool,
) -> anyhow::Result<()> {
    let zone = keyzone_domain::ZoneId::parse(zone)
        .map_err(|_| anyhow::anyhow!("{zone:?} is not a zone id"))?;
    let algorithm = algorithm
        .map(|a| {
            keyzone_crypto::Algorithm::parse(&a)
                .ok_or_else(|| anyhow::anyhow!("algorithm {a:?}: use RS256, ES256 or EdDSA"))
        })
        .transpose()?;
    let signing = SigningKeys::new(store.clone(), vault);
    match signing
        .rotate(&zone, algorithm, force)
        .await
        .map_err(anyhow::Error::msg)?
    {
        KeyRotation::Rotated {
            retired,
            current,
            next,
        } => println!(
            "rotated zone {zone}: signing with {current}; {retired} retired (published until \
             its tokens expire); {next} published as next"
        ),
        KeyRotation::TooSoon { wait } => anyhow::bail!(
            "the next key was published less than {}s ago; JWKS caches may not have it yet. \
             Wait {}s or pass --force",
            keyzone_core::signing::MIN_PUBLISHED_BEFORE_USE.as_secs(),
            wait.as_secs() + 1
        ),
        KeyRotation::Raced => anyhow::bail!("another node rotated this zone's keys just now"),
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Arc::new(open_store(&config).await?);
    let vault = open_vault(&config, &store, true).await?;
    let api_keys = ApiKeys::new(store.clone(), store.clone());
    let chosen = config
        .bootstrap_api_key
        .as_ref()
        .map(|s| PlaintextKey::new(s.expose()));
    match api_keys
        .bootstrap(chosen.as_ref())
        .await
        .map_err(anyhow::Error::msg)?
    {
        Bootstrap::Generated(key) => print_banner(&key),
        Bootstrap::FromEnvironment => {
            tracing::info!("installed the admin API key from KEYZONE_BOOTSTRAP_API_KEY")
        }
        Bootstrap::AlreadyDone => {}
    }
    let layout = IssuerLayout::new(&config.public_url, config.zone_domain.as_deref());
    if config.outbound_allow_private {
        tracing::warn!(
            "KEYZONE_OUTBOUND_ALLOW_PRIVATE is on: outbound fetches may reach private addresses \
             over plain http (development and tests only)"
        );
    }
    let fetcher: Arc<dyn keyzone_core::outbound::Fetcher> = Arc::new(
        keyzone_outbound::HttpFetcher::new(config.outbound_allow_private)
            .map_err(anyhow::Error::msg)?,
    );
    let state = Arc::new(AppState::new(store.clone(), vault.clone(), fetcher, layout));
    let signing = state.signing.clone();
    let app = keyzone_api::router(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let maintenance = tokio::spawn(key_maintenance(
        signing,
        store.clone(),
        config.signing_key_rotation,
        config.key_maintenance_interval,
    ));
    tracing::info!(
        listen = %config.listen,
        master_key_id = vault.master_key_id(),
        public_url = %config.public_url,
        database = ?store.backend(),
        "keyzone is ready"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    maintenance.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Scheduled signing-key rotation, clean-up of retired keys and of
/// revocations of tokens that have expired anyway. Safe with
/// several nodes: rotation is a compare-and-set in the store.
async fn key_maintenance(
    signing: Arc<SigningKeys>,
    revocations: Arc<Store>,
    rotate_after: Option<std::time::Duration>,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match signing.maintain(rotate_after).await {
            Ok((0, 0)) => {}
            Ok((rotated, purged)) => {
                tracing::info!(rotated, purged, "signing key maintenance")
            }
            Err(e) => tracing::warn!(error = %e, "signing key maintenance failed"),
        }
        use keyzone_core::store::RevocationStore;
        if let Err(e) = revocations
            .purge_revocations(keyzone_domain::Timestamp::now())
            .await
        {
            tracing::warn!(error = %e, "purging expired token revocations failed");
        }
    }
}

/// Resolves on SIGTERM or SIGINT; in-flight requests then finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn print_banner(key: &PlaintextKey) {
    let line = "=".repeat(72);
    eprintln!(
        "\n{line}\n  Keyzone created its first admin API key. It is shown only this once:\n\n    {}\n\n  Use it as: KEYCARD_API_API_KEY=<key>  (Authorization: Bearer <key>)\n  Only a hash is stored. Mint more with: keyzone api-key create --name NAME\n{line}\n",
        key.expose()
    );
}
