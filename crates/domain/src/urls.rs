//! Where a zone's authorization server lives.
//!
//! Two layouts: path-based, `{public_url}/z/{zone_id}` (one host, no DNS set-up:
//! the laptop default), or host-based, `{scheme}://{zone_id}.{zone_domain}`
//! (one host name per zone, as Keycard does it). The `/z/` prefix never
//! collides with a management route. Every endpoint hangs off the issuer, so
//! `jwks_uri` always has the issuer's origin.

use crate::id::ZoneId;

/// Endpoint paths relative to a zone's issuer.
pub mod paths {
    pub const AUTHORIZATION: &str = "/oauth/authorize";
    pub const TOKEN: &str = "/oauth/token";
    pub const REGISTRATION: &str = "/oauth/register";
    pub const REDIRECT: &str = "/oauth/callback";
    pub const INTROSPECTION: &str = "/oauth/introspect";
    pub const REVOCATION: &str = "/oauth/revoke";
    pub const USERINFO: &str = "/oauth/userinfo";
    pub const JWKS: &str = "/.well-known/jwks.json";
    pub const AS_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const OIDC_CONFIGURATION: &str = "/.well-known/openid-configuration";
}

/// The path prefix of path-based issuers.
pub const ZONE_PATH_PREFIX: &str = "/z/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerLayout {
    /// Externally visible base URL, without a trailing slash.
    public_url: String,
    scheme: &'static str,
    zone_domain: Option<String>,
}

impl IssuerLayout {
    /// `public_url` must be an absolute http(s) URL; a trailing slash is dropped.
    pub fn new(public_url: &url::Url, zone_domain: Option<&str>) -> Self {
        let scheme = if public_url.scheme() == "http" {
            "http"
        } else {
            "https"
        };
        Self {
            public_url: public_url.as_str().trim_end_matches('/').to_owned(),
            scheme,
            zone_domain: zone_domain
                .map(|d| d.trim_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
        }
    }

    pub fn zone_domain(&self) -> Option<&str> {
        self.zone_domain.as_deref()
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The issuer identifier: exact, no trailing slash (RFC 8414 §2).
    pub fn issuer(&self, zone: &ZoneId) -> String {
        match &self.zone_domain {
            Some(domain) => format!("{}://{}.{}", self.scheme, zone, domain),
            None => format!("{}{}{}", self.public_url, ZONE_PATH_PREFIX, zone),
        }
    }

    pub fn urls(&self, zone: &ZoneId) -> ZoneUrls {
        let issuer = self.issuer(zone);
        let at = |p: &str| format!("{issuer}{p}");
        ZoneUrls {
            authorization_endpoint: at(paths::AUTHORIZATION),
            token_endpoint: at(paths::TOKEN),
            registration_endpoint: at(paths::REGISTRATION),
            redirect_uri: at(paths::REDIRECT),
            introspection_endpoint: at(paths::INTROSPECTION),
            revocation_endpoint: at(paths::REVOCATION),
            userinfo_endpoint: at(paths::USERINFO),
            jwks_uri: at(paths::JWKS),
            authorization_server_metadata: at(paths::AS_METADATA),
            openid_configuration: at(paths::OIDC_CONFIGURATION),
            issuer,
        }
    }

    /// The zone a Host header names under the zone domain, if any.
    pub fn zone_from_host<'h>(&self, host: &'h str) -> Option<&'h str> {
        let domain = self.zone_domain.as_deref()?;
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        let label = host.strip_suffix(domain)?.strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneUrls {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: String,
    pub redirect_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub authorization_server_metadata: String,
    pub openid_configuration: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> ZoneId {
        ZoneId::parse("abcdefghij0123456789").unwrap()
    }

    #[test]
    fn path_based() {
        let l = IssuerLayout::new(&"http://127.0.0.1:8080/".parse().unwrap(), None);
        let u = l.urls(&zone());
        assert_eq!(u.issuer, "http://127.0.0.1:8080/z/abcdefghij0123456789");
        assert_eq!(
            u.authorization_server_metadata,
            "http://127.0.0.1:8080/z/abcdefghij0123456789/.well-known/oauth-authorization-server"
        );
        assert!(u.jwks_uri.starts_with(&u.issuer));
    }

    #[test]
    fn host_based() {
        let l = IssuerLayout::new(
            &"https://keyzone.example.com".parse().unwrap(),
            Some("zones.example.com"),
        );
        assert_eq!(
            l.issuer(&zone()),
            "https://abcdefghij0123456789.zones.example.com"
        );
        assert_eq!(l.zone_from_host("abc.zones.example.com:8443"), Some("abc"));
        assert_eq!(l.zone_from_host("abc.zones.example.com"), Some("abc"));
        assert_eq!(l.zone_from_host("a.b.zones.example.com"), None);
        assert_eq!(l.zone_from_host("zones.example.com"), None);
        let l = IssuerLayout::new(
            &"http://localhost:8080".parse().unwrap(),
            Some("localtest.me"),
        );
        assert_eq!(
            l.issuer(&zone()),
            "http://abcdefghij0123456789.localtest.me"
        );
    }
}
