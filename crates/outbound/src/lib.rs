//! The zone's one outbound HTTP client, for JWKS, discovery documents and
//! URL client identity documents (never for anything a request body can
//! steer to an arbitrary method or header).
//!
//! Rules (RFC 9700 §4.1.x on SSRF; the OAuth client ID metadata document
//! draft §6): https only; no redirects; no proxies; connect and total
//! timeouts of [`TIMEOUT`]; at most [`MAX_BODY`] bytes; and the host must
//! resolve only to public addresses — loopback, private, link-local (incl.
//! cloud metadata), shared, multicast and reserved ranges are refused, both
//! for IP literals and for every address a name resolves to, checked at
//! connect time so DNS rebinding cannot slip past. `allow_private` (the
//! `KEYZONE_OUTBOUND_ALLOW_PRIVATE` setting) lifts the address and scheme
//! rules for development and tests only.

use async_trait::async_trait;
use base64::Engine;
use keyzone_core::outbound::{FetchError, Fetched, Fetcher, FormAuth, FormPost, FormResponse};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_BODY: usize = 256 * 1024;

/// Whether an address is on the public internet (not loopback, private,
/// link-local, shared, documentation, multicast or otherwise reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (RFC 6052) embeds an IPv4 address.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, incl. 169.254.169.254
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64) // shared address space 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || a >= 240)
}

/// Resolves names and refuses any that reach a non-public address.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
                return Err(format!("{host} resolves to a non-public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

pub struct HttpFetcher {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpFetcher {
    pub fn new(allow_private: bool) -> Result<Self, String> {
        Self::build(allow_private, Vec::new())
    }

    /// The same client trusting, besides the Mozilla roots, the CA
    /// certificates of `pem` (the `KEYZONE_OUTBOUND_EXTRA_ROOT_CA` setting:
    /// tests and private PKI). A PEM without a certificate is refused.
    pub fn with_extra_roots(allow_private: bool, pem: &[u8]) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM file of certificates: {e}"))?;
        if certs.is_empty() {
            return Err("the PEM file holds no certificate".into());
        }
        Self::build(allow_private, certs)
    }

    fn build(
        allow_private: bool,
        extra: Vec<rustls::pki_types::CertificateDer<'static>>,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in extra {
            roots
                .add(cert)
                .map_err(|e| format!("an extra root CA is not usable: {e}"))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .user_agent(concat!("keyzone/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    fn check_url(&self, raw: &str) -> Result<reqwest::Url, FetchError> {
        let refused = || FetchError::Refused(raw.to_owned());
        let url = reqwest::Url::parse(raw).map_err(|_| refused())?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err(refused()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused());
        }
        if !self.allow_private {
            match url.host() {
                Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => return Err(refused()),
                Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => return Err(refused()),
                Some(url::Host::Domain(d))
                    if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") =>
                {
                    return Err(refused())
                }
                None => return Err(refused()),
                _ => {}
            }
        }
        Ok(url)
    }
}

/// Reads at most [`MAX_BODY`] bytes of JSON; an empty body is `Null`.
async fn read_json(
    mut resp: reqwest::Response,
    failed: &(dyn Fn(&str) -> FetchError + Sync),
) -> Result<serde_json::Value, FetchError> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(failed("too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| failed("body"))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(failed("too large"));
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&body).map_err(|_| failed("not JSON"))
}

/// RFC 6749 §2.3.1: each of the pair is form-urlencoded before Basic.
fn basic(client_id: &str, client_secret: &str) -> String {
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", enc(client_id), enc(client_secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn send_error(raw: &str, e: reqwest::Error) -> FetchError {
    let why = if e.is_timeout() {
        "timeout".to_owned()
    } else {
        // The resolver's refusal surfaces as a connect error.
        format!("{e:#}")
    };
    tracing::info!(url = raw, why, "outbound request failed");
    FetchError::Failed(raw.to_owned())
}

/// `max-age` from a `Cache-Control` header; `no-store`/`no-cache` → 0.
pub fn cache_max_age(header: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in header.split(',') {
        let d = directive.trim();
        let (name, value) = d.split_once('=').unwrap_or((d, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "no-store" | "no-cache" => return Some(Duration::ZERO),
            "max-age" => {
                max_age = value
                    .trim()
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs)
            }
            _ => {}
        }
    }
    max_age
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn get_json(&self, raw: &str) -> Result<Fetched, FetchError> {
        let url = self.check_url(raw)?;
        let failed = |why: &str| {
            tracing::info!(url = raw, why, "outbound fetch failed");
            FetchError::Failed(raw.to_owned())
        };
        let resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| send_error(raw, e))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(failed(&format!("status {}", resp.status().as_u16())));
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(cache_max_age);
        let value = read_json(resp, &failed).await?;
        if !value.is_object() {
            return Err(failed("not a JSON object"));
        }
        Ok(Fetched {
            body: value,
            max_age,
        })
    }

    async fn post_form(&self, post: FormPost<'_>) -> Result<FormResponse, FetchError> {
        let raw = post.url;
        let url = self.check_url(raw)?;
        let failed = |why: &str| {
            tracing::info!(url = raw, why, "outbound form post failed");
            FetchError::Failed(raw.to_owned())
        };
        // Built whole before any await: the serializer is not Send.
        let (body, authorization) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(post.form.iter().copied());
            let authorization = match post.auth {
                FormAuth::None { client_id } => {
                    if let Some(id) = client_id {
                        form.append_pair("client_id", id);
                    }
                    None
                }
                FormAuth::Basic {
                    client_id,
                    client_secret,
                } => Some(basic(client_id, client_secret)),
                FormAuth::Post {
                    client_id,
                    client_secret,
                } => {
                    form.append_pair("client_id", client_id);
                    form.append_pair("client_secret", client_secret);
                    None
                }
            };
            (form.finish(), authorization)
        };
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        if let Some(a) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, a);
        }
        let resp = request
            .body(body)
            .send()
            .await
            .map_err(|e| send_error(raw, e))?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            return Err(failed("redirect"));
        }
        let body = read_json(resp, &failed).await?;
        Ok(FormResponse { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn cache_control() {
        assert_eq!(
            cache_max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(cache_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("max-age=60, no-cache"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("public"), None);
        assert_eq!(cache_max_age("max-age=x"), None);
    }

    #[test]
    fn extra_roots_must_be_certificates() {
        assert!(HttpFetcher::with_extra_roots(false, b"").is_err());
        assert!(HttpFetcher::with_extra_roots(false, b"not pem").is_err());
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(HttpFetcher::with_extra_roots(false, junk).is_err());
    }

    #[tokio::test]
    async fn the_guard_refuses_private_targets_and_plain_http() {
        let f = HttpFetcher::new(false).unwrap();
        for url in [
            "http://example.com/jwks",
            "https://127.0.0.1/jwks",
            "https://[::1]/jwks",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/jwks",
            "https://user:pw@example.com/",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert_eq!(
                f.get_json(url).await.unwrap_err(),
                FetchError::Refused(url.to_owned()),
                "{url}"
            );
        }
        // A name resolving to loopback is refused at resolution time.
        assert!(matches!(
            f.get_json("https://localhost.:1/jwks").await,
            Err(FetchError::Failed(_)) | Err(FetchError::Refused(_))
        ));
    }

    /// A one-shot HTTP server on loopback answering `response` verbatim.
    async fn serve_once(response: Vec<u8>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(&response).await;
            }
        });
        format!("http://{addr}/doc")
    }

    fn http(status: &str, headers: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn fetches_json_with_its_cache_lifetime_when_private_is_allowed() {
        let f = HttpFetcher::new(true).unwrap();
        let url = serve_once(http(
            "200 OK",
            "cache-control: max-age=120\r\n",
            r#"{"keys":[]}"#,
        ))
        .await;
        let got = f.get_json(&url).await.unwrap();
        assert_eq!(got.body["keys"], serde_json::json!([]));
        assert_eq!(got.max_age, Some(Duration::from_secs(120)));
        // Private targets are still refused without the setting.
        assert!(matches!(
            HttpFetcher::new(false).unwrap().get_json(&url).await,
            Err(FetchError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn redirects_errors_oversize_and_non_json_fail() {
        let f = HttpFetcher::new(true).unwrap();
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_BODY));
        for resp in [
            http("302 Found", "location: http://127.0.0.1:1/\r\n", ""),
            http("500 Internal Server Error", "", "{}"),
            http("200 OK", "", "not json"),
            http("200 OK", "", "[1,2]"),
            http("200 OK", "", &big),
        ] {
            let url = serve_once(resp).await;
            assert!(matches!(f.get_json(&url).await, Err(FetchError::Failed(_))));
        }
    }

    /// A one-shot server that answers `response` and hands back the request.
    async fn capture_once(response: Vec<u8>) -> (String, tokio::sync::oneshot::Receiver<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            // Headers, then the body its content-length announces.
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            let _ = s.write_all(&response).await;
            let _ = tx.send(String::from_utf8_lossy(&got).to_string());
        });
        (format!("http://{addr}/token"), rx)
    }

    #[tokio::test]
    async fn posts_forms_with_client_authentication() {
        let f = HttpFetcher::new(true).unwrap();
        let (url, rx) = capture_once(http("200 OK", "", r#"{"access_token":"at"}"#)).await;
        let got = f
            .post_form(FormPost {
                url: &url,
                form: &[("grant_type", "authorization_code"), ("code", "a b&c")],
                auth: FormAuth::Basic {
                    client_id: "my client",
                    client_secret: "s:e/c",
                },
            })
            .await
            .unwrap();
        assert_eq!(got.status, 200);
        assert_eq!(got.body["access_token"], "at");
        let req = rx.await.unwrap();
        assert!(req.starts_with("POST /token "), "{req}");
        assert!(req.contains("content-type: application/x-www-form-urlencoded"));
        // RFC 6749 §2.3.1: form-urlencoded, then base64.
        let expected = base64::engine::general_purpose::STANDARD.encode("my+client:s%3Ae%2Fc");
        assert!(
            req.contains(&format!("authorization: Basic {expected}")),
            "{req}"
        );
        assert!(
            req.ends_with("grant_type=authorization_code&code=a+b%26c"),
            "{req}"
        );

        // client_secret_post puts the pair in the body; an error status is
        // a response for the caller to read.
        let (url, rx) =
            capture_once(http("400 Bad Request", "", r#"{"error":"invalid_grant"}"#)).await;
        let got = f
            .post_form(FormPost {
                url: &url,
                form: &[("grant_type", "refresh_token")],
                auth: FormAuth::Post {
                    client_id: "c",
                    client_secret: "s",
                },
            })
            .await
            .unwrap();
        assert_eq!(
            (got.status, got.body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let req = rx.await.unwrap();
        assert!(!req.contains("authorization:"));
        assert!(req.ends_with("grant_type=refresh_token&client_id=c&client_secret=s"));

        // The guard applies to POSTs too, and secrets never reach Debug.
        let refused = HttpFetcher::new(false)
            .unwrap()
            .post_form(FormPost {
                url: &url,
                form: &[],
                auth: FormAuth::None { client_id: None },
            })
            .await;
        assert!(matches!(refused, Err(FetchError::Refused(_))));
        let auth = FormAuth::Basic {
            client_id: "c",
            client_secret: "hunter2",
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let f = HttpFetcher::new(true).unwrap();
        let started = std::time::Instant::now();
        let r = f.get_json(&format!("http://{addr}/")).await;
        assert!(matches!(r, Err(FetchError::Failed(_))));
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(3));
    }
}
