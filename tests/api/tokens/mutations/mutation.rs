//! The changes made to issued tokens, and the proptest strategy that draws them.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};

use super::{Fixture, fixture};

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// One change to a compact JWS. Positions are [`Index`]es, resolved against
/// the token as it is when the change is applied.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Replaces the character at a position.
    Replace(Index, char),
    /// Inserts a character before a position (or at the end).
    Insert(Index, char),
    /// Deletes the character at a position.
    Delete(Index),
    /// Flips one of the seven low bits of a character.
    FlipBit(Index, u8),
    /// Swaps two segments.
    SwapSegments(Index, Index),
    /// Removes a segment (and its dot).
    DropSegment(Index),
    /// Writes a segment twice.
    RepeatSegment(Index),
    /// Puts in the same segment of another issued token (another user's
    /// claims, another key's signature, ...).
    Transplant(Index, Index),
    /// Appends one to three `=`.
    Pad(Index, usize),
    /// Changes the unused low bits of a segment's last character, which a
    /// lenient decoder ignores.
    StrayBits(Index, u8),
    /// Spells a segment with the standard alphabet's `+` and `/`.
    StandardAlphabet(Index),
    /// Cuts the token short.
    Truncate(Index),
    /// Decodes the header (`false`) or claims (`true`), edits the JSON,
    /// encodes it again and keeps the old signature.
    Reencode(bool, JsonEdit),
}

/// An edit of a JSON object, which is written out again member by member.
#[derive(Debug, Clone)]
pub enum JsonEdit {
    /// Sets a member (in place if present, else at the end).
    Set(String, Value),
    /// Removes a member.
    Remove(Index),
    /// Writes a member a second time, at the end.
    Repeat(Index),
    /// Moves the members round by some places.
    Rotate(Index),
    /// The same members with spaces between the tokens.
    Spaced,
    /// The same members with one name's first letter as a `\u` escape.
    Escaped(Index),
}

impl Mutation {
    /// The token after this change (the same token if the change does not
    /// apply, e.g. a segment that no longer decodes).
    pub fn apply(&self, token: &str, f: &Fixture) -> String {
        let mut chars: Vec<char> = token.chars().collect();
        let mut segments: Vec<String> = token.split('.').map(str::to_owned).collect();
        let n = segments.len();
        match self {
            Mutation::Replace(at, c) if !chars.is_empty() => {
                let i = at.index(chars.len());
                chars[i] = *c;
            }
            Mutation::Insert(at, c) => {
                let i = at.index(chars.len() + 1);
                chars.insert(i, *c);
            }
            Mutation::Delete(at) if !chars.is_empty() => {
                chars.remove(at.index(chars.len()));
            }
            Mutation::FlipBit(at, bit) if !chars.is_empty() => {
                let i = at.index(chars.len());
                if let Some(c) = char::from_u32(chars[i] as u32 ^ (1 << bit)) {
                    chars[i] = c;
                }
            }
            Mutation::Truncate(keep) if !chars.is_empty() => {
                let keep = keep.index(chars.len());
                chars.truncate(keep);
            }
            Mutation::Replace(..)
            | Mutation::Delete(_)
            | Mutation::FlipBit(..)
            | Mutation::Truncate(_) => {}
            Mutation::SwapSegments(a, b) => {
                let (a, b) = (a.index(n), b.index(n));
                segments.swap(a, b);
            }
            Mutation::DropSegment(i) => {
                segments.remove(i.index(n));
            }
            Mutation::RepeatSegment(i) => {
                let i = i.index(n);
                segments.insert(i, segments[i].clone());
            }
            Mutation::Transplant(i, donor) => {
                let i = i.index(n);
                let others: Vec<&str> = f
                    .issued
                    .iter()
                    .filter_map(|t| t.split('.').nth(i))
                    .filter(|s| *s != segments[i])
                    .collect();
                if !others.is_empty() {
                    segments[i] = others[donor.index(others.len())].to_owned();
                }
            }
            Mutation::Pad(i, count) => {
                let i = i.index(n);
                segments[i].push_str(&"=".repeat(*count));
            }
            Mutation::StrayBits(i, bits) => {
                let i = i.index(n);
                segments[i] = with_stray_bits(&segments[i], *bits);
            }
            Mutation::StandardAlphabet(i) => {
                let i = i.index(n);
                segments[i] = segments[i].replace('-', "+").replace('_', "/");
            }
            Mutation::Reencode(claims, edit) => {
                let i = usize::from(*claims);
                if let Some(segment) = segments.get_mut(i)
                    && let Some(edited) = reencode(segment, edit)
                {
                    *segment = edited;
                }
            }
        }
        match self {
            Mutation::Replace(..)
            | Mutation::Insert(..)
            | Mutation::Delete(_)
            | Mutation::FlipBit(..)
            | Mutation::Truncate(_) => chars.into_iter().collect(),
            _ => segments.join("."),
        }
    }
}

/// `segment` with different unused low bits in its last character; itself
/// when its length leaves no unused bits.
fn with_stray_bits(segment: &str, bits: u8) -> String {
    let unused = match segment.len() % 4 {
        2 => 4,
        3 => 2,
        _ => return segment.to_owned(),
    };
    let Some(value) = segment
        .bytes()
        .last()
        .and_then(|last| BASE64URL.iter().position(|&c| c == last))
    else {
        return segment.to_owned();
    };
    // Never zero, so the character always changes.
    let flip = bits % ((1 << unused) - 1) + 1;
    let head = &segment[..segment.len() - 1];
    format!("{head}{}", BASE64URL[value ^ flip as usize] as char)
}

/// A JSON object's members in document order, repeats included.
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// The segment with its JSON edited and encoded again; `None` when the
/// segment is no longer base64url JSON.
fn reencode(segment: &str, edit: &JsonEdit) -> Option<String> {
    let json = URL_SAFE_NO_PAD.decode(segment).ok()?;
    let Members(mut members) = serde_json::from_slice(&json).ok()?;
    let mut spaced = false;
    let mut escaped = None;
    let len = members.len();
    match edit {
        JsonEdit::Set(name, value) => match members.iter_mut().find(|(n, _)| n == name) {
            Some(member) => member.1 = value.clone(),
            None => members.push((name.clone(), value.clone())),
        },
        JsonEdit::Remove(i) if len > 0 => {
            members.remove(i.index(len));
        }
        JsonEdit::Repeat(i) if len > 0 => {
            let repeated = members[i.index(len)].clone();
            members.push(repeated);
        }
        JsonEdit::Rotate(by) if len > 0 => members.rotate_left(by.index(len)),
        JsonEdit::Escaped(i) if len > 0 => escaped = Some(i.index(len)),
        JsonEdit::Spaced => spaced = true,
        JsonEdit::Remove(_) | JsonEdit::Repeat(_) | JsonEdit::Rotate(_) | JsonEdit::Escaped(_) => {}
    }
    let (comma, colon) = if spaced { (", ", ": ") } else { (",", ":") };
    let mut text = String::from(if spaced { "{ " } else { "{" });
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            text.push_str(comma);
        }
        let name_json = serde_json::to_string(name).expect("a string serializes");
        match name.chars().next() {
            Some(first) if escaped == Some(i) && first.is_ascii() => {
                write!(text, "\"\\u{:04x}{}", first as u32, &name_json[2..]).expect("write");
            }
            _ => text.push_str(&name_json),
        }
        text.push_str(colon);
        text.push_str(&value.to_string());
    }
    text.push_str(if spaced { " }" } else { "}" });
    Some(URL_SAFE_NO_PAD.encode(text))
}

/// Characters worth inserting: the base64url alphabet (the mutant may still
/// decode), separators, padding, whitespace, the standard alphabet, anything.
fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => select(BASE64URL).prop_map(char::from),
        1 => select(vec!['.', '=', '+', '/', ' ', '\t', '\n', '\r', '\0', '"']),
        1 => any::<char>(),
    ]
}

/// Member names of JOSE headers and JWT claims, and random ones.
fn member_name() -> impl Strategy<Value = String> {
    let known = [
        "alg", "typ", "kid", "crit", "jku", "x5u", "x5c", "jwk", "cty", "b64", "iss", "sub", "aud",
        "exp", "iat", "nbf", "jti", "scope",
    ];
    prop_oneof![
        4 => select(known.to_vec()).prop_map(str::to_owned),
        1 => vec(any::<char>(), 1..8).prop_map(String::from_iter),
    ]
}

/// Values an attacker would try: other algorithms and types, the other key's
/// kid, the issuer and audience in other spellings, times around now,
/// scopes, odd JSON types, and random strings and numbers.
fn member_value() -> impl Strategy<Value = Value> {
    let f = fixture();
    let now = f.now.timestamp();
    let mut known = vec![
        json!("none"),
        json!("HS256"),
        json!("RS256"),
        json!("EdDSA"),
        json!("ES256"),
        json!("at+jwt"),
        json!("AT+JWT"),
        json!("application/at+jwt"),
        json!("JWT"),
        json!(""),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!(["crit"]),
        json!("https://sigil.test"),
        json!("https://sigil.test/"),
        json!("https://api.test"),
        json!(["https://api.test"]),
        json!(["https://api.test", "https://other.test"]),
        json!("admin"),
        json!("profile admin"),
        json!(now),
        json!(now + 3600),
        json!(now - 3600),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(1.5),
    ];
    known.extend(f.keys.keys().iter().map(|k| json!(k.kid())));
    prop_oneof![
        4 => select(known),
        1 => (-100_000i64..100_000).prop_map(move |d| json!(now + d)),
        1 => vec(any::<char>(), 0..12).prop_map(|c| json!(String::from_iter(c))),
        1 => any::<i64>().prop_map(|n| json!(n)),
    ]
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        6 => (member_name(), member_value()).prop_map(|(n, v)| JsonEdit::Set(n, v)),
        1 => any::<Index>().prop_map(JsonEdit::Remove),
        1 => any::<Index>().prop_map(JsonEdit::Repeat),
        1 => any::<Index>().prop_map(JsonEdit::Rotate),
        1 => Just(JsonEdit::Spaced),
        1 => any::<Index>().prop_map(JsonEdit::Escaped),
    ]
}

/// Any one [`Mutation`], weighted towards the subtle ones.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<Index>;
    prop_oneof![
        3 => (at(), interesting_char()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        3 => (at(), interesting_char()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        2 => at().prop_map(Mutation::Delete),
        2 => (at(), 0u8..7).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => (at(), at()).prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        1 => at().prop_map(Mutation::DropSegment),
        1 => at().prop_map(Mutation::RepeatSegment),
        2 => (at(), at()).prop_map(|(i, d)| Mutation::Transplant(i, d)),
        1 => (at(), 1usize..=3).prop_map(|(i, c)| Mutation::Pad(i, c)),
        2 => (at(), any::<u8>()).prop_map(|(i, b)| Mutation::StrayBits(i, b)),
        1 => at().prop_map(Mutation::StandardAlphabet),
        1 => at().prop_map(Mutation::Truncate),
        6 => (any::<bool>(), json_edit()).prop_map(|(c, e)| Mutation::Reencode(c, e)),
    ]
}
