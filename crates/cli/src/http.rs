//! The one HTTP client: reqwest on rustls (aws-lc-rs provider, Mozilla
//! roots plus an optional private CA), no redirects, timeouts, and the
//! mapping of every answer that is not a success to a [`Failure`].

use crate::args::SecretArg;
use crate::{Exit, Failure};
use reqwest::Method;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    api_key: Option<SecretArg>,
}

impl Client {
    pub fn new(
        base: url::Url,
        api_key: Option<SecretArg>,
        ca_cert: Option<&Path>,
    ) -> Result<Self, Failure> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = ca_cert {
            add_pem(&mut roots, path)?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Failure::new(Exit::Failure, format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // A redirect could carry the Authorization header elsewhere;
            // the operator should point --server at the right place.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("keyzone-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::new(Exit::Failure, format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            api_key,
        })
    }

    /// The base URL with these path segments appended (each one
    /// percent-encoded, so an id cannot change the path).
    pub fn url(&self, segments: &[&str]) -> Result<url::Url, Failure> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || **s == "." || **s == "..")
        {
            return Err(Failure::usage(format!("{bad:?} is not an id")));
        }
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        Ok(url)
    }

    /// Warns when a credential would cross the network in clear text.
    pub fn warn_if_plain_http(&self, what: &str) {
        if self.base.scheme() == "http" && !is_loopback(&self.base) {
            eprintln!(
                "keyzone: warning: sending {what} over plain http to {}",
                self.base.host_str().unwrap_or_default()
            );
        }
    }

    /// A management API request with the API key. `Ok(None)` for an empty
    /// answer (204).
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, Failure> {
        let key = self.api_key.as_ref().ok_or_else(|| {
            Failure::new(
                Exit::Denied,
                "no API key: pass --api-key, set KEYZONE_API_KEY, or put api_key in a profile",
            )
        })?;
        let mut url = self.url(segments)?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(key.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        answer(response).await
    }

    /// A form POST to a token endpoint, with HTTP Basic client
    /// authentication when `basic` is given.
    pub async fn post_form(
        &self,
        url: url::Url,
        form: &[(&str, String)],
        basic: Option<(&str, &SecretArg)>,
    ) -> Result<Value, Failure> {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut request = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if let Some((id, secret)) = basic {
            // RFC 6749 §2.3.1: both parts are form-encoded before Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(id), Some(enc(secret.expose())));
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        Ok(answer(response).await?.unwrap_or(Value::Null))
    }

    fn unreachable(&self, e: &reqwest::Error) -> Failure {
        let mut cause = String::new();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "cannot be reached"
        };
        let mut f = Failure::new(
            Exit::Unavailable,
            format!("the server at {} {what}", self.base.as_str()),
        );
        if !cause.is_empty() {
            f.details.push(cause);
        }
        f
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn add_pem(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), Failure> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let bad = |e: String| Failure::usage(format!("CA certificate {}: {e}", path.display()));
    let mut added = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
        added += 1;
    }
    if added == 0 {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(())
}

/// The body of a success (`None` when empty), or the failure an error
/// answer describes.
async fn answer(response: reqwest::Response) -> Result<Option<Value>, Failure> {
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.map_err(|e| {
        Failure::new(
            Exit::Unavailable,
            format!("reading the answer ({status}) failed: {e}"),
        )
    })?;
    if status.is_success() {
        if text.trim().is_empty() {
            return Ok(None);
        }
        return serde_json::from_str(&text).map(Some).map_err(|_| {
            Failure::new(
                Exit::Failure,
                format!("the server answered {status} with a body that is not JSON"),
            )
        });
    }
    Err(error_failure(status.as_u16(), &text, location.as_deref()))
}

/// A failure from an error answer: the management API's
/// `{code, message, details}`, an OAuth `{error, error_description}`, or
/// the status and the start of whatever else came back.
pub fn error_failure(status: u16, body: &str, location: Option<&str>) -> Failure {
    let exit = Exit::for_status(status);
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Some(message) = json.get("message").and_then(Value::as_str) {
        let mut f = Failure::new(exit, format!("{message} ({status})"));
        if let Some(details) = json.get("details").and_then(Value::as_array) {
            for d in details {
                let field = d.get("field").and_then(Value::as_str).unwrap_or("");
                let msg = d.get("message").and_then(Value::as_str).unwrap_or("");
                let line = match (field.is_empty(), msg.is_empty()) {
                    (false, false) => format!("{field}: {msg}"),
                    (false, true) => field.to_owned(),
                    _ => msg.to_owned(),
                };
                // The message often repeats the one detail it has.
                if !line.is_empty() && !message.contains(&line) {
                    f.details.push(line);
                }
            }
        }
        if let Some(id) = json.get("request_id").and_then(Value::as_str) {
            f.details.push(format!("request id: {id}"));
        }
        return f;
    }
    if let Some(error) = json.get("error").and_then(Value::as_str) {
        let message = match json.get("error_description").and_then(Value::as_str) {
            Some(d) => format!("{error}: {d} ({status})"),
            None => format!("{error} ({status})"),
        };
        return Failure::new(exit, message);
    }
    if (300..400).contains(&status) {
        return Failure::new(
            Exit::Failure,
            format!(
                "the server redirects ({status}) to {}; use that as --server",
                location.unwrap_or("another address")
            ),
        );
    }
    let start: String = body.chars().take(200).collect();
    let mut f = Failure::new(exit, format!("the server answered {status}"));
    if !start.trim().is_empty() {
        f.details.push(start.trim().to_owned());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_errors_show_message_and_details() {
        let body = r#"{"code":"validation_error","message":"identifier: is required",
            "details":[{"code":"validation_error","field":"identifier","message":"is required"},
                       {"code":"validation_error","field":"name","message":"is too long"}],
            "request_id":"r1","status":400}"#;
        let f = error_failure(400, body, None);
        assert_eq!(f.exit, Exit::Rejected);
        assert_eq!(f.message, "identifier: is required (400)");
        assert_eq!(f.details, ["name: is too long", "request id: r1"]);
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        for (status, exit) in [
            (404, Exit::NotFound),
            (401, Exit::Denied),
            (403, Exit::Denied),
            (400, Exit::Rejected),
            (409, Exit::Rejected),
            (412, Exit::Rejected),
            (500, Exit::Unavailable),
            (503, Exit::Unavailable),
            (429, Exit::Failure),
            (302, Exit::Failure),
        ] {
            assert_eq!(error_failure(status, "", None).exit, exit, "{status}");
        }
    }

    #[test]
    fn oauth_errors_and_other_bodies() {
        let f = error_failure(
            401,
            r#"{"error":"invalid_client","error_description":"unknown client"}"#,
            None,
        );
        assert_eq!(f.exit, Exit::Denied);
        assert_eq!(f.message, "invalid_client: unknown client (401)");
        let f = error_failure(502, "<html>Bad gateway</html>", None);
        assert_eq!(f.exit, Exit::Unavailable);
        assert_eq!(f.details, ["<html>Bad gateway</html>"]);
        let f = error_failure(301, "", Some("https://kz.example"));
        assert!(f.message.contains("https://kz.example"), "{}", f.message);
    }

    #[test]
    fn ids_cannot_change_the_path() {
        let c = Client::new(url::Url::parse("http://h/prefix/").unwrap(), None, None).unwrap();
        assert_eq!(
            c.url(&["zones", "../x?y"]).unwrap().as_str(),
            "http://h/prefix/zones/..%2Fx%3Fy"
        );
        for bad in ["..", ".", ""] {
            assert!(c.url(&["zones", bad]).is_err());
        }
    }
}
