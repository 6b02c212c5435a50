//! `sigil bench crypto`: the single-thread rates of the cryptography sigil
//! runs per request, measured through the very functions the server calls, so
//! that `scripts/bench.sh` can read each end-to-end figure as a ratio to its
//! physical limit. For signatures it also measures the other safe library at
//! hand (ring), so "the fastest safe rate" is a figure of the same run.
//!
//! Output: one line per measurement, for scripts:
//! `crypto_NAME impl=LIBRARY path=sigil|alternative ops_per_s=… us_per_op=…
//! mean_us_per_op=…` (the first two from the best round).

use std::hint::black_box;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHash;
use chrono::Utc;
use clap::{Args, Subcommand};
use secrecy::SecretString;
use uuid::Uuid;

use crate::config::{ConfigError, HashingArgs};
use crate::keys::{Algorithm, KeySet, KeyState, SIGNATURE_LIBRARY, SigningKey};
use crate::password;
use crate::token::access::{AccessTokens, Validation};

/// `sigil bench …`
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Single-thread rates of signing, verification and argon2id verification
    /// (at the configured SIGIL_ARGON2_* cost), through sigil's own code.
    Crypto(CryptoBench),
}

/// Flags of `sigil bench crypto`.
#[derive(Args, Debug)]
pub struct CryptoBench {
    /// Seconds spent on each measurement.
    #[arg(long, default_value = "1")]
    pub seconds: f64,
    /// Measure argon2id only (e.g. at other parameters than a first run).
    #[arg(long)]
    pub argon2_only: bool,
    #[command(flatten)]
    pub hashing: HashingArgs,
}

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Setting up keys or hashes failed.
    #[error("{0}")]
    Setup(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
}

/// Runs a `bench` command, one line per measurement on `out`. Blocking: it
/// keeps one core busy for a few seconds per measurement.
pub fn run(command: BenchCommand, out: &mut dyn Write) -> Result<(), BenchError> {
    let BenchCommand::Crypto(cmd) = command;
    if !(cmd.seconds > 0.0 && cmd.seconds <= 60.0) {
        return Err(BenchError::Setup(
            "--seconds must be between 0 and 60".into(),
        ));
    }
    let budget = Duration::from_secs_f64(cmd.seconds);
    let hashing = cmd.hashing.settings()?;
    if !cmd.argon2_only {
        for alg in [Algorithm::Rs256, Algorithm::EdDsa] {
            signatures(alg, budget, out)?;
        }
    }
    let cost = hashing.cost;
    let secret = SecretString::from("correct horse battery staple".to_owned());
    let stored = password::hash_now(cost, &secret).map_err(|e| BenchError::Setup(e.to_string()))?;
    let parsed = PasswordHash::new(&stored).map_err(|e| BenchError::Setup(e.to_string()))?;
    let name = format!(
        "argon2id_verify_m{}_t{}_p{}",
        cost.memory_kib, cost.iterations, cost.parallelism
    );
    let mut memory = password::Argon2Memory::default();
    let rate = measure(budget, || {
        assert!(password::verify_now(&mut memory, &secret, &parsed))
    });
    line(out, &name, "argon2 (RustCrypto)", "sigil", rate)
}

/// Sign and verify with a fresh key of `alg`: the raw operation through
/// [`SigningKey`], the same with the alternative library, and whole access
/// tokens issued and verified as `/auth/*` and `/me` do.
fn signatures(alg: Algorithm, budget: Duration, out: &mut dyn Write) -> Result<(), BenchError> {
    let prefix = match alg {
        Algorithm::Rs256 => "rs256",
        Algorithm::EdDsa => "eddsa",
    };
    let mut key = SigningKey::generate(alg, 2048).map_err(|e| BenchError::Setup(e.to_string()))?;
    key.set_state(KeyState::Active, Utc::now());
    let alternative = ring_key(&key)?;
    let set = KeySet::new(vec![key]).map_err(|e| BenchError::Setup(e.to_string()))?;
    let key = set.active();
    let tokens = AccessTokens {
        validation: Validation {
            issuer: "http://127.0.0.1:8080".into(),
            audience: "http://127.0.0.1:8080".into(),
            leeway: Duration::from_secs(60),
        },
        ttl: Duration::from_secs(900),
    };
    let user = Uuid::new_v4();
    let scopes = ["profile".to_owned()];
    // A real token's signing input, so sizes match what the server signs.
    let token = tokens.issue(&set, user, &scopes, Utc::now()).token;
    let (input, _) = token.rsplit_once('.').expect("a compact JWS");
    let input = input.as_bytes();
    let signature = key.sign(input);

    let rate = measure(budget, || {
        black_box(key.sign(black_box(input)));
    });
    line(
        out,
        &format!("{prefix}_sign"),
        SIGNATURE_LIBRARY,
        "sigil",
        rate,
    )?;
    let rate = measure(budget, || {
        black_box(alternative.sign(black_box(input)));
    });
    line(out, &format!("{prefix}_sign"), "ring", "alternative", rate)?;
    let rate = measure(budget, || assert!(key.verify(black_box(input), &signature)));
    line(
        out,
        &format!("{prefix}_verify"),
        SIGNATURE_LIBRARY,
        "sigil",
        rate,
    )?;
    let rate = measure(budget, || {
        assert!(alternative.verify(black_box(input), &signature))
    });
    line(
        out,
        &format!("{prefix}_verify"),
        "ring",
        "alternative",
        rate,
    )?;
    let rate = measure(budget, || {
        black_box(tokens.issue(&set, user, &scopes, Utc::now()));
    });
    line(
        out,
        &format!("{prefix}_access_token_issue"),
        SIGNATURE_LIBRARY,
        "sigil",
        rate,
    )?;
    let rate = measure(budget, || {
        assert!(tokens.verify(&set, black_box(&token), Utc::now()).is_ok())
    });
    line(
        out,
        &format!("{prefix}_access_token_verify"),
        SIGNATURE_LIBRARY,
        "sigil",
        rate,
    )
}

/// The same key in ring, the alternative library.
enum RingKey {
    Rsa(ring::signature::RsaKeyPair, ring::rand::SystemRandom),
    Ed25519(ring::signature::Ed25519KeyPair),
}

fn ring_key(key: &SigningKey) -> Result<RingKey, BenchError> {
    let der = key.pkcs8_der();
    let rejected = |e: ring::error::KeyRejected| BenchError::Setup(format!("ring: {e}"));
    Ok(match key.alg() {
        Algorithm::Rs256 => RingKey::Rsa(
            ring::signature::RsaKeyPair::from_pkcs8(der).map_err(rejected)?,
            ring::rand::SystemRandom::new(),
        ),
        Algorithm::EdDsa => RingKey::Ed25519(
            ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?,
        ),
    })
}

impl RingKey {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            RingKey::Rsa(pair, rng) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    rng,
                    message,
                    &mut signature,
                )
                .expect("ring signs");
                signature
            }
            RingKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature::{
            ED25519, KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
        };
        match self {
            RingKey::Rsa(pair, _) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public())
                    .verify(message, signature)
                    .is_ok()
            }
            RingKey::Ed25519(pair) => UnparsedPublicKey::new(&ED25519, pair.public_key())
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// Operations per second and microseconds per operation in the best round,
/// and microseconds per operation over all rounds.
#[derive(Debug, Clone, Copy)]
struct Rate {
    ops_per_s: f64,
    us_per_op: f64,
    mean_us_per_op: f64,
}

/// Runs `op` for about `budget` (at least three times, after one warm-up
/// call), in rounds of a tenth of the budget, and keeps the best round: other
/// processes on a shared machine only ever make a round slower. The mean over
/// all rounds is kept too, to show how much they did.
fn measure(budget: Duration, mut op: impl FnMut()) -> Rate {
    op();
    let round = budget / 10;
    let started = Instant::now();
    let mut best = f64::INFINITY;
    let mut total = 0u64;
    while started.elapsed() < budget || total < 3 {
        let round_start = Instant::now();
        let mut count = 0u64;
        while round_start.elapsed() < round || count == 0 {
            op();
            count += 1;
        }
        total += count;
        best = best.min(round_start.elapsed().as_secs_f64() / count as f64);
    }
    Rate {
        ops_per_s: 1.0 / best,
        us_per_op: best * 1e6,
        mean_us_per_op: started.elapsed().as_secs_f64() * 1e6 / total as f64,
    }
}

fn line(
    out: &mut dyn Write,
    name: &str,
    library: &str,
    path: &str,
    rate: Rate,
) -> Result<(), BenchError> {
    writeln!(
        out,
        "crypto_{name} impl={} path={path} ops_per_s={:.0} us_per_op={:.2} mean_us_per_op={:.2}",
        library.replace(' ', "_"),
        rate.ops_per_s,
        rate.us_per_op,
        rate.mean_us_per_op
    )?;
    Ok(())
}
