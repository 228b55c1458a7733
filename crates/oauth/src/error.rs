//! RFC 6749 §5.2 error responses (plus RFC 8707 `invalid_target` and
//! RFC 8693's use of `invalid_request`/`invalid_target`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// RFC 8707 §2.
    InvalidTarget,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    InvalidClientMetadata,
    /// RFC 6749 §4.1.2.1.
    UnsupportedResponseType,
    /// OpenID Connect Core §3.1.2.6 (`prompt=none`).
    LoginRequired,
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, but the flow needs the
    /// person (an upstream API to connect).
    InteractionRequired,
    /// RFC 6750 §3.1 (a protected resource's answer, with 401).
    InvalidToken,
    /// Keycard: the user has no usable delegated grant for the upstream
    /// resource (keycardai-oauth `exceptions.py`: permanent, HTTP 400).
    InsufficientAuthorization,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientAuthorization => "insufficient_authorization",
        }
    }

    /// RFC 6749 §5.2: 400, except `invalid_client` (401 when the client
    /// tried to authenticate) and server-side failures.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An error a client can act on: the code, and a description written for
/// the developer reading it. Never internal details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

/// Longest `error_description` sent; longer ones are cut (a backstop: the
/// values a description quotes are already cut by [`echo`]).
pub const MAX_DESCRIPTION: usize = 1024;
/// Longest piece of a request quoted back in a description.
pub const MAX_ECHO: usize = 100;

/// A request value quoted in an error description, Debug-quoted (so
/// control characters are escaped) and cut to [`MAX_ECHO`] characters: an
/// error never echoes a large or hostile input back whole.
pub fn echo(value: &str) -> String {
    if value.chars().count() <= MAX_ECHO {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(MAX_ECHO).collect();
    format!("{head:?}… ({} bytes)", value.len())
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: cut(description.into()),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the authorization server failed; try again later",
        )
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_values_and_descriptions_are_bounded() {
        assert_eq!(echo("read"), "\"read\"");
        let long = "é".repeat(70_000);
        let e = echo(&long);
        assert!(e.chars().count() < MAX_ECHO + 40, "{e}");
        assert!(e.ends_with("(140000 bytes)"));
        assert_eq!(echo("a\u{0}b"), "\"a\\0b\"");
        let d = OAuthError::invalid_request(long).description;
        assert!(d.len() <= MAX_DESCRIPTION + '…'.len_utf8());
    }
}
