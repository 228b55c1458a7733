//! `keyzone-cli`: the `keyzone` commands that talk HTTP to a running
//! server — the management API (zones, the directory, secrets, identity
//! records) and a zone's token endpoint (`keyzone token`).
//!
//! The binary flattens [`Command`] into its own command line and hands a
//! parsed command to [`run`]. Request and response bodies stay
//! `serde_json::Value`: the wire types live in `keyzone-api` alone, and this
//! crate only picks the fields it sets from flags and the columns it shows.
//!
//! - `args.rs`: the clap definitions
//! - `profile.rs`: flags, environment and `~/.config/keyzone/cli.toml`
//! - `http.rs`: the reqwest client (rustls on aws-lc-rs, Mozilla roots) and
//!   the mapping of answers to [`Exit`] codes
//! - `commands.rs`: one function per command group
//! - `output.rs`: tables and key/value views
//!
//! Documented in docs/cli.md.

mod args;
mod commands;
mod http;
mod output;
mod profile;

pub use args::{Command, SecretArg};

use std::process::ExitCode;

/// The exit statuses, documented in docs/cli.md. Usage errors found by clap
/// exit with 2 before [`run`] is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else (an unexpected answer, a local I/O error).
    Failure = 1,
    /// Wrong or missing arguments, or a bad profile file.
    Usage = 2,
    /// 404: no such zone, entity or route.
    NotFound = 3,
    /// 401 or 403: no valid API key or client credentials, or not allowed
    /// (platform-owned entities are read only).
    Denied = 4,
    /// 400, 409 or 412: a validation error, a conflict, a failed precondition.
    Rejected = 5,
    /// The server cannot be reached, timed out, or answered 5xx.
    Unavailable = 6,
}

impl Exit {
    /// The exit status for an HTTP error status.
    pub fn for_status(status: u16) -> Exit {
        match status {
            404 => Exit::NotFound,
            401 | 403 => Exit::Denied,
            400 | 409 | 412 | 422 => Exit::Rejected,
            s if s >= 500 => Exit::Unavailable,
            _ => Exit::Failure,
        }
    }
}

/// Why a command failed: printed on stderr as `keyzone: <message>`, one
/// indented line per detail, and turned into the exit status.
#[derive(Debug, Clone)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub details: Vec<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }
}

/// Runs one client command to the end: prints its output on stdout, or its
/// failure on stderr, and returns the exit status.
pub fn run(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keyzone: cannot start: {e}");
            return ExitCode::from(Exit::Failure as u8);
        }
    };
    match runtime.block_on(commands::run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("keyzone: {}", f.message);
            for d in &f.details {
                eprintln!("  {d}");
            }
            ExitCode::from(f.exit as u8)
        }
    }
}
