//! The single place the issuance pipeline asks whether a token may be
//! issued. Every grant ends in [`crate::token::issuance`], which asks the
//! zone's [`IssuancePolicy`] exactly once per token; the policy engine (Cedar
//! policy sets) implements this trait, and a permit may narrow the scopes.
//!
//! Until the policy engine lands the pipeline runs with [`BuiltInRules`]:
//! the rules the grants enforce themselves (client authentication, the
//! dependency and `when_accessing` rules of token exchange, scopes defined by
//! the resources) are all there is, and it permits what they allowed.

use keyzone_domain::directory::Resource;
use keyzone_domain::{ApplicationId, ZoneId};

/// Which grant a token is being issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    ClientCredentials,
    TokenExchange,
    AuthorizationCode,
    RefreshToken,
}

impl Grant {
    /// Whether a person signed in for this token.
    pub fn is_user_sign_in(self) -> bool {
        matches!(self, Grant::AuthorizationCode | Grant::RefreshToken)
    }
}

/// Who a token is about and for.
#[derive(Debug, Clone)]
pub struct Subject {
    pub sub: String,
    /// `user` or `app`.
    pub sub_profile: &'static str,
    /// What the issued token's `client_id` claim says.
    pub client_id: String,
    /// The application the client belongs to (none for a self-registered
    /// user agent).
    pub application_id: Option<ApplicationId>,
    /// RFC 8693 §4.1 actor chain.
    pub act: Option<serde_json::Value>,
    /// The token may not outlive this (epoch seconds).
    pub not_after: Option<u64>,
}

/// What the policy is asked about.
pub struct IssuanceRequest<'a> {
    pub zone: &'a ZoneId,
    pub grant: Grant,
    pub subject: &'a Subject,
    pub resources: &'a [Resource],
    pub scopes: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Issue, with the scopes it permits (`None`: as requested).
    Permit { scopes: Option<Vec<String>> },
    /// Refuse with `access_denied` and this description.
    Deny { reason: String },
}

pub trait IssuancePolicy: Send + Sync {
    /// Synchronous on purpose: it runs on every token request, so whatever
    /// it needs (a compiled policy set) is loaded ahead of the decision.
    fn decide(&self, request: &IssuanceRequest<'_>) -> Decision;
}

/// The grants' own rules only (see the module documentation).
pub struct BuiltInRules;

impl IssuancePolicy for BuiltInRules {
    fn decide(&self, _request: &IssuanceRequest<'_>) -> Decision {
        Decision::Permit { scopes: None }
    }
}
