//! Header and claims of the fuzzer's choosing, correctly signed with a key of
//! the fixed set, so every claim check is reached. For structured input the
//! verdict must equal the independent model's, both ways: nothing the spec
//! refuses is accepted, and nothing it allows is refused.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sigil::jose::Algorithm;
use sigil::keys::SigningKey;
use sigil_fuzz::keys::{AUDIENCE, ISSUER, NOW, access_tokens, key_set, now};
use sigil_fuzz::model::{Members, assert_acceptable, assert_claims_match, claims_ok, header_ok};

#[derive(Arbitrary, Debug)]
struct Case {
    signer_is_rsa: bool,
    header: Part,
    claims: Part,
}

/// One JSON object of the token.
#[derive(Arbitrary, Debug)]
enum Part {
    /// What sigil issues, then edited.
    Valid(Vec<Edit>),
    /// Members from scratch.
    Members(Vec<(Name, Val)>),
    /// Any bytes at all.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Edit {
    /// Replaces the value (or appends the member).
    Set(Name, Val),
    /// Removes every member of that name.
    Remove(Name),
    /// Appends the member even if it is there already.
    Append(Name, Val),
}

#[derive(Arbitrary, Debug)]
enum Name {
    Alg,
    Typ,
    Kid,
    Crit,
    Jku,
    X5u,
    X5c,
    Jwk,
    Cty,
    Iss,
    Sub,
    Aud,
    Exp,
    Iat,
    Nbf,
    Jti,
    Scope,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Val {
    SignerAlg,
    OtherAlg,
    SignerKid,
    OtherKid,
    Typ(TypPick),
    Issuer,
    Audience,
    Audiences(Vec<Aud>),
    /// [`NOW`] plus this many seconds.
    Time(i16),
    Str(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
    Object,
}

#[derive(Arbitrary, Debug)]
enum TypPick {
    AtJwt,
    UpperAtJwt,
    ApplicationAtJwt,
    Jwt,
}

#[derive(Arbitrary, Debug)]
enum Aud {
    Ours,
    Str(String),
    Int(i64),
}

impl Name {
    fn as_string(&self) -> String {
        let known = match self {
            Name::Alg => "alg",
            Name::Typ => "typ",
            Name::Kid => "kid",
            Name::Crit => "crit",
            Name::Jku => "jku",
            Name::X5u => "x5u",
            Name::X5c => "x5c",
            Name::Jwk => "jwk",
            Name::Cty => "cty",
            Name::Iss => "iss",
            Name::Sub => "sub",
            Name::Aud => "aud",
            Name::Exp => "exp",
            Name::Iat => "iat",
            Name::Nbf => "nbf",
            Name::Jti => "jti",
            Name::Scope => "scope",
            Name::Other(name) => return name.clone(),
        };
        known.to_owned()
    }
}

impl Val {
    fn to_json(&self, signer: &SigningKey, other: &SigningKey) -> Value {
        match self {
            Val::SignerAlg => json!(signer.alg().as_str()),
            Val::OtherAlg => json!(other.alg().as_str()),
            Val::SignerKid => json!(signer.kid()),
            Val::OtherKid => json!(other.kid()),
            Val::Typ(TypPick::AtJwt) => json!("at+jwt"),
            Val::Typ(TypPick::UpperAtJwt) => json!("AT+JWT"),
            Val::Typ(TypPick::ApplicationAtJwt) => json!("application/at+jwt"),
            Val::Typ(TypPick::Jwt) => json!("JWT"),
            Val::Issuer => json!(ISSUER),
            Val::Audience => json!(AUDIENCE),
            Val::Audiences(all) => Value::Array(
                all.iter()
                    .map(|a| match a {
                        Aud::Ours => json!(AUDIENCE),
                        Aud::Str(s) => json!(s),
                        Aud::Int(n) => json!(n),
                    })
                    .collect(),
            ),
            Val::Time(offset) => json!(NOW + i64::from(*offset)),
            Val::Str(s) => json!(s),
            Val::Int(n) => json!(n),
            Val::UInt(n) => json!(n),
            // NaN and infinities become null.
            Val::Float(x) => json!(x),
            Val::Bool(b) => json!(b),
            Val::Null => Value::Null,
            Val::Object => json!({}),
        }
    }
}

fn issued_header(signer: &SigningKey) -> Members {
    Members(vec![
        ("alg".into(), json!(signer.alg().as_str())),
        ("typ".into(), json!("at+jwt")),
        ("kid".into(), json!(signer.kid())),
    ])
}

fn issued_claims() -> Members {
    Members(vec![
        ("iss".into(), json!(ISSUER)),
        ("sub".into(), json!("6f1c2a9e-0b1d-4f0e-9a77-3c3f0e5e6a11")),
        ("aud".into(), json!(AUDIENCE)),
        ("exp".into(), json!(NOW + 900)),
        ("iat".into(), json!(NOW)),
        ("nbf".into(), json!(NOW)),
        ("jti".into(), json!("0b4f6c1e-8d4a-4e43-9a55-2a0f5e1c7d31")),
        ("scope".into(), json!("profile")),
    ])
}

/// The JSON bytes of a part, and its members when it has a structure.
fn build(
    part: &Part,
    issued: Members,
    signer: &SigningKey,
    other: &SigningKey,
) -> (Vec<u8>, Option<Members>) {
    let members = match part {
        Part::Raw(bytes) => return (bytes.clone(), None),
        Part::Members(list) => Members(
            list.iter()
                .map(|(n, v)| (n.as_string(), v.to_json(signer, other)))
                .collect(),
        ),
        Part::Valid(edits) => {
            let mut members = issued;
            for edit in edits {
                match edit {
                    Edit::Set(name, value) => {
                        let (name, value) = (name.as_string(), value.to_json(signer, other));
                        match members.0.iter_mut().find(|(n, _)| *n == name) {
                            Some(member) => member.1 = value,
                            None => members.0.push((name, value)),
                        }
                    }
                    Edit::Remove(name) => {
                        let name = name.as_string();
                        members.0.retain(|(n, _)| *n != name);
                    }
                    Edit::Append(name, value) => members
                        .0
                        .push((name.as_string(), value.to_json(signer, other))),
                }
            }
            members
        }
    };
    (members.to_json().into_bytes(), Some(members))
}

fuzz_target!(|case: Case| {
    let keys = key_set();
    let pick = |alg| {
        keys.keys()
            .iter()
            .find(|k| k.alg() == alg)
            .expect("both algorithms")
    };
    let (signer, other) = if case.signer_is_rsa {
        (pick(Algorithm::Rs256), pick(Algorithm::EdDsa))
    } else {
        (pick(Algorithm::EdDsa), pick(Algorithm::Rs256))
    };
    let (header_json, header) = build(&case.header, issued_header(signer), signer, other);
    let (claims_json, claims) = build(&case.claims, issued_claims(), signer, other);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&header_json),
        URL_SAFE_NO_PAD.encode(&claims_json)
    );
    let signature = signer.sign(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));

    let verdict = access_tokens().verify(keys, &token, now());

    match (&header, &claims) {
        (Some(header), Some(claims)) => {
            let expected = header_ok(header, signer.kid()) && claims_ok(claims);
            assert_eq!(
                verdict.is_ok(),
                expected,
                "sigil said {verdict:?}, the model {expected}, for\n{}\n{}",
                String::from_utf8_lossy(&header_json),
                String::from_utf8_lossy(&claims_json)
            );
            if let Ok(accepted) = &verdict {
                assert_claims_match(claims, accepted);
            }
        }
        _ => {
            if let Ok(accepted) = &verdict {
                assert_acceptable(&token, accepted);
            }
        }
    }
});
