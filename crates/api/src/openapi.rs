//! The OpenAPI 3.1 document, generated from the handlers' annotations. A
//! committed copy lives at `docs/openapi.json`; a test fails when it drifts.
//!
//! The document states every rule the server enforces on input, so that a
//! request valid by the schema is accepted and one invalid by it refused
//! (`tests/sdk/test_schemathesis.py` checks both ways):
//!
//! - field rules of the domain (`keyzone_domain::validation`,
//!   `keyzone_domain::directory`, `…::zone`, `…::secret`) are the string
//!   schemas below ([`Name`], [`Slug`], [`Identifier`], [`AbsoluteUri`], …),
//!   which the wire types name with `#[schema(value_type = …)]`;
//! - the rule every request obeys — no control characters in any string
//!   (`json.rs`: none below U+0020 but tab and line breaks; `query.rs`: none
//!   at all) — and "a body has only the documented fields" are added to every
//!   request schema here, by [`RequestRules`], so no field can miss them.
//!
//! Rust counts some limits in bytes where JSON Schema counts characters
//! (identifiers, URIs, scopes, ARNs, secret values); the two agree for ASCII.

use crate::{
    applications, credentials, error, identity, invitations, page, providers, resources, secrets,
    zones,
};
use std::borrow::Cow;
use std::collections::BTreeSet;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayItems, ObjectBuilder, OneOfBuilder, Schema,
    SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyzone management API",
        description = "A self-hostable implementation of the Keycard management API.\n\n\
            Every operation needs `Authorization: Bearer <API key>` (401 without a valid one). \
            A zone of another organization answers 404, as an unknown one does. Every string \
            in a request refuses control characters (400). A query parameter given empty \
            (`limit=`) is read as absent. Bodies are JSON objects; fields a body does not \
            document are ignored, and an empty PATCH body reads as `{}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        zones::list, zones::create, zones::retrieve, zones::update, zones::delete,
        secrets::list, secrets::create, secrets::retrieve, secrets::update, secrets::delete,
        applications::list, applications::create, applications::retrieve, applications::update,
        applications::delete, applications::list_resources, applications::list_credentials,
        applications::list_dependencies, applications::get_dependency,
        applications::add_dependency, applications::remove_dependency,
        credentials::list, credentials::create, credentials::retrieve, credentials::update,
        credentials::delete,
        providers::list, providers::create, providers::retrieve, providers::update,
        providers::delete,
        resources::list, resources::create, resources::retrieve, resources::update,
        resources::delete,
        identity::list_users, identity::get_user, identity::list_user_agents,
        identity::get_user_agent, identity::list_sessions, identity::get_session,
        identity::update_session, identity::delete_session, identity::list_grants,
        identity::get_grant, identity::update_grant, identity::delete_grant,
        identity::create_user,
        invitations::create, invitations::list, invitations::delete,
    ),
    components(schemas(
        error::ErrorBody,
        error::ErrorDetail,
        error::ErrorCode,
        page::PageInfo,
        page::Pagination,
        // Named only by query parameters, which utoipa does not collect.
        Cursor,
        DirectorySort,
        UserSort,
        GrantSort,
        OnlyTrue,
        JsonValue,
    )),
    modifiers(&BearerAuth, &RequestRules),
    tags(
        (name = "Zones", description = "Tenants, each with its own authorization server"),
        (name = "Secrets", description = "Values kept encrypted in a zone's vault"),
        (name = "Applications", description = "Agents, MCP servers and services, with their dependencies"),
        (name = "Application credentials", description = "How applications authenticate"),
        (name = "Providers", description = "Upstream identity and credential providers"),
        (name = "Resources", description = "APIs and MCP servers a zone protects"),
        (name = "Users", description = "People who signed in to a zone"),
        (name = "User agents", description = "Dynamically registered clients"),
        (name = "Sessions", description = "User and application sessions"),
        (name = "Delegated grants", description = "Users' authorizations for resources"),
        (name = "User invitations", description = "Keyzone extension: emails allowed to sign up in a zone"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_auth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An organization API key"))
                    .build(),
            ),
        );
    }
}

/// The document as served and as committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    s.push('\n');
    s
}

// ----- the characters the server refuses -----

/// A character `json.rs` accepts in any string of a body: anything but the
/// C0 controls other than tab, line feed and carriage return.
const BODY_CHAR: &str = r"[^\x00-\x08\x0b\x0c\x0e-\x1f]";
/// A character `query.rs` accepts in a query value: no control character
/// (Unicode `Cc`) at all.
const QUERY_CHAR: &str = r"[^\x00-\x1f\x7f-\x9f]";
/// Neither a control character nor Unicode `White_Space` (Rust's
/// `char::is_control` and `char::is_whitespace`).
const VISIBLE: &str = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// No HTML tag anywhere: `<` then a letter, `/` or `!`, with a `>` later on
/// (`validation::contains_html_tag`).
const NO_HTML_TAG: &str = r"(?![\s\S]*<[A-Za-z/!][\s\S]*>)";

/// One DNS label of a host the URL parser accepts as a domain (no
/// punycode `xn--` label, which it would have to decode).
const LABEL: &str = r"(?![Xx][Nn]--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/// The last label starts with a letter: one ending in a number makes the
/// whole host an IPv4 address to the URL parser.
const LAST_LABEL: &str = r"(?![Xx][Nn]--)[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/// `:port`, 0 to 65535.
const PORT: &str =
    r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
/// A path and query: visible characters, no fragment.
const REST: &str =
    r"(?:[/?][^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000#]*)?";

fn host() -> String {
    format!("(?:{LABEL}\\.)*{LAST_LABEL}")
}

fn http_url_body() -> String {
    format!("[Hh][Tt][Tt][Pp][Ss]?://{}{PORT}{REST}", host())
}

// ----- the string rules, as schemas -----

/// A string schema in the document's components, for a rule of the domain.
macro_rules! string_rule {
    ($(#[$doc:meta])* $name:ident, $description:expr, min = $min:expr, max = $max:expr, pattern = $pattern:expr $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let pattern: String = $pattern;
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .min_length($min)
                    .max_length($max)
                    .pattern(Some(pattern))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

string_rule!(
    /// `validation::name`.
    Name,
    "A human-readable name: 1 to 255 characters, not blank, no control characters, no HTML tags.",
    min = Some(1),
    max = Some(255),
    pattern = format!("^{NO_HTML_TAG}{QUERY_CHAR}*{VISIBLE}{QUERY_CHAR}*$"),
);

string_rule!(
    /// `validation::description` of zones and the directory.
    Description,
    "At most 2048 characters; line breaks and tabs are allowed, other control characters and HTML tags are not.",
    min = None,
    max = Some(2048),
    pattern = format!(r"^{NO_HTML_TAG}[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"),
);

string_rule!(
    /// `validation::description` of secrets.
    SecretDescription,
    "At most 128 characters; line breaks and tabs are allowed, other control characters and HTML tags are not.",
    min = None,
    max = Some(128),
    pattern = format!(r"^{NO_HTML_TAG}[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"),
);

string_rule!(
    /// `keyzone_authserver::invitations::api_email`.
    InvitationEmail,
    "An email address: printable ASCII without spaces, one '@', a domain with a dot not at either end; \
     at most 254 characters. Compared case-insensitively (stored lower-cased).",
    min = Some(5),
    max = Some(254),
    pattern = r"^[!-?A-~]+@(?=[!-?A-~]*\.)[!-\-/-?A-~][!-?A-~]*[!-\-/-?A-~]$".to_owned(),
);

string_rule!(
    /// `validation::slug`.
    Slug,
    "1 to 63 lowercase letters, digits and '-', not starting or ending with '-' (a DNS label).",
    min = Some(1),
    max = Some(63),
    pattern = "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$".to_owned(),
);

string_rule!(
    /// `directory::identifier` (and a secret's `entity_id`).
    Identifier,
    "An opaque identifier: 1 to 255 characters, no whitespace or control characters.",
    min = Some(1),
    max = Some(255),
    pattern = format!("^{VISIBLE}+$"),
);

string_rule!(
    /// `directory::absolute_uri`.
    AbsoluteUri,
    "An absolute URI without a fragment, at most 255 characters: an http(s) URL with a host, \
     or another scheme (`urn:…`, `spiffe://…`).",
    min = Some(1),
    max = Some(255),
    pattern = format!(
        "^(?:{}|(?![Hh][Tt][Tt][Pp][Ss]?:|[Ww][Ss][Ss]?:|[Ff][Tt][Pp]:|[Ff][Ii][Ll][Ee]:)\
         [A-Za-z][A-Za-z0-9+.-]*:(?://{}{PORT}{REST}|(?!//){VISIBLE_NO_FRAGMENT}*))$",
        http_url_body(),
        host(),
        VISIBLE_NO_FRAGMENT = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000#]",
    ),
);

string_rule!(
    /// `directory::http_url`.
    HttpUrl,
    "An absolute http or https URL with a host, without a fragment, at most 255 characters.",
    min = Some(1),
    max = Some(255),
    pattern = format!("^{}$", http_url_body()),
);

string_rule!(
    /// `directory::https_url`.
    HttpsUrl,
    "An https URL (http only on localhost, 127.0.0.1 or [::1]), without a fragment, at most 255 characters.",
    min = Some(1),
    max = Some(255),
    pattern = format!(
        r"^(?:[Hh][Tt][Tt][Pp][Ss]://{}|[Hh][Tt][Tt][Pp]://(?:localhost|127\.0\.0\.1|\[::1\])){PORT}{REST}$",
        host()
    ),
);

string_rule!(
    /// `directory::scope`.
    Scope,
    "An OAuth scope token (RFC 6749 §3.3): 1 to 255 of the printable ASCII characters but space, '\"' and '\\'.",
    min = Some(1),
    max = Some(255),
    pattern = r"^[\x21\x23-\x5b\x5d-\x7e]+$".to_owned(),
);

string_rule!(
    /// `keyzone_domain::id::is_valid_id`.
    Id,
    "A record id: 20 lowercase letters and digits, the first a letter. An id that names nothing \
     in the zone is a 404 in a path and a 400 on the field in a body.",
    min = Some(20),
    max = Some(20),
    pattern = "^[a-z][a-z0-9]{19}$".to_owned(),
);

string_rule!(
    /// `zone::validate_arn`.
    KmsKeyArn,
    "An AWS KMS key ARN, `arn:<partition>:kms:<region>:<12-digit account>:key/<key id>` or \
     `…:alias/<alias name>` (partition `aws` or `aws-…`; region lowercase letters, digits and '-'; \
     a key id of letters, digits and '-'; an alias of those, '/' and '_'). The key must be usable \
     by the server (else 503).",
    min = Some(1),
    max = Some(keyzone_domain::zone::ARN_MAX_LEN),
    pattern = r"^arn:aws(?:-[a-z]+)*:kms:[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?:[0-9]{12}:(?:key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,256})$".to_owned(),
);

string_rule!(
    /// `zone::cimd_allowlist_entry`.
    CimdAllowlistEntry,
    "An exact client ID URL (https, with a DNS name or an IPv4 address; http only on localhost, 127.0.0.1 or [::1]), a wildcard origin \
     whose single `*` replaces the leftmost subdomain label (`https://*.example.com`), or `*`.",
    min = Some(1),
    max = Some(2048),
    pattern = format!(
        r"^(?:\*|https://\*\.{LBL}(?:\.{LBL})+(?::[0-9]{{1,5}})?|(?:https://(?:{}|{IPV4})|http://(?:localhost|127\.0\.0\.1|\[::1\])){PORT}(?:[/?][^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000#*]*)?)$",
        host(),
        LBL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
        // An exact https client ID may name an IPv4 address (a private
        // deployment, the CIMD tests' loopback document server).
        IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    ),
);

string_rule!(
    /// `secret::SecretData::validate`.
    SecretValue,
    "1 to 65536 characters (bytes of UTF-8); line breaks and tabs are allowed, other C0 control characters are not.",
    min = Some(1),
    max = Some(65536),
    pattern = format!("^{BODY_CHAR}+$"),
);

string_rule!(
    /// `ProviderFields::validate`: the client secret.
    ClientSecret,
    "1 to 4096 characters (bytes of UTF-8); line breaks and tabs are allowed, other C0 control characters are not.",
    min = Some(1),
    max = Some(4096),
    pattern = format!("^{BODY_CHAR}+$"),
);

/// Unicode `White_Space` but the two C0 controls a body refuses (U+000B,
/// U+000C): what `str::trim` removes.
const TRIMMED: &str = r"[\t\n\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

string_rule!(
    /// `signin::valid_email` of `signin::normalize_email` (trimmed, in
    /// lowercase).
    Email,
    "An email address: around it, whitespace is trimmed; then at most 254 characters (bytes of UTF-8) \
     without whitespace or control characters, a non-empty part before the first '@', and after it \
     a domain with a '.' that neither starts nor ends with one.",
    min = Some(1),
    max = None,
    pattern = format!(
        r"^{TRIMMED}*(?={VISIBLE}{{1,254}}{TRIMMED}*$)[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@{NO_DOT}{VISIBLE}*\.{VISIBLE}*{NO_DOT}{TRIMMED}*$",
        NO_DOT = r"[^.\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    ),
);

string_rule!(
    /// `signin::provision_user`: `MIN_PASSWORD_LEN` characters, at most
    /// 1024 bytes.
    Password,
    "8 to 1024 characters (bytes of UTF-8 for the maximum); line breaks and tabs are allowed, other C0 control characters are not.",
    min = Some(8),
    max = Some(1024),
    pattern = format!("^{BODY_CHAR}+$"),
);

string_rule!(
    /// A cursor from `pagination` (`page::Cursor`): opaque base64url.
    Cursor,
    "An opaque cursor from a previous page's `pagination` (`after_cursor` / `before_cursor`), \
     for the same `sort`; any other value is a 400. Empty means none.",
    min = None,
    max = Some(255),
    pattern = "^[A-Za-z0-9_-]*$".to_owned(),
);

string_rule!(
    /// `sort` over `keyzone_domain::directory::SORT_FIELDS`.
    DirectorySort,
    "Comma-separated fields of `created_at`, `name`, `identifier`, each at most once, `-` for \
     descending; the id breaks ties. Default: `created_at`.",
    min = None,
    max = None,
    pattern = sort_pattern(&["created_at", "name", "identifier"]),
);

string_rule!(
    /// `sort` over `keyzone_domain::identity::USER_SORT_FIELDS`.
    UserSort,
    "Comma-separated fields of `created_at`, `email`, `authenticated_at`, each at most once, `-` \
     for descending; the id breaks ties. Default: `created_at`.",
    min = None,
    max = None,
    pattern = sort_pattern(&["created_at", "email", "authenticated_at"]),
);

string_rule!(
    /// `sort` of delegated grants.
    GrantSort,
    "`created_at` or `-created_at` (descending); the id breaks ties.",
    min = None,
    max = None,
    pattern = sort_pattern(&["created_at"]),
);

/// `Sort::parse`: comma-separated `allowed` fields, `-` or `+` first, none
/// twice; empty for the default.
fn sort_pattern(allowed: &[&str]) -> String {
    let field = format!("(?:{})", allowed.join("|"));
    let twice = format!(
        "(?!(?:[^,]*,)*[-+]?({})(?:,[^,]*)*,[-+]?\\1(?:,|$))",
        allowed.join("|")
    );
    format!(
        "^(?:{twice}[-+]?{field}(?:,[-+]?{field}){{0,{}}})?$",
        allowed.len() - 1
    )
}

// ----- query parameters shared by the lists -----

/// Cursor pagination (`Params::page_request`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Page {
    /// The next page: `pagination.after_cursor` of the previous one.
    after: Option<Cursor>,
    /// The previous page: `pagination.before_cursor`; not with `after`.
    before: Option<Cursor>,
    /// Alias of `after`.
    cursor: Option<Cursor>,
    /// Page size, 1 to 100; default 20 (with `filter[id]`: the number of ids).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// `sort` of the directory lists.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DirectorySortParam {
    sort: Option<DirectorySort>,
}

/// `sort` of users.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UserSortParam {
    sort: Option<UserSort>,
}

/// `sort` of delegated grants.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct GrantSortParam {
    sort: Option<GrantSort>,
}

/// The filters every directory list takes (`Params::list_filter`). Its
/// `filter[id]` (repeated or comma-separated ids, at most 100 in all, not
/// with a cursor) is left out: a schema cannot count comma-separated values.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DirectoryFilters {
    /// Only records of this owner.
    #[param(rename = "filter[owner_type]")]
    filter_owner_type: Option<crate::zones::OwnerType>,
}

/// A user's status.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum UserStatus {
    #[schema(rename = "active")]
    Active,
    #[schema(rename = "disabled")]
    Disabled,
}

/// A session's or grant's status, derived when read (`RecordStatus::at`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum RecordStatus {
    #[schema(rename = "active")]
    Active,
    #[schema(rename = "expired")]
    Expired,
    #[schema(rename = "revoked")]
    Revoked,
}

/// `user` or `application`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum SessionType {
    #[schema(rename = "user")]
    User,
    #[schema(rename = "application")]
    Application,
}

/// `active=true`, the one value the filter takes (`status=active`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum OnlyTrue {
    #[schema(rename = "true")]
    True,
}

/// An application credential's type (`CredentialKind::type_str`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum CredentialType {
    #[schema(rename = "token")]
    Token,
    #[schema(rename = "password")]
    Password,
    #[schema(rename = "public-key")]
    PublicKey,
    #[schema(rename = "url")]
    Url,
    #[schema(rename = "public")]
    Public,
}

/// The body of `PATCH …/application-credentials/{id}`
/// (`credentials::CredentialUpdate`): one branch per credential type, as
/// the SDK's `Iam…CredentialUpdate` types are. What an update may change
/// depends on the type of the credential in the path, which no update
/// changes: a branch takes its own fields and `type`, and refuses the
/// fields of the others and those of a new credential that no update
/// changes (`Directory::update_credential` answers 400 on such a field).
pub struct CredentialUpdate;

/// The fields of credentials a PATCH body may name, in some branch or none.
const CREDENTIAL_FIELDS: [&str; 5] = [
    "subject",
    "identifier",
    "application_id",
    "provider_id",
    "jwks_uri",
];

fn credential_update_branch(
    kind: &str,
    description: &str,
    field: Option<(&str, &str, &str)>,
) -> RefOr<Schema> {
    let refused: Vec<&str> = CREDENTIAL_FIELDS
        .into_iter()
        .filter(|f| field.is_none_or(|(own, ..)| own != *f))
        .collect();
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([kind]))
                .description(Some("When given, the credential's own type.")),
        )
        .property_names(Some(text_object(&format!(
            "(?!(?:{})$){BODY_CHAR}",
            refused.join("|")
        ))));
    if let Some((name, rule, about)) = field {
        o = o.property(
            name,
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .item({
                    let mut r = Ref::from_schema_name(rule);
                    r.description = about.to_owned();
                    r
                }),
        );
    }
    o.into()
}

impl PartialSchema for CredentialUpdate {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .description(Some(
                "What an update may change depends on the credential's type: a token credential's \
                 `subject`, a URL or public credential's `identifier`; nothing else. `type`, when \
                 given, must be the credential's own. A field of another type of credential, or \
                 `application_id`, `provider_id` or `jwks_uri`, is refused (400 on the field).",
            ))
            .item(credential_update_branch(
                "token",
                "A token credential.",
                Some(("subject", "Identifier", "`null` accepts any subject.")),
            ))
            .item(credential_update_branch(
                "password",
                "A password credential: nothing changes.",
                None,
            ))
            .item(credential_update_branch(
                "public-key",
                "A public-key credential: nothing changes.",
                None,
            ))
            .item(credential_update_branch(
                "url",
                "A URL credential.",
                Some((
                    "identifier",
                    "HttpsUrl",
                    "The client ID URL, unique in the zone (else 409); `null` keeps it.",
                )),
            ))
            .item(credential_update_branch(
                "public",
                "A public credential.",
                Some((
                    "identifier",
                    "Identifier",
                    "The client_id, unique in the zone (else 409); `null` keeps it.",
                )),
            ))
            .into()
    }
}

impl ToSchema for CredentialUpdate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CredentialUpdate")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("Identifier".into(), Identifier::schema()));
        schemas.push(("HttpsUrl".into(), HttpsUrl::schema()));
        schemas.push(("JsonValue".into(), JsonValue::schema()));
    }
}

/// A provider's type (`ProviderType`): only `external` providers are made
/// through the API; the zone's own STS and vault are platform-owned.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum ProviderType {
    #[schema(rename = "external")]
    External,
    #[schema(rename = "keycard-vault")]
    KeycardVault,
    #[schema(rename = "keycard-sts")]
    KeycardSts,
}

/// `protocols.oauth2` of a provider (`ProviderOAuth2` in the domain): the
/// upstream authorization server.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProviderOAuth2 {
    /// Required with `oauth2`.
    issuer: HttpUrl,
    authorization_endpoint: Option<HttpUrl>,
    /// Extra parameters of authorization requests; at most 100.
    #[schema(schema_with = parameter_map)]
    authorization_parameters: Option<std::collections::BTreeMap<String, String>>,
    authorization_resource_enabled: Option<bool>,
    authorization_resource_parameter: Option<String>,
    /// At most 100.
    #[schema(max_items = 100)]
    code_challenge_methods_supported: Option<Vec<Identifier>>,
    jwks_uri: Option<HttpUrl>,
    registration_endpoint: Option<HttpUrl>,
    scope_parameter: Option<String>,
    scope_separator: Option<String>,
    /// At most 100.
    #[schema(max_items = 100)]
    scopes_supported: Option<Vec<Scope>>,
    token_endpoint: Option<HttpUrl>,
    token_response_access_token_pointer: Option<String>,
}

/// A map of at most 100 string parameters, or `null`.
fn parameter_map() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Object, Type::Null]))
        .max_properties(Some(100))
        .property_names(Some(text_object(BODY_CHAR)))
        .additional_properties(Some(AdditionalProperties::RefOr(text_schema(BODY_CHAR))))
        .build()
}

/// `protocols.openid` of a provider (`ProviderOpenId` in the domain).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProviderOpenId {
    /// At most 100.
    #[schema(max_items = 100)]
    scopes: Option<Vec<Scope>>,
    single_logout_enabled: Option<bool>,
    user_identifier_claim: Option<String>,
    userinfo_endpoint: Option<HttpUrl>,
}

/// Any JSON value whose strings (and keys) hold no control character
/// other than tab and line breaks.
pub struct JsonValue;

impl PartialSchema for JsonValue {
    fn schema() -> RefOr<Schema> {
        let me = || RefOr::Ref(Ref::from_schema_name("JsonValue"));
        OneOfBuilder::new()
            .description(Some(
                "Any JSON value; its strings and keys hold no control characters but tab and line breaks.",
            ))
            .item(text_schema(BODY_CHAR))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(utoipa::openapi::schema::ArrayBuilder::new().items(me()))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property_names(Some(text_object(BODY_CHAR)))
                    .additional_properties(Some(AdditionalProperties::RefOr(me()))),
            )
            .into()
    }
}

impl ToSchema for JsonValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JsonValue")
    }
}

/// A free-form JSON object (a secret's `metadata`).
pub struct JsonObject;

impl PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Any JSON object, at most 16 KiB as JSON; its strings and keys hold no control characters but tab and line breaks.",
            ))
            .property_names(Some(text_object(BODY_CHAR)))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::Ref(
                Ref::from_schema_name("JsonValue"),
            ))))
            .into()
    }
}

impl ToSchema for JsonObject {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JsonObject")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("JsonValue".into(), JsonValue::schema()));
    }
}

fn text_object(char_class: &str) -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{char_class}*$")))
        .build()
}

fn text_schema(char_class: &str) -> RefOr<Schema> {
    RefOr::T(Schema::Object(text_object(char_class)))
}

// ----- rules every request obeys -----

/// Adds to every schema a request reads (its query parameters and its body,
/// through the components they name) what `query.rs` and `json.rs` enforce
/// for all of them:
///
/// - a string without a pattern of its own gets the control-character rule
///   of where it is read;
/// - an object's other keys are ignored, but hold JSON like any other
///   (`JsonValue`), under names without control characters;
/// - a query parameter given empty is absent (`Params::parse`):
///   `allowEmptyValue` on those whose schema does not admit the empty
///   string anyway (numbers, booleans, enums, ids, sorts);
/// - a body whose fields are all optional may be left out (`JsonBody`
///   reads an empty body as `{}`).
struct RequestRules;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Query,
    Body,
}

impl Modify for RequestRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut pending: Vec<(String, Place)> = Vec::new();
        let optional_bodies: BTreeSet<String> = openapi
            .components
            .iter()
            .flat_map(|c| c.schemas.iter())
            .filter(|(_, s)| all_optional(s))
            .map(|(name, _)| format!("#/components/schemas/{name}"))
            .collect();
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for p in op.parameters.iter_mut().flatten() {
                    if p.parameter_in == ParameterIn::Query {
                        if let Some(s) = p.schema.as_mut() {
                            apply(s, Place::Query, &mut pending);
                            if refuses_empty(s) {
                                // A field utoipa does not model; extensions
                                // serialize flat, so this is the field itself.
                                p.extensions.get_or_insert_with(Default::default).insert(
                                    "allowEmptyValue".into(),
                                    serde_json::Value::Bool(true),
                                );
                            }
                        }
                    }
                }
                if let Some(body) = op.request_body.as_mut() {
                    let mut all_optional = true;
                    for content in body.content.values_mut() {
                        if let Some(s) = content.schema.as_mut() {
                            all_optional &= matches!(&*s, RefOr::Ref(r) if optional_bodies.contains(&r.ref_location));
                            apply(s, Place::Body, &mut pending);
                        }
                    }
                    if all_optional {
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let mut done: BTreeSet<(String, Place)> = BTreeSet::new();
        while let Some((name, place)) = pending.pop() {
            if !done.insert((name.clone(), place)) {
                continue;
            }
            if let Some(s) = components.schemas.get_mut(&name) {
                apply(s, place, &mut pending);
            }
        }
    }
}

/// Whether a body schema is an object without required fields (or a
/// choice of such objects), so that `{}` is valid by it.
fn all_optional(s: &RefOr<Schema>) -> bool {
    match s {
        RefOr::T(Schema::Object(o)) => o.required.is_empty(),
        RefOr::T(Schema::AnyOf(x)) => x.items.iter().all(all_optional),
        _ => false,
    }
}

/// Whether a query parameter's schema refuses the empty string: numbers,
/// booleans, enums and ids (free text, cursors and sorts admit it).
fn refuses_empty(s: &RefOr<Schema>) -> bool {
    const REFUSING: &[&str] = &[
        "Id",
        "OnlyTrue",
        "OwnerType",
        "ProviderType",
        "RecordStatus",
        "SecretType",
        "SessionType",
    ];
    match s {
        RefOr::Ref(r) => r
            .ref_location
            .strip_prefix("#/components/schemas/")
            .is_some_and(|name| REFUSING.contains(&name)),
        RefOr::T(Schema::Object(o)) => {
            o.enum_values.is_some()
                || [Type::Integer, Type::Number, Type::Boolean]
                    .into_iter()
                    .any(|t| is(&o.schema_type, t))
        }
        RefOr::T(Schema::Array(a)) => match &a.items {
            ArrayItems::RefOrSchema(items) => refuses_empty(items),
            _ => false,
        },
        _ => false,
    }
}

fn apply(s: &mut RefOr<Schema>, place: Place, pending: &mut Vec<(String, Place)>) {
    match s {
        RefOr::Ref(r) => {
            if let Some(name) = r.ref_location.strip_prefix("#/components/schemas/") {
                pending.push((name.to_owned(), place));
            }
        }
        RefOr::T(schema) => apply_schema(schema, place, pending),
    }
}

fn is(t: &SchemaType, want: Type) -> bool {
    match t {
        SchemaType::Type(t) => *t == want,
        SchemaType::Array(ts) => ts.contains(&want),
        SchemaType::AnyValue => false,
    }
}

fn apply_schema(schema: &mut Schema, place: Place, pending: &mut Vec<(String, Place)>) {
    match schema {
        Schema::Object(o) => {
            if is(&o.schema_type, Type::String) && o.pattern.is_none() && o.enum_values.is_none() {
                o.pattern = Some(match place {
                    Place::Query => format!("^{QUERY_CHAR}*$"),
                    Place::Body => format!("^{BODY_CHAR}*$"),
                });
            }
            if is(&o.schema_type, Type::Object) && !o.properties.is_empty() {
                if o.additional_properties.is_none() {
                    o.additional_properties = Some(Box::new(AdditionalProperties::RefOr(
                        RefOr::Ref(Ref::from_schema_name("JsonValue")),
                    )));
                }
                if o.property_names.is_none() {
                    o.property_names = Some(Box::new(Schema::Object(text_object(BODY_CHAR))));
                }
            }
            for p in o.properties.values_mut() {
                apply(p, place, pending);
            }
            if let Some(AdditionalProperties::RefOr(r)) = o.additional_properties.as_deref_mut() {
                apply(r, place, pending);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                apply(items, place, pending);
            }
        }
        Schema::OneOf(x) => x.items.iter_mut().for_each(|i| apply(i, place, pending)),
        Schema::AllOf(x) => x.items.iter_mut().for_each(|i| apply(i, place, pending)),
        Schema::AnyOf(x) => x.items.iter_mut().for_each(|i| apply(i, place, pending)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::from_str(&document()).unwrap()
    }

    /// Every management operation needs an API key, and says so.
    #[test]
    fn every_operation_documents_401() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path} does not list 401"
                );
                assert_eq!(
                    op["security"][0]["bearer_auth"],
                    serde_json::json!([]),
                    "{method} {path}"
                );
            }
        }
    }

    /// Every string a request carries (query values, body fields, keys of
    /// free-form objects) has a pattern, and every object of a body lists
    /// its fields and admits no others (or says what its other keys hold).
    #[test]
    fn every_request_schema_states_its_rules() {
        let doc = doc();
        let components = &doc["components"]["schemas"];
        let mut seen = BTreeSet::new();
        fn walk(
            v: &serde_json::Value,
            components: &serde_json::Value,
            seen: &mut BTreeSet<String>,
            at: &str,
        ) {
            let Some(m) = v.as_object() else { return };
            if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                let name = r.trim_start_matches("#/components/schemas/");
                if seen.insert(name.to_owned()) {
                    walk(&components[name], components, seen, name);
                }
                return;
            }
            let types: Vec<&str> = match &m.get("type") {
                Some(serde_json::Value::String(t)) => vec![t.as_str()],
                Some(serde_json::Value::Array(ts)) => {
                    ts.iter().filter_map(|t| t.as_str()).collect()
                }
                _ => vec![],
            };
            if types.contains(&"string") {
                assert!(
                    m.contains_key("pattern") || m.contains_key("enum"),
                    "a string without a pattern at {at}: {v}"
                );
            }
            if types.contains(&"object") {
                assert!(
                    m.contains_key("additionalProperties"),
                    "an object without additionalProperties at {at}: {v}"
                );
            }
            for (k, sub) in m {
                match sub {
                    serde_json::Value::Array(items) => items
                        .iter()
                        .for_each(|i| walk(i, components, seen, &format!("{at}.{k}"))),
                    serde_json::Value::Object(o) if k == "properties" => o
                        .iter()
                        .for_each(|(p, s)| walk(s, components, seen, &format!("{at}.{p}"))),
                    _ => walk(sub, components, seen, &format!("{at}.{k}")),
                }
            }
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "query" {
                        walk(
                            &p["schema"],
                            components,
                            &mut seen,
                            &format!("{method} {path} ?{}", p["name"]),
                        );
                    }
                }
                walk(
                    &op["requestBody"]["content"]["application/json"]["schema"],
                    components,
                    &mut seen,
                    &format!("{method} {path} body"),
                );
            }
        }
        assert!(
            seen.contains("Name") && seen.contains("ZoneCreate"),
            "{seen:?}"
        );
    }

    /// A query parameter whose schema refuses the empty string says the
    /// server reads `name=` as absent.
    #[test]
    fn enum_and_number_parameters_allow_empty_values() {
        let doc = doc();
        let components = &doc["components"]["schemas"];
        let refuses = |s: &serde_json::Value| {
            let s = match s["$ref"].as_str() {
                Some(r) => &components[r.trim_start_matches("#/components/schemas/")],
                None => s,
            };
            s.get("enum").is_some()
                || matches!(s["type"].as_str(), Some("integer" | "number" | "boolean"))
        };
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let s = &p["schema"];
                    let s = if s["type"] == "array" { &s["items"] } else { s };
                    if p["in"] == "query" && refuses(s) {
                        assert_eq!(p["allowEmptyValue"], true, "{method} {path} ?{}", p["name"]);
                    }
                }
            }
        }
    }

    /// Operations the Keycard API lacks are marked as Keyzone extensions,
    /// in the operation (`x-keyzone-extension`) and its description.
    #[test]
    fn extensions_are_marked() {
        let doc = doc();
        let mut marked = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op.get("x-keyzone-extension") == Some(&serde_json::Value::Bool(true)) {
                    let description = op["description"].as_str().unwrap_or_default();
                    assert!(
                        description.starts_with("**Keyzone extension**"),
                        "{method} {path}: {description}"
                    );
                    marked.push(format!("{method} {path}"));
                }
            }
        }
        marked.sort();
        assert_eq!(
            marked,
            [
                "delete /zones/{zone_id}/user-invitations/{id}",
                "get /zones/{zone_id}/user-invitations",
                "post /zones/{zone_id}/user-invitations",
                "post /zones/{zone_id}/users",
            ]
        );
    }

    /// Every `$ref` names a schema of the document.
    #[test]
    fn every_reference_resolves() {
        let text = document();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for part in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "unresolvable reference to {name}"
            );
        }
    }
}
