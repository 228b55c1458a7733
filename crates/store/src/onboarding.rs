//! Email verification codes and zone invitations. Every statement is
//! scoped by the zone.

use crate::sql::{Arg, Listing, Sql};
use crate::{errors::map_sqlx_error, exec, get_in_zone, on_pool, Store};
use async_trait::async_trait;
use keyzone_core::store::{OnboardingStore, SecretDigest, StoreError, StoredEmailCode};
use keyzone_domain::invitation::Invitation;
use keyzone_domain::{InvitationId, Page, PageRequest, Timestamp, UserId, ZoneId};

const INVITATION_COLUMNS: &str = "id, zone_id, email, created_at, expires_at, accepted_at";

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    zone_id: String,
    email: String,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;
    fn try_from(r: InvitationRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of invitation {}", r.id));
        Ok(Invitation {
            id: InvitationId::parse(&r.id).map_err(|_| corrupt("id"))?,
            zone_id: ZoneId::parse(&r.zone_id).map_err(|_| corrupt("zone"))?,
            email: r.email.clone(),
            created_at: Timestamp::from_micros(r.created_at),
            expires_at: Timestamp::from_micros(r.expires_at),
            accepted_at: r.accepted_at.map(Timestamp::from_micros),
        })
    }
}

#[async_trait]
impl OnboardingStore for Store {
    async fn put_email_code(
        &self,
        zone: &ZoneId,
        user: &UserId,
        code: &SecretDigest,
        sent_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO email_codes (zone_id, user_id, code_hash, attempts, sent_at, expires_at) \
             VALUES ($1, $2, $3, 0, $4, $5) \
             ON CONFLICT (zone_id, user_id) DO UPDATE SET code_hash = excluded.code_hash, \
             attempts = 0, sent_at = excluded.sent_at, expires_at = excluded.expires_at",
            zone.as_str(),
            user.as_str(),
            &code[..],
            sent_at.as_micros(),
            expires_at.as_micros()
        )
        .map(|_| ())
    }

    async fn email_code(
        &self,
        zone: &ZoneId,
        user: &UserId,
    ) -> Result<Option<StoredEmailCode>, StoreError> {
        let row: Option<(Vec<u8>, i64, i64, i64)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT code_hash, CAST(attempts AS BIGINT), sent_at, expires_at FROM email_codes \
                 WHERE zone_id = $1 AND user_id = $2",
            )
            .bind(zone.as_str())
            .bind(user.as_str())
            .fetch_optional(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        Ok(row.map(
            |(code_hash, attempts, sent_at, expires_at)| StoredEmailCode {
                code_hash,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                sent_at: Timestamp::from_micros(sent_at),
                expires_at: Timestamp::from_micros(expires_at),
            },
        ))
    }

    async fn fail_email_code(&self, zone: &ZoneId, user: &UserId) -> Result<u32, StoreError> {
        exec!(
            self,
            "UPDATE email_codes SET attempts = attempts + 1 WHERE zone_id = $1 AND user_id = $2",
            zone.as_str(),
            user.as_str()
        )?;
        Ok(self.email_code(zone, user).await?.map_or(0, |c| c.attempts))
    }

    async fn consume_email_code(
        &self,
        zone: &ZoneId,
        user: &UserId,
        code: &SecretDigest,
        max_attempts: u32,
    ) -> Result<bool, StoreError> {
        // One DELETE decides the single use, whatever the concurrency.
        let n = exec!(
            self,
            "DELETE FROM email_codes WHERE zone_id = $1 AND user_id = $2 AND code_hash = $3 \
             AND attempts < $4",
            zone.as_str(),
            user.as_str(),
            &code[..],
            i64::from(max_attempts)
        )?;
        Ok(n == 1)
    }

    async fn mark_email_verified(
        &self,
        zone: &ZoneId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE users SET email_verified = TRUE, updated_at = $3 WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            user.as_str(),
            at.as_micros()
        )
        .map(|_| ())
    }

    async fn insert_invitation(
        &self,
        i: &Invitation,
        token: &SecretDigest,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO user_invitations (id, zone_id, email, token_hash, created_at, expires_at, accepted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            i.id.as_str(),
            i.zone_id.as_str(),
            i.email.as_str(),
            &token[..],
            i.created_at.as_micros(),
            i.expires_at.as_micros(),
            i.accepted_at.map(|a| a.as_micros())
        )
        .map(|_| ())
    }

    async fn list_invitations(
        &self,
        zone: &ZoneId,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, StoreError> {
        let mut q = Sql::new("zone_id = ");
        q.arg(Arg::Text(zone.as_str().into()));
        let rows: Page<InvitationRow> = self
            .page(
                Listing {
                    select: INVITATION_COLUMNS,
                    from: "user_invitations",
                    filter: q,
                },
                page,
            )
            .await?;
        rows.try_map(Invitation::try_from)
    }

    async fn get_invitation(
        &self,
        zone: &ZoneId,
        id: &InvitationId,
    ) -> Result<Option<Invitation>, StoreError> {
        get_in_zone!(
            self,
            InvitationRow,
            INVITATION_COLUMNS,
            "user_invitations",
            zone,
            id
        )
    }

    async fn invitation_by_email(
        &self,
        zone: &ZoneId,
        email: &str,
    ) -> Result<Option<Invitation>, StoreError> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM user_invitations WHERE zone_id = $1 AND email = $2"
        );
        let row: Option<InvitationRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(email)
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(Invitation::try_from).transpose()
    }

    async fn invitation_by_token(
        &self,
        zone: &ZoneId,
        token: &SecretDigest,
    ) -> Result<Option<Invitation>, StoreError> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM user_invitations WHERE zone_id = $1 AND token_hash = $2"
        );
        let row: Option<InvitationRow> = on_pool!(self, |p| {
            sqlx::query_as(&sql)
                .bind(zone.as_str())
                .bind(&token[..])
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)?;
        row.map(Invitation::try_from).transpose()
    }

    async fn delete_invitation(
        &self,
        zone: &ZoneId,
        id: &InvitationId,
    ) -> Result<bool, StoreError> {
        let n = exec!(
            self,
            "DELETE FROM user_invitations WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            id.as_str()
        )?;
        Ok(n == 1)
    }

    async fn accept_invitation(
        &self,
        zone: &ZoneId,
        id: &InvitationId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = exec!(
            self,
            "UPDATE user_invitations SET accepted_at = $3 \
             WHERE zone_id = $1 AND id = $2 AND accepted_at IS NULL AND expires_at > $3",
            zone.as_str(),
            id.as_str(),
            now.as_micros()
        )?;
        Ok(n == 1)
    }
}
