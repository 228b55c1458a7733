//! Invitations of email addresses to a zone (a Keyzone extension: the
//! Keycard API has none). In a zone with `requires_invitation`, only an
//! invited address may sign up; the invitation's link lets the person set a
//! password, which proves the address.

use crate::{InvitationId, Positioned, Timestamp, ZoneId};

/// How long an invitation's link works.
pub const INVITATION_LIFETIME_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub id: InvitationId,
    pub zone_id: ZoneId,
    /// Normalized (trimmed, lower case).
    pub email: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the person signed up with it; it is then used up.
    pub accepted_at: Option<Timestamp>,
}

impl Invitation {
    /// Not accepted and not expired at `now`.
    pub fn pending_at(&self, now: Timestamp) -> bool {
        self.accepted_at.is_none() && self.expires_at > now
    }

    /// `pending`, `accepted` or `expired`.
    pub fn status_at(&self, now: Timestamp) -> &'static str {
        match (self.accepted_at, self.expires_at > now) {
            (Some(_), _) => "accepted",
            (None, true) => "pending",
            (None, false) => "expired",
        }
    }
}

impl Positioned for Invitation {
    fn id_str(&self) -> &str {
        self.id.as_str()
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_acceptance_then_expiry() {
        let mut i = Invitation {
            id: InvitationId::generate(),
            zone_id: ZoneId::generate(),
            email: "a@example.com".into(),
            created_at: Timestamp::from_micros(0),
            expires_at: Timestamp::from_micros(10),
            accepted_at: None,
        };
        assert_eq!(i.status_at(Timestamp::from_micros(5)), "pending");
        assert!(i.pending_at(Timestamp::from_micros(5)));
        assert_eq!(i.status_at(Timestamp::from_micros(10)), "expired");
        i.accepted_at = Some(Timestamp::from_micros(3));
        assert_eq!(i.status_at(Timestamp::from_micros(5)), "accepted");
        assert!(!i.pending_at(Timestamp::from_micros(5)));
    }
}
