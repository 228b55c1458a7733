//! Email verification by a one-time code, when the deployment has a mail
//! server (`smtp_url`). After sign-up, and at any sign-in of a password
//! user whose email is not verified, the flow mails a 6-digit code and
//! shows a page with one `code` input; the right code marks the user's
//! email verified and the authorization goes on (consent, then the code to
//! the client).
//!
//! Codes are stored only as an HMAC under the zone's data key (a 6-digit
//! code's plain digest would be reversed by trying a million values), live
//! [`EMAIL_CODE_LIFETIME_SECS`], are single-use, die after
//! [`MAX_EMAIL_CODE_ATTEMPTS`] wrong tries, and a new one can be asked for
//! once every [`EMAIL_CODE_RESEND_SECS`]. The page's form carries the
//! sealed transaction bound to the browser session, as consent does.

use crate::signin::{expired, not_signed_in, refused, AuthRequest, Browser, Outcome, Step};
use crate::token::{internal, TokenService};
use keyzone_core::mail::Mail;
use keyzone_domain::identity::{Session, User};
use keyzone_domain::zone::Zone;
use keyzone_domain::Timestamp;
use keyzone_oauth::{ErrorCode, OAuthError};
use rand::Rng;
use subtle::ConstantTimeEq;

pub const EMAIL_CODE_LIFETIME_SECS: i64 = 600;
pub const MAX_EMAIL_CODE_ATTEMPTS: u32 = 5;
pub const EMAIL_CODE_RESEND_SECS: i64 = 60;

const SECOND: i64 = 1_000_000;

/// Why no code was checked.
const NEED_NEW: &str = "This code can no longer be used. Ask for a new one below.";

impl TokenService {
    /// Whether this deployment verifies emails (it has a mail server).
    pub fn verifies_email(&self) -> bool {
        self.mailer.is_some()
    }

    async fn code_digest(
        &self,
        zone: &Zone,
        user: &User,
        code: &str,
    ) -> Result<[u8; 32], OAuthError> {
        let key = self.vault.zone_key(&zone.id).await.map_err(internal)?;
        // Bound to the user: one user's code is no other user's.
        let data = format!("{}:{code}", user.id);
        Ok(key.keyed_digest("keyzone email code v1", data.as_bytes()))
    }

    /// The verification page to go to instead of consent or a code, when
    /// the user's email still needs verifying; mails a code unless a live
    /// one was sent already.
    pub(crate) async fn verification_step(
        &self,
        zone: &Zone,
        req: &AuthRequest,
        session: &Session,
        user: &User,
    ) -> Result<Option<Outcome>, OAuthError> {
        if self.mailer.is_none() || user.email_verified || user.external {
            return Ok(None);
        }
        let prompts: Vec<&str> = req.prompt.as_deref().unwrap_or("").split(' ').collect();
        if prompts.contains(&"none") {
            return Ok(Some(self.redirect_error(
                zone,
                req,
                ErrorCode::LoginRequired,
                "the user must verify their email address first",
            )));
        }
        let now = Timestamp::now();
        let live = self
            .signin
            .email_code(&zone.id, &user.id)
            .await
            .map_err(|e| internal(e.into()))?
            .filter(|c| c.expires_at > now && c.attempts < MAX_EMAIL_CODE_ATTEMPTS);
        if live.is_none() {
            if let Some(failed) = self.send_code(zone, user).await? {
                return Ok(Some(failed));
            }
        }
        // Bound to the session, as consent is; a 303 (post/redirect/get).
        let txn = self
            .seal_transaction(zone, session.id.as_str(), req)
            .await?;
        Ok(Some(Outcome::step(Step::Redirect(format!(
            "{}/oauth/verify?txn={txn}",
            self.layout.issuer(&zone.id)
        )))))
    }

    /// Stores a new code and mails it; the page to show if mailing failed.
    async fn send_code(&self, zone: &Zone, user: &User) -> Result<Option<Outcome>, OAuthError> {
        let Some(mailer) = &self.mailer else {
            return Ok(None);
        };
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let now = Timestamp::now();
        let expires = Timestamp::from_micros(now.as_micros() + EMAIL_CODE_LIFETIME_SECS * SECOND);
        let d = self.code_digest(zone, user, &code).await?;
        self.signin
            .put_email_code(&zone.id, &user.id, &d, now, expires)
            .await
            .map_err(|e| internal(e.into()))?;
        let mail = Mail {
            to: user.email.clone(),
            subject: format!("Your verification code for {}", zone.name),
            text: format!(
                "Your verification code is {code}\n\n\
                 Enter it on the page that asked for it. It works once, for {} minutes.\n\n\
                 If you did not sign in to {}, you can ignore this email.\n",
                EMAIL_CODE_LIFETIME_SECS / 60,
                zone.name
            ),
        };
        if let Err(e) = mailer.send(&mail).await {
            // The code is never logged; the mail server's answer is.
            tracing::warn!(zone = %zone.id, user = %user.id, error = %e, "verification email not sent");
            // Not delivered: the next visit sends a fresh one.
            let _ = self
                .signin
                .put_email_code(&zone.id, &user.id, &d, now, now)
                .await;
            return Ok(Some(refused(
                503,
                "The email could not be sent",
                "We could not send your verification code. Please try again in a few minutes.",
            )));
        }
        Ok(None)
    }

    /// The session's user and the transaction of a verification form.
    async fn verification_context(
        &self,
        zone: &Zone,
        browser: &Browser,
        txn: &str,
    ) -> Result<Result<(AuthRequest, Session, User), Outcome>, OAuthError> {
        let Some((session, user)) = self.session_user(zone, browser.session.as_deref()).await?
        else {
            return Ok(Err(not_signed_in()));
        };
        let bound = Browser {
            browser_id: Some(session.id.to_string()),
            ..Browser::default()
        };
        let Some(req) = self.open_transaction(zone, &bound, txn).await else {
            return Ok(Err(expired()));
        };
        Ok(Ok((req, session, user)))
    }

    fn verify_form(
        txn: &str,
        req: &AuthRequest,
        user: &User,
        error: Option<String>,
        notice: Option<String>,
    ) -> Outcome {
        Outcome::step(Step::VerifyEmail {
            txn: txn.to_owned(),
            client_name: req.client_name.clone(),
            email: user.email.clone(),
            error,
            notice,
        })
    }

    /// `GET {issuer}/oauth/verify?txn=…`: the code form.
    pub async fn verify_page(&self, zone: &Zone, browser: &Browser, txn: &str) -> Outcome {
        let result = async {
            let (req, session, user) = match self.verification_context(zone, browser, txn).await? {
                Ok(c) => c,
                Err(o) => return Ok(o),
            };
            if user.email_verified || self.mailer.is_none() {
                return self.after_sign_in(zone, &req, &session, &user).await;
            }
            Ok(Self::verify_form(txn, &req, &user, None, None))
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "verification page failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }

    /// `POST {issuer}/oauth/verify`: a code, or (`resend`) a new one.
    pub async fn verify_email(
        &self,
        zone: &Zone,
        browser: &Browser,
        txn: &str,
        code: &str,
        resend: bool,
    ) -> Outcome {
        let result = async {
            let (req, session, mut user) =
                match self.verification_context(zone, browser, txn).await? {
                    Ok(c) => c,
                    Err(o) => return Ok(o),
                };
            if user.email_verified || self.mailer.is_none() {
                return self.after_sign_in(zone, &req, &session, &user).await;
            }
            let now = Timestamp::now();
            let stored = self
                .signin
                .email_code(&zone.id, &user.id)
                .await
                .map_err(|e| internal(e.into()))?;
            if resend {
                if stored.as_ref().is_some_and(|c| {
                    c.sent_at.as_micros() + EMAIL_CODE_RESEND_SECS * SECOND > now.as_micros()
                }) {
                    return Ok(Self::verify_form(
                        txn,
                        &req,
                        &user,
                        Some("A code was sent less than a minute ago. Wait a moment, then ask again.".into()),
                        None,
                    ));
                }
                if let Some(failed) = self.send_code(zone, &user).await? {
                    return Ok(failed);
                }
                let notice = format!("A new code is on its way to {}.", user.email);
                return Ok(Self::verify_form(txn, &req, &user, None, Some(notice)));
            }
            let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Self::verify_form(
                    txn,
                    &req,
                    &user,
                    Some("Enter the 6-digit code from the email.".into()),
                    None,
                ));
            }
            let Some(stored) =
                stored.filter(|c| c.expires_at > now && c.attempts < MAX_EMAIL_CODE_ATTEMPTS)
            else {
                return Ok(Self::verify_form(txn, &req, &user, Some(NEED_NEW.into()), None));
            };
            let d = self.code_digest(zone, &user, &code).await?;
            let right = bool::from(stored.code_hash.as_slice().ct_eq(&d));
            if right
                && self
                    .signin
                    .consume_email_code(&zone.id, &user.id, &d, MAX_EMAIL_CODE_ATTEMPTS)
                    .await
                    .map_err(|e| internal(e.into()))?
            {
                self.signin
                    .mark_email_verified(&zone.id, &user.id, now)
                    .await
                    .map_err(|e| internal(e.into()))?;
                user.email_verified = true;
                return self.after_sign_in(zone, &req, &session, &user).await;
            }
            let attempts = self
                .signin
                .fail_email_code(&zone.id, &user.id)
                .await
                .map_err(|e| internal(e.into()))?;
            if attempts >= MAX_EMAIL_CODE_ATTEMPTS {
                return Ok(Self::verify_form(
                    txn,
                    &req,
                    &user,
                    Some("Too many wrong codes. Ask for a new one below.".into()),
                    None,
                ));
            }
            let left = MAX_EMAIL_CODE_ATTEMPTS - attempts;
            Ok(Self::verify_form(
                txn,
                &req,
                &user,
                Some(format!(
                    "That code is not right. {left} attempt{} left.",
                    if left == 1 { "" } else { "s" }
                )),
                None,
            ))
        }
        .await;
        result.unwrap_or_else(|e: OAuthError| {
            tracing::warn!(zone = %zone.id, error = %e, "email verification failed");
            refused(500, "Something went wrong", "Please try again later.")
        })
    }
}
