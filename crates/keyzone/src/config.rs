//! The one typed configuration: `keyzone.toml`, then `KEYZONE_*` environment
//! variables, then command-line flags, each overriding the one before.
//! Passed as a value; secrets are redacted in `Debug` and in `check-config`.

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Settings as flags or environment variables (clap reads both; a flag wins).
/// Only the server commands take them; `[env: …]` in the help names the
/// variable without showing its value.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Server settings")]
pub struct SettingsArgs {
    /// Configuration file (default: ./keyzone.toml if it exists).
    #[arg(long, env = "KEYZONE_CONFIG", global = true, hide_env_values = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KEYZONE_LISTEN", global = true, hide_env_values = true)]
    pub listen: Option<String>,
    /// Data directory: holds the SQLite database and, unless the master key
    /// is set, the master key file master.key [default: ./keyzone-data].
    #[arg(long, env = "KEYZONE_DATA_DIR", global = true, hide_env_values = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… [default: SQLite inside the data directory].
    #[arg(
        long,
        env = "KEYZONE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Externally visible base URL [default: http://<listen>].
    #[arg(
        long,
        env = "KEYZONE_PUBLIC_URL",
        global = true,
        hide_env_values = true
    )]
    pub public_url: Option<String>,
    /// When set, zone issuers are https://{zone_id}.{zone_domain} and requests
    /// are routed to zones by Host.
    #[arg(
        long,
        env = "KEYZONE_ZONE_DOMAIN",
        global = true,
        hide_env_values = true
    )]
    pub zone_domain: Option<String>,
    /// Log format: `json` (one JSON object per line, for log collectors) or
    /// `pretty` (one readable line per event; colour only on a terminal)
    /// [default: pretty].
    #[arg(
        long,
        env = "KEYZONE_LOG_FORMAT",
        global = true,
        hide_env_values = true,
        value_parser = ["json", "pretty"]
    )]
    pub log_format: Option<String>,
    /// The first admin API key, used only while the database has none.
    #[arg(
        long,
        env = "KEYZONE_BOOTSTRAP_API_KEY",
        global = true,
        hide_env_values = true
    )]
    pub bootstrap_api_key: Option<String>,
    /// Database pool size [default: 16].
    #[arg(
        long,
        env = "KEYZONE_DATABASE_MAX_CONNECTIONS",
        global = true,
        hide_env_values = true
    )]
    pub database_max_connections: Option<u32>,
    /// The master key (base64 of 32 bytes) that wraps every zone's data key.
    /// Without it, a key file is used (created on first start).
    #[arg(
        long,
        env = "KEYZONE_MASTER_KEY",
        global = true,
        hide_env_values = true
    )]
    pub master_key: Option<String>,
    /// The master key file [default: <data_dir>/master.key].
    #[arg(
        long,
        env = "KEYZONE_MASTER_KEY_FILE",
        global = true,
        hide_env_values = true
    )]
    pub master_key_file: Option<PathBuf>,
    /// Endpoint for AWS KMS calls (a VPC endpoint, or a KMS-compatible
    /// server in tests); default: the AWS endpoint of each key's region.
    #[arg(
        long,
        env = "KEYZONE_AWS_KMS_ENDPOINT",
        global = true,
        hide_env_values = true
    )]
    pub aws_kms_endpoint: Option<String>,
    /// Rotate each zone's signing key after this many days; 0 turns the
    /// schedule off [default: 90].
    #[arg(
        long,
        env = "KEYZONE_SIGNING_KEY_ROTATION_DAYS",
        global = true,
        hide_env_values = true
    )]
    pub signing_key_rotation_days: Option<u32>,
    /// How often the key maintenance pass runs, in seconds [default: 3600].
    #[arg(
        long,
        env = "KEYZONE_KEY_MAINTENANCE_INTERVAL_SECS",
        global = true,
        hide_env_values = true
    )]
    pub key_maintenance_interval_secs: Option<u64>,
    /// Seconds a browser sign-in lasts: within it the zone does not ask the
    /// person to sign in again [default: 43200, 12 hours].
    #[arg(
        long,
        env = "KEYZONE_BROWSER_SESSION_LIFETIME_SECS",
        global = true,
        hide_env_values = true
    )]
    pub browser_session_lifetime_secs: Option<u64>,
    /// Seconds a refresh token may go unused before it is dead
    /// [default: 1209600, 14 days].
    #[arg(
        long,
        env = "KEYZONE_REFRESH_TOKEN_IDLE_LIFETIME_SECS",
        global = true,
        hide_env_values = true
    )]
    pub refresh_token_idle_lifetime_secs: Option<u64>,
    /// Seconds a refresh-token session lasts however often it is used;
    /// then the person signs in again [default: 2592000, 30 days].
    #[arg(
        long,
        env = "KEYZONE_REFRESH_TOKEN_ABSOLUTE_LIFETIME_SECS",
        global = true,
        hide_env_values = true
    )]
    pub refresh_token_absolute_lifetime_secs: Option<u64>,
    /// Seconds in which a rotated-out refresh token presented again gets a
    /// fresh token (a client's concurrent or retried refresh) instead of
    /// revoking the whole family; 0 for no grace [default: 10].
    #[arg(
        long,
        env = "KEYZONE_REFRESH_TOKEN_REUSE_GRACE_SECS",
        global = true,
        hide_env_values = true
    )]
    pub refresh_token_reuse_grace_secs: Option<u64>,
    /// Let outbound fetches (JWKS, discovery, client identity documents)
    /// reach loopback and private addresses over plain http. For
    /// development and tests only: it turns the SSRF guard off
    /// [default: false].
    #[arg(
        long,
        env = "KEYZONE_OUTBOUND_ALLOW_PRIVATE",
        global = true,
        hide_env_values = true
    )]
    pub outbound_allow_private: Option<bool>,
    /// A PEM file of CA certificates outbound fetches trust besides the
    /// Mozilla roots: for tests and private PKI (e.g. a client metadata
    /// document served with a test CA) [default: none].
    #[arg(
        long,
        env = "KEYZONE_OUTBOUND_EXTRA_ROOT_CA",
        global = true,
        hide_env_values = true
    )]
    pub outbound_extra_root_ca: Option<PathBuf>,
    /// Seconds a connection may take to send a request's headers, and may
    /// stay idle between requests, before it is closed [default: 10].
    #[arg(
        long,
        env = "KEYZONE_HTTP_HEADER_TIMEOUT_SECS",
        global = true,
        hide_env_values = true
    )]
    pub http_header_timeout_secs: Option<u64>,
    /// Seconds a request may take to send its body [default: 30].
    #[arg(
        long,
        env = "KEYZONE_HTTP_BODY_TIMEOUT_SECS",
        global = true,
        hide_env_values = true
    )]
    pub http_body_timeout_secs: Option<u64>,
    /// Connections served at once; more wait to be accepted [default: 1024].
    #[arg(
        long,
        env = "KEYZONE_HTTP_MAX_CONNECTIONS",
        global = true,
        hide_env_values = true
    )]
    pub http_max_connections: Option<usize>,
    /// Cap on every access token's lifetime, in seconds, whatever the
    /// resource says; 0 for none [default: 0].
    #[arg(
        long,
        env = "KEYZONE_ACCESS_TOKEN_MAX_LIFETIME_SECS",
        global = true,
        hide_env_values = true
    )]
    pub access_token_max_lifetime_secs: Option<u64>,
    /// The mail server for verification codes and invitations:
    /// `smtps://host[:465]` (TLS), `smtp+starttls://host[:587]` (STARTTLS
    /// required) or `smtp://host[:25]` (no TLS: a local relay or test sink).
    /// Unset: no mail, and emails stay unverified.
    #[arg(long, env = "KEYZONE_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From address of the mail (required with smtp_url).
    #[arg(long, env = "KEYZONE_SMTP_FROM", global = true, hide_env_values = true)]
    pub smtp_from: Option<String>,
    /// SMTP AUTH user name (with smtp_password).
    #[arg(
        long,
        env = "KEYZONE_SMTP_USERNAME",
        global = true,
        hide_env_values = true
    )]
    pub smtp_username: Option<String>,
    /// SMTP AUTH password.
    #[arg(
        long,
        env = "KEYZONE_SMTP_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,
    /// Seconds to connect to the mail server and for each SMTP command
    /// [default: 10].
    #[arg(
        long,
        env = "KEYZONE_SMTP_TIMEOUT_SECS",
        global = true,
        hide_env_values = true
    )]
    pub smtp_timeout_secs: Option<u64>,
    /// Refuse the few hundred most common passwords when a password is set
    /// [default: true].
    #[arg(
        long,
        env = "KEYZONE_PASSWORD_BLOCKLIST",
        global = true,
        hide_env_values = true
    )]
    pub password_blocklist: Option<bool>,
}

/// The same settings in `keyzone.toml`. Unknown keys are an error: a typo
/// should not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    public_url: Option<String>,
    zone_domain: Option<String>,
    log_format: Option<String>,
    bootstrap_api_key: Option<String>,
    database_max_connections: Option<u32>,
    master_key: Option<String>,
    master_key_file: Option<PathBuf>,
    aws_kms_endpoint: Option<String>,
    signing_key_rotation_days: Option<u32>,
    key_maintenance_interval_secs: Option<u64>,
    browser_session_lifetime_secs: Option<u64>,
    refresh_token_idle_lifetime_secs: Option<u64>,
    refresh_token_absolute_lifetime_secs: Option<u64>,
    refresh_token_reuse_grace_secs: Option<u64>,
    outbound_allow_private: Option<bool>,
    outbound_extra_root_ca: Option<PathBuf>,
    http_header_timeout_secs: Option<u64>,
    http_body_timeout_secs: Option<u64>,
    http_max_connections: Option<usize>,
    access_token_max_lifetime_secs: Option<u64>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    smtp_timeout_secs: Option<u64>,
    password_blocklist: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A database URL; its password, if any, is redacted when displayed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("REDACTED"));
                u.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub public_url: url::Url,
    pub zone_domain: Option<String>,
    pub log_format: LogFormat,
    pub bootstrap_api_key: Option<Secret>,
    pub database_max_connections: u32,
    pub master_key: MasterKeySource,
    pub aws_kms_endpoint: Option<String>,
    /// `None`: no scheduled rotation.
    pub signing_key_rotation: Option<std::time::Duration>,
    pub key_maintenance_interval: std::time::Duration,
    /// How long people stay signed in (browser sessions, refresh tokens).
    pub session_lifetimes: keyzone_authserver::token::SessionLifetimes,
    /// Development and tests only: outbound fetches may reach private
    /// addresses and plain http.
    pub outbound_allow_private: bool,
    /// Tests and private PKI: CA certificates (PEM) outbound fetches trust
    /// besides the Mozilla roots.
    pub outbound_extra_root_ca: Option<PathBuf>,
    /// Connection hygiene: header/idle and body timeouts, connection cap.
    pub http: keyzone_api::server::ConnectionLimits,
    /// Cap on access-token lifetimes, seconds.
    pub access_token_max_lifetime: Option<u64>,
    /// The mail server; `None`: no mail, emails stay unverified.
    pub smtp: Option<SmtpConfig>,
    /// Refuse the most common passwords.
    pub password_blocklist: bool,
    /// Where file settings came from, if anywhere.
    pub config_file: Option<PathBuf>,
}

/// The mail server settings (`smtp_*`).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub url: String,
    pub endpoint: keyzone_mail::Endpoint,
    pub from: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub timeout: std::time::Duration,
}

impl SmtpConfig {
    pub fn settings(&self) -> keyzone_mail::SmtpSettings {
        keyzone_mail::SmtpSettings {
            endpoint: self.endpoint.clone(),
            from: self.from.clone(),
            username: self.username.clone(),
            password: self.password.as_ref().map(|p| p.expose().to_owned()),
            timeout: self.timeout,
        }
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// `KEYZONE_MASTER_KEY` (or the file setting / flag of that name).
    Value(Secret),
    /// A key file, created with mode 0600 on first start if missing.
    File(PathBuf),
}

impl Config {
    pub fn load(args: &SettingsArgs) -> anyhow::Result<Config> {
        let (file, config_file) = match &args.config {
            Some(path) => (read_file(path)?, Some(path.clone())),
            None => {
                let default = Path::new("keyzone.toml");
                if default.exists() {
                    (read_file(default)?, Some(default.to_path_buf()))
                } else {
                    (FileSettings::default(), None)
                }
            }
        };
        Self::merge(args.clone(), file, config_file)
    }

    fn merge(
        args: SettingsArgs,
        file: FileSettings,
        config_file: Option<PathBuf>,
    ) -> anyhow::Result<Config> {
        let listen_raw = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw
            .parse()
            .with_context(|| format!("listen address {listen_raw:?} is not host:port"))?;
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("keyzone-data"));
        let database_url = match args.database_url.or(file.database_url) {
            Some(u) => u,
            None => format!("sqlite://{}", data_dir.join("keyzone.db").display()),
        };
        if let Err(e) = keyzone_store::backend_of(&database_url) {
            bail!("KEYZONE_DATABASE_URL: {e}");
        }
        let public_raw = args
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_url = url::Url::parse(&public_raw)
            .with_context(|| format!("public URL {public_raw:?} is not an absolute URL"))?;
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host().is_none() {
            bail!("public URL {public_raw:?} must be an http(s) URL with a host");
        }
        if public_url.query().is_some() || public_url.fragment().is_some() {
            bail!("public URL {public_raw:?} must not have a query or fragment");
        }
        let zone_domain = args
            .zone_domain
            .or(file.zone_domain)
            .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty());
        if let Some(d) = &zone_domain {
            let ok = d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if !ok {
                bail!("zone domain {d:?} is not a DNS name");
            }
        }
        let log_format = match args
            .log_format
            .or(file.log_format)
            .as_deref()
            .unwrap_or("pretty")
        {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => bail!("log format {other:?}: use json or pretty"),
        };
        let database_max_connections = args
            .database_max_connections
            .or(file.database_max_connections)
            .unwrap_or(16);
        if database_max_connections == 0 {
            bail!("database_max_connections must be at least 1");
        }
        let master_key = match args
            .master_key
            .or(file.master_key)
            .filter(|k| !k.is_empty())
        {
            Some(k) => MasterKeySource::Value(Secret(k)),
            None => MasterKeySource::File(
                args.master_key_file
                    .or(file.master_key_file)
                    .unwrap_or_else(|| data_dir.join("master.key")),
            ),
        };
        let rotation_days = args
            .signing_key_rotation_days
            .or(file.signing_key_rotation_days)
            .unwrap_or(90);
        let maintenance = args
            .key_maintenance_interval_secs
            .or(file.key_maintenance_interval_secs)
            .unwrap_or(3600);
        if maintenance == 0 {
            bail!("key_maintenance_interval_secs must be at least 1");
        }
        let defaults = keyzone_authserver::token::SessionLifetimes::default();
        let session_lifetimes = keyzone_authserver::token::SessionLifetimes {
            browser_session_secs: args
                .browser_session_lifetime_secs
                .or(file.browser_session_lifetime_secs)
                .unwrap_or(defaults.browser_session_secs),
            refresh_idle_secs: args
                .refresh_token_idle_lifetime_secs
                .or(file.refresh_token_idle_lifetime_secs)
                .unwrap_or(defaults.refresh_idle_secs),
            refresh_absolute_secs: args
                .refresh_token_absolute_lifetime_secs
                .or(file.refresh_token_absolute_lifetime_secs)
                .unwrap_or(defaults.refresh_absolute_secs),
            refresh_reuse_grace_secs: args
                .refresh_token_reuse_grace_secs
                .or(file.refresh_token_reuse_grace_secs)
                .unwrap_or(defaults.refresh_reuse_grace_secs),
        };
        // A zero lifetime would end every sign-in as it starts; ten years
        // keeps the timestamp arithmetic far from overflow.
        const TEN_YEARS: u64 = 10 * 365 * 86_400;
        for (name, v) in [
            (
                "browser_session_lifetime_secs",
                session_lifetimes.browser_session_secs,
            ),
            (
                "refresh_token_idle_lifetime_secs",
                session_lifetimes.refresh_idle_secs,
            ),
            (
                "refresh_token_absolute_lifetime_secs",
                session_lifetimes.refresh_absolute_secs,
            ),
        ] {
            if v == 0 || v > TEN_YEARS {
                bail!("{name} must be between 1 and {TEN_YEARS} seconds");
            }
        }
        if session_lifetimes.refresh_reuse_grace_secs > 3600 {
            bail!("refresh_token_reuse_grace_secs must be at most 3600");
        }
        let header_timeout = args
            .http_header_timeout_secs
            .or(file.http_header_timeout_secs)
            .unwrap_or(10);
        let body_timeout = args
            .http_body_timeout_secs
            .or(file.http_body_timeout_secs)
            .unwrap_or(30);
        let max_connections = args
            .http_max_connections
            .or(file.http_max_connections)
            .unwrap_or(1024);
        if header_timeout == 0 || body_timeout == 0 || max_connections == 0 {
            bail!(
                "http_header_timeout_secs, http_body_timeout_secs and http_max_connections must be at least 1"
            );
        }
        let outbound_extra_root_ca = args
            .outbound_extra_root_ca
            .or(file.outbound_extra_root_ca)
            .filter(|p| !p.as_os_str().is_empty());
        if let Some(p) = &outbound_extra_root_ca {
            if !p.is_file() {
                bail!(
                    "outbound_extra_root_ca {} is not a readable file",
                    p.display()
                );
            }
        }
        let smtp = match args.smtp_url.or(file.smtp_url).filter(|u| !u.is_empty()) {
            None => None,
            Some(url) => {
                let endpoint = keyzone_mail::Endpoint::parse(&url)
                    .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?;
                let Some(from) = args.smtp_from.or(file.smtp_from).filter(|f| !f.is_empty()) else {
                    bail!("smtp_from is required with smtp_url (the From address of the mail)");
                };
                let username = args
                    .smtp_username
                    .or(file.smtp_username)
                    .filter(|u| !u.is_empty());
                let password = args
                    .smtp_password
                    .or(file.smtp_password)
                    .filter(|p| !p.is_empty())
                    .map(Secret);
                if username.is_some() != password.is_some() {
                    bail!("smtp_username and smtp_password go together");
                }
                let timeout = args
                    .smtp_timeout_secs
                    .or(file.smtp_timeout_secs)
                    .unwrap_or(10);
                if timeout == 0 {
                    bail!("smtp_timeout_secs must be at least 1");
                }
                let smtp = SmtpConfig {
                    url,
                    endpoint,
                    from,
                    username,
                    password,
                    timeout: std::time::Duration::from_secs(timeout),
                };
                // Checks the From address and the TLS setup now, not at the
                // first sign-up.
                keyzone_mail::SmtpMailer::new(&smtp.settings()).map_err(anyhow::Error::msg)?;
                Some(smtp)
            }
        };
        Ok(Config {
            outbound_extra_root_ca,
            smtp,
            password_blocklist: args
                .password_blocklist
                .or(file.password_blocklist)
                .unwrap_or(true),
            access_token_max_lifetime: args
                .access_token_max_lifetime_secs
                .or(file.access_token_max_lifetime_secs)
                .filter(|s| *s > 0),
            http: keyzone_api::server::ConnectionLimits {
                header_timeout: std::time::Duration::from_secs(header_timeout),
                body_timeout: std::time::Duration::from_secs(body_timeout),
                max_connections,
            },
            master_key,
            aws_kms_endpoint: args.aws_kms_endpoint.or(file.aws_kms_endpoint),
            signing_key_rotation: (rotation_days > 0)
                .then(|| std::time::Duration::from_secs(u64::from(rotation_days) * 86_400)),
            key_maintenance_interval: std::time::Duration::from_secs(maintenance),
            session_lifetimes,
            outbound_allow_private: args
                .outbound_allow_private
                .or(file.outbound_allow_private)
                .unwrap_or(false),
            listen,
            data_dir,
            database_url: DatabaseUrl(database_url),
            public_url,
            zone_domain,
            log_format,
            bootstrap_api_key: args
                .bootstrap_api_key
                .or(file.bootstrap_api_key)
                .filter(|k| !k.is_empty())
                .map(Secret),
            database_max_connections,
            config_file,
        })
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn render_redacted(&self) -> String {
        let mut out = String::new();
        if let Some(f) = &self.config_file {
            out.push_str(&format!("# from {}, environment and flags\n", f.display()));
        } else {
            out.push_str("# from environment and flags (no keyzone.toml)\n");
        }
        out.push_str(&format!("listen = {:?}\n", self.listen.to_string()));
        out.push_str(&format!(
            "data_dir = {:?}\n",
            self.data_dir.display().to_string()
        ));
        out.push_str(&format!(
            "database_url = {:?}\n",
            self.database_url.redacted()
        ));
        out.push_str(&format!(
            "public_url = {:?}\n",
            self.public_url.as_str().trim_end_matches('/')
        ));
        match &self.zone_domain {
            Some(d) => out.push_str(&format!("zone_domain = {d:?}\n")),
            None => out.push_str(
                "# zone_domain unset: issuers are path-based ({public_url}/z/{zone_id})\n",
            ),
        }
        out.push_str(&format!(
            "log_format = {:?}\n",
            match self.log_format {
                LogFormat::Json => "json",
                LogFormat::Pretty => "pretty",
            }
        ));
        out.push_str(&format!(
            "bootstrap_api_key = {:?}\n",
            if self.bootstrap_api_key.is_some() {
                "<redacted>"
            } else {
                "<unset>"
            }
        ));
        out.push_str(&format!(
            "database_max_connections = {}\n",
            self.database_max_connections
        ));
        match &self.master_key {
            MasterKeySource::Value(_) => {
                out.push_str("master_key = \"<redacted>\"  # from KEYZONE_MASTER_KEY\n")
            }
            MasterKeySource::File(p) => out.push_str(&format!(
                "master_key_file = {:?}  # {}\n",
                p.display().to_string(),
                if p.exists() {
                    "exists"
                } else {
                    "will be created on first start"
                }
            )),
        }
        match &self.aws_kms_endpoint {
            Some(e) => out.push_str(&format!("aws_kms_endpoint = {e:?}\n")),
            None => out.push_str("# aws_kms_endpoint unset: each key's regional AWS endpoint\n"),
        }
        out.push_str(&format!(
            "outbound_allow_private = {}{}\n",
            self.outbound_allow_private,
            if self.outbound_allow_private {
                "  # development and tests only: the SSRF guard is off"
            } else {
                ""
            }
        ));
        match &self.outbound_extra_root_ca {
            Some(p) => out.push_str(&format!(
                "outbound_extra_root_ca = {:?}  # tests and private PKI\n",
                p.display().to_string()
            )),
            None => out.push_str("# outbound_extra_root_ca unset: the Mozilla roots only\n"),
        }
        out.push_str(&format!(
            "signing_key_rotation_days = {}\n",
            self.signing_key_rotation
                .map_or(0, |d| d.as_secs() / 86_400)
        ));
        out.push_str(&format!(
            "key_maintenance_interval_secs = {}\n",
            self.key_maintenance_interval.as_secs()
        ));
        let l = &self.session_lifetimes;
        out.push_str(&format!(
            "browser_session_lifetime_secs = {}\nrefresh_token_idle_lifetime_secs = {}\n\
             refresh_token_absolute_lifetime_secs = {}\nrefresh_token_reuse_grace_secs = {}\n",
            l.browser_session_secs,
            l.refresh_idle_secs,
            l.refresh_absolute_secs,
            l.refresh_reuse_grace_secs
        ));
        out.push_str(&format!(
            "http_header_timeout_secs = {}\nhttp_body_timeout_secs = {}\nhttp_max_connections = {}\n",
            self.http.header_timeout.as_secs(),
            self.http.body_timeout.as_secs(),
            self.http.max_connections
        ));
        match &self.smtp {
            Some(m) => {
                out.push_str(&format!("smtp_url = {:?}\n", m.url));
                out.push_str(&format!("smtp_from = {:?}\n", m.from));
                match &m.username {
                    Some(u) => out.push_str(&format!(
                        "smtp_username = {u:?}\nsmtp_password = \"<redacted>\"\n"
                    )),
                    None => out.push_str("# smtp_username unset: no SMTP AUTH\n"),
                }
                out.push_str(&format!("smtp_timeout_secs = {}\n", m.timeout.as_secs()));
            }
            None => out.push_str(
                "# smtp_url unset: no mail; emails are not verified (email_verified stays false)\n",
            ),
        }
        out.push_str(&format!(
            "password_blocklist = {}\n",
            self.password_blocklist
        ));
        out
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::merge(SettingsArgs::default(), FileSettings::default(), None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.database_url.expose(), "sqlite://keyzone-data/keyzone.db");
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(
            c.session_lifetimes,
            keyzone_authserver::token::SessionLifetimes::default()
        );
    }

    #[test]
    fn sign_in_lifetimes_come_from_the_file_and_flags() {
        let file: FileSettings = toml::from_str(
            "refresh_token_idle_lifetime_secs = 60\nbrowser_session_lifetime_secs = 600\n",
        )
        .unwrap();
        let args = SettingsArgs {
            refresh_token_idle_lifetime_secs: Some(30),
            refresh_token_reuse_grace_secs: Some(0),
            ..Default::default()
        };
        let c = Config::merge(args, file, None).unwrap();
        let l = c.session_lifetimes;
        assert_eq!(
            (
                l.refresh_idle_secs,
                l.browser_session_secs,
                l.refresh_reuse_grace_secs
            ),
            (30, 600, 0)
        );
        assert!(c
            .render_redacted()
            .contains("refresh_token_idle_lifetime_secs = 30\n"));
    }

    #[test]
    fn flags_and_env_override_the_file() {
        let file: FileSettings =
            toml::from_str("listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n").unwrap();
        let args = SettingsArgs {
            listen: Some("127.0.0.1:9001".into()),
            ..Default::default()
        };
        let c = Config::merge(args, file, None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn smtp_settings() {
        let file: FileSettings = toml::from_str(
            "smtp_url = \"smtps://mail.example.com\"\nsmtp_from = \"Keyzone <no-reply@example.com>\"\n\
             smtp_username = \"kz\"\nsmtp_password = \"hunter2-secret\"\n",
        )
        .unwrap();
        let c = Config::merge(SettingsArgs::default(), file, None).unwrap();
        let m = c.smtp.as_ref().unwrap();
        assert_eq!(m.endpoint.port, 465);
        assert_eq!(m.timeout.as_secs(), 10);
        let shown = format!("{}\n{:?}", c.render_redacted(), c);
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("smtp_password = \"<redacted>\""), "{shown}");
        assert!(c.password_blocklist);

        let none = Config::merge(SettingsArgs::default(), FileSettings::default(), None).unwrap();
        assert!(none.smtp.is_none());
        assert!(none.render_redacted().contains("# smtp_url unset"));

        for bad in [
            "smtp_url = \"smtp://mail.example.com\"\n",
            "smtp_url = \"imap://mail.example.com\"\nsmtp_from = \"a@example.com\"\n",
            "smtp_url = \"smtps://u:p@mail.example.com\"\nsmtp_from = \"a@example.com\"\n",
            "smtp_url = \"smtps://mail.example.com\"\nsmtp_from = \"not an address\"\n",
            "smtp_url = \"smtps://mail.example.com\"\nsmtp_from = \"a@example.com\"\nsmtp_username = \"u\"\n",
        ] {
            let file: FileSettings = toml::from_str(bad).unwrap();
            assert!(
                Config::merge(SettingsArgs::default(), file, None).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_bad_values() {
        for args in [
            SettingsArgs {
                database_url: Some("mysql://x".into()),
                ..Default::default()
            },
            SettingsArgs {
                listen: Some("nope".into()),
                ..Default::default()
            },
            SettingsArgs {
                public_url: Some("ftp://x".into()),
                ..Default::default()
            },
            SettingsArgs {
                log_format: Some("xml".into()),
                ..Default::default()
            },
            SettingsArgs {
                zone_domain: Some("a..b".into()),
                ..Default::default()
            },
            SettingsArgs {
                refresh_token_idle_lifetime_secs: Some(0),
                ..Default::default()
            },
            SettingsArgs {
                browser_session_lifetime_secs: Some(u64::MAX),
                ..Default::default()
            },
            SettingsArgs {
                refresh_token_reuse_grace_secs: Some(86_400),
                ..Default::default()
            },
            SettingsArgs {
                outbound_extra_root_ca: Some("/nonexistent/ca.pem".into()),
                ..Default::default()
            },
        ] {
            assert!(
                Config::merge(args.clone(), FileSettings::default(), None).is_err(),
                "{args:?}"
            );
        }
        assert!(toml::from_str::<FileSettings>("lisen = \"x\"").is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let args = SettingsArgs {
            database_url: Some("postgres://u:hunter2@db/k".into()),
            bootstrap_api_key: Some("kz_supersecretvalue_0123456789".into()),
            ..Default::default()
        };
        let args = SettingsArgs {
            master_key: Some("c2VjcmV0LW1hc3Rlci1rZXktdmFsdWUtMzItYnl0ZXMh".into()),
            ..args
        };
        let c = Config::merge(args, FileSettings::default(), None).unwrap();
        let shown = format!("{c:?}\n{}", c.render_redacted());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("from KEYZONE_MASTER_KEY"), "{shown}");
        assert!(!shown.contains("supersecret"), "{shown}");
    }
}
