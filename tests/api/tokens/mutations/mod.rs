//! No change to a token sigil issued verifies.
//!
//! Real tokens, signed with real keys (RS256 and EdDSA), are mutated at
//! random: characters replaced, inserted, deleted or bit-flipped anywhere,
//! segments swapped, dropped, repeated or taken from another token, padding,
//! whitespace and the standard base64 alphabet brought in, the unused low bits
//! of a segment's last character changed, header or claims JSON re-encoded
//! with members changed, added, removed, repeated, reordered or escaped while
//! the old signature stays. Every mutant that differs from the original (and
//! from the other tokens issued, whose segments may be transplanted) must be
//! refused by [`AccessTokens::verify`] (what every bearer route calls) and
//! by [`Validation::verify`] with keys built from the published JWK Set (what
//! downstream services call).
//!
//! No mutant is excused: sigil decodes base64url strictly (no padding, no
//! whitespace, no stray trailing bits) and signs the encoded text, so two
//! different strings never verify as the same token. The exhaustive tests at
//! the end prove that the equivalent encodings used here really decode to the
//! same bytes under a lenient decoder, so their refusal is sigil's doing.

mod mutation;

use std::sync::OnceLock;

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use sigil::keys::{Algorithm, KeySet, KeyState, PublicKey, SigningKey};
use sigil::token::access::{AccessClaims, AccessTokens, TokenError, Validation};
use uuid::Uuid;

use self::mutation::mutation;

/// Everything the properties need, built once: generating an RSA key is the
/// slowest step.
pub struct Fixture {
    /// The key set sigil verifies with: a retired RS256 key and an active
    /// EdDSA key, as after an algorithm switch.
    keys: KeySet,
    /// The same keys as a downstream service sees them, from the JWK Set.
    published: Vec<PublicKey>,
    tokens: AccessTokens,
    /// The instant every token was issued and is verified at.
    now: DateTime<Utc>,
    /// Two RS256 tokens, then two EdDSA tokens, each for another user.
    issued: Vec<String>,
}

impl Fixture {
    fn build() -> Fixture {
        let now = Utc::now();
        let tokens = AccessTokens {
            validation: Validation {
                issuer: "https://sigil.test".into(),
                audience: "https://api.test".into(),
                leeway: std::time::Duration::from_secs(60),
            },
            ttl: std::time::Duration::from_secs(900),
            public_client_id: "sigil".into(),
        };
        let mut rsa = SigningKey::generate(Algorithm::Rs256, 2048).expect("RSA key");
        let ed = SigningKey::generate(Algorithm::EdDsa, 0).expect("Ed25519 key");
        rsa.set_state(KeyState::Active, now);
        let before_switch = KeySet::new(vec![rsa, ed]).expect("key set");
        let user_scopes: [&[String]; 2] =
            [&["profile".into()], &["profile".into(), "admin".into()]];
        let mut issued: Vec<String> = user_scopes
            .iter()
            .map(|scopes| {
                tokens
                    .issue(&before_switch, Uuid::new_v4(), scopes, now)
                    .token
            })
            .collect();

        let mut keys = before_switch.into_keys();
        for key in &mut keys {
            let state = match key.alg() {
                Algorithm::Rs256 => KeyState::Retired,
                Algorithm::EdDsa => KeyState::Active,
            };
            key.set_state(state, now);
        }
        let keys = KeySet::new(keys).expect("key set after the switch");
        assert_eq!(keys.active().alg(), Algorithm::EdDsa);
        issued.extend(
            user_scopes
                .iter()
                .map(|scopes| tokens.issue(&keys, Uuid::new_v4(), scopes, now).token),
        );
        let published = keys
            .keys()
            .iter()
            .map(|k| PublicKey::from_jwk(k.jwk()).expect("published key"))
            .collect();
        let fixture = Fixture {
            keys,
            published,
            tokens,
            now,
            issued,
        };
        // The properties below could not fail if the originals did not verify.
        for token in &fixture.issued {
            fixture.verify(token).expect("an issued token verifies");
            fixture
                .verify_downstream(token)
                .expect("an issued token verifies downstream");
        }
        fixture
    }

    /// sigil's own check, as on every bearer route.
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.tokens.verify(&self.keys, token, self.now)
    }

    /// A downstream service's check, with keys from the JWK Set.
    fn verify_downstream(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.tokens.validation.verify(
            token,
            |kid| self.published.iter().find(|k| k.kid() == kid),
            self.now,
        )
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::build)
}

/// Accepts base64url with or without padding and with any trailing bits: what
/// a careless verifier would do, and the yardstick for "same bytes".
fn lenient_decode(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

proptest! {
    #![proptest_config(ProptestConfig {
        // About a second in a debug build; PROPTEST_CASES raises it.
        cases: 1024,
        // A failure prints its minimal input; it becomes a plain test then.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_mutation_of_an_issued_access_token_verifies(
        which in 0..4usize,
        mutations in vec(mutation(), 1..=3),
    ) {
        let f = fixture();
        let original = &f.issued[which];
        let mutant = mutations
            .iter()
            .fold(original.clone(), |token, m| m.apply(&token, f));
        // Some sequences undo themselves (a swap twice), and transplanting
        // every segment of another issued token yields that token: such
        // mutants are tokens sigil issued, and rightly verify.
        // About 2% of cases; not a rejection, so any case count works.
        if f.issued.contains(&mutant) {
            return Ok(());
        }

        prop_assert!(f.verify(&mutant).is_err(), "sigil accepted mutant {mutant:?}");
        prop_assert!(
            f.verify_downstream(&mutant).is_err(),
            "downstream verifier accepted mutant {mutant:?}"
        );
    }
}

/// Characters whose 6 bits agree with `last` on the bits a segment of
/// `len` characters uses: every other spelling of the same bytes.
fn same_bytes_tails(segment: &str) -> Vec<String> {
    let unused_bits = match segment.len() % 4 {
        2 => 4,
        3 => 2,
        _ => return Vec::new(),
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *segment.as_bytes().last().expect("segment is not empty");
    let value = alphabet.iter().position(|&c| c == last).expect("base64url") as u8;
    let head = &segment[..segment.len() - 1];
    (0..1u8 << unused_bits)
        .map(|low| (value & !((1 << unused_bits) - 1)) | low)
        .filter(|&v| v != value)
        .map(|v| format!("{head}{}", alphabet[v as usize] as char))
        .collect()
}

/// Every spelling of `token` that encodes the same header, claims and
/// signature bytes: stray trailing bits, `=` padding, whitespace.
fn equivalent_spellings(token: &str) -> Vec<String> {
    let segments: Vec<&str> = token.split('.').collect();
    let mut spellings = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let mut variants = same_bytes_tails(segment);
        let padding = (4 - segment.len() % 4) % 4;
        if padding > 0 {
            variants.push(format!("{segment}{}", "=".repeat(padding)));
        }
        variants.extend([
            format!(" {segment}"),
            format!("{segment}\n"),
            format!("{}\r\n{}", &segment[..4], &segment[4..]),
        ]);
        for variant in variants {
            let mut copy = segments.clone();
            copy[i] = &variant;
            spellings.push(copy.join("."));
        }
    }
    spellings
}

#[test]
fn a_lenient_decoder_reads_every_equivalent_spelling_as_the_same_bytes() {
    let f = fixture();
    for token in &f.issued {
        let originals: Vec<Vec<u8>> = token
            .split('.')
            .map(|s| URL_SAFE_NO_PAD.decode(s).unwrap())
            .collect();
        let mut tails = 0;
        for spelling in equivalent_spellings(token) {
            let decoded: Vec<Option<Vec<u8>>> = spelling
                .split('.')
                .map(|s| lenient_decode(&s.split_whitespace().collect::<String>()))
                .collect();
            let same: Vec<Option<Vec<u8>>> = originals.iter().cloned().map(Some).collect();
            assert_eq!(decoded, same, "{spelling:?} is not an equivalent spelling");
            tails += usize::from(!spelling.contains(|c: char| c.is_whitespace() || c == '='));
        }
        // RS256 and EdDSA signatures (256 and 64 bytes) both end in a
        // character with 4 unused bits: 15 other spellings at least.
        assert!(tails >= 15, "only {tails} stray-bit spellings of {token:?}");
    }
}

#[test]
fn equivalent_spellings_of_an_issued_token_are_all_refused() {
    let f = fixture();
    for token in &f.issued {
        for spelling in equivalent_spellings(token) {
            assert!(
                f.verify(&spelling).is_err(),
                "sigil accepted the non-canonical spelling {spelling:?}"
            );
            assert!(
                f.verify_downstream(&spelling).is_err(),
                "downstream verifier accepted the non-canonical spelling {spelling:?}"
            );
        }
    }
}
