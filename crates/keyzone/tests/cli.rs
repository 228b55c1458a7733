//! The `keyzone` HTTP client commands, run as the built binary against a
//! `keyzone serve` on a free port: a zone administered from the command
//! line, tokens, exit codes, and API keys listed and revoked.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{free_port, temp_dir, Server, BIN};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const KEY: &str = "kz_cli_test_bootstrap_key_0123456789";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `keyzone ARGS` with only PATH, the given variables and `stdin`.
fn keyzone(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(envs.iter().copied())
        // No keyzone.toml of the checkout is read.
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A client command against `server` with the bootstrap key.
fn cli(server: &Server, args: &[&str]) -> Out {
    let url = format!("http://127.0.0.1:{}", server.port);
    keyzone(
        args,
        &[("KEYZONE_SERVER", &url), ("KEYZONE_API_KEY", KEY)],
        None,
    )
}

/// As [`cli`], asserting success.
fn ok(server: &Server, args: &[&str]) -> Out {
    let out = cli(server, args);
    assert_eq!(
        out.code, 0,
        "keyzone {args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out
}

fn id(out: &Out) -> String {
    out.json()["id"].as_str().expect("an id").to_owned()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.trim().split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn start(dir: &Path) -> Server {
    Server::start(&dir.join("data"), &[("KEYZONE_BOOTSTRAP_API_KEY", KEY)])
}

#[test]
fn a_zone_administered_from_the_command_line_issues_tokens() {
    let dir = temp_dir("cli");
    let server = start(&dir);

    let zone = id(&ok(
        &server,
        &["zones", "create", "--name", "CLI demo", "--json"],
    ));
    let z = ["--zone", zone.as_str()];
    let zoned = |args: &[&str]| -> Out { ok(&server, &[args, &z[..]].concat()) };

    let agent = id(&zoned(&[
        "applications",
        "create",
        "--identifier",
        "billing-agent",
        "--name",
        "Billing agent",
        "--json",
    ]));
    let mcp = id(&zoned(&[
        "applications",
        "create",
        "--identifier",
        "billing-mcp",
        "--name",
        "Billing MCP",
        "--json",
    ]));
    let api_res = id(&zoned(&[
        "resources",
        "create",
        "--identifier",
        "https://api.example.com",
        "--name",
        "Example API",
        "--prefix",
        "--scope",
        "read",
        "--scope",
        "write",
        "--json",
    ]));
    let mcp_res = id(&zoned(&[
        "resources",
        "create",
        "--identifier",
        "https://mcp.example.com/mcp",
        "--name",
        "Billing MCP",
        "--application",
        &mcp,
        "--json",
    ]));
    let cred = zoned(&["credentials", "create", "--application", &agent, "--json"]).json();
    let client_id = cred["identifier"].as_str().unwrap().to_owned();
    let secret = cred["password"].as_str().unwrap().to_owned();

    // A dependency with a when_accessing list, shown after it is added.
    let dep = zoned(&[
        "dependencies",
        "add",
        &mcp,
        &api_res,
        "--when-accessing",
        &mcp_res,
    ]);
    assert!(dep.stdout.contains("when_accessing"), "{}", dep.stdout);
    assert!(dep.stdout.contains(&mcp_res), "{}", dep.stdout);
    let deps = zoned(&["dependencies", "list", &mcp]);
    let lines: Vec<&str> = deps.stdout.lines().collect();
    assert!(lines[0].starts_with("ID"), "{}", deps.stdout);
    assert!(lines[0].contains("WHEN ACCESSING"), "{}", deps.stdout);
    assert_eq!(lines.len(), 2, "{}", deps.stdout);
    assert!(lines[1].contains(&api_res) && lines[1].contains(&mcp_res));

    // Lists: an aligned table for people, the server's JSON for scripts.
    let table = zoned(&["applications", "list"]).stdout;
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        rows[0].starts_with("ID") && rows[0].contains("IDENTIFIER"),
        "{table}"
    );
    let column = rows[0].find("IDENTIFIER").unwrap();
    assert!(
        rows.iter()
            .skip(1)
            .all(|r| r[column..].starts_with("billing-")),
        "{table}"
    );
    let listed = zoned(&["applications", "list", "--json"]).json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(listed.get("pagination").is_some(), "{listed}");
    let zones = ok(&server, &["zones", "list"]).stdout;
    assert!(
        zones.contains("CLI demo") && zones.contains(&zone),
        "{zones}"
    );
    let resources = zoned(&["resources", "list", "--json"]).json();
    assert_eq!(resources["items"].as_array().unwrap().len(), 2);
    let creds = zoned(&["credentials", "list", "--application", &agent]).stdout;
    assert!(
        creds.contains(&client_id) && creds.contains("password"),
        "{creds}"
    );
    assert!(!creds.contains(&secret), "the secret is shown only once");
    let shown = ok(&server, &["zones", "get", &zone]);
    let issuer = format!("http://127.0.0.1:{}/z/{zone}", server.port);
    assert!(
        shown.stdout.contains("protocols.oauth2.issuer"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains(&issuer), "{}", shown.stdout);

    // Pages: one at a time with a hint, or all of them.
    let page = zoned(&["providers", "list", "--limit", "1"]);
    assert_eq!(page.stdout.lines().count(), 2, "{}", page.stdout);
    assert!(page.stderr.contains("--after "), "{}", page.stderr);
    let all = zoned(&["providers", "list", "--limit", "1", "--all", "--json"]).json();
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    let all = zoned(&["providers", "list", "--limit", "1", "--all"]);
    assert_eq!(all.stdout.lines().count(), 3, "{}", all.stdout);
    assert!(all.stdout.contains("keycard-sts") && all.stdout.contains("keycard-vault"));

    // Updates and secrets (the value from stdin).
    let renamed = zoned(&[
        "resources",
        "update",
        &api_res,
        "--name",
        "Renamed API",
        "--json",
    ]);
    assert_eq!(renamed.json()["name"], "Renamed API");
    let url = format!("http://127.0.0.1:{}", server.port);
    let stored = keyzone(
        &[
            "secrets", "create", "--zone", &zone, "--name", "upstream", "--entity", &api_res,
            "--token", "-", "--json",
        ],
        &[("KEYZONE_SERVER", &url), ("KEYZONE_API_KEY", KEY)],
        Some("s3cr3t-from-stdin\n"),
    );
    assert_eq!(stored.code, 0, "{}", stored.stderr);
    let secret_id = id(&stored);
    let got = zoned(&["secrets", "get", &secret_id, "--json"]).json();
    assert_eq!(got["data"]["token"], "s3cr3t-from-stdin");
    let secrets = zoned(&["secrets", "list"]).stdout;
    assert!(
        secrets.contains("upstream") && !secrets.contains("s3cr3t"),
        "{secrets}"
    );
    zoned(&["sessions", "list"]);
    zoned(&["grants", "list", "--status", "active"]);

    // A client-credentials token whose audience is the resource.
    let token = keyzone(
        &[
            "token",
            "--zone",
            &zone,
            "--client-id",
            &client_id,
            "--resource",
            "https://api.example.com/v1/invoices",
            "--scope",
            "read",
        ],
        &[("KEYZONE_SERVER", &url), ("KEYZONE_CLIENT_SECRET", &secret)],
        None,
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    assert_eq!(
        token.stdout.lines().count(),
        1,
        "only the token: {}",
        token.stdout
    );
    let c = claims(&token.stdout);
    assert_eq!(c["aud"], "https://api.example.com", "{c}");
    assert_eq!(c["scope"], "read");
    assert_eq!(c["iss"], Value::String(issuer.clone()));
    assert_eq!(c["keycard_app_id"], Value::String(agent.clone()));

    // Exchanged by the MCP server, without client authentication, for a
    // token issued for it (its dependency's when_accessing).
    let subject = keyzone(
        &[
            "token",
            "--server",
            &url,
            "-z",
            &zone,
            "--client-id",
            &client_id,
            "--client-secret",
            &secret,
            "--resource",
            "https://mcp.example.com/mcp",
        ],
        &[],
        None,
    );
    assert_eq!(subject.code, 0, "{}", subject.stderr);
    let exchanged = keyzone(
        &[
            "token",
            "--server",
            &url,
            "-z",
            &zone,
            "--exchange",
            "-",
            "--resource",
            "https://api.example.com",
            "--json",
        ],
        &[],
        Some(&subject.stdout),
    );
    assert_eq!(exchanged.code, 0, "{}", exchanged.stderr);
    let answer = exchanged.json();
    assert_eq!(
        answer["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let c = claims(answer["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://api.example.com");
    assert_eq!(c["sub"], Value::String(agent.clone()));
    assert_eq!(c["act"]["sub"], Value::String(mcp.clone()));

    // Exit codes, with the server's message on stderr.
    let missing = cli(&server, &["zones", "get", "zzzzzzzzzzzzzzzzzzzz"]);
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert!(
        missing.stderr.starts_with("keyzone: "),
        "{}",
        missing.stderr
    );
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    assert!(missing.stdout.is_empty());
    let denied = cli(&server, &["zones", "list", "--api-key", "kz_not_a_key"]);
    assert_eq!(denied.code, 4, "{}", denied.stderr);
    assert!(!denied.stderr.contains("kz_not_a_key"), "{}", denied.stderr);
    let taken = cli(
        &server,
        &[
            "applications",
            "create",
            "--zone",
            &zone,
            "--identifier",
            "billing-agent",
            "--name",
            "Again",
        ],
    );
    assert_eq!(taken.code, 5, "{}", taken.stderr);
    assert!(taken.stderr.contains("identifier"), "{}", taken.stderr);
    let invalid = cli(
        &server,
        &[
            "resources",
            "create",
            "-z",
            &zone,
            "--identifier",
            "not a uri",
            "--name",
            "X",
        ],
    );
    assert_eq!(invalid.code, 5, "{}", invalid.stderr);
    assert!(invalid.stderr.contains("identifier"), "{}", invalid.stderr);
    let platform = zoned(&["providers", "list", "--json"]).json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forbidden = cli(&server, &["providers", "delete", &platform, "-z", &zone]);
    assert_eq!(forbidden.code, 4, "{}", forbidden.stderr);
    let wrong_secret = keyzone(
        &[
            "token",
            "--server",
            &url,
            "-z",
            &zone,
            "--client-id",
            &client_id,
            "--client-secret",
            "wrong",
            "--resource",
            "https://api.example.com",
        ],
        &[],
        None,
    );
    assert_eq!(wrong_secret.code, 4, "{}", wrong_secret.stderr);
    assert!(
        wrong_secret.stderr.contains("invalid_client"),
        "{}",
        wrong_secret.stderr
    );
    let no_key = keyzone(&["zones", "list", "--server", &url], &[], None);
    assert_eq!(no_key.code, 4, "{}", no_key.stderr);
    let down = format!("http://127.0.0.1:{}", free_port());
    let unreachable = keyzone(
        &["zones", "list", "--server", &down, "--api-key", KEY],
        &[],
        None,
    );
    assert_eq!(unreachable.code, 6, "{}", unreachable.stderr);
    assert_eq!(cli(&server, &["zones", "frobnicate"]).code, 2);
    let no_zone = cli(&server, &["applications", "list"]);
    assert_eq!(no_zone.code, 2, "{}", no_zone.stderr);

    // Deletes.
    let gone = zoned(&["credentials", "delete", cred["id"].as_str().unwrap()]);
    assert!(
        gone.stdout.starts_with("deleted credential"),
        "{}",
        gone.stdout
    );
    let removed = zoned(&["dependencies", "remove", &mcp, &api_res]);
    assert!(removed.stdout.starts_with("removed"), "{}", removed.stdout);
    assert_eq!(
        cli(
            &server,
            &["dependencies", "get", &mcp, &api_res, "-z", &zone]
        )
        .code,
        3
    );

    // A profile supplies the server, the key and the zone.
    let profiles = dir.join("cli.toml");
    std::fs::write(
        &profiles,
        format!("[profiles.local]\nserver = \"{url}\"\napi_key = \"{KEY}\"\nzone = \"{zone}\"\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&profiles, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = profiles.to_str().unwrap();
    let via_profile = keyzone(
        &["applications", "list", "--profile", "local"],
        // The named profile wins over the environment.
        &[
            ("KEYZONE_CLI_CONFIG", config),
            ("KEYZONE_API_KEY", "kz_wrong"),
        ],
        None,
    );
    assert_eq!(via_profile.code, 0, "{}", via_profile.stderr);
    assert!(via_profile.stdout.contains("billing-agent"));
    assert!(via_profile.stderr.is_empty(), "{}", via_profile.stderr);
    let unknown = keyzone(
        &["zones", "list", "--profile", "prod"],
        &[("KEYZONE_CLI_CONFIG", config)],
        None,
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);

    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");
    assert!(!log.contains(&secret), "client secrets never reach the log");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn api_keys_are_listed_and_revoked_in_the_database() {
    let dir = temp_dir("cli-keys");
    let data = dir.join("data");
    let db = [("KEYZONE_DATA_DIR", data.to_str().unwrap())];
    let server = start(&dir);
    let url = format!("http://127.0.0.1:{}", server.port);

    let created = keyzone(&["api-key", "create", "--name", "ci"], &db, None);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let ci_key = created.stdout.trim().to_owned();
    assert!(ci_key.starts_with("kz_"), "{}", created.stdout);

    let listed = keyzone(&["api-key", "list"], &db, None);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    assert!(lines[0].starts_with("ID") && lines[0].contains("NAME"));
    assert!(lines[1].contains("bootstrap") && lines[2].contains("ci"));
    assert!(!listed.stdout.contains(&ci_key) && !listed.stdout.contains(KEY));
    let json = keyzone(&["api-key", "list", "--json"], &db, None).json();
    let keys = json.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.get("key_hash").is_none()));
    let ci_id = keys[1]["id"].as_str().unwrap().to_owned();
    let bootstrap_id = keys[0]["id"].as_str().unwrap().to_owned();

    let with = |key: &str| {
        keyzone(
            &["zones", "list", "--server", &url, "--api-key", key],
            &[],
            None,
        )
    };
    assert_eq!(with(&ci_key).code, 0);
    let revoked = keyzone(&["api-key", "revoke", &ci_id], &db, None);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert!(revoked.stdout.contains(&ci_id), "{}", revoked.stdout);
    // ApiKeys looks every key up: the running server refuses it at once.
    assert_eq!(with(&ci_key).code, 4);
    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");

    // And a server started afterwards refuses it too.
    let server = start(&dir);
    let url = format!("http://127.0.0.1:{}", server.port);
    let with = |key: &str| {
        keyzone(
            &["zones", "list", "--server", &url, "--api-key", key],
            &[],
            None,
        )
    };
    assert_eq!(with(&ci_key).code, 4);
    assert_eq!(with(KEY).code, 0);
    // The last key is kept; an unknown id is "not found".
    let last = keyzone(&["api-key", "revoke", &bootstrap_id], &db, None);
    assert_eq!(last.code, 5, "{}", last.stderr);
    assert!(last.stderr.contains("only API key"), "{}", last.stderr);
    assert_eq!(keyzone(&["api-key", "revoke", &ci_id], &db, None).code, 3);
    assert_eq!(keyzone(&["api-key", "revoke", "nope"], &db, None).code, 3);
    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn users_are_provisioned_with_a_password_that_never_is_an_argument() {
    let dir = temp_dir("cli-users");
    let server = start(&dir);
    let url = format!("http://127.0.0.1:{}", server.port);
    let env = [("KEYZONE_SERVER", url.as_str()), ("KEYZONE_API_KEY", KEY)];
    let zone = id(&ok(
        &server,
        &["zones", "create", "--name", "CLI users", "--json"],
    ));
    let z = ["--zone", zone.as_str()];
    let users = |args: &[&str], stdin: Option<&str>| -> Out {
        keyzone(&[&["users"], args, &z[..]].concat(), &env, stdin)
    };

    // From stdin, with --json: the server's User.
    let password = "correct horse battery staple";
    let ada = users(
        &[
            "create",
            "--email",
            " Ada@Example.com ",
            "--name",
            "Ada Lovelace",
            "--email-verified",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{password}\n")),
    );
    assert_eq!(ada.code, 0, "{}", ada.stderr);
    let ada = ada.json();
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["email_verified"], true);
    assert_eq!(ada["zone_id"], zone.as_str());

    // From a file, as a table; then without a password at all.
    let file = dir.join("password");
    std::fs::write(&file, "another long password\n").unwrap();
    let bob = users(
        &[
            "create",
            "--email",
            "bob@example.com",
            "--password-file",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(bob.code, 0, "{}", bob.stderr);
    assert!(
        bob.stdout.contains("email  ") && bob.stdout.contains("bob@example.com"),
        "{}",
        bob.stdout
    );
    assert_eq!(
        users(&["create", "--email", "carol@example.com"], None).code,
        0
    );

    let list = users(&["list", "--json"], None);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let list = list.json();
    let emails: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["ada@example.com", "bob@example.com", "carol@example.com"]
    );
    let got = users(&["get", ada["id"].as_str().unwrap()], None);
    assert!(got.stdout.contains("ada@example.com"), "{}", got.stdout);

    // A taken email (409) and a short password (400) are refusals: 5.
    let taken = users(&["create", "--email", "ADA@example.com"], None);
    assert_eq!(taken.code, 5, "{}", taken.stderr);
    let short = users(
        &["create", "--email", "dan@example.com", "--password-stdin"],
        Some("short\n"),
    );
    assert_eq!(short.code, 5, "{}", short.stderr);
    assert!(short.stderr.contains("password"), "{}", short.stderr);
    // No password on the command line, one source at a time, none empty: 2.
    for (args, stdin) in [
        (
            &["create", "--email", "e@example.com", "--password", password][..],
            None,
        ),
        (
            &[
                "create",
                "--email",
                "e@example.com",
                "--password-stdin",
                "--password-file",
                file.to_str().unwrap(),
            ][..],
            Some(password),
        ),
        (
            &["create", "--email", "e@example.com", "--password-stdin"][..],
            Some("\n"),
        ),
    ] {
        let out = users(args, stdin);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
    let help = users(&["create", "--help"], None);
    assert!(
        help.stdout.contains("never taken on the command line"),
        "{}",
        help.stdout
    );

    let (exit, log) = server.stop();
    assert!(exit.success(), "{log}");
    assert!(!log.contains(password), "passwords never reach the log");
    let _ = std::fs::remove_dir_all(dir);
}
