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
    about = "A self-hostable Keycard API server",
    long_about = "A self-hostable Keycard API server.\n\n\
        The server commands (serve, migrate, check-config, keys, api-key) read the \
        server settings: keyzone.toml, KEYZONE_* variables or flags after the command. \
        The other commands talk HTTP to a running server with an API key; see \
        docs/cli.md.",
    after_help = "Exit status: 0 ok, 1 other failure, 2 usage or configuration error, \
        3 not found, 4 not authenticated or not allowed, 5 validation error or conflict, \
        6 server unreachable or failing (5xx).",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Server(ServerCommand),
    #[command(flatten)]
    Client(keyzone_cli::Command),
}

/// The commands that read the server settings and work on the database or
/// the server process itself.
#[derive(Subcommand)]
enum ServerCommand {
    /// Run the server (applies migrations first).
    Serve {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig {
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Manage admin API keys, in the database directly (no running server
    /// needed).
    ApiKey {
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage the master key and zone signing keys.
    Keys {
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
}

impl ServerCommand {
    fn settings(&self) -> &SettingsArgs {
        match self {
            ServerCommand::Serve { settings }
            | ServerCommand::Migrate { settings }
            | ServerCommand::CheckConfig { settings }
            | ServerCommand::ApiKey { settings, .. }
            | ServerCommand::Keys { settings, .. } => settings,
        }
    }
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
        /// The id of the zone whose keys rotate.
        #[arg(long, value_name = "ZONE_ID")]
        zone: String,
        /// Algorithm of the newly published next key [default: that of the
        /// previous next key].
        #[arg(long, value_parser = ["RS256", "ES256", "EdDSA"])]
        algorithm: Option<String>,
        /// Rotate even if the next key was published only moments ago
        /// (relying parties may not have fetched it yet).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Mint a new admin API key; it is printed once, alone on stdout, and
    /// only its hash is stored.
    Create {
        /// A label for the key, shown by `api-key list` (1 to 255
        /// characters).
        #[arg(long)]
        name: String,
    },
    /// List the admin API keys: id, name and creation time (never a key or
    /// its hash).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin API key: requests with it get 401 from then on,
    /// on every running node. The last key cannot be revoked.
    Revoke {
        /// The key's id, as `api-key list` shows it.
        id: String,
    },
}

fn main() -> std::process::ExitCode {
    let command = match Cli::parse().command {
        Command::Client(command) => return keyzone_cli::run(command),
        Command::Server(command) => command,
    };
    let config = match Config::load(command.settings()) {
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
    match runtime.block_on(run(command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyzone: {e:#}");
            match e.downcast_ref::<ExitWith>() {
                Some(ExitWith(code, _)) => std::process::ExitCode::from(*code),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a file.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        // One object per line: the event's fields and the current span's
        // (the request id), without the span list repeating them.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
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

async fn run(command: ServerCommand, config: Config) -> anyhow::Result<()> {
    match command {
        ServerCommand::CheckConfig { .. } => {
            print!("{}", config.render_redacted());
            Ok(())
        }
        ServerCommand::Migrate { .. } => {
            let store = open_store(&config).await?;
            store.close().await;
            eprintln!("keyzone: migrations applied");
            Ok(())
        }
        ServerCommand::ApiKey { command, .. } => api_key_command(command, config).await,
        ServerCommand::Keys { command, .. } => keys_command(command, config).await,
        ServerCommand::Serve { .. } => serve(config).await,
    }
}

/// A failure with its own exit status (the documented ones of docs/cli.md:
/// 3 not found, 5 conflict).
#[derive(Debug)]
struct ExitWith(u8, String);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitWith {}

async fn api_key_command(command: ApiKeyCommand, config: Config) -> anyhow::Result<()> {
    use keyzone_core::store::ApiKeyStore;
    let store = Arc::new(open_store(&config).await?);
    let result = async {
        match command {
            ApiKeyCommand::Create { name } => {
                let keys = ApiKeys::new(store.clone(), store.clone());
                let (record, key) = keys.create(&name).await.map_err(anyhow::Error::msg)?;
                eprintln!(
                    "keyzone: created API key {} ({name}); it is shown once:",
                    record.id
                );
                println!("{}", key.expose());
            }
            ApiKeyCommand::List { json } => {
                // Never the key or its hash: id, name and creation time only.
                let keys = store.list_api_keys().await.map_err(anyhow::Error::msg)?;
                if json {
                    let items: Vec<serde_json::Value> = keys
                        .iter()
                        .map(|k| {
                            serde_json::json!({
                                "id": k.id.to_string(),
                                "name": k.name,
                                "organization_id": k.organization_id.to_string(),
                                "created_at": k.created_at.to_rfc3339(),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&items)?);
                } else {
                    let rows: Vec<[String; 3]> = keys
                        .iter()
                        .map(|k| [k.id.to_string(), k.name.clone(), k.created_at.to_rfc3339()])
                        .collect();
                    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(2);
                    let w1 = rows
                        .iter()
                        .map(|r| r[1].chars().count())
                        .max()
                        .unwrap_or(0)
                        .max(4);
                    println!("{:w0$}  {:w1$}  CREATED", "ID", "NAME");
                    for [id, name, created] in rows {
                        let pad = w1 - name.chars().count();
                        println!("{id:w0$}  {name}{:pad$}  {created}", "");
                    }
                }
            }
            ApiKeyCommand::Revoke { id } => {
                let keys = store.list_api_keys().await.map_err(anyhow::Error::msg)?;
                let wanted = keyzone_domain::ApiKeyId::parse(&id).ok();
                let Some(record) = keys.iter().find(|k| Some(&k.id) == wanted.as_ref()) else {
                    return Err(ExitWith(3, format!("no API key {id:?}")).into());
                };
                if keys.len() == 1 {
                    return Err(ExitWith(
                        5,
                        format!(
                            "{id} is the only API key; create another first \
                             (keyzone api-key create --name NAME), then revoke this one"
                        ),
                    )
                    .into());
                }
                if !store
                    .delete_api_key(&record.id)
                    .await
                    .map_err(anyhow::Error::msg)?
                {
                    return Err(ExitWith(3, format!("no API key {id:?}")).into());
                }
                println!("revoked API key {} ({})", record.id, record.name);
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
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
    // Listen before minting the bootstrap key: a start that cannot bind
    // must not consume the only copy of a new secret.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
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
    let fetcher: Arc<dyn keyzone_core::outbound::Fetcher> =
        Arc::new(match &config.outbound_extra_root_ca {
            None => keyzone_outbound::HttpFetcher::new(config.outbound_allow_private)
                .map_err(anyhow::Error::msg),
            Some(path) => {
                let pem = std::fs::read(path).with_context(|| {
                    format!("cannot read outbound_extra_root_ca {}", path.display())
                })?;
                tracing::warn!(
                    path = %path.display(),
                    "KEYZONE_OUTBOUND_EXTRA_ROOT_CA is set: outbound fetches also trust these CA \
                     certificates (tests and private PKI)"
                );
                keyzone_outbound::HttpFetcher::with_extra_roots(config.outbound_allow_private, &pem)
                    .map_err(|e| anyhow::anyhow!("outbound_extra_root_ca {}: {e}", path.display()))
            }
        }?);
    let mut state = AppState::new(store.clone(), vault.clone(), fetcher, layout);
    state
        .tokens
        .cap_access_token_lifetime(config.access_token_max_lifetime);
    state.tokens.set_session_lifetimes(config.session_lifetimes);
    state
        .tokens
        .check_common_passwords(config.password_blocklist);
    match &config.smtp {
        Some(smtp) => {
            let mailer = keyzone_mail::SmtpMailer::new(&smtp.settings()).map_err(anyhow::Error::msg)?;
            state.tokens.set_mailer(Some(Arc::new(mailer)));
            if smtp.endpoint.security == keyzone_mail::Security::Plain && !smtp.endpoint.is_loopback() {
                tracing::warn!(
                    smtp_url = %smtp.url,
                    "smtp_url is plain smtp:// to another host: verification codes and invitation links cross the network unencrypted; use smtps:// or smtp+starttls://"
                );
            }
            tracing::info!(smtp_url = %smtp.url, "email verification is on: people verify their email by a code mailed to them");
        }
        None => tracing::info!(
            "SMTP is not configured (smtp_url): emails are not verified (users keep email_verified: false) and invitations are not mailed"
        ),
    }
    let state = Arc::new(state);
    let signing = state.signing.clone();
    let app = keyzone_api::router(state);
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
    keyzone_api::server::serve(listener, app, config.http, shutdown_signal())
        .await
        .context("server error")?;
    maintenance.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Scheduled signing-key rotation, clean-up of retired keys, of
/// revocations of tokens that have expired anyway and of closed sign-in
/// throttle windows. Safe with several nodes: rotation is a
/// compare-and-set in the store.
async fn key_maintenance(
    signing: Arc<SigningKeys>,
    store: Arc<Store>,
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
        if let Err(e) = store
            .purge_revocations(keyzone_domain::Timestamp::now())
            .await
        {
            tracing::warn!(error = %e, "purging expired token revocations failed");
        }
        use keyzone_core::store::SignInThrottleStore;
        if let Err(e) = store
            .purge_sign_in_failures(keyzone_domain::Timestamp::now())
            .await
        {
            tracing::warn!(error = %e, "purging closed sign-in throttle windows failed");
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

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command and argument explains itself, server settings appear
    /// only on the server commands, and no unset variable shows as
    /// `[env: X=]`.
    #[test]
    fn the_command_line_is_documented() {
        let mut cli = Cli::command();
        cli.build();
        cli.clone().debug_assert();
        fn walk(cmd: &clap::Command, path: &str, server: bool) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} --{id} has no help");
                if arg.get_env().is_some() {
                    assert!(
                        arg.is_hide_env_values_set(),
                        "{path} --{id} shows its env value"
                    );
                }
            }
            if path != "keyzone" {
                let settings = cmd
                    .get_arguments()
                    .any(|a| a.get_long() == Some("data-dir"));
                assert_eq!(
                    settings, server,
                    "{path}: server settings where they belong"
                );
            }
            for sub in cmd.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no help",
                    sub.get_name()
                );
                let server = server
                    || matches!(
                        sub.get_name(),
                        "serve" | "migrate" | "check-config" | "api-key" | "keys"
                    );
                walk(sub, &format!("{path} {}", sub.get_name()), server);
            }
        }
        walk(&cli, "keyzone", false);
        let rotate = cli
            .find_subcommand_mut("keys")
            .and_then(|k| k.find_subcommand_mut("rotate"))
            .unwrap()
            .render_help()
            .to_string();
        assert!(
            rotate.contains("[possible values: RS256, ES256, EdDSA]"),
            "{rotate}"
        );
    }
}
