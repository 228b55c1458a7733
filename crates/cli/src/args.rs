//! The command line of the HTTP client commands (clap derive). The binary
//! flattens [`Command`] next to its server commands.

use clap::{Args, Subcommand};
use std::fmt;
use std::str::FromStr;

/// A value that must never be printed: API keys, client secrets, secret
/// values. `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretArg(String);

impl SecretArg {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for SecretArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the management API is and how to authenticate to it. Flags win;
/// then, with a profile named by `--profile`/`KEYZONE_PROFILE`, the
/// profile; then the environment; then the `default` profile.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// Keyzone server base URL [env: KEYZONE_SERVER] [default: http://127.0.0.1:8080].
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Admin API key [env: KEYZONE_API_KEY, or KEYCARD_API_API_KEY as the
    /// official SDK reads it]. Prefer the environment or a profile: other
    /// users can see a command line.
    #[arg(long, global = true, value_name = "KEY")]
    pub api_key: Option<SecretArg>,
    /// Take server, api_key and zone from `[profiles.NAME]` in
    /// ~/.config/keyzone/cli.toml (or the file KEYZONE_CLI_CONFIG names)
    /// [env: KEYZONE_PROFILE] [default: the `default` profile, if there is one].
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print the server's JSON as it is, instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A command group over the management API that is not inside a zone.
#[derive(Args, Debug)]
pub struct Group<C: Subcommand> {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: C,
}

/// A command group inside one zone.
#[derive(Args, Debug)]
pub struct Zoned<C: Subcommand> {
    #[command(flatten)]
    pub conn: Connection,
    /// The zone's id [env: KEYZONE_ZONE] [default: `zone` in the profile].
    #[arg(
        long,
        short = 'z',
        global = true,
        value_name = "ZONE_ID",
        help_heading = "Connection"
    )]
    pub zone: Option<String>,
    #[command(subcommand)]
    pub command: C,
}

/// Paging of a list.
#[derive(Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// Items per page, 1 to 100 [default: the server's, 20].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: Option<u32>,
    /// Start after this cursor (the one a partial list printed, or
    /// `pagination.after_cursor` in --json output).
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
    /// Follow the cursors to the last page and print every item.
    #[arg(long)]
    pub all: bool,
}

/// A JSON request body to start from: `--data '{…}'`, `--data @file.json`
/// or `--data -` (stdin). The other flags are set on top of it.
#[derive(Args, Debug, Clone, Default)]
pub struct DataArg {
    /// Request body fields as a JSON object, '@FILE' or '-' (stdin), for
    /// fields without a flag (nested objects, `null` to clear a field);
    /// flags override its fields.
    #[arg(long, value_name = "JSON")]
    pub data: Option<SecretArg>,
}

/// `keyzone <group> …` over HTTP.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Zones: each one an authorization server with its own issuer, keys
    /// and directory.
    Zones(Group<ZoneCommand>),
    /// Applications of a zone: agents, MCP servers and services that obtain
    /// tokens.
    Applications(Zoned<ApplicationCommand>),
    /// Application credentials: how an application authenticates at the
    /// token endpoint (its identifier is the OAuth client_id).
    Credentials(Zoned<CredentialCommand>),
    /// Resources of a zone: the APIs and MCP servers tokens are issued for.
    Resources(Zoned<ResourceCommand>),
    /// Dependencies: the resources an application may obtain tokens for on
    /// behalf of a subject (token exchange).
    Dependencies(Zoned<DependencyCommand>),
    /// Providers of a zone: where tokens and identities come from.
    Providers(Zoned<ProviderCommand>),
    /// Secrets stored encrypted in a zone's vault.
    Secrets(Zoned<SecretCommand>),
    /// Users of a zone: list, show, and provision a person who signs in
    /// with a password (a Keyzone extension of the API).
    Users(Zoned<UserCommand>),
    /// User agents: dynamically registered clients (read only).
    UserAgents(Zoned<ReadCommand>),
    /// Invitations of emails to sign up in a zone (a Keyzone extension):
    /// create, list, revoke.
    Invitations(Zoned<crate::commands::invitations::InvitationCommand>),
    /// Sessions of users and applications: read, revoke, delete.
    Sessions(Zoned<RevocableCommand<SessionFilter>>),
    /// Delegated grants: read, revoke, delete.
    Grants(Zoned<RevocableCommand<GrantFilter>>),
    /// Get an access token from a zone's token endpoint: client credentials,
    /// or an RFC 8693 token exchange with --exchange. Prints the token
    /// alone (or the whole response with --json).
    Token(TokenArgs),
}

#[derive(Subcommand, Debug)]
pub enum ZoneCommand {
    /// List the zones.
    List(ListArgs),
    /// Show a zone (its issuer and token endpoint under protocols.oauth2).
    Get {
        /// The zone's id.
        id: String,
    },
    /// Create a zone: its signing keys, data key and platform providers
    /// come with it.
    Create {
        /// 1 to 255 characters.
        #[arg(long)]
        name: String,
        /// URL-friendly name [default: derived from the name, made unique].
        #[arg(long)]
        slug: Option<String>,
        /// At most 2048 characters.
        #[arg(long)]
        description: Option<String>,
        /// Also create the platform MCP gateway application and make it the
        /// zone's default.
        #[arg(long)]
        gateway: bool,
        #[command(flatten)]
        data: DataArg,
    },
    /// Change a zone; fields not given are kept.
    Update {
        /// The zone's id.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// The resource tokens are issued for when a request names none.
        #[arg(long, value_name = "RESOURCE_ID")]
        default_resource: Option<String>,
        /// The zone's default MCP gateway application.
        #[arg(long, value_name = "APPLICATION_ID")]
        default_gateway_application: Option<String>,
        /// The provider users sign in with.
        #[arg(long, value_name = "PROVIDER_ID")]
        user_identity_provider: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a zone and everything in it.
    Delete {
        /// The zone's id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApplicationCommand {
    /// List the zone's applications.
    List(ListArgs),
    /// Show an application.
    Get {
        /// The application's id.
        id: String,
    },
    /// Create an application.
    Create {
        /// Unique in the zone; no whitespace.
        #[arg(long)]
        identifier: String,
        /// 1 to 255 characters.
        #[arg(long)]
        name: String,
        /// At most 2048 characters.
        #[arg(long)]
        description: Option<String>,
        /// Whether users must consent [default: implicit].
        #[arg(long, value_parser = ["implicit", "required"])]
        consent: Option<String>,
        /// A resource the application depends on (repeatable); add
        /// when_accessing lists later with `dependencies add`.
        #[arg(long = "dependency", value_name = "RESOURCE_ID")]
        dependencies: Vec<String>,
        /// An OAuth redirect URI (repeatable).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Change an application; fields not given are kept.
    Update {
        /// The application's id.
        id: String,
        /// A new identifier.
        #[arg(long)]
        identifier: Option<String>,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// Whether users must consent.
        #[arg(long, value_parser = ["implicit", "required"])]
        consent: Option<String>,
        /// Replace the redirect URIs with these (repeatable).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete an application (its credentials and dependencies go with it).
    Delete {
        /// The application's id.
        id: String,
    },
    /// List the resources the application provides.
    Resources {
        /// The application's id.
        id: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// List the application's credentials.
    Credentials {
        /// The application's id.
        id: String,
        #[command(flatten)]
        list: ListArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum CredentialCommand {
    /// List the zone's application credentials.
    List {
        /// Only this application's credentials.
        #[arg(long, value_name = "APPLICATION_ID")]
        application: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a credential.
    Get {
        /// The credential's id.
        id: String,
    },
    /// Create a credential. A password credential's client secret is in
    /// the output of this command only: store it now.
    Create {
        /// The application it authenticates.
        #[arg(long, value_name = "APPLICATION_ID")]
        application: String,
        /// The kind of credential.
        #[arg(long = "type", value_name = "TYPE", default_value = "password",
              value_parser = ["password", "token", "public-key", "url", "public"])]
        kind: String,
        /// The client_id (password, public-key, public: generated when
        /// absent; url: the https URL, required).
        #[arg(long)]
        identifier: Option<String>,
        /// token: the provider whose tokens it accepts (required).
        #[arg(long, value_name = "PROVIDER_ID")]
        provider: Option<String>,
        /// token: the accepted subject [default: any].
        #[arg(long)]
        subject: Option<String>,
        /// public-key: where the application's public keys are (required).
        #[arg(long, value_name = "URL")]
        jwks_uri: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Change a credential (url and public: identifier; token: subject).
    Update {
        /// The credential's id.
        id: String,
        /// A new identifier.
        #[arg(long)]
        identifier: Option<String>,
        /// A new subject.
        #[arg(long)]
        subject: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a credential: it stops authenticating at once.
    Delete {
        /// The credential's id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ResourceCommand {
    /// List the zone's resources.
    List {
        /// Only the resource that protects this URL (exact identifier, or
        /// the longest prefix resource).
        #[arg(long, value_name = "URL")]
        identifier: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a resource.
    Get {
        /// The resource's id.
        id: String,
    },
    /// Create a resource.
    Create {
        /// An absolute URI, unique in the zone: the tokens' audience.
        #[arg(long, value_name = "URI")]
        identifier: String,
        /// 1 to 255 characters.
        #[arg(long)]
        name: String,
        /// At most 2048 characters.
        #[arg(long)]
        description: Option<String>,
        /// Also protect every URL under the identifier.
        #[arg(long)]
        prefix: bool,
        /// An OAuth scope the resource defines (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The application that provides the resource.
        #[arg(long, value_name = "APPLICATION_ID")]
        application: Option<String>,
        /// The provider that issues its tokens [default: the zone's own].
        #[arg(long, value_name = "PROVIDER_ID")]
        credential_provider: Option<String>,
        /// Token lifetime in seconds, 60 to 86400 [default: 3600].
        #[arg(long, value_name = "SECONDS")]
        lifetime: Option<u32>,
        /// The kind of application [default: native].
        #[arg(long, value_parser = ["native", "web"])]
        application_type: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Change a resource; fields not given are kept.
    Update {
        /// The resource's id.
        id: String,
        /// A new identifier.
        #[arg(long, value_name = "URI")]
        identifier: Option<String>,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// Whether the resource protects every URL under its identifier.
        #[arg(long, value_name = "BOOL")]
        prefix: Option<bool>,
        /// Replace the scopes with these (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The application that provides the resource.
        #[arg(long, value_name = "APPLICATION_ID")]
        application: Option<String>,
        /// The provider that issues its tokens.
        #[arg(long, value_name = "PROVIDER_ID")]
        credential_provider: Option<String>,
        /// Token lifetime in seconds, 60 to 86400.
        #[arg(long, value_name = "SECONDS")]
        lifetime: Option<u32>,
        /// The kind of application.
        #[arg(long, value_parser = ["native", "web"])]
        application_type: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a resource.
    Delete {
        /// The resource's id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DependencyCommand {
    /// List an application's dependencies, with their when_accessing lists.
    List {
        /// The application's id.
        application: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one dependency.
    Get {
        /// The application's id.
        application: String,
        /// The resource depended on.
        resource: String,
    },
    /// Add a dependency, or replace its when_accessing list.
    Add {
        /// The application's id.
        application: String,
        /// The resource it may obtain tokens for.
        resource: String,
        /// Only while the subject's token was issued for this resource
        /// (repeatable; none: whatever the subject's token is for).
        #[arg(long, value_name = "RESOURCE_ID")]
        when_accessing: Vec<String>,
    },
    /// Remove a dependency.
    Remove {
        /// The application's id.
        application: String,
        /// The resource depended on.
        resource: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// List the zone's providers (the two platform providers included).
    List(ListArgs),
    /// Show a provider.
    Get {
        /// The provider's id.
        id: String,
    },
    /// Create an external provider.
    Create {
        /// Unique in the zone; no whitespace.
        #[arg(long)]
        identifier: String,
        /// 1 to 255 characters.
        #[arg(long)]
        name: String,
        /// At most 2048 characters.
        #[arg(long)]
        description: Option<String>,
        /// The client_id Keyzone uses at the provider.
        #[arg(long)]
        client_id: Option<String>,
        /// The client secret, or '-' to read it from stdin (stored
        /// encrypted, never shown again).
        #[arg(long, value_name = "SECRET")]
        client_secret: Option<SecretArg>,
        /// The provider's OAuth issuer URL (protocols.oauth2.issuer).
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Change a provider; fields not given are kept.
    Update {
        /// The provider's id.
        id: String,
        /// A new identifier.
        #[arg(long)]
        identifier: Option<String>,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// A new client_id.
        #[arg(long)]
        client_id: Option<String>,
        /// A new client secret, or '-' to read it from stdin.
        #[arg(long, value_name = "SECRET")]
        client_secret: Option<SecretArg>,
        /// Replace protocols with `{"oauth2": {"issuer": URL}}`.
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a provider (refused while a resource or credential uses it).
    Delete {
        /// The provider's id.
        id: String,
    },
}

/// The value of a secret: a token, or a user name and password.
#[derive(Args, Debug, Clone, Default)]
pub struct SecretValue {
    /// A token secret's value, or '-' to read it from stdin.
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["username", "password"])]
    pub token: Option<SecretArg>,
    /// A password secret's user name.
    #[arg(long, requires = "password")]
    pub username: Option<String>,
    /// A password secret's password, or '-' to read it from stdin.
    #[arg(long, value_name = "PASSWORD", requires = "username")]
    pub password: Option<SecretArg>,
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// List the zone's secrets (without their values).
    List {
        /// Only secrets of this entity (e.g. a resource id).
        #[arg(long, value_name = "ENTITY_ID")]
        entity: Option<String>,
        /// Only secrets of this type.
        #[arg(long = "type", value_name = "TYPE", value_parser = ["token", "password"])]
        kind: Option<String>,
    },
    /// Show a secret, its value included.
    Get {
        /// The secret's id.
        id: String,
    },
    /// Store a secret: --token, or --username and --password.
    Create {
        /// The secret's name.
        #[arg(long)]
        name: String,
        /// The entity it belongs to (e.g. a resource id).
        #[arg(long, value_name = "ENTITY_ID")]
        entity: String,
        /// At most 128 characters.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        value: SecretValue,
        #[command(flatten)]
        data: DataArg,
    },
    /// Change a secret; a new value increments its version.
    Update {
        /// The secret's id.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        value: SecretValue,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a secret.
    Delete {
        /// The secret's id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// List the zone's users.
    List(ListArgs),
    /// Show a user.
    Get {
        /// The user's id.
        id: String,
    },
    /// Provision a person of the zone, who signs in on the zone's sign-in
    /// page (POST /zones/{zone}/users, a Keyzone extension). A password is
    /// never taken on the command line, where other users can see it (ps,
    /// /proc, shell history): give --password-stdin or --password-file.
    /// Without either, the person cannot sign in with a password.
    Create {
        /// Their email address (stored trimmed, in lowercase); one per
        /// person of the zone.
        #[arg(long)]
        email: String,
        /// Read the password from stdin (one trailing newline is dropped):
        /// `printf '%s' "$PW" | keyzone users create … --password-stdin`.
        /// At least 8 characters.
        #[arg(long, conflicts_with = "password_file")]
        password_stdin: bool,
        /// Read the password from this file (one trailing newline is
        /// dropped). At least 8 characters.
        #[arg(long, value_name = "FILE")]
        password_file: Option<std::path::PathBuf>,
        /// What the person is called (the OIDC `name` claim).
        #[arg(long)]
        name: Option<String>,
        /// Mark the email address as verified [default: not verified].
        #[arg(long)]
        email_verified: bool,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReadCommand {
    /// List them.
    List(ListArgs),
    /// Show one.
    Get {
        /// Its id.
        id: String,
    },
}

/// Filters of the session list.
#[derive(Args, Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions with this status.
    #[arg(long, value_parser = ["active", "expired", "revoked"])]
    pub status: Option<String>,
    /// Only this user's sessions.
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<String>,
    /// Only user or only application sessions.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["user", "application"])]
    pub kind: Option<String>,
}

/// Filters of the delegated-grant list.
#[derive(Args, Debug, Clone, Default)]
pub struct GrantFilter {
    /// Only grants with this status.
    #[arg(long, value_parser = ["active", "expired", "revoked"])]
    pub status: Option<String>,
    /// Only this user's grants.
    #[arg(long, value_name = "USER_ID")]
    pub user: Option<String>,
    /// Only grants for this resource.
    #[arg(long, value_name = "RESOURCE_ID")]
    pub resource: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RevocableCommand<F: Args> {
    /// List them.
    List {
        #[command(flatten)]
        filter: F,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one.
    Get {
        /// Its id.
        id: String,
    },
    /// Revoke one: it stays listed, with status revoked.
    Revoke {
        /// Its id.
        id: String,
    },
    /// Delete one.
    Delete {
        /// Its id.
        id: String,
    },
}

/// `keyzone token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Keyzone server base URL [env: KEYZONE_SERVER] [default: http://127.0.0.1:8080].
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Take server and zone from `[profiles.NAME]` in
    /// ~/.config/keyzone/cli.toml [env: KEYZONE_PROFILE].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The zone's id [env: KEYZONE_ZONE] [default: `zone` in the profile].
    #[arg(long, short = 'z', value_name = "ZONE_ID")]
    pub zone: Option<String>,
    /// The token endpoint, when it is not {server}/z/{zone}/oauth/token
    /// (host-based issuers, a proxy).
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// The credential's identifier (the OAuth client_id).
    #[arg(long, env = "KEYZONE_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,
    /// The credential's client secret, sent with HTTP Basic
    /// (client_secret_basic). Prefer the environment: other users can see a
    /// command line.
    #[arg(
        long,
        value_name = "SECRET",
        env = "KEYZONE_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<SecretArg>,
    /// The resource the token is for (RFC 8707; repeatable): becomes the
    /// token's aud.
    #[arg(long = "resource", value_name = "URI")]
    pub resources: Vec<String>,
    /// A scope to request (repeatable, or several separated by spaces).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Exchange this token (RFC 8693) instead of client credentials; '-'
    /// reads it from stdin. Client authentication is optional here.
    #[arg(long, value_name = "SUBJECT_TOKEN")]
    pub exchange: Option<SecretArg>,
    /// The subject token's type in an exchange.
    #[arg(
        long,
        value_name = "URN",
        requires = "exchange",
        default_value = "urn:ietf:params:oauth:token-type:access_token"
    )]
    pub subject_token_type: String,
    /// Print the token endpoint's whole JSON response.
    #[arg(long)]
    pub json: bool,
}
