//! The port for outbound mail: verification codes and invitations. The
//! SMTP client is `keyzone-mail`; without one configured the deployment
//! has no mailer and emails stay unverified.

use async_trait::async_trait;

/// One plain-text message to one address.
#[derive(Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// May hold a secret (a code, an invitation link): never logged.
    pub text: String,
}

/// Shows the address and subject, never the body.
impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    /// The message or an address was refused (a permanent SMTP error).
    #[error("mail refused: {0}")]
    Refused(String),
    /// The mail server could not be reached, timed out or failed for now.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands the message to the mail server; returns once it accepted it.
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}
