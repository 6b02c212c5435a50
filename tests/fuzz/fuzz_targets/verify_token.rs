//! Arbitrary bytes as a bearer token, against the fixed key set at a fixed
//! time: sigil's verifier must never panic, must agree with the downstream
//! verifier (keys from the JWK Set), and whatever it accepts must obey every
//! rule of the independent model. `scripts/fuzz.sh` starts the corpus with
//! valid tokens (`write_seeds`), so the fuzzer begins next to the accepting
//! path and mutates real headers with real kids.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigil::jose::{JwkSet, PublicKey};
use sigil::token::access::AccessTokens;
use sigil_fuzz::keys::{access_tokens, key_set, now};
use sigil_fuzz::model::assert_acceptable;

struct Verifiers {
    tokens: AccessTokens,
    published: Vec<PublicKey>,
}

fn verifiers() -> &'static Verifiers {
    static VERIFIERS: OnceLock<Verifiers> = OnceLock::new();
    VERIFIERS.get_or_init(|| Verifiers {
        tokens: access_tokens(),
        // What `sigil::verify` works from: the served JWK Set bytes.
        published: serde_json::from_slice::<JwkSet>(key_set().jwks_body())
            .expect("the published JWK Set parses")
            .keys
            .iter()
            .map(|jwk| PublicKey::from_jwk(jwk).expect("a published key"))
            .collect(),
    })
}

fuzz_target!(|data: &[u8]| {
    // Header values that are not UTF-8 never reach the verifier.
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let v = verifiers();
    let ours = v.tokens.verify(key_set(), token, now());
    // `sigil::verify::JwksVerifier` runs this check on fetched keys at the
    // real time; here the keys are fixed and the time is `now()`.
    let downstream = v.tokens.validation.verify(
        token,
        |kid| v.published.iter().find(|k| k.kid() == kid),
        now(),
    );
    assert_eq!(
        ours, downstream,
        "sigil and the downstream verifier disagree"
    );
    if let Ok(claims) = ours {
        assert_acceptable(token, &claims);
    }
});
