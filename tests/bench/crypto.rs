//! The crypto benchmark: single-thread rates of the cryptography sigil runs
//! per request, measured through sigil's public library API (the very
//! functions the server calls), so that `scripts/bench.sh` can read each
//! end-to-end figure as a ratio to its physical limit. For signatures it also
//! measures the other safe library at hand (ring), so "the fastest safe rate"
//! is a figure of the same run.
//!
//! A bench target, not part of the product: `cargo bench --bench crypto --
//! [--seconds S] [--argon2-only] [--argon2-memory-kib K] [--argon2-iterations
//! T] [--argon2-parallelism P]`. Under `cargo test` (which passes no
//! `--bench`) it runs every measurement briefly at a cheap argon2 cost and
//! checks that each expected line is there and parses, so the suite notices
//! when the benchmark breaks.
//!
//! Output: one line per measurement, for scripts:
//! `crypto_NAME impl=LIBRARY path=sigil|alternative ops_per_s=… us_per_op=…
//! mean_us_per_op=…` (the first two from the best round).
//!
//! argon2id is measured twice: on one thread, and on `--threads` threads at
//! once (default: every CPU), each with its own memory, as the server's
//! hashing threads run under a login flood. The second line,
//! `crypto_argon2id_verify_…_concurrent … threads=N ops_per_s=… us_per_op=…
//! scaling=… cpu_us_per_op=… cpu_scaling=…`, gives the sum of the threads'
//! rates, the time one verification takes on each thread, and that sum over
//! N × the single-thread rate: 1.0 when the cores do not slow each other
//! down (through shared caches, memory bandwidth or a host that runs two
//! virtual CPUs on one physical core) and nothing else takes them. The argon2
//! lines also give `cpu_us_per_op`, the threads' own CPU time per
//! verification (Linux: `/proc/thread-self/schedstat`), which other
//! processes taking turns on the cores do not change; `cpu_scaling` is the
//! single thread's over the concurrent threads' (1.0: no interference).

use std::hint::black_box;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHash;
use chrono::Utc;
use clap::Parser;
use secrecy::SecretString;
use sigil::config::Argon2Cost;
use sigil::keys::{Algorithm, KeySet, KeyState, SIGNATURE_LIBRARY, SigningKey};
use sigil::password;
use sigil::token::access::{AccessTokens, Validation};
use uuid::Uuid;

/// Flags after `cargo bench --bench crypto --`.
#[derive(Parser, Debug)]
#[command(name = "crypto")]
struct Flags {
    /// Seconds spent on each measurement.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Measure argon2id only (e.g. at other parameters than a first run).
    #[arg(long)]
    argon2_only: bool,
    /// argon2id memory cost in KiB.
    #[arg(long, env = "SIGIL_ARGON2_MEMORY_KIB", default_value_t = Argon2Cost::default().memory_kib)]
    argon2_memory_kib: u32,
    /// argon2id passes.
    #[arg(long, env = "SIGIL_ARGON2_ITERATIONS", default_value_t = Argon2Cost::default().iterations)]
    argon2_iterations: u32,
    /// argon2id lanes.
    #[arg(long, env = "SIGIL_ARGON2_PARALLELISM", default_value_t = Argon2Cost::default().parallelism)]
    argon2_parallelism: u32,
    /// Threads of the concurrent argon2id measurement (default: the CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Passed by `cargo bench`; without it (`cargo test`) this is a quick
    /// self-check instead of a measurement.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    let result = if flags.bench {
        run(&flags, &mut io::stdout().lock())
    } else {
        self_check()
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crypto bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every measurement, one line each on `out`. Blocking: it keeps one
/// core busy for `flags.seconds` per measurement.
fn run(flags: &Flags, out: &mut dyn Write) -> Result<(), String> {
    if !(flags.seconds > 0.0 && flags.seconds <= 60.0) {
        return Err("--seconds must be between 0 and 60".into());
    }
    let budget = Duration::from_secs_f64(flags.seconds);
    if !flags.argon2_only {
        for alg in [Algorithm::Rs256, Algorithm::EdDsa] {
            signatures(alg, budget, out)?;
        }
    }
    let cost = Argon2Cost {
        memory_kib: flags.argon2_memory_kib,
        iterations: flags.argon2_iterations,
        parallelism: flags.argon2_parallelism,
    };
    let secret = SecretString::from("correct horse battery staple".to_owned());
    let stored = password::hash_now(cost, &secret).map_err(|e| e.to_string())?;
    let parsed = PasswordHash::new(&stored).map_err(|e| e.to_string())?;
    let name = format!(
        "argon2id_verify_m{}_t{}_p{}",
        cost.memory_kib, cost.iterations, cost.parallelism
    );
    let mut memory = password::Argon2Memory::default();
    let rate = measure(budget, || {
        assert!(password::verify_now(&mut memory, &secret, &parsed))
    });
    let cpu = |rate: &Rate| {
        rate.cpu_us_per_op
            .map_or_else(String::new, |us| format!("cpu_us_per_op={us:.2}"))
    };
    line_with(
        out,
        &name,
        "argon2 (RustCrypto)",
        "sigil",
        rate,
        &cpu(&rate),
    )?;
    let threads = flags
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 256);
    let (secret, parsed) = (&secret, &parsed);
    let together = measure_concurrent(budget, threads, || {
        let mut memory = password::Argon2Memory::default();
        move || assert!(password::verify_now(&mut memory, secret, parsed))
    });
    let name = format!("{name}_concurrent");
    let scaling = together.ops_per_s / (threads as f64 * rate.ops_per_s);
    let mut extra = format!("threads={threads} scaling={scaling:.3}");
    if let (Some(alone), Some(shared)) = (rate.cpu_us_per_op, together.cpu_us_per_op) {
        extra = format!(
            "{extra} {} cpu_scaling={:.3}",
            cpu(&together),
            alone / shared
        );
    }
    line_with(out, &name, "argon2 (RustCrypto)", "sigil", together, &extra)
}

/// [`measure`] with `threads` threads running at once, each its own
/// operation from `make` (so each keeps its own state, e.g. argon2 memory):
/// in each round every thread runs for a tenth of the budget, and the
/// round's rate is the sum of the threads' rates. Returns the best round's
/// sum as `ops_per_s`, and as `us_per_op` the time one operation took on a
/// thread in that round (threads / sum); `mean_us_per_op` likewise over all
/// rounds.
fn measure_concurrent<F: FnMut() + Send>(
    budget: Duration,
    threads: usize,
    make: impl Fn() -> F,
) -> Rate {
    let mut ops: Vec<F> = (0..threads).map(|_| make()).collect();
    let round = budget / 10;
    let started = Instant::now();
    let mut best = 0f64;
    let mut best_cpu = None;
    let mut rounds = 0u32;
    let mut sum_of_rates = 0f64;
    while started.elapsed() < budget || rounds < 3 {
        let results: Vec<(f64, Option<u64>, u64)> = std::thread::scope(|scope| {
            let running: Vec<_> = ops
                .iter_mut()
                .map(|op| {
                    scope.spawn(move || {
                        // One warm-up call, outside the timing (first touch of the memory).
                        if rounds == 0 {
                            op();
                        }
                        let round_start = Instant::now();
                        let cpu_start = thread_cpu_ns();
                        let mut count = 0u64;
                        while round_start.elapsed() < round || count == 0 {
                            op();
                            count += 1;
                        }
                        let rate = count as f64 / round_start.elapsed().as_secs_f64();
                        let cpu = thread_cpu_ns()
                            .zip(cpu_start)
                            .map(|(end, start)| end - start);
                        (rate, cpu, count)
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|t| t.join().expect("a measuring thread panicked"))
                .collect()
        });
        let rate: f64 = results.iter().map(|r| r.0).sum();
        let cpu: Option<u64> = results.iter().map(|r| r.1).sum();
        let count: u64 = results.iter().map(|r| r.2).sum();
        best_cpu = least_cpu(best_cpu, cpu, count);
        best = best.max(rate);
        sum_of_rates += rate;
        rounds += 1;
    }
    let mean_rate = sum_of_rates / f64::from(rounds);
    Rate {
        ops_per_s: best,
        us_per_op: threads as f64 / best * 1e6,
        mean_us_per_op: threads as f64 / mean_rate * 1e6,
        cpu_us_per_op: best_cpu,
    }
}

/// Sign and verify with a fresh key of `alg`: the raw operation through
/// [`SigningKey`], the same with the alternative library, and whole access
/// tokens issued and verified as `/auth/*` and `/me` do.
fn signatures(alg: Algorithm, budget: Duration, out: &mut dyn Write) -> Result<(), String> {
    let prefix = match alg {
        Algorithm::Rs256 => "rs256",
        Algorithm::EdDsa => "eddsa",
    };
    let mut key = SigningKey::generate(alg, 2048).map_err(|e| e.to_string())?;
    key.set_state(KeyState::Active, Utc::now());
    let alternative = RingKey::of(&key)?;
    let set = KeySet::new(vec![key]).map_err(|e| e.to_string())?;
    let key = set.active();
    let tokens = AccessTokens {
        validation: Validation {
            issuer: "http://127.0.0.1:8080".into(),
            audience: "http://127.0.0.1:8080".into(),
            leeway: Duration::from_secs(60),
        },
        ttl: Duration::from_secs(900),
        public_client_id: "sigil".into(),
    };
    let user = Uuid::new_v4();
    let scopes = ["profile".to_owned()];
    // A real token's signing input, so sizes match what the server signs.
    let token = tokens.issue(&set, user, &scopes, Utc::now()).token;
    let (input, _) = token.rsplit_once('.').ok_or("not a compact JWS")?;
    let input = input.as_bytes();
    let signature = key.sign(input);

    let sign = format!("{prefix}_sign");
    let verify = format!("{prefix}_verify");
    let rate = measure(budget, || {
        black_box(key.sign(black_box(input)));
    });
    line(out, &sign, SIGNATURE_LIBRARY, "sigil", rate)?;
    let rate = measure(budget, || {
        black_box(alternative.sign(black_box(input)));
    });
    line(out, &sign, "ring", "alternative", rate)?;
    let rate = measure(budget, || assert!(key.verify(black_box(input), &signature)));
    line(out, &verify, SIGNATURE_LIBRARY, "sigil", rate)?;
    let rate = measure(budget, || {
        assert!(alternative.verify(black_box(input), &signature))
    });
    line(out, &verify, "ring", "alternative", rate)?;
    let rate = measure(budget, || {
        black_box(tokens.issue(&set, user, &scopes, Utc::now()));
    });
    let issue = format!("{prefix}_access_token_issue");
    line(out, &issue, SIGNATURE_LIBRARY, "sigil", rate)?;
    let rate = measure(budget, || {
        assert!(tokens.verify(&set, black_box(&token), Utc::now()).is_ok())
    });
    let verify_token = format!("{prefix}_access_token_verify");
    line(out, &verify_token, SIGNATURE_LIBRARY, "sigil", rate)
}

/// The same key in ring, the alternative library.
enum RingKey {
    Rsa(ring::signature::RsaKeyPair, ring::rand::SystemRandom),
    Ed25519(ring::signature::Ed25519KeyPair),
}

impl RingKey {
    /// Loads `key`'s PKCS#8 file, as sigil writes it, into ring.
    fn of(key: &SigningKey) -> Result<RingKey, String> {
        let file = pem::parse(key.to_pkcs8_pem().as_bytes()).map_err(|e| e.to_string())?;
        let der = file.contents();
        let rejected = |e: ring::error::KeyRejected| format!("ring: {e}");
        Ok(match key.alg() {
            Algorithm::Rs256 => RingKey::Rsa(
                ring::signature::RsaKeyPair::from_pkcs8(der).map_err(rejected)?,
                ring::rand::SystemRandom::new(),
            ),
            Algorithm::EdDsa => RingKey::Ed25519(
                ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(rejected)?,
            ),
        })
    }

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
    /// CPU time of the measuring thread(s) per operation, in the round with
    /// the least (where the kernel tells: `/proc/thread-self/schedstat`).
    /// Other processes taking turns on the cores do not change it; caches
    /// and memory bandwidth shared with the other threads do.
    cpu_us_per_op: Option<f64>,
}

/// CPU time of the calling thread so far, in nanoseconds (Linux's
/// `/proc/thread-self/schedstat`, first field), or `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The smaller of `best` and `cpu_ns / count` in microseconds, where known.
fn least_cpu(best: Option<f64>, cpu_ns: Option<u64>, count: u64) -> Option<f64> {
    let this = cpu_ns? as f64 / 1e3 / count as f64;
    Some(best.map_or(this, |b| b.min(this)))
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
    let mut best_cpu = None;
    let mut total = 0u64;
    while started.elapsed() < budget || total < 3 {
        let round_start = Instant::now();
        let cpu_start = thread_cpu_ns();
        let mut count = 0u64;
        while round_start.elapsed() < round || count == 0 {
            op();
            count += 1;
        }
        total += count;
        best = best.min(round_start.elapsed().as_secs_f64() / count as f64);
        let cpu = thread_cpu_ns()
            .zip(cpu_start)
            .map(|(end, start)| end - start);
        best_cpu = least_cpu(best_cpu, cpu, count);
    }
    Rate {
        ops_per_s: 1.0 / best,
        us_per_op: best * 1e6,
        mean_us_per_op: started.elapsed().as_secs_f64() * 1e6 / total as f64,
        cpu_us_per_op: best_cpu,
    }
}

fn line(
    out: &mut dyn Write,
    name: &str,
    library: &str,
    path: &str,
    rate: Rate,
) -> Result<(), String> {
    line_with(out, name, library, path, rate, "")
}

/// [`line`] with `extra` (`key=value …`) after the library and path.
fn line_with(
    out: &mut dyn Write,
    name: &str,
    library: &str,
    path: &str,
    rate: Rate,
    extra: &str,
) -> Result<(), String> {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" {extra}")
    };
    writeln!(
        out,
        "crypto_{name} impl={} path={path}{extra} ops_per_s={:.0} us_per_op={:.2} mean_us_per_op={:.2}",
        library.replace(' ', "_"),
        rate.ops_per_s,
        rate.us_per_op,
        rate.mean_us_per_op
    )
    .map_err(|e| format!("cannot write the output: {e}"))
}

/// Under `cargo test`: every measurement for a few milliseconds, at a cheap
/// argon2 cost; fails unless each of sigil's operations printed one line
/// whose figures parse, and ring was measured beside each raw signature.
fn self_check() -> Result<(), String> {
    let flags = Flags::parse_from([
        "crypto",
        "--seconds",
        "0.01",
        "--argon2-memory-kib",
        "64",
        "--argon2-iterations",
        "1",
        "--argon2-parallelism",
        "1",
        "--threads",
        "2",
    ]);
    let mut out = Vec::new();
    run(&flags, &mut out)?;
    let out = String::from_utf8(out).map_err(|e| e.to_string())?;
    let mut sigil = Vec::new();
    let mut alternative = Vec::new();
    for line in out.lines() {
        let mut fields = line.split(' ');
        let name = fields.next().unwrap_or_default();
        let pairs: Vec<(&str, &str)> = fields.filter_map(|f| f.split_once('=')).collect();
        let value = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        for figure in ["ops_per_s", "us_per_op", "mean_us_per_op"] {
            let parsed = value(figure).and_then(|v| v.parse::<f64>().ok());
            if !parsed.is_some_and(|v| v > 0.0) {
                return Err(format!("{figure} is not a positive number in {line:?}"));
            }
        }
        match (value("path"), value("impl")) {
            (Some("sigil"), Some(_)) => sigil.push(name.to_owned()),
            (Some("alternative"), Some("ring")) => alternative.push(name.to_owned()),
            _ => return Err(format!("no path and impl in {line:?}")),
        }
    }
    let expected = [
        "crypto_rs256_sign",
        "crypto_rs256_verify",
        "crypto_rs256_access_token_issue",
        "crypto_rs256_access_token_verify",
        "crypto_eddsa_sign",
        "crypto_eddsa_verify",
        "crypto_eddsa_access_token_issue",
        "crypto_eddsa_access_token_verify",
        "crypto_argon2id_verify_m64_t1_p1",
        "crypto_argon2id_verify_m64_t1_p1_concurrent",
    ];
    if sigil != expected {
        return Err(format!(
            "sigil's lines are {sigil:?}, expected {expected:?}"
        ));
    }
    if alternative
        != expected[..2]
            .iter()
            .chain(&expected[4..6])
            .copied()
            .collect::<Vec<_>>()
    {
        return Err(format!("ring's lines are {alternative:?}"));
    }
    println!(
        "crypto bench self-check: {} lines, all parse",
        out.lines().count()
    );
    Ok(())
}
