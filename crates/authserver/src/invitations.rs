//! Invitations of email addresses to a zone (a Keyzone extension of the
//! management API: `POST/GET /zones/{zone_id}/user-invitations`,
//! `DELETE …/{id}`), and the page their link opens.
//!
//! An invitation puts an email on the zone's allowlist: in a zone with
//! `requires_invitation`, only an invited address may sign up. Its link,
//! `{issuer}/oauth/invitation?token=…`, lets the person set a password;
//! the link reached them by email, so that also verifies the address. The
//! token is a 256-bit secret stored only as its SHA-256 digest: it is
//! returned once, in the creating response (for operators without SMTP),
//! and never logged (the access log records paths, not queries).

use crate::signin::{digest, normalize_email, random_secret, refused, valid_email, Outcome, Step};
use crate::token::{internal, TokenService};
use keyzone_core::error::parse_id;
use keyzone_core::mail::Mail;
use keyzone_core::{Constraint, CoreError, ZoneScope};
use keyzone_domain::invitation::{Invitation, INVITATION_LIFETIME_SECS};
use keyzone_domain::zone::Zone;
use keyzone_domain::{InvitationId, Page, PageRequest, Timestamp, ValidationErrors};
use keyzone_oauth::OAuthError;

/// The management API's email rule, exactly as the OpenAPI document
/// states it (`Email`): the sign-in pages' rule (`valid_email`) on printable
/// ASCII, one `@`, no surrounding space.
pub fn api_email(email: &str) -> bool {
    email.len() <= 254
        && email.bytes().all(|b| (0x21..=0x7e).contains(&b))
        && email.bytes().filter(|b| *b == b'@').count() == 1
        && valid_email(email)
}

/// A new invitation with its link (shown once).
#[derive(Debug, Clone)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// Holds the secret token: for the caller only, never logged.
    pub url: String,
    /// Whether the link was mailed (a mail server is configured and took it).
    pub email_sent: bool,
}

impl TokenService {
    /// Invites an email to the zone: 409 when it already signs in to the
    /// zone or has a pending invitation.
    pub async fn invite(
        &self,
        scope: &ZoneScope,
        email: &str,
    ) -> Result<CreatedInvitation, CoreError> {
        let zone = scope.zone();
        if !api_email(email) {
            let mut errs = ValidationErrors::new();
            errs.add("email", "must be an email address");
            return Err(errs.into());
        }
        let email = email.to_ascii_lowercase();
        if self
            .signin
            .local_user_by_email(&zone.id, &email)
            .await?
            .is_some()
        {
            return Err(CoreError::Conflict(Constraint::UserEmailUnique));
        }
        let now = Timestamp::now();
        if let Some(old) = self.signin.invitation_by_email(&zone.id, &email).await? {
            if old.pending_at(now) {
                return Err(CoreError::Conflict(Constraint::InvitationEmailUnique));
            }
            // Expired, or accepted by a user who has since been deleted.
            self.signin.delete_invitation(&zone.id, &old.id).await?;
        }
        let token = random_secret();
        let invitation = Invitation {
            id: InvitationId::generate(),
            zone_id: zone.id.clone(),
            email,
            created_at: now,
            expires_at: Timestamp::from_micros(
                now.as_micros() + INVITATION_LIFETIME_SECS * 1_000_000,
            ),
            accepted_at: None,
        };
        self.signin
            .insert_invitation(&invitation, &digest(&token))
            .await?;
        let url = format!(
            "{}/oauth/invitation?token={token}",
            self.layout.issuer(&zone.id)
        );
        let mut email_sent = false;
        if let Some(mailer) = &self.mailer {
            let mail = Mail {
                to: invitation.email.clone(),
                subject: format!("You are invited to {}", zone.name),
                text: format!(
                    "You are invited to {}.\n\n\
                     Open this link to set your password:\n\n{url}\n\n\
                     The link works once, for {} days. If you did not expect this \
                     invitation, you can ignore this email.\n",
                    zone.name,
                    INVITATION_LIFETIME_SECS / 86_400
                ),
            };
            match mailer.send(&mail).await {
                Ok(()) => email_sent = true,
                // The invitation stands; the response's link can be passed on.
                Err(e) => tracing::warn!(zone = %zone.id, invitation = %invitation.id, error = %e,
                    "invitation email not sent"),
            }
        }
        Ok(CreatedInvitation {
            invitation,
            url,
            email_sent,
        })
    }

    pub async fn list_invitations(
        &self,
        scope: &ZoneScope,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, CoreError> {
        Ok(self.signin.list_invitations(scope.id(), page).await?)
    }

    /// Revokes (deletes) an invitation; its link stops working.
    pub async fn revoke_invitation(&self, scope: &ZoneScope, id: &str) -> Result<(), CoreError> {
        let id = parse_id(id, "invitation", InvitationId::parse)?;
        if !self.signin.delete_invitation(scope.id(), &id).await? {
            return Err(CoreError::NotFound {
                entity: "invitation",
            });
        }
        Ok(())
    }

    /// The pending invitation of an email, if any.
    pub(crate) async fn pending_invitation(
        &self,
        zone: &Zone,
        email: &str,
    ) -> Result<Option<Invitation>, OAuthError> {
        let i = self
            .signin
            .invitation_by_email(&zone.id, &normalize_email(email))
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(i.filter(|i| i.pending_at(Timestamp::now())))
    }

    /// Marks an invitation used (by the sign-up of its email).
    pub(crate) async fn use_invitation(
        &self,
        zone: &Zone,
        i: &Invitation,
    ) -> Result<(), OAuthError> {
        self.signin
            .accept_invitation(&zone.id, &i.id, Timestamp::now())
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(())
    }

    async fn invitation_of_token(
        &self,
        zone: &Zone,
        token: &str,
    ) -> Result<Option<Invitation>, OAuthError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let i = self
            .signin
            .invitation_by_token(&zone.id, &digest(token))
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(i.filter(|i| i.pending_at(Timestamp::now())))
    }

    /// `GET {issuer}/oauth/invitation?token=…`: the set-a-password form.
    pub async fn invitation_page(&self, zone: &Zone, token: &str) -> Outcome {
        match self.invitation_of_token(zone, token).await {
            Ok(Some(i)) => Outcome::step(Step::Invitation {
                token: token.to_owned(),
                email: i.email,
                error: None,
            }),
            Ok(None) => no_invitation(),
            Err(e) => {
                tracing::warn!(zone = %zone.id, error = %e, "invitation page failed");
                refused(500, "Something went wrong", "Please try again later.")
            }
        }
    }

    /// `POST {issuer}/oauth/invitation`: creates the account with the
    /// password given, its email verified, and uses the invitation up.
    pub async fn accept_invitation(&self, zone: &Zone, token: &str, password: &str) -> Outcome {
        let result = async {
            let Some(i) = self.invitation_of_token(zone, token).await? else {
                return Ok(no_invitation());
            };
            let again = |error: String| {
                Outcome::step(Step::Invitation {
                    token: token.to_owned(),
                    email: i.email.clone(),
                    error: Some(error),
                })
            };
            if let Some(p) = crate::passwords::problem(password, self.password_blocklist) {
                return Ok(again(format!("The password {p}.")));
            }
            // Single use, whatever the concurrency: the one that marks it.
            if !self
                .signin
                .accept_invitation(&zone.id, &i.id, Timestamp::now())
                .await
                .map_err(|e| internal(e.into()))?
            {
                return Ok(no_invitation());
            }
            match self
                .provision_user(zone, &i.email, Some(password), None, true)
                .await
            {
                Ok(_) => Ok(refused(
                    200,
                    "Your account is ready",
                    format!(
                        "You can now sign in to {} as {} with your new password.",
                        zone.name, i.email
                    ),
                )),
                Err(CoreError::Conflict(_)) => Ok(refused(
                    409,
                    "You already have an account",
                    "An account with this email already exists; sign in with it.",
                )),
                Err(e) => Err(internal(e)),
            }
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "invitation acceptance failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }
}

fn no_invitation() -> Outcome {
    refused(
        400,
        "This invitation cannot be used",
        "The link has expired, was already used or was revoked. Ask the zone's administrators for a new invitation.",
    )
}

#[cfg(test)]
mod tests {
    use super::api_email;

    #[test]
    fn the_api_email_rule() {
        for ok in [
            "a@b.co",
            "Ada.Lovelace+x@Example.COM",
            "a@b.c.d",
            "!#$%@a-b.c",
        ] {
            assert!(api_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b.", " a@b.co", "a@b.co ", "a b@c.de", "a@b@c.de",
            "ü@b.co", "a@b.cö",
        ] {
            assert!(!api_email(bad), "{bad:?}");
        }
        assert!(!api_email(&format!("{}@b.co", "a".repeat(250))));
    }
}
