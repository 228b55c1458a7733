//! Keyzone's SMTP client: core's [`Mailer`] on lettre, over rustls with the
//! aws-lc-rs provider and Mozilla's roots (no native TLS, no ring).
//!
//! The server is named by a URL, which says how the connection is
//! protected:
//!
//! - `smtps://host[:port]`: TLS from the first byte (RFC 8314), port 465
//!   by default;
//! - `smtp+starttls://host[:port]`: plain, then STARTTLS, which must
//!   succeed (RFC 3207), port 587 by default;
//! - `smtp://host[:port]`: no TLS at all, port 25 by default: for a relay
//!   on the same host or a local test sink only (codes would cross the
//!   network in the clear).
//!
//! Credentials never go in the URL: they are settings of their own, so the
//! password can be redacted wherever the configuration is shown.

use async_trait::async_trait;
use keyzone_core::mail::{Mail, MailError, Mailer};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: implicit TLS.
    Tls,
    /// `smtp+starttls://`: STARTTLS, required.
    StartTls,
    /// `smtp://`: none.
    Plain,
}

/// A parsed `smtp_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub security: Security,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses and checks an SMTP URL (see the crate documentation).
    pub fn parse(raw: &str) -> Result<Endpoint, String> {
        let url = url::Url::parse(raw).map_err(|_| format!("{raw:?} is not a URL"))?;
        let (security, default_port) = match url.scheme() {
            "smtps" => (Security::Tls, 465),
            "smtp+starttls" => (Security::StartTls, 587),
            "smtp" => (Security::Plain, 25),
            other => {
                return Err(format!(
                    "scheme {other:?}: use smtps://, smtp+starttls:// or smtp://"
                ))
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "put the credentials in smtp_username and smtp_password, not in the URL".into(),
            );
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{raw:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !(url.path().is_empty() || url.path() == "/")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(format!("{raw:?}: only scheme, host and port are read"));
        }
        Ok(Endpoint {
            security,
            port: url.port().unwrap_or(default_port),
            host,
        })
    }

    /// Whether the host is this machine (plain SMTP is for that case).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback())
    }
}

/// What the SMTP client needs.
#[derive(Clone)]
pub struct SmtpSettings {
    pub endpoint: Endpoint,
    /// The `From` address (`Keyzone <no-reply@example.com>` or a bare one).
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Connecting and each SMTP command.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Core's [`Mailer`] over SMTP. A connection per message: mail is rare
/// (sign-ups and invitations), so no pool is kept open.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(s: &SmtpSettings) -> Result<SmtpMailer, String> {
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|_| format!("smtp_from {:?} is not an email address", s.from))?;
        let host = s.endpoint.host.clone();
        let tls = || TlsParameters::new(host.clone()).map_err(|e| format!("TLS for {host}: {e}"));
        let tls = match s.endpoint.security {
            Security::Tls => Tls::Wrapper(tls()?),
            Security::StartTls => Tls::Required(tls()?),
            Security::Plain => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(s.endpoint.port)
            .tls(tls)
            .timeout(Some(s.timeout));
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(SmtpMailer {
            transport: b.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Refused("the recipient is not an email address".into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| MailError::Refused(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // lettre's errors carry the server's reply, never the body.
            Err(e) if e.is_permanent() => Err(MailError::Refused(e.to_string())),
            Err(e) => Err(MailError::Unavailable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("smtps://mail.example.com").unwrap();
        assert_eq!((e.security, e.port), (Security::Tls, 465));
        let e = Endpoint::parse("smtp+starttls://mail.example.com").unwrap();
        assert_eq!((e.security, e.port), (Security::StartTls, 587));
        let e = Endpoint::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((e.security, e.port), (Security::Plain, 2525));
        assert!(e.is_loopback());
        assert!(Endpoint::parse("smtp://[::1]:25").unwrap().is_loopback());
        assert!(Endpoint::parse("http://mail.example.com").is_err());
        assert!(Endpoint::parse("smtps://u:p@mail.example.com").is_err());
        assert!(Endpoint::parse("smtp://mail.example.com/x").is_err());
        assert!(Endpoint::parse("smtp://mail.example.com?tls=required").is_err());
    }
}
