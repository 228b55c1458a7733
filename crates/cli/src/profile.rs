//! Where the server is and who we are: flags, environment variables and
//! profiles in `~/.config/keyzone/cli.toml`.
//!
//! Order, first wins: a flag; the profile named by `--profile` or
//! `KEYZONE_PROFILE`; the environment; the `default` profile; the built-in
//! default. A profile named on purpose beats the environment, so a key
//! exported for one server is never sent to the server of another profile
//! that sets its own.

use crate::args::SecretArg;
use crate::Failure;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// `cli.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// `[profiles.NAME]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub server: Option<String>,
    pub api_key: Option<SecretArg>,
    pub zone: Option<String>,
    /// PEM file of extra CA certificates to trust (a private CA).
    pub ca_cert: Option<PathBuf>,
}

/// What the command line gave.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flags<'a> {
    pub server: Option<&'a str>,
    pub api_key: Option<&'a SecretArg>,
    pub profile: Option<&'a str>,
    pub zone: Option<&'a str>,
}

/// The settings a command runs with.
#[derive(Debug)]
pub struct Settings {
    pub server: url::Url,
    pub api_key: Option<SecretArg>,
    pub zone: Option<String>,
    pub ca_cert: Option<PathBuf>,
}

/// The profile file's path: `KEYZONE_CLI_CONFIG`, else
/// `$XDG_CONFIG_HOME/keyzone/cli.toml`, else `~/.config/keyzone/cli.toml`.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = var("KEYZONE_CLI_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = match var("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(var("HOME")?).join(".config"),
    };
    Some(base.join("keyzone").join("cli.toml"))
}

/// Reads the profile file; `None` when it does not exist.
pub fn load(path: &Path) -> Result<Option<ProfileFile>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let file: ProfileFile = toml::from_str(&text)
        .map_err(|e| Failure::usage(format!("invalid {}: {}", path.display(), e.message())))?;
    warn_if_readable(path, &file);
    Ok(Some(file))
}

/// A file holding API keys should be readable by its owner only.
fn warn_if_readable(path: &Path, file: &ProfileFile) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let has_keys = file.profiles.values().any(|p| p.api_key.is_some());
        if let Ok(meta) = std::fs::metadata(path) {
            if has_keys && meta.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "keyzone: warning: {} holds API keys and others may read it; chmod 600 it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
}

/// Resolves the settings from the flags, the environment (`env`) and the
/// profile file at `path`.
pub fn resolve(
    flags: Flags<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    path: Option<&Path>,
) -> Result<Settings, Failure> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let named = flags
        .profile
        .map(str::to_owned)
        .or_else(|| var("KEYZONE_PROFILE"));
    let file = match path {
        Some(p) => load(p)?,
        None => None,
    };
    let shown = || path.map_or("the profile file".to_owned(), |p| p.display().to_string());
    let (chosen, fallback) = match &named {
        Some(name) => {
            let file = file.ok_or_else(|| {
                Failure::usage(format!("profile {name:?}: {} does not exist", shown()))
            })?;
            let profile = file
                .profiles
                .get(name)
                .cloned()
                .ok_or_else(|| Failure::usage(format!("no profile {name:?} in {}", shown())))?;
            (profile, Profile::default())
        }
        None => (
            Profile::default(),
            file.and_then(|f| f.profiles.get("default").cloned())
                .unwrap_or_default(),
        ),
    };
    let server_raw = flags
        .server
        .map(str::to_owned)
        .or(chosen.server)
        .or_else(|| var("KEYZONE_SERVER"))
        .or(fallback.server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let server = parse_server(&server_raw)?;
    let api_key = flags
        .api_key
        .cloned()
        .or(chosen.api_key)
        .or_else(|| var("KEYZONE_API_KEY").map(SecretArg::new))
        .or_else(|| var("KEYCARD_API_API_KEY").map(SecretArg::new))
        .or(fallback.api_key)
        .filter(|k| !k.expose().is_empty());
    let zone = flags
        .zone
        .map(str::to_owned)
        .or(chosen.zone)
        .or_else(|| var("KEYZONE_ZONE"))
        .or(fallback.zone);
    let ca_cert = chosen
        .ca_cert
        .or_else(|| var("KEYZONE_CA_CERT").map(PathBuf::from))
        .or(fallback.ca_cert);
    Ok(Settings {
        server,
        api_key,
        zone,
        ca_cert,
    })
}

/// An absolute http(s) URL with a host; a path prefix is kept.
pub fn parse_server(raw: &str) -> Result<url::Url, Failure> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| Failure::usage(format!("server {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Failure::usage(format!(
            "server {raw:?} must be an http(s) URL with a host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(Failure::usage(format!(
            "server {raw:?} must not have a query, fragment or user name"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn file(dir: &Path, text: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join("cli.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tmp(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("kz-cli-{tag}-{}", std::process::id()))
    }

    const PROFILES: &str = r#"
[profiles.default]
server = "http://default.test"
api_key = "kz_default"

[profiles.prod]
server = "https://prod.test/keyzone"
api_key = "kz_prod"
zone = "zprod"
"#;

    #[test]
    fn flags_then_named_profile_then_env_then_default_profile() {
        let path = file(&tmp("order"), PROFILES);
        let env: HashMap<&str, &str> = [
            ("KEYZONE_SERVER", "http://env.test"),
            ("KEYZONE_API_KEY", "kz_env"),
            ("KEYZONE_ZONE", "zenv"),
        ]
        .into();
        let env_fn = |k: &str| env.get(k).map(|v| v.to_string());
        // The environment beats the default profile.
        let s = resolve(Flags::default(), &env_fn, Some(&path)).unwrap();
        assert_eq!(s.server.as_str(), "http://env.test/");
        assert_eq!(s.api_key.unwrap().expose(), "kz_env");
        assert_eq!(s.zone.as_deref(), Some("zenv"));
        // A profile named on purpose beats the environment.
        let flags = Flags {
            profile: Some("prod"),
            ..Flags::default()
        };
        let s = resolve(flags, &env_fn, Some(&path)).unwrap();
        assert_eq!(s.server.as_str(), "https://prod.test/keyzone");
        assert_eq!(s.api_key.unwrap().expose(), "kz_prod");
        assert_eq!(s.zone.as_deref(), Some("zprod"));
        // Flags beat everything.
        let key = SecretArg::new("kz_flag");
        let flags = Flags {
            server: Some("http://flag.test"),
            api_key: Some(&key),
            profile: Some("prod"),
            zone: Some("zflag"),
        };
        let s = resolve(flags, &env_fn, Some(&path)).unwrap();
        assert_eq!(s.server.as_str(), "http://flag.test/");
        assert_eq!(s.api_key.unwrap().expose(), "kz_flag");
        assert_eq!(s.zone.as_deref(), Some("zflag"));
        // Without environment, the default profile.
        let none = |_: &str| None;
        let s = resolve(Flags::default(), &none, Some(&path)).unwrap();
        assert_eq!(s.server.as_str(), "http://default.test/");
        assert_eq!(s.api_key.unwrap().expose(), "kz_default");
    }

    #[test]
    fn defaults_and_the_sdk_variable() {
        let env = |k: &str| (k == "KEYCARD_API_API_KEY").then(|| "kz_sdk".to_owned());
        let s = resolve(Flags::default(), &env, None).unwrap();
        assert_eq!(s.server.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(s.api_key.unwrap().expose(), "kz_sdk");
        assert_eq!(s.zone, None);
    }

    #[test]
    fn unknown_profiles_and_bad_files_are_usage_errors() {
        let none = |_: &str| None;
        let path = file(&tmp("bad"), PROFILES);
        let flags = Flags {
            profile: Some("staging"),
            ..Flags::default()
        };
        let e = resolve(flags, &none, Some(&path)).unwrap_err();
        assert_eq!(e.exit, crate::Exit::Usage);
        assert!(e.message.contains("staging"), "{}", e.message);
        let missing = tmp("missing").join("cli.toml");
        assert!(resolve(flags, &none, Some(&missing)).is_err());
        let typo = file(&tmp("typo"), "[profiles.x]\nserverr = \"http://x\"\n");
        let e = resolve(Flags::default(), &none, Some(&typo)).unwrap_err();
        assert_eq!(e.exit, crate::Exit::Usage);
        for bad in ["ftp://x", "not a url", "http://x/?q=1", "http://u@x"] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let none = |_: &str| None;
        let key = SecretArg::new("kz_very_secret_value");
        let flags = Flags {
            api_key: Some(&key),
            ..Flags::default()
        };
        let s = resolve(flags, &none, None).unwrap();
        let shown = format!("{s:?} {flags:?}");
        assert!(!shown.contains("very_secret"), "{shown}");
        let f: ProfileFile = toml::from_str(PROFILES).unwrap();
        assert!(!format!("{f:?}").contains("kz_prod"));
    }

    #[test]
    fn config_path_order() {
        let env: HashMap<&str, &str> = [("HOME", "/home/u")].into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        assert_eq!(
            config_path(&get).unwrap(),
            PathBuf::from("/home/u/.config/keyzone/cli.toml")
        );
        let env: HashMap<&str, &str> = [("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/x")].into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        assert_eq!(
            config_path(&get).unwrap(),
            PathBuf::from("/x/keyzone/cli.toml")
        );
        let env: HashMap<&str, &str> = [("KEYZONE_CLI_CONFIG", "/etc/kz.toml")].into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        assert_eq!(config_path(&get).unwrap(), PathBuf::from("/etc/kz.toml"));
    }
}
