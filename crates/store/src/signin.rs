//! Sign-in records: password hashes, browser-session secrets, codes,
//! refresh tokens and consent. Every statement is scoped by the zone.

use crate::{errors::map_sqlx_error, exec, on_pool, BeginWrite, Store};
use async_trait::async_trait;
use keyzone_core::store::{
    SecretDigest, SessionStore, SignInStore, StoreError, StoredCode, StoredRefreshToken, UserStore,
};
use keyzone_domain::identity::{Session, User};
use keyzone_domain::{SessionId, Timestamp, UserId, ZoneId};

fn session_id(s: String) -> Result<SessionId, StoreError> {
    SessionId::parse(&s).map_err(|_| StoreError::Corrupt(format!("session id {s}")))
}

#[async_trait]
impl SignInStore for Store {
    async fn insert_user_with_password(
        &self,
        user: &User,
        password_hash: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), StoreError> {
        self.insert_user(user).await?;
        let mut written = Ok(0);
        if let Some(hash) = password_hash {
            written = exec!(
                self,
                "INSERT INTO user_passwords (zone_id, user_id, password_hash, updated_at) \
                 VALUES ($1, $2, $3, $4)",
                user.zone_id.as_str(),
                user.id.as_str(),
                hash,
                user.created_at.as_micros()
            );
        }
        if let (Some(name), Ok(_)) = (name, &written) {
            written = exec!(
                self,
                "INSERT INTO user_profiles (zone_id, user_id, name) VALUES ($1, $2, $3)",
                user.zone_id.as_str(),
                user.id.as_str(),
                name
            );
        }
        if let Err(e) = written {
            // No user without the password that was asked for.
            let _ = exec!(
                self,
                "DELETE FROM users WHERE zone_id = $1 AND id = $2",
                user.zone_id.as_str(),
                user.id.as_str()
            );
            return Err(e);
        }
        Ok(())
    }

    async fn user_name(&self, zone: &ZoneId, user: &UserId) -> Result<Option<String>, StoreError> {
        on_pool!(self, |p| {
            sqlx::query_scalar("SELECT name FROM user_profiles WHERE zone_id = $1 AND user_id = $2")
                .bind(zone.as_str())
                .bind(user.as_str())
                .fetch_optional(p)
                .await
        })
        .map_err(map_sqlx_error)
    }

    async fn local_user_by_email(
        &self,
        zone: &ZoneId,
        email: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let row: Option<(String, Option<String>)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT u.id, pw.password_hash FROM users u \
                 LEFT JOIN user_passwords pw ON pw.zone_id = u.zone_id AND pw.user_id = u.id \
                 WHERE u.zone_id = $1 AND u.email = $2 AND u.external = FALSE",
            )
            .bind(zone.as_str())
            .bind(email)
            .fetch_optional(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        let Some((id, hash)) = row else {
            return Ok(None);
        };
        let id = UserId::parse(&id).map_err(|_| StoreError::Corrupt(format!("user id {id}")))?;
        Ok(self.get_user(zone, &id).await?.map(|r| (r.user, hash)))
    }

    async fn record_user_sign_in(
        &self,
        zone: &ZoneId,
        user: &UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE users SET authenticated_at = $3 WHERE zone_id = $1 AND id = $2",
            zone.as_str(),
            user.as_str(),
            at.as_micros()
        )
        .map(|_| ())
    }

    async fn insert_browser_session(
        &self,
        session: &Session,
        secret: &SecretDigest,
    ) -> Result<(), StoreError> {
        // A session without its secret can never be presented: written first.
        self.insert_session(session).await?;
        exec!(
            self,
            "INSERT INTO session_secrets (session_id, zone_id, secret_hash) VALUES ($1, $2, $3)",
            session.id.as_str(),
            session.zone_id.as_str(),
            &secret[..]
        )
        .map(|_| ())
    }

    async fn browser_session(
        &self,
        zone: &ZoneId,
        id: &SessionId,
    ) -> Result<Option<(Session, Vec<u8>)>, StoreError> {
        let Some(session) = self.get_session(zone, id).await? else {
            return Ok(None);
        };
        let secret: Option<Vec<u8>> = on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT secret_hash FROM session_secrets WHERE zone_id = $1 AND session_id = $2",
            )
            .bind(zone.as_str())
            .bind(id.as_str())
            .fetch_optional(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        Ok(secret.map(|s| (session, s)))
    }

    async fn insert_code(
        &self,
        zone: &ZoneId,
        code: &SecretDigest,
        session: &SessionId,
        grant_data: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO authorization_codes (code_hash, zone_id, session_id, grant_data, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &code[..],
            zone.as_str(),
            session.as_str(),
            grant_data,
            expires_at.as_micros()
        )
        .map(|_| ())
    }

    async fn consume_code(
        &self,
        zone: &ZoneId,
        code: &SecretDigest,
        now: Timestamp,
    ) -> Result<Option<StoredCode>, StoreError> {
        // One UPDATE decides the first use, whatever the concurrency.
        let first = exec!(
            self,
            "UPDATE authorization_codes SET used_at = $3 \
             WHERE zone_id = $1 AND code_hash = $2 AND used_at IS NULL",
            zone.as_str(),
            &code[..],
            now.as_micros()
        )? == 1;
        let row: Option<(String, String, i64, Option<i64>, Option<String>)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT session_id, grant_data, expires_at, used_at, issued_session_id \
                 FROM authorization_codes WHERE zone_id = $1 AND code_hash = $2",
            )
            .bind(zone.as_str())
            .bind(&code[..])
            .fetch_optional(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        row.map(|(session, grant_data, expires_at, used_at, issued)| {
            Ok(StoredCode {
                session_id: session_id(session)?,
                grant_data,
                expires_at: Timestamp::from_micros(expires_at),
                used_at: if first {
                    None
                } else {
                    used_at.map(Timestamp::from_micros)
                },
                issued_session_id: issued.map(session_id).transpose()?,
            })
        })
        .transpose()
    }

    async fn set_code_session(
        &self,
        zone: &ZoneId,
        code: &SecretDigest,
        issued: &SessionId,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "UPDATE authorization_codes SET issued_session_id = $3 \
             WHERE zone_id = $1 AND code_hash = $2",
            zone.as_str(),
            &code[..],
            issued.as_str()
        )
        .map(|_| ())
    }

    async fn insert_refresh_token(
        &self,
        zone: &ZoneId,
        token: &SecretDigest,
        session: &SessionId,
        grant_data: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO refresh_tokens (token_hash, zone_id, session_id, grant_data, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &token[..],
            zone.as_str(),
            session.as_str(),
            grant_data,
            created_at.as_micros(),
            expires_at.as_micros()
        )
        .map(|_| ())
    }

    async fn rotate_refresh_token(
        &self,
        zone: &ZoneId,
        token: &SecretDigest,
        now: Timestamp,
        successor: &SecretDigest,
        successor_expires_at: Timestamp,
    ) -> Result<Option<StoredRefreshToken>, StoreError> {
        type Row = (String, String, i64, i64, Option<i64>);
        // The hot path of a refresh: one write transaction, in which the
        // UPDATE decides the first use whatever the concurrency.
        let found: Option<(Row, bool)> =
            on_pool!(self, |p| crate::retry_transient(|| async move {
                let mut tx = p.begin_write().await?;
                let rotated: Option<(String, String, i64, i64)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET rotated_at = $3 \
                     WHERE zone_id = $1 AND token_hash = $2 AND rotated_at IS NULL \
                     RETURNING session_id, grant_data, created_at, expires_at",
                )
                .bind(zone.as_str())
                .bind(&token[..])
                .bind(now.as_micros())
                .fetch_optional(&mut *tx)
                .await?;
                let row: Option<(Row, bool)> = match rotated {
                    Some((s, g, c, e)) => Some(((s, g, c, e, None), true)),
                    None => sqlx::query_as(
                        "SELECT session_id, grant_data, created_at, expires_at, rotated_at \
                         FROM refresh_tokens WHERE zone_id = $1 AND token_hash = $2",
                    )
                    .bind(zone.as_str())
                    .bind(&token[..])
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| (r, false)),
                };
                if let Some(((session, grant_data, _, expires_at, _), _)) = &row {
                    if *expires_at > now.as_micros() {
                        sqlx::query(
                            "INSERT INTO refresh_tokens \
                             (token_hash, zone_id, session_id, grant_data, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(&successor[..])
                        .bind(zone.as_str())
                        .bind(session.as_str())
                        .bind(grant_data.as_str())
                        .bind(now.as_micros())
                        .bind(successor_expires_at.as_micros())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(row)
            })
            .await)
            .map_err(map_sqlx_error)?;
        found
            .map(
                |((session, grant_data, created_at, expires_at, rotated_at), first)| {
                    Ok(StoredRefreshToken {
                        session_id: session_id(session)?,
                        grant_data,
                        created_at: Timestamp::from_micros(created_at),
                        expires_at: Timestamp::from_micros(expires_at),
                        rotated_at: if first {
                            None
                        } else {
                            rotated_at.map(Timestamp::from_micros)
                        },
                    })
                },
            )
            .transpose()
    }

    async fn has_consent(
        &self,
        zone: &ZoneId,
        user: &UserId,
        client_id: &str,
        grant_key: &str,
    ) -> Result<bool, StoreError> {
        let n: i64 = on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM consents \
                 WHERE zone_id = $1 AND user_id = $2 AND client_id = $3 AND grant_key = $4",
            )
            .bind(zone.as_str())
            .bind(user.as_str())
            .bind(client_id)
            .bind(grant_key)
            .fetch_one(p)
            .await
        })
        .map_err(map_sqlx_error)?;
        Ok(n > 0)
    }

    async fn insert_consent(
        &self,
        zone: &ZoneId,
        user: &UserId,
        client_id: &str,
        grant_key: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        exec!(
            self,
            "INSERT INTO consents (zone_id, user_id, client_id, grant_key, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            zone.as_str(),
            user.as_str(),
            client_id,
            grant_key,
            at.as_micros()
        )
        .map(|_| ())
    }
}
