//! `/.well-known/*`: the JWK Set that downstream services verify with, and
//! RFC 8414 metadata. Both only convert what the key set and settings hold.

use std::sync::Arc;
use std::time::Duration;

use poem::web::Json as PoemJson;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Serialize;

use crate::accounts::scopes::Scopes;
use crate::keys::Keyring;

#[derive(Tags)]
enum Tag {
    /// Discovery for clients and verifiers.
    WellKnown,
}

/// A JWK Set (RFC 7517 §5): the public keys of every published signing key.
#[derive(Object)]
#[oai(rename = "JwkSet")]
pub struct JwkSetDoc {
    /// The keys: `kty`, `kid`, `use`, `alg`, and `n`/`e` or `crv`/`x`.
    pub keys: Vec<JwkDoc>,
}

/// One public key.
#[derive(Object)]
#[oai(rename = "Jwk")]
pub struct JwkDoc {
    /// `RSA` or `OKP`.
    pub kty: String,
    /// RFC 7638 thumbprint of the key.
    pub kid: String,
    /// Always `sig`.
    #[oai(rename = "use")]
    pub use_: String,
    /// `RS256` or `EdDSA`.
    pub alg: String,
    /// RSA modulus (base64url).
    pub n: Option<String>,
    /// RSA exponent (base64url).
    pub e: Option<String>,
    /// `Ed25519`.
    pub crv: Option<String>,
    /// Ed25519 public key (base64url).
    pub x: Option<String>,
}

#[derive(ApiResponse)]
enum JwksResponse {
    /// The JWK Set.
    // No `content_type` here: poem-openapi documents `actual_type`'s schema
    // only without one (the body is the key set's precomputed JSON).
    #[oai(status = 200, actual_type = "Json<JwkSetDoc>")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "ETag")] String,
    ),
    /// Unchanged since the `ETag` the client sent in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "ETag")] String,
    ),
}

/// Authorization server metadata (RFC 8414).
#[derive(Object, Serialize, Clone)]
pub struct ServerMetadata {
    /// The issuer URL (`iss` of access tokens).
    pub issuer: String,
    /// Where the JWK Set is.
    pub jwks_uri: String,
    /// The OAuth 2.0 token endpoint.
    pub token_endpoint: String,
    /// `password`, `refresh_token` and `client_credentials`.
    pub grant_types_supported: Vec<String>,
    /// Scopes sigil grants.
    pub scopes_supported: Vec<String>,
    /// `none` (the public client) and the confidential clients' methods.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Token revocation (RFC 7009).
    pub revocation_endpoint: String,
    /// `none` (refresh tokens only) and the confidential clients' methods.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// Token introspection (RFC 7662).
    pub introspection_endpoint: String,
    /// The confidential clients' methods. A bearer token with the `admin`
    /// scope is accepted too, which RFC 8414 has no method name for.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// Empty: sigil has no authorization endpoint.
    pub response_types_supported: Vec<String>,
    /// Human-readable API documentation.
    pub service_documentation: String,
}

impl ServerMetadata {
    /// The metadata for `issuer`, granting `scopes`.
    pub fn new(issuer: &str, scopes: &Scopes) -> ServerMetadata {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        ServerMetadata {
            issuer: issuer.to_owned(),
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            token_endpoint: format!("{issuer}/auth/login"),
            grant_types_supported: strings(&["password", "refresh_token", "client_credentials"]),
            scopes_supported: scopes.names().map(str::to_owned).collect(),
            token_endpoint_auth_methods_supported: strings(&[
                "none",
                "client_secret_basic",
                "client_secret_post",
            ]),
            revocation_endpoint: format!("{issuer}/oauth/revoke"),
            revocation_endpoint_auth_methods_supported: strings(&[
                "none",
                "client_secret_basic",
                "client_secret_post",
            ]),
            introspection_endpoint: format!("{issuer}/oauth/introspect"),
            introspection_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
            ]),
            response_types_supported: Vec::new(),
            service_documentation: format!("{issuer}/docs"),
        }
    }
}

#[derive(ApiResponse)]
enum MetadataResponse {
    /// The metadata.
    #[oai(status = 200)]
    Ok(Json<ServerMetadata>),
}

/// The `/.well-known` routes.
pub struct WellKnownApi {
    /// The key set being served.
    pub keyring: Arc<Keyring>,
    /// JWKS `max-age`.
    pub max_age: Duration,
    /// Precomputed metadata.
    pub metadata: ServerMetadata,
}

#[OpenApi(tag = "Tag::WellKnown")]
impl WellKnownApi {
    /// The JWK Set: the public keys that verify access tokens.
    ///
    /// A verifier picks the key by the token header's `kid`.
    #[oai(path = "/.well-known/jwks.json", method = "get")]
    async fn jwks(&self, req: &poem::Request) -> JwksResponse {
        let set = self.keyring.current();
        let cache = format!("public, max-age={}", self.max_age.as_secs());
        let etag = set.etag().to_owned();
        let unchanged = req
            .headers()
            .get_all(poem::http::header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| etag_matches(v, &etag));
        if unchanged {
            JwksResponse::NotModified(cache, etag)
        } else {
            JwksResponse::Ok(Binary(set.jwks_body().to_vec()), cache, etag)
        }
    }

    /// Authorization server metadata (RFC 8414).
    ///
    /// The same document is also served at `/.well-known/openid-configuration`.
    #[oai(path = "/.well-known/oauth-authorization-server", method = "get")]
    async fn metadata(&self) -> MetadataResponse {
        MetadataResponse::Ok(Json(self.metadata.clone()))
    }
}

/// The `openid-configuration` alias, kept out of the OpenAPI document.
pub fn metadata_alias(metadata: ServerMetadata) -> impl poem::Endpoint {
    poem::endpoint::make(move |_| {
        let metadata = metadata.clone();
        async move { PoemJson(metadata) }
    })
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` is ignored,
/// and `*` matches any current representation.
fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::etag_matches;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        let etag = "\"abc\"";
        assert!(etag_matches("\"abc\"", etag));
        assert!(etag_matches("W/\"abc\"", etag));
        assert!(etag_matches("\"x\", \"abc\"", etag));
        assert!(etag_matches("*", etag));
        assert!(!etag_matches("\"abd\"", etag));
        assert!(!etag_matches("abc", etag));
    }
}
