//! JSON request bodies. A malformed body or a field of the wrong type is a
//! 400 `validation_error` naming the field's JSON path; unknown fields are
//! ignored; an empty body reads as `{}` (the SDK sends a JSON content type
//! with no body on some calls).

use crate::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

mod objects_only;

pub struct JsonBody<T>(pub T);

/// For PATCH fields: absent → `None` (keep), `null` → `Some(None)` (clear),
/// a value → `Some(Some(v))`. Use with `#[serde(default)]`.
pub fn double_option<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else if body_timed_out(&e) {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::BadRequest,
                    "the request body did not arrive in time",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadRequest,
                    "could not read the request body",
                )
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse(bytes).map(JsonBody)
    }
}

/// The JSON path of the first string (key or value) holding a control
/// character other than tab, line feed and carriage return — NUL above all,
/// which PostgreSQL cannot store and SQLite would: refused at the edge, so
/// both databases answer the same.
fn control_character_at(v: &serde_json::Value, path: &mut String) -> Option<String> {
    let bad = |s: &str| {
        s.chars()
            .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    };
    match v {
        serde_json::Value::String(s) if bad(s) => Some(path.clone()),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = control_character_at(item, path);
            path.truncate(len);
            found
        }),
        serde_json::Value::Object(m) => m.iter().find_map(|(k, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let found = if bad(k) {
                Some(path.clone())
            } else {
                control_character_at(item, path)
            };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// serde names the Rust type it expected ("expected struct ZoneChanges");
/// the client knows the field as a JSON object.
fn object_named(msg: String) -> String {
    for marker in [", expected struct ", ", expected internally tagged enum "] {
        if let Some(i) = msg.rfind(marker) {
            return format!("{}, expected an object", &msg[..i]);
        }
    }
    msg
}

/// Whether reading the body failed because it was slower than the
/// server's body timeout (`server::ConnectionLimits::body_timeout`).
fn body_timed_out(e: &axum::extract::rejection::BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is an object; serde would also build a struct
    // from an array of its fields in order, which no client means (nested
    // structs are held to the same by `objects_only`).
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "the request body must be a JSON object",
        ));
    }
    // Only a body that escapes a control character can hold one (JSON
    // refuses them raw); the common case pays one scan for a backslash-u.
    if bytes.windows(2).any(|w| w == b"\\u") {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
            if let Some(at) = control_character_at(&v, &mut String::new()) {
                let field: String = at.chars().filter(|c| !c.is_control()).take(128).collect();
                return Err(ApiError::invalid(
                    &field,
                    "must not contain control characters (other than tab and line breaks)",
                ));
            }
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(objects_only::Objects(de)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde reports some type mismatches (a null or a number where an
        // enum's string is expected) as syntax errors: only a body that is
        // not JSON at all is malformed.
        let malformed = (inner.is_syntax() || inner.is_eof())
            && serde_json::from_slice::<serde_json::Value>(bytes).is_err();
        if malformed {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "the request body is not valid JSON",
            );
        }
        // serde's message says what was expected; strip its position suffix.
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        let msg = object_named(msg);
        // A missing field is reported at its parent; name the field itself.
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name.to_owned(),
            (_, Some(name)) => format!("{path}.{name}"),
            (".", None) => "body".to_owned(),
            _ => path,
        };
        let msg = if missing.is_some() {
            "is required".to_owned()
        } else {
            msg
        };
        ApiError::invalid(field, msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        enabled: bool,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = parse::<Body>(br#"{"name":"x","inner":{"enabled":"yes"}}"#).unwrap_err();
        assert_eq!(e.details[0].field, "inner.enabled");
        let e = parse::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(e.details[0].field, "name");
        let e = parse::<Body>(br#"{"name":"x","inner":{}}"#).unwrap_err();
        assert_eq!(e.details[0].field, "inner.enabled");
        // A struct is never read from an array of its fields.
        let e = parse::<Body>(br#" ["x", {"enabled": true}]"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "the request body must be a JSON object");
        let e = parse::<Body>(b"{").unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(parse::<Body>(br#"{"name":"x","extra":1}"#).is_ok());
        // A wrong type serde calls a syntax error is still a field error.
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        enum Status {
            #[serde(rename = "revoked")]
            Revoked,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Revoke {
            status: Status,
        }
        for body in [&br#"{"status":null}"#[..], br#"{"status":1}"#] {
            let e = parse::<Revoke>(body).unwrap_err();
            assert_eq!(e.code, ErrorCode::ValidationError, "{e:?}");
            assert_eq!(e.details[0].field, "status");
        }
    }

    #[test]
    fn structs_are_read_only_from_objects() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Tagged {
            Token { token: String },
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "snake_case")]
        enum External {
            Plain,
            Fields { a: u8 },
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Deep {
            inner: Inner2,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Inner2 {
            enabled: bool,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct All {
            #[serde(default)]
            deep: Option<Deep>,
            #[serde(default)]
            list: Vec<Inner2>,
            #[serde(default)]
            names: Vec<String>,
            #[serde(default)]
            pair: Option<(u8, String)>,
            #[serde(default)]
            tagged: Option<Tagged>,
            #[serde(default)]
            external: Option<External>,
            #[serde(default)]
            any: Option<serde_json::Value>,
        }
        let refused = |body: &str, field: &str| {
            let e = parse::<All>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.code, ErrorCode::ValidationError, "{body}");
            assert_eq!(e.details[0].field, field, "{body}");
            assert_eq!(
                e.details[0].message, "invalid type: sequence, expected an object",
                "{body}"
            );
        };
        // An Option<struct>, a struct nested in it, and items of a Vec.
        refused(r#"{"deep": [{"enabled": true}]}"#, "deep");
        refused(r#"{"deep": {"inner": [true]}}"#, "deep.inner");
        refused(r#"{"list": [{"enabled": true}, [false]]}"#, "list[1]");
        // An internally tagged enum, and an external enum's struct variant.
        refused(r#"{"tagged": ["token", "t"]}"#, "tagged");
        refused(r#"{"external": {"fields": [1]}}"#, "external.fields");
        // Objects, sequences, tuples, enums and free JSON read as before.
        let all = parse::<All>(
            br#"{"deep": {"inner": {"enabled": true}}, "list": [{"enabled": false}],
                "names": ["a", "b"], "pair": [1, "x"], "tagged": {"type": "token", "token": "t"},
                "external": "plain", "any": [1, {"a": [2]}]}"#,
        )
        .unwrap();
        assert_eq!(all.deep.unwrap().inner, Inner2 { enabled: true });
        assert_eq!(all.names, ["a", "b"]);
        assert_eq!(all.pair, Some((1, "x".to_owned())));
        assert_eq!(all.tagged, Some(Tagged::Token { token: "t".into() }));
        assert_eq!(all.external, Some(External::Plain));
        assert_eq!(all.any, Some(serde_json::json!([1, {"a": [2]}])));
        let all = parse::<All>(br#"{"external": {"fields": {"a": 1}}}"#).unwrap();
        assert_eq!(all.external, Some(External::Fields { a: 1 }));
        // The Rust type's name is not in the message.
        let e = parse::<All>(br#"{"deep": "x"}"#).unwrap_err();
        assert_eq!(
            e.details[0].message,
            "invalid type: string \"x\", expected an object"
        );
    }
}
