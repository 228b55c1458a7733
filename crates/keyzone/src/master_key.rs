//! Loading the master key, and the key file's life cycle.
//!
//! With no `KEYZONE_MASTER_KEY`, the key lives in a file (mode 0600) that
//! `serve` creates on first start. Rotation writes the new key to
//! `<file>.new`, re-wraps the data keys in one transaction, then renames
//! `<file>.new` over `<file>`. A crash between the commit and the rename is
//! finished at the next start; a crash before the commit leaves the
//! database as it was, and re-running reuses `<file>.new`.

use crate::config::MasterKeySource;
use anyhow::{bail, Context};
use keyzone_crypto::MasterKey;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn pending_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".new");
    PathBuf::from(s)
}

fn read_file(path: &Path) -> anyhow::Result<MasterKey> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read master key file {}", path.display()))?,
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(file = %path.display(), mode = format!("{mode:o}"), "master key file is readable by others; chmod 600 it");
        }
    }
    MasterKey::from_base64(&text)
        .map_err(|_| anyhow::anyhow!("{} does not hold a base64 32-byte key", path.display()))
}

/// Writes a chosen key (base64) to `<file>.new`, replacing a stale one.
pub fn write_pending(file: &Path, b64: &str) -> anyhow::Result<()> {
    let pending = pending_path(file);
    if pending.exists() {
        std::fs::remove_file(&pending)?;
    }
    write_new(&pending, b64)
}

/// Writes a fresh key to `path`, which must not exist, readable by the
/// owner only, and durably.
pub fn create_file(path: &Path) -> anyhow::Result<MasterKey> {
    let (key, b64) = MasterKey::generate();
    write_new(path, &b64)?;
    Ok(key)
}

fn write_new(path: &Path, b64: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create master key file {}", path.display()))?;
    f.write_all(b64.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    sync_dir(path);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// The configured master key; the file is created when `create` is set and
/// it does not exist yet.
pub fn load(source: &MasterKeySource, create: bool) -> anyhow::Result<MasterKey> {
    match source {
        MasterKeySource::Value(s) => MasterKey::from_base64(s.expose()).map_err(|_| {
            anyhow::anyhow!("KEYZONE_MASTER_KEY must be the base64 of 32 random bytes")
        }),
        MasterKeySource::File(p) if p.exists() => read_file(p),
        MasterKeySource::File(p) if create => {
            let key = create_file(p)?;
            tracing::info!(file = %p.display(), id = key.id(), "created a new master key file; back it up");
            Ok(key)
        }
        MasterKeySource::File(p) => bail!("master key file {} does not exist", p.display()),
    }
}

/// After a crash between a rotation's commit and its rename, the database
/// is under `<file>.new`: finish the rename if that is the key it records.
pub fn finish_interrupted_rotation(
    source: &MasterKeySource,
    recorded_id: &str,
) -> anyhow::Result<Option<MasterKey>> {
    let MasterKeySource::File(p) = source else {
        return Ok(None);
    };
    let pending = pending_path(p);
    if !pending.exists() {
        return Ok(None);
    }
    let key = read_file(&pending)?;
    if key.id() != recorded_id {
        return Ok(None);
    }
    std::fs::rename(&pending, p)?;
    sync_dir(p);
    tracing::warn!(file = %p.display(), "finished an interrupted master key rotation");
    Ok(Some(key))
}

/// Installs `<file>.new` as the key file once the database uses it.
pub fn commit_pending(file: &Path) -> anyhow::Result<()> {
    std::fs::rename(pending_path(file), file)?;
    sync_dir(file);
    Ok(())
}
