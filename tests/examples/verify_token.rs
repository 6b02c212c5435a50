// Checks the access token given as the first argument against sigil's JWK Set,
// as a service of yours would check a bearer token.
use std::sync::Arc;
use std::time::Duration;

use sigil::verify::{JwksVerifier, VerifyError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One verifier for the whole service (it caches the key set): share the Arc.
    let verifier = Arc::new(
        JwksVerifier::new(
            "http://127.0.0.1:8080/.well-known/jwks.json".parse()?,
            "http://127.0.0.1:8080", // iss: sigil's SIGIL_ISSUER, exactly
            "http://127.0.0.1:8080", // aud: SIGIL_AUDIENCE (default: the issuer)
        )
        .cooldown(Duration::from_secs(30))
        .max_staleness(Duration::from_secs(24 * 3600)),
    );

    let token = std::env::args().nth(1).ok_or("usage: verify_token TOKEN")?;
    match verifier.verify(&token).await {
        Ok(claims) => {
            // Also claims.scopes(), claims.has_scope("admin").
            println!("valid: sub={} scope={:?}", claims.sub, claims.scope);
        }
        Err(VerifyError::Invalid(why)) => {
            // 401, WWW-Authenticate: Bearer error="invalid_token"
            println!("invalid: {why}");
        }
        Err(VerifyError::KeysUnavailable) => {
            // 503: no trusted key set
            println!("keys unavailable");
        }
    }
    Ok(())
}
