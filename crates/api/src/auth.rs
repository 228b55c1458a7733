//! `Authorization: Bearer <api key>` on every management route, and the
//! zone a zone-scoped route names, as the caller may act on it.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use keyzone_core::{Principal, ZoneAction, ZoneScope};
use std::sync::Arc;

/// The authenticated caller of a management route.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Caller(state.api_keys.authenticate(token).await?))
    }
}

/// The zone named by the path's `{zone_id}`, resolved through the one
/// access chokepoint (`Zones::scope`) for what the request does: reads for
/// GET and HEAD, writes otherwise. Every zone-scoped handler takes this, so
/// no handler reaches a zone's data without the decision.
pub struct Scoped(pub ZoneScope);

impl FromRequestParts<Arc<AppState>> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        // Authentication first: an unauthenticated caller learns nothing.
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::from(keyzone_core::CoreError::NotFound { entity: "zone" }))?;
        let zone_id = params
            .iter()
            .find_map(|(k, v)| (k == "zone_id").then_some(v))
            .unwrap_or_default();
        let action = match parts.method {
            axum::http::Method::GET | axum::http::Method::HEAD => ZoneAction::Read,
            _ => ZoneAction::Write,
        };
        Ok(Scoped(
            state.zones.scope(&principal, zone_id, action).await?,
        ))
    }
}
