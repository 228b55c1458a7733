//! One function per command group: the request each command makes, the
//! body its flags build, and the columns its table shows.

use crate::args::*;
use crate::http::Client;
use crate::output::{self, print, print_json};
use crate::profile::{self, Flags, Settings};
use crate::{Exit, Failure};
use reqwest::Method;
use serde_json::{json, Map, Value};

#[path = "invitations.rs"]
pub(crate) mod invitations;

/// How one kind of entity is addressed and shown.
struct Kind {
    /// For messages: "deleted application …".
    singular: &'static str,
    /// The collection's path segment under `/zones/{zone_id}` (or `/`).
    segment: &'static str,
    /// Table columns: header and dotted field path.
    columns: &'static [(&'static str, &'static str)],
}

const ZONES: Kind = Kind {
    singular: "zone",
    segment: "zones",
    columns: &[
        ("id", "id"),
        ("name", "name"),
        ("slug", "slug"),
        ("issuer", "protocols.oauth2.issuer"),
        ("created", "created_at"),
    ],
};
const APPLICATIONS: Kind = Kind {
    singular: "application",
    segment: "applications",
    columns: &[
        ("id", "id"),
        ("identifier", "identifier"),
        ("name", "name"),
        ("owner", "owner_type"),
        ("dependencies", "dependencies_count"),
    ],
};
const CREDENTIALS: Kind = Kind {
    singular: "credential",
    segment: "application-credentials",
    columns: &[
        ("id", "id"),
        ("type", "type"),
        ("identifier", "identifier"),
        ("application", "application_id"),
        ("created", "created_at"),
    ],
};
const RESOURCES: Kind = Kind {
    singular: "resource",
    segment: "resources",
    columns: &[
        ("id", "id"),
        ("identifier", "identifier"),
        ("name", "name"),
        ("prefix", "prefix"),
        ("scopes", "scopes"),
        ("application", "application_id"),
    ],
};
const DEPENDENCIES: Kind = Kind {
    singular: "dependency",
    segment: "dependencies",
    columns: &[
        ("id", "id"),
        ("identifier", "identifier"),
        ("name", "name"),
        ("when accessing", "when_accessing"),
    ],
};
const PROVIDERS: Kind = Kind {
    singular: "provider",
    segment: "providers",
    columns: &[
        ("id", "id"),
        ("identifier", "identifier"),
        ("name", "name"),
        ("type", "type"),
        ("owner", "owner_type"),
    ],
};
const SECRETS: Kind = Kind {
    singular: "secret",
    segment: "secrets",
    columns: &[
        ("id", "id"),
        ("name", "name"),
        ("type", "type"),
        ("entity", "entity_id"),
        ("version", "version"),
        ("updated", "updated_at"),
    ],
};
const USERS: Kind = Kind {
    singular: "user",
    segment: "users",
    columns: &[
        ("id", "id"),
        ("email", "email"),
        ("identifier", "identifier"),
        ("status", "status"),
        ("authenticated", "authenticated_at"),
    ],
};
const USER_AGENTS: Kind = Kind {
    singular: "user agent",
    segment: "user-agents",
    columns: &[
        ("id", "id"),
        ("name", "name"),
        ("identifier", "identifier"),
        ("created", "created_at"),
    ],
};
const SESSIONS: Kind = Kind {
    singular: "session",
    segment: "sessions",
    columns: &[
        ("id", "id"),
        ("type", "session_type"),
        ("status", "status"),
        ("user", "user_id"),
        ("application", "application_id"),
        ("expires", "expires_at"),
    ],
};
const GRANTS: Kind = Kind {
    singular: "delegated grant",
    segment: "delegated-grants",
    columns: &[
        ("id", "id"),
        ("status", "status"),
        ("user", "user_id"),
        ("resource", "resource_id"),
        ("scopes", "scopes"),
        ("expires", "expires_at"),
    ],
};

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn settings(flags: Flags<'_>) -> Result<Settings, Failure> {
    let path = profile::config_path(&env);
    profile::resolve(flags, &env, path.as_deref())
}

/// A connected command: the client, the output mode and the zone, if any.
struct Ctx {
    client: Client,
    json: bool,
    zone: Option<String>,
}

impl Ctx {
    fn new(conn: &Connection, zone_flag: Option<&str>, needs_zone: bool) -> Result<Ctx, Failure> {
        let s = settings(Flags {
            server: conn.server.as_deref(),
            api_key: conn.api_key.as_ref(),
            profile: conn.profile.as_deref(),
            zone: zone_flag,
        })?;
        if needs_zone && s.zone.is_none() {
            return Err(Failure::usage(
                "which zone? pass --zone ZONE_ID, set KEYZONE_ZONE, or put zone in a profile",
            ));
        }
        let client = Client::new(s.server, s.api_key, s.ca_cert.as_deref())?;
        client.warn_if_plain_http("the API key");
        Ok(Ctx {
            client,
            json: conn.json,
            zone: needs_zone.then_some(s.zone).flatten(),
        })
    }

    /// `/zones/{zone}/…rest`.
    fn zoned<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["zones", self.zone.as_deref().unwrap_or_default()];
        v.extend_from_slice(rest);
        v
    }

    async fn list(
        &self,
        kind: &Kind,
        path: &[&str],
        mut query: Vec<(&str, String)>,
        page: &ListArgs,
    ) -> Result<(), Failure> {
        if let Some(l) = page.limit {
            query.push(("limit", l.to_string()));
        }
        let mut after = page.after.clone();
        let mut items: Vec<Value> = Vec::new();
        let mut last: Value;
        loop {
            let mut q = query.clone();
            if let Some(a) = &after {
                q.push(("after", a.clone()));
            }
            let body = self
                .client
                .send(Method::GET, path, &q, None)
                .await?
                .unwrap_or(Value::Null);
            let next = body
                .pointer("/pagination/after_cursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match &body {
                // The secrets list is a bare array, without pages.
                Value::Array(a) => items.extend(a.iter().cloned()),
                other => items.extend(
                    other
                        .get("items")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .cloned(),
                ),
            }
            last = body;
            match next {
                Some(n) if page.all && after.as_deref() != Some(n.as_str()) => after = Some(n),
                _ => break,
            }
        }
        if self.json {
            if page.all {
                if let Value::Object(map) = &mut last {
                    map.insert("items".into(), Value::Array(items));
                } else {
                    last = Value::Array(items);
                }
            }
            print_json(&last);
            return Ok(());
        }
        print(&output::table(&items, kind.columns));
        if !page.all {
            if let Some(next) = last
                .pointer("/pagination/after_cursor")
                .and_then(Value::as_str)
            {
                eprintln!(
                    "keyzone: more {}s: --after {next} (or --all)",
                    kind.singular
                );
            }
        }
        Ok(())
    }

    async fn show(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
    ) -> Result<(), Failure> {
        let v = self
            .client
            .send(method, path, &[], body)
            .await?
            .unwrap_or(Value::Null);
        if self.json {
            print_json(&v);
        } else {
            print(&output::object(&v));
        }
        Ok(())
    }

    async fn get(&self, path: &[&str]) -> Result<(), Failure> {
        self.show(Method::GET, path, None).await
    }

    async fn create(&self, path: &[&str], body: Map<String, Value>) -> Result<(), Failure> {
        self.show(Method::POST, path, Some(&Value::Object(body)))
            .await
    }

    async fn update(&self, path: &[&str], body: Map<String, Value>) -> Result<(), Failure> {
        if body.is_empty() {
            return Err(Failure::usage(
                "nothing to change: give at least one field flag or --data",
            ));
        }
        self.show(Method::PATCH, path, Some(&Value::Object(body)))
            .await
    }

    async fn delete(&self, kind: &Kind, path: &[&str], id: &str) -> Result<(), Failure> {
        self.client.send(Method::DELETE, path, &[], None).await?;
        if !self.json {
            print(&format!("deleted {} {id}\n", kind.singular));
        }
        Ok(())
    }

    async fn revoke(&self, path: &[&str]) -> Result<(), Failure> {
        self.show(Method::PATCH, path, Some(&json!({"status": "revoked"})))
            .await
    }
}

/// Reads `-` from stdin (one trailing newline dropped); other values are
/// returned as they are.
fn value_or_stdin(v: &str, what: &str) -> Result<String, Failure> {
    if v != "-" {
        return Ok(v.to_owned());
    }
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
        .map_err(|e| Failure::new(Exit::Failure, format!("reading {what} from stdin: {e}")))?;
    Ok(without_newline(&s).to_owned())
}

/// The body `--data` starts from: a JSON object, `@file` or `-`.
fn base_body(data: &DataArg) -> Result<Map<String, Value>, Failure> {
    // The body may hold secrets (a provider's client secret, a secret's
    // value): it is never echoed, not even in an error.
    let Some(raw) = data.data.as_ref().map(SecretArg::expose) else {
        return Ok(Map::new());
    };
    let text = if let Some(path) = raw.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("--data @{path}: {e}")))?
    } else {
        value_or_stdin(raw, "--data")?
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::usage("--data must be a JSON object")),
        Err(e) => Err(Failure::usage(format!("--data is not JSON: {e}"))),
    }
}

/// Sets `path` (nested objects created as needed) when `value` is given.
fn set(body: &mut Map<String, Value>, path: &[&str], value: Option<Value>) {
    let Some(value) = value else { return };
    let (last, parents) = path.split_last().expect("a field path");
    let mut map = body;
    for p in parents {
        let entry = map
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        map = entry.as_object_mut().expect("just made an object");
    }
    map.insert(last.to_string(), value);
}

fn s(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

fn list_of(v: &[String]) -> Option<Value> {
    (!v.is_empty()).then(|| json!(v))
}

pub async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Zones(g) => zones(Ctx::new(&g.conn, None, false)?, g.command).await,
        Command::Applications(z) => applications(zoned(&z)?, z.command).await,
        Command::Credentials(z) => credentials(zoned(&z)?, z.command).await,
        Command::Resources(z) => resources(zoned(&z)?, z.command).await,
        Command::Dependencies(z) => dependencies(zoned(&z)?, z.command).await,
        Command::Providers(z) => providers(zoned(&z)?, z.command).await,
        Command::Secrets(z) => secrets(zoned(&z)?, z.command).await,
        Command::Users(z) => users(zoned(&z)?, z.command).await,
        Command::UserAgents(z) => read_only(zoned(&z)?, &USER_AGENTS, z.command).await,
        Command::Invitations(z) => invitations::run(zoned(&z)?, z.command).await,
        Command::Sessions(z) => {
            let ctx = zoned(&z)?;
            revocable(ctx, &SESSIONS, z.command, |f: &SessionFilter| {
                let mut q = Vec::new();
                q.extend(f.status.clone().map(|v| ("status", v)));
                q.extend(f.user.clone().map(|v| ("user_id", v)));
                q.extend(f.kind.clone().map(|v| ("session_type", v)));
                q
            })
            .await
        }
        Command::Grants(z) => {
            let ctx = zoned(&z)?;
            revocable(ctx, &GRANTS, z.command, |f: &GrantFilter| {
                let mut q = Vec::new();
                q.extend(f.status.clone().map(|v| ("status", v)));
                q.extend(f.user.clone().map(|v| ("user_id", v)));
                q.extend(f.resource.clone().map(|v| ("resource_id", v)));
                q
            })
            .await
        }
        Command::Token(t) => token(t).await,
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn zoned<C: clap::Subcommand>(z: &Zoned<C>) -> Result<Ctx, Failure> {
    Ctx::new(&z.conn, z.zone.as_deref(), true)
}

async fn zones(ctx: Ctx, command: ZoneCommand) -> Result<(), Failure> {
    let k = &ZONES;
    match command {
        ZoneCommand::List(page) => ctx.list(k, &["zones"], vec![], &page).await,
        ZoneCommand::Get { id } => ctx.get(&["zones", &id]).await,
        ZoneCommand::Create {
            name,
            slug,
            description,
            gateway,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["name"], Some(json!(name)));
            set(&mut b, &["slug"], s(&slug));
            set(&mut b, &["description"], s(&description));
            set(
                &mut b,
                &["default_mcp_gateway_application"],
                gateway.then_some(json!(true)),
            );
            ctx.create(&["zones"], b).await
        }
        ZoneCommand::Update {
            id,
            name,
            description,
            default_resource,
            default_gateway_application,
            user_identity_provider,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["name"], s(&name));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["default_resource_id"], s(&default_resource));
            set(
                &mut b,
                &["default_mcp_gateway_application_id"],
                s(&default_gateway_application),
            );
            set(
                &mut b,
                &["user_identity_provider_id"],
                s(&user_identity_provider),
            );
            ctx.update(&["zones", &id], b).await
        }
        ZoneCommand::Delete { id } => ctx.delete(k, &["zones", &id], &id).await,
    }
}

async fn applications(ctx: Ctx, command: ApplicationCommand) -> Result<(), Failure> {
    let k = &APPLICATIONS;
    match command {
        ApplicationCommand::List(page) => {
            ctx.list(k, &ctx.zoned(&[k.segment]), vec![], &page).await
        }
        ApplicationCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
        ApplicationCommand::Create {
            identifier,
            name,
            description,
            consent,
            dependencies,
            redirect_uris,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["identifier"], Some(json!(identifier)));
            set(&mut b, &["name"], Some(json!(name)));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["consent"], s(&consent));
            let deps: Vec<Value> = dependencies.iter().map(|d| json!({"id": d})).collect();
            set(
                &mut b,
                &["dependencies"],
                (!deps.is_empty()).then(|| json!(deps)),
            );
            set(
                &mut b,
                &["protocols", "oauth2", "redirect_uris"],
                list_of(&redirect_uris),
            );
            ctx.create(&ctx.zoned(&[k.segment]), b).await
        }
        ApplicationCommand::Update {
            id,
            identifier,
            name,
            description,
            consent,
            redirect_uris,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["identifier"], s(&identifier));
            set(&mut b, &["name"], s(&name));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["consent"], s(&consent));
            set(
                &mut b,
                &["protocols", "oauth2", "redirect_uris"],
                list_of(&redirect_uris),
            );
            ctx.update(&ctx.zoned(&[k.segment, &id]), b).await
        }
        ApplicationCommand::Delete { id } => {
            ctx.delete(k, &ctx.zoned(&[k.segment, &id]), &id).await
        }
        ApplicationCommand::Resources { id, list } => {
            ctx.list(
                &RESOURCES,
                &ctx.zoned(&[k.segment, &id, "resources"]),
                vec![],
                &list,
            )
            .await
        }
        ApplicationCommand::Credentials { id, list } => {
            let path = ctx.zoned(&[k.segment, &id, "application-credentials"]);
            ctx.list(&CREDENTIALS, &path, vec![], &list).await
        }
    }
}

async fn credentials(ctx: Ctx, command: CredentialCommand) -> Result<(), Failure> {
    let k = &CREDENTIALS;
    match command {
        CredentialCommand::List { application, list } => {
            let q = application
                .map(|a| ("applicationId", a))
                .into_iter()
                .collect();
            ctx.list(k, &ctx.zoned(&[k.segment]), q, &list).await
        }
        CredentialCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
        CredentialCommand::Create {
            application,
            kind,
            identifier,
            provider,
            subject,
            jwks_uri,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["type"], Some(json!(kind)));
            set(&mut b, &["application_id"], Some(json!(application)));
            set(&mut b, &["identifier"], s(&identifier));
            set(&mut b, &["provider_id"], s(&provider));
            set(&mut b, &["subject"], s(&subject));
            set(&mut b, &["jwks_uri"], s(&jwks_uri));
            let v = ctx
                .client
                .send(
                    Method::POST,
                    &ctx.zoned(&[k.segment]),
                    &[],
                    Some(&Value::Object(b)),
                )
                .await?
                .unwrap_or(Value::Null);
            if ctx.json {
                print_json(&v);
            } else {
                print(&output::object(&v));
                if v.get("password").is_some_and(Value::is_string) {
                    eprintln!(
                        "keyzone: the password is the client secret; it is shown only this once"
                    );
                }
            }
            Ok(())
        }
        CredentialCommand::Update {
            id,
            identifier,
            subject,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["identifier"], s(&identifier));
            set(&mut b, &["subject"], s(&subject));
            ctx.update(&ctx.zoned(&[k.segment, &id]), b).await
        }
        CredentialCommand::Delete { id } => ctx.delete(k, &ctx.zoned(&[k.segment, &id]), &id).await,
    }
}

async fn resources(ctx: Ctx, command: ResourceCommand) -> Result<(), Failure> {
    let k = &RESOURCES;
    match command {
        ResourceCommand::List { identifier, list } => {
            let q = identifier.map(|i| ("identifier", i)).into_iter().collect();
            ctx.list(k, &ctx.zoned(&[k.segment]), q, &list).await
        }
        ResourceCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
        ResourceCommand::Create {
            identifier,
            name,
            description,
            prefix,
            scopes,
            application,
            credential_provider,
            lifetime,
            application_type,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["identifier"], Some(json!(identifier)));
            set(&mut b, &["name"], Some(json!(name)));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["prefix"], prefix.then_some(json!(true)));
            set(&mut b, &["scopes"], list_of(&scopes));
            set(&mut b, &["application_id"], s(&application));
            set(&mut b, &["credential_provider_id"], s(&credential_provider));
            set(
                &mut b,
                &["credential_lifetime_seconds"],
                lifetime.map(|l| json!(l)),
            );
            set(&mut b, &["application_type"], s(&application_type));
            ctx.create(&ctx.zoned(&[k.segment]), b).await
        }
        ResourceCommand::Update {
            id,
            identifier,
            name,
            description,
            prefix,
            scopes,
            application,
            credential_provider,
            lifetime,
            application_type,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["identifier"], s(&identifier));
            set(&mut b, &["name"], s(&name));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["prefix"], prefix.map(Value::Bool));
            set(&mut b, &["scopes"], list_of(&scopes));
            set(&mut b, &["application_id"], s(&application));
            set(&mut b, &["credential_provider_id"], s(&credential_provider));
            set(
                &mut b,
                &["credential_lifetime_seconds"],
                lifetime.map(|l| json!(l)),
            );
            set(&mut b, &["application_type"], s(&application_type));
            ctx.update(&ctx.zoned(&[k.segment, &id]), b).await
        }
        ResourceCommand::Delete { id } => ctx.delete(k, &ctx.zoned(&[k.segment, &id]), &id).await,
    }
}

async fn dependencies(ctx: Ctx, command: DependencyCommand) -> Result<(), Failure> {
    let k = &DEPENDENCIES;
    let zone = ctx.zone.clone().unwrap_or_default();
    let path = |app: &str, res: Option<&str>| -> Vec<String> {
        let mut v: Vec<String> = ["zones", &zone, APPLICATIONS.segment, app, k.segment]
            .map(str::to_owned)
            .into();
        v.extend(res.map(str::to_owned));
        v
    };
    match command {
        DependencyCommand::List { application, list } => {
            let p = path(&application, None);
            ctx.list(k, &strs(&p), vec![], &list).await
        }
        DependencyCommand::Get {
            application,
            resource,
        } => {
            let p = path(&application, Some(&resource));
            ctx.get(&strs(&p)).await
        }
        DependencyCommand::Add {
            application,
            resource,
            when_accessing,
        } => {
            let p = path(&application, Some(&resource));
            let q: Vec<(&str, String)> = when_accessing
                .into_iter()
                .map(|r| ("when_accessing", r))
                .collect();
            ctx.client.send(Method::PUT, &strs(&p), &q, None).await?;
            // Show what now holds, as `dependencies get` would.
            ctx.get(&strs(&p)).await
        }
        DependencyCommand::Remove {
            application,
            resource,
        } => {
            let p = path(&application, Some(&resource));
            ctx.client
                .send(Method::DELETE, &strs(&p), &[], None)
                .await?;
            if !ctx.json {
                print(&format!(
                    "removed the dependency of application {application} on resource {resource}\n"
                ));
            }
            Ok(())
        }
    }
}

async fn providers(ctx: Ctx, command: ProviderCommand) -> Result<(), Failure> {
    let k = &PROVIDERS;
    let secret = |v: &Option<SecretArg>| -> Result<Option<Value>, Failure> {
        v.as_ref()
            .map(|s| value_or_stdin(s.expose(), "--client-secret").map(Value::String))
            .transpose()
    };
    match command {
        ProviderCommand::List(page) => ctx.list(k, &ctx.zoned(&[k.segment]), vec![], &page).await,
        ProviderCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
        ProviderCommand::Create {
            identifier,
            name,
            description,
            client_id,
            client_secret,
            issuer,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["identifier"], Some(json!(identifier)));
            set(&mut b, &["name"], Some(json!(name)));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["client_id"], s(&client_id));
            set(&mut b, &["client_secret"], secret(&client_secret)?);
            set(&mut b, &["protocols", "oauth2", "issuer"], s(&issuer));
            ctx.create(&ctx.zoned(&[k.segment]), b).await
        }
        ProviderCommand::Update {
            id,
            identifier,
            name,
            description,
            client_id,
            client_secret,
            issuer,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["identifier"], s(&identifier));
            set(&mut b, &["name"], s(&name));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["client_id"], s(&client_id));
            set(&mut b, &["client_secret"], secret(&client_secret)?);
            set(&mut b, &["protocols", "oauth2", "issuer"], s(&issuer));
            ctx.update(&ctx.zoned(&[k.segment, &id]), b).await
        }
        ProviderCommand::Delete { id } => ctx.delete(k, &ctx.zoned(&[k.segment, &id]), &id).await,
    }
}

/// The `data` field of a secret from --token or --username/--password.
fn secret_data(v: &SecretValue) -> Result<Option<Value>, Failure> {
    if let Some(t) = &v.token {
        let token = value_or_stdin(t.expose(), "--token")?;
        return Ok(Some(json!({"type": "token", "token": token})));
    }
    match (&v.username, &v.password) {
        (Some(u), Some(p)) => {
            let password = value_or_stdin(p.expose(), "--password")?;
            Ok(Some(
                json!({"type": "password", "username": u, "password": password}),
            ))
        }
        _ => Ok(None),
    }
}

async fn secrets(ctx: Ctx, command: SecretCommand) -> Result<(), Failure> {
    let k = &SECRETS;
    match command {
        SecretCommand::List { entity, kind } => {
            let mut q = Vec::new();
            q.extend(entity.map(|e| ("entity_id", e)));
            q.extend(kind.map(|t| ("type", t)));
            ctx.list(k, &ctx.zoned(&[k.segment]), q, &ListArgs::default())
                .await
        }
        SecretCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
        SecretCommand::Create {
            name,
            entity,
            description,
            value,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["name"], Some(json!(name)));
            set(&mut b, &["entity_id"], Some(json!(entity)));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["data"], secret_data(&value)?);
            if !b.contains_key("data") {
                return Err(Failure::usage(
                    "a secret needs a value: --token, or --username and --password",
                ));
            }
            ctx.create(&ctx.zoned(&[k.segment]), b).await
        }
        SecretCommand::Update {
            id,
            name,
            description,
            value,
            data,
        } => {
            let mut b = base_body(&data)?;
            set(&mut b, &["name"], s(&name));
            set(&mut b, &["description"], s(&description));
            set(&mut b, &["data"], secret_data(&value)?);
            ctx.update(&ctx.zoned(&[k.segment, &id]), b).await
        }
        SecretCommand::Delete { id } => ctx.delete(k, &ctx.zoned(&[k.segment, &id]), &id).await,
    }
}

/// Drops one trailing line break, as `value_or_stdin` does.
fn without_newline(s: &str) -> &str {
    s.strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(s)
}

async fn users(ctx: Ctx, command: UserCommand) -> Result<(), Failure> {
    let k = &USERS;
    match command {
        UserCommand::List(page) => ctx.list(k, &ctx.zoned(&[k.segment]), vec![], &page).await,
        UserCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
        UserCommand::Create {
            email,
            password_stdin,
            password_file,
            name,
            email_verified,
            data,
        } => {
            // Never from argv: a command line is visible to other users.
            let password = match (password_stdin, &password_file) {
                (true, _) => Some(value_or_stdin("-", "the password")?),
                (false, Some(path)) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        Failure::usage(format!("--password-file {}: {e}", path.display()))
                    })?;
                    Some(without_newline(&text).to_owned())
                }
                (false, None) => None,
            };
            if password.as_deref() == Some("") {
                return Err(Failure::usage("the password is empty"));
            }
            let mut b = base_body(&data)?;
            set(&mut b, &["email"], Some(json!(email)));
            set(&mut b, &["password"], password.map(Value::String));
            set(&mut b, &["name"], s(&name));
            if email_verified {
                set(&mut b, &["email_verified"], Some(json!(true)));
            }
            ctx.create(&ctx.zoned(&[k.segment]), b).await
        }
    }
}

async fn read_only(ctx: Ctx, k: &Kind, command: ReadCommand) -> Result<(), Failure> {
    match command {
        ReadCommand::List(page) => ctx.list(k, &ctx.zoned(&[k.segment]), vec![], &page).await,
        ReadCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
    }
}

async fn revocable<F: clap::Args>(
    ctx: Ctx,
    k: &Kind,
    command: RevocableCommand<F>,
    query: impl Fn(&F) -> Vec<(&'static str, String)>,
) -> Result<(), Failure> {
    match command {
        RevocableCommand::List { filter, list } => {
            ctx.list(k, &ctx.zoned(&[k.segment]), query(&filter), &list)
                .await
        }
        RevocableCommand::Get { id } => ctx.get(&ctx.zoned(&[k.segment, &id])).await,
        RevocableCommand::Revoke { id } => ctx.revoke(&ctx.zoned(&[k.segment, &id])).await,
        RevocableCommand::Delete { id } => ctx.delete(k, &ctx.zoned(&[k.segment, &id]), &id).await,
    }
}

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

async fn token(t: TokenArgs) -> Result<(), Failure> {
    let s = settings(Flags {
        server: t.server.as_deref(),
        api_key: None,
        profile: t.profile.as_deref(),
        zone: t.zone.as_deref(),
    })?;
    let client = Client::new(s.server, None, s.ca_cert.as_deref())?;
    let endpoint = match (&t.token_endpoint, &s.zone) {
        (Some(e), _) => profile::parse_server(e)
            .map_err(|_| Failure::usage(format!("--token-endpoint {e:?} is not an http(s) URL")))?,
        (None, Some(zone)) => client.url(&["z", zone, "oauth", "token"])?,
        (None, None) => {
            return Err(Failure::usage(
                "which zone? pass --zone ZONE_ID (or --token-endpoint URL), set KEYZONE_ZONE, or put zone in a profile",
            ))
        }
    };
    let mut form: Vec<(&str, String)> = Vec::new();
    match &t.exchange {
        Some(subject) => {
            form.push(("grant_type", TOKEN_EXCHANGE.to_owned()));
            form.push((
                "subject_token",
                value_or_stdin(subject.expose(), "--exchange")?
                    .trim()
                    .to_owned(),
            ));
            form.push(("subject_token_type", t.subject_token_type.clone()));
        }
        None => {
            if t.client_id.is_none() || t.client_secret.is_none() {
                return Err(Failure::usage(
                    "client credentials need --client-id and --client-secret \
                     (or KEYZONE_CLIENT_ID and KEYZONE_CLIENT_SECRET)",
                ));
            }
            form.push(("grant_type", "client_credentials".to_owned()));
        }
    }
    form.extend(t.resources.iter().map(|r| ("resource", r.clone())));
    let scope = t
        .scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    let basic = match (&t.client_id, &t.client_secret) {
        (Some(id), Some(secret)) => Some((id.as_str(), secret)),
        (Some(id), None) => {
            // A public client names itself in the body.
            form.push(("client_id", id.clone()));
            None
        }
        (None, Some(_)) => return Err(Failure::usage("--client-secret needs --client-id")),
        (None, None) => None,
    };
    if basic.is_some() {
        client.warn_if_plain_http("the client secret");
    }
    let answer = client.post_form(endpoint, &form, basic).await?;
    if t.json {
        print_json(&answer);
        return Ok(());
    }
    match answer.get("access_token").and_then(Value::as_str) {
        Some(token) => {
            print(&format!("{token}\n"));
            Ok(())
        }
        None => Err(Failure::new(
            Exit::Failure,
            "the token endpoint's answer has no access_token",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_set_on_top_of_data() {
        let data = DataArg {
            data: Some(SecretArg::new(
                r#"{"name": "from data", "protocols": {"oauth2": {"post_logout_redirect_uris": []}}, "description": null}"#,
            )),
        };
        let mut b = base_body(&data).unwrap();
        set(&mut b, &["name"], Some(json!("from a flag")));
        set(&mut b, &["slug"], None);
        set(
            &mut b,
            &["protocols", "oauth2", "redirect_uris"],
            list_of(&["https://a.example/cb".into()]),
        );
        assert_eq!(
            Value::Object(b),
            json!({"name": "from a flag", "description": null, "protocols": {"oauth2": {
                "post_logout_redirect_uris": [], "redirect_uris": ["https://a.example/cb"]}}})
        );
    }

    #[test]
    fn data_must_be_a_json_object() {
        for bad in ["[1]", "{", "\"x\""] {
            let data = DataArg {
                data: Some(SecretArg::new(bad)),
            };
            assert_eq!(base_body(&data).unwrap_err().exit, Exit::Usage, "{bad}");
        }
        let secret = DataArg {
            data: Some(SecretArg::new(r#"{"client_secret": "hunter2""#)),
        };
        let e = base_body(&secret).unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(base_body(&DataArg::default()).unwrap().is_empty());
    }
}
