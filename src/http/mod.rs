//! The HTTP API: routes, their documentation, and what wraps them.
//!
//! Routes: `token_api` (`/auth/*`), `users_api` (`/me`, `/admin/*`),
//! `sessions_api` (`/me/sessions`), `oauth_api` (RFC 7009 revocation, RFC 7662 introspection), `well_known`
//! (JWK Set, RFC 8414 metadata), `health`.
//!
//! Handlers are thin: parse, call one [`Accounts`]
//! method or read the key set, map the result. `client_auth` reads a
//! confidential client's credentials (Basic or form) for the OAuth 2.0
//! endpoints, `oauth_form` their strict form, `clients_api` manages clients,
//! `spec` publishes the OpenAPI document with the declared scopes. Requests flow
//! `trace_request` → `add_allow` → `oauth_errors` → `to_problem` → `limit_input` →
//! route → handler.

pub mod allow;
pub mod auth;
pub mod client_addr;
pub mod client_auth;
pub mod clients_api;
pub mod health;
pub mod middleware;
pub mod oauth_api;
pub mod oauth_form;
pub mod problem;
pub mod sessions_api;
pub mod spec;
pub mod token_api;
pub mod users_api;
pub mod well_known;

use std::sync::Arc;
use std::time::Duration;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::accounts::Accounts;
use crate::accounts::scopes::Scopes;
use crate::keys::Keyring;
use crate::telemetry::metrics::Metrics;

/// What the routes need.
pub struct ApiContext {
    /// The account service.
    pub accounts: Accounts,
    /// The key set being served.
    pub keyring: Arc<Keyring>,
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    /// JWKS `max-age`.
    pub jwks_max_age: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: client_addr::TrustedProxies,
    /// Where requests and everything else are counted.
    pub metrics: Arc<Metrics>,
    /// Every scope sigil grants (built-in and `SIGIL_SCOPES`), for the
    /// metadata and the OpenAPI document.
    pub scopes: Scopes,
}

/// Every documented group of routes, in the order the OpenAPI document lists them.
pub type Apis = (
    token_api::TokenApi,
    users_api::UsersApi,
    sessions_api::SessionsApi,
    clients_api::ClientsApi,
    oauth_api::OAuthApi,
    well_known::WellKnownApi,
    health::HealthApi,
);

/// The OpenAPI service of every documented route.
pub fn api_service(ctx: &ApiContext) -> OpenApiService<Apis, ()> {
    let apis = (
        token_api::TokenApi {
            accounts: ctx.accounts.clone(),
        },
        users_api::UsersApi {
            accounts: ctx.accounts.clone(),
        },
        sessions_api::SessionsApi {
            accounts: ctx.accounts.clone(),
        },
        clients_api::ClientsApi {
            accounts: ctx.accounts.clone(),
        },
        oauth_api::OAuthApi {
            accounts: ctx.accounts.clone(),
        },
        well_known::WellKnownApi {
            keyring: ctx.keyring.clone(),
            max_age: ctx.jwks_max_age,
            metadata: well_known::ServerMetadata::new(&ctx.issuer, &ctx.scopes),
        },
        health::HealthApi {
            accounts: ctx.accounts.clone(),
            keyring: ctx.keyring.clone(),
            metrics: ctx.metrics.clone(),
        },
    );
    OpenApiService::new(apis, "sigil", env!("CARGO_PKG_VERSION")).description(
        "A token issuer: register, log in (OAuth 2.0 password grant), refresh and log out; \
         access tokens are JWTs signed with the key named by `kid`, verifiable offline \
         with the JWK Set at `/.well-known/jwks.json`.",
    )
}

/// The whole application: API, Swagger UI at `/docs`, the spec at `/openapi.json`.
pub fn app(ctx: ApiContext) -> impl Endpoint<Output = poem::Response> {
    let api = api_service(&ctx);
    let original = api.spec();
    let document = spec::with_scopes(&original, &ctx.scopes);
    let docs = spec::docs_endpoint(
        api.swagger_ui_html(),
        &original,
        &document,
        api.swagger_ui(),
    );
    let allowed = Arc::new(
        allow::AllowedMethods::from_spec(&original)
            .get_only("/openapi.json")
            .get_only("/.well-known/openid-configuration")
            .get_only_below("/docs"),
    );
    let alias =
        well_known::metadata_alias(well_known::ServerMetadata::new(&ctx.issuer, &ctx.scopes));
    let observe = Arc::new(middleware::Observe {
        proxies: ctx.trusted_proxies,
        routes: allowed.clone(),
        metrics: ctx.metrics,
    });
    Route::new()
        .nest("/docs", poem::get(docs))
        .at("/openapi.json", poem::get(spec::spec_endpoint(document)))
        .at("/.well-known/openid-configuration", poem::get(alias))
        .nest("/", api)
        .data(ctx.accounts)
        .around(middleware::limit_input)
        .catch_all_error(middleware::to_problem)
        .around(middleware::oauth_errors)
        .around(move |ep, req| allow::add_allow(ep, req, allowed.clone()))
        .around(move |next, req| {
            let observe = observe.clone();
            async move { middleware::trace_request(next, req, &observe).await }
        })
}
