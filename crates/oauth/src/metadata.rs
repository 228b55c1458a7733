//! Authorization server metadata (RFC 8414) and OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 §3) of a zone.

use keyzone_domain::urls::ZoneUrls;
use serde_json::{json, Value};

/// What the zone actually supports, for the `*_supported` fields.
/// The algorithms a client assertion may be signed with.
pub const ASSERTION_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

pub struct Capabilities {
    pub dcr_enabled: bool,
    /// The zone accepts client ID metadata documents (`protocols.oauth2.cimd.enabled`).
    pub cimd_enabled: bool,
    pub signing_algorithms: Vec<&'static str>,
}

/// RFC 8414 §2. `issuer` is exact, without a trailing slash; every
/// endpoint hangs off it, so `jwks_uri` shares its origin.
pub fn authorization_server(urls: &ZoneUrls, caps: &Capabilities) -> Value {
    let mut m = json!({
        "issuer": urls.issuer,
        "authorization_endpoint": urls.authorization_endpoint,
        "token_endpoint": urls.token_endpoint,
        "jwks_uri": urls.jwks_uri,
        "userinfo_endpoint": urls.userinfo_endpoint,
        "introspection_endpoint": urls.introspection_endpoint,
        "revocation_endpoint": urls.revocation_endpoint,
        // OpenID Connect RP-Initiated Logout 1.0 §2.1.
        "end_session_endpoint": format!("{}/oauth/logout", urls.issuer),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
        ],
        // RFC 8414 §2: required when private_key_jwt is listed.
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"
        ],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "private_key_jwt"
        ],
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": caps.signing_algorithms,
        "authorization_response_iss_parameter_supported": true,
        "resource_indicators_supported": true,
    });
    // The keycardai-mcp client rejects metadata without the authorization,
    // registration and userinfo endpoints, so they are always listed (with
    // DCR off registration answers 403).
    m["registration_endpoint"] = json!(urls.registration_endpoint);
    if !caps.dcr_enabled {
        m["registration_endpoint_disabled"] = json!(true);
    }
    // draft-ietf-oauth-client-id-metadata-document §5: the official MCP
    // SDK uses a URL client_id only when this says true.
    if caps.cimd_enabled {
        m["client_id_metadata_document_supported"] = json!(true);
    }
    m
}

/// OpenID Connect Discovery 1.0 §3: the same document, as an OpenID
/// Provider describes itself.
pub fn openid_configuration(urls: &ZoneUrls, caps: &Capabilities) -> Value {
    let mut m = authorization_server(urls, caps);
    m["claims_supported"] = json!([
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "email",
        "email_verified",
        "name"
    ]);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cimd_support_is_advertised_only_when_the_zone_enables_it() {
        let u = |p: &str| format!("http://127.0.0.1:8080/z/a{p}");
        let urls = ZoneUrls {
            issuer: u(""),
            authorization_endpoint: u("/oauth/authorize"),
            token_endpoint: u("/oauth/token"),
            registration_endpoint: u("/oauth/register"),
            redirect_uri: u("/oauth/callback"),
            introspection_endpoint: u("/oauth/introspect"),
            revocation_endpoint: u("/oauth/revoke"),
            userinfo_endpoint: u("/oauth/userinfo"),
            jwks_uri: u("/.well-known/jwks.json"),
            authorization_server_metadata: u("/.well-known/oauth-authorization-server"),
            openid_configuration: u("/.well-known/openid-configuration"),
        };
        let caps = |cimd_enabled| Capabilities {
            dcr_enabled: true,
            cimd_enabled,
            signing_algorithms: vec!["RS256"],
        };
        assert_eq!(
            authorization_server(&urls, &caps(true))["client_id_metadata_document_supported"],
            json!(true)
        );
        assert_eq!(
            openid_configuration(&urls, &caps(true))["client_id_metadata_document_supported"],
            json!(true)
        );
        assert!(authorization_server(&urls, &caps(false))
            .get("client_id_metadata_document_supported")
            .is_none());
    }
}
