//! `keyzone`: the server binary. Wires configuration, store, use cases and
//! HTTP together; owns nothing else.

mod config;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, LogFormat, SettingsArgs};
use keyzone_api::AppState;
use keyzone_core::auth::{Bootstrap, PlaintextKey};
use keyzone_core::{ApiKeys, Zones};
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
        Command::Serve => serve(config).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Arc::new(open_store(&config).await?);
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
    let state = Arc::new(AppState {
        zones: Zones::new(store.clone()),
        api_keys,
        health: store.clone(),
        layout: IssuerLayout::new(&config.public_url, config.zone_domain.as_deref()),
        metrics: keyzone_api::metrics::Metrics::new(),
    });
    let app = keyzone_api::router(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        public_url = %config.public_url,
        database = ?store.backend(),
        "keyzone is ready"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
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
