//! Process-level tests: the built `keyzone` binary, started on a free port,
//! driven over HTTP and signals as an operator would.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keyzone");

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("kz-proc-{tag}-{}", std::process::id()))
        .join(format!("{}", rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server whose stderr is collected line by line.
struct Server {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(data_dir: &Path, envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYZONE_LISTEN", format!("127.0.0.1:{port}"))
            .env("KEYZONE_DATA_DIR", data_dir)
            .env("KEYZONE_LOG_FORMAT", "json")
            .current_dir(data_dir.parent().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start keyzone");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let server = Server {
            child,
            port,
            stderr,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http(self.port, "GET", "/readyz", None, None) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become ready:\n{}", self.log());
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        terminate(&self.child);
        let status = wait_exit(&mut self.child, Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(50));
        let log = self.log();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A minimal HTTP/1.1 client over a fresh connection: (status, JSON body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &str) -> std::io::Result<(u16, Value)> {
    let status: u16 = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {raw:?}")))?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn banner_key(log: &str) -> Option<String> {
    log.lines()
        .map(str::trim)
        .find(|l| l.starts_with("kz_") && !l.contains(' '))
        .map(str::to_owned)
}

#[test]
fn first_start_prints_a_key_once_and_data_survives_restart() {
    let dir = temp_dir("first");
    let data = dir.join("data");
    // A fixed public URL: the port changes between starts, the issuer must not.
    let public = [("KEYZONE_PUBLIC_URL", "http://keyzone.test")];
    let server = Server::start(&data, &public);
    let key = banner_key(&server.log()).expect("the first start prints an API key");
    let (status, zone) = http(
        server.port,
        "POST",
        "/zones",
        Some(&key),
        Some(&json!({"name": "Kept"})),
    )
    .unwrap();
    assert_eq!(status, 201, "{zone}");
    let id = zone["id"].as_str().unwrap().to_owned();
    assert!(zone["protocols"]["oauth2"]["issuer"]
        .as_str()
        .unwrap()
        .starts_with("http://keyzone.test/z/"));
    let (exit, log) = server.stop();
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(!log.contains(&format!("Bearer {key}")));
    // Every log line is JSON, and request lines carry the request id.
    let request_lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON log line"))
        .filter(|v: &Value| v["message"] == "request")
        .collect();
    assert!(!request_lines.is_empty());
    for l in &request_lines {
        assert!(l["span"]["request_id"].is_string(), "{l}");
        assert!(l["route"].is_string() && l["status"].is_number() && l["latency_ms"].is_number());
    }

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "data directory must be private");
    }

    let server = Server::start(&data, &public);
    assert_eq!(
        banner_key(&server.log()),
        None,
        "the key is printed only once"
    );
    let (status, got) = http(
        server.port,
        "GET",
        &format!("/zones/{id}"),
        Some(&key),
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(got, zone, "a restart must return exactly what was stored");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bootstrap_key_from_environment_is_used_only_once() {
    let dir = temp_dir("boot");
    let data = dir.join("data");
    let a = "kz_env_chosen_key_aaaaaaaaaaaaaaaa";
    let b = "kz_env_chosen_key_bbbbbbbbbbbbbbbb";
    let server = Server::start(&data, &[("KEYZONE_BOOTSTRAP_API_KEY", a)]);
    assert_eq!(
        banner_key(&server.log()),
        None,
        "a chosen key is not echoed"
    );
    assert!(!server.log().contains(a));
    assert_eq!(
        http(server.port, "GET", "/zones", Some(a), None).unwrap().0,
        200
    );
    server.stop();
    let server = Server::start(&data, &[("KEYZONE_BOOTSTRAP_API_KEY", b)]);
    assert_eq!(
        http(server.port, "GET", "/zones", Some(b), None).unwrap().0,
        401
    );
    assert_eq!(
        http(server.port, "GET", "/zones", Some(a), None).unwrap().0,
        200
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = temp_dir("term");
    let key = "kz_graceful_key_0123456789abcdef";
    let mut server = Server::start(&dir.join("data"), &[("KEYZONE_BOOTSTRAP_API_KEY", key)]);
    let body = json!({"name": "In flight"}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /zones HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    terminate(&server.child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    s.write_all(tail.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (status, zone) = parse_response(&raw).unwrap();
    assert_eq!(status, 201, "{raw}");
    assert_eq!(zone["name"], "In flight");
    let exit = wait_exit(&mut server.child, Duration::from_secs(15));
    assert!(exit.success(), "{exit:?}\n{}", server.log());
    // New connections are refused once it has stopped.
    assert!(http(server.port, "GET", "/healthz", None, None).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

fn run(args: &[&str], envs: &[(&str, &str)], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(envs.iter().copied())
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_redacts_secrets_and_refuses_bad_values() {
    let dir = temp_dir("cfg");
    let (code, out, err) = run(
        &["check-config"],
        &[
            (
                "KEYZONE_DATABASE_URL",
                "postgres://kz:hunter2@db.internal/keyzone",
            ),
            (
                "KEYZONE_BOOTSTRAP_API_KEY",
                "kz_very_secret_bootstrap_value",
            ),
            ("KEYZONE_ZONE_DOMAIN", "zones.example.com"),
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("listen = \"127.0.0.1:8080\""), "{out}");
    assert!(out.contains("zone_domain = \"zones.example.com\""), "{out}");
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}"
    );
    assert!(!out.contains("very_secret"), "{out}");

    std::fs::write(
        dir.join("keyzone.toml"),
        "listen = \"127.0.0.1:9999\"\nlog_format = \"json\"\n",
    )
    .unwrap();
    let (code, out, _) = run(&["check-config"], &[], &dir);
    assert_eq!(code, 0);
    assert!(
        out.contains("127.0.0.1:9999") && out.contains("keyzone.toml"),
        "{out}"
    );
    let (_, out, _) = run(
        &["check-config", "--listen", "127.0.0.1:7777"],
        &[("KEYZONE_LISTEN", "127.0.0.1:8888")],
        &dir,
    );
    assert!(
        out.contains("127.0.0.1:7777"),
        "flags win over environment: {out}"
    );
    let (_, out, _) = run(
        &["check-config"],
        &[("KEYZONE_LISTEN", "127.0.0.1:8888")],
        &dir,
    );
    assert!(
        out.contains("127.0.0.1:8888"),
        "environment wins over the file: {out}"
    );

    std::fs::write(dir.join("keyzone.toml"), "lisen = \"typo\"\n").unwrap();
    let (code, _, err) = run(&["check-config"], &[], &dir);
    assert_eq!(code, 2);
    assert!(err.contains("keyzone.toml"), "{err}");
    std::fs::remove_file(dir.join("keyzone.toml")).unwrap();

    let (code, _, err) = run(
        &["serve", "--database-url", "mysql://root@localhost/k"],
        &[],
        &dir,
    );
    assert_eq!(code, 2);
    assert!(err.contains("unsupported database URL scheme"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn migrate_and_api_key_create() {
    let dir = temp_dir("keys");
    let data = dir.join("data");
    let data_s = data.to_str().unwrap();
    let (code, _, err) = run(&["migrate", "--data-dir", data_s], &[], &dir);
    assert_eq!(code, 0, "{err}");
    let (code, key, err) = run(
        &["api-key", "create", "--name", "ci", "--data-dir", data_s],
        &[],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("kz_"), "{key}");
    assert!(!err.contains(&key), "the key goes to stdout only");
    let server = Server::start(&data, &[]);
    assert_eq!(
        http(server.port, "GET", "/zones", Some(&key), None)
            .unwrap()
            .0,
        200
    );
    drop(server);
    let (code, _, _) = run(
        &["api-key", "create", "--name", "<b>", "--data-dir", data_s],
        &[],
        &dir,
    );
    assert_ne!(code, 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn serves_from_postgres() {
    let Ok(url) = std::env::var("KEYZONE_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("KEYZONE_TEST_POSTGRES_URL must be set in CI");
        }
        eprintln!(
            "\n*** SKIPPING serves_from_postgres: KEYZONE_TEST_POSTGRES_URL is not set ***\n"
        );
        return;
    };
    let db = format!("kz_proc_{}", rand_suffix());
    let admin = sqlx::PgPool::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let db_url = format!("{base}/{db}");
    let dir = temp_dir("pg");
    let key = "kz_postgres_key_0123456789abcdef";
    let envs = [
        ("KEYZONE_DATABASE_URL", db_url.as_str()),
        ("KEYZONE_BOOTSTRAP_API_KEY", key),
    ];
    let server = Server::start(&dir.join("data"), &envs);
    let (status, zone) = http(
        server.port,
        "POST",
        "/zones",
        Some(key),
        Some(&json!({"name": "On PG"})),
    )
    .unwrap();
    assert_eq!(status, 201);
    server.stop();
    // A second node on the same database sees it.
    let server = Server::start(&dir.join("data2"), &envs);
    let (status, got) = http(
        server.port,
        "GET",
        &format!("/zones/{}", zone["id"].as_str().unwrap()),
        Some(key),
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(got["name"], "On PG");
    assert!(
        !dir.join("data2").join("keyzone.db").exists(),
        "no SQLite file when on PostgreSQL"
    );
    drop(server);
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
