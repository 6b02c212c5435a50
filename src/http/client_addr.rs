//! Who is asking: the client address that rate limits and audit events use.
//!
//! By default it is the TCP peer, and a peer that is not one of
//! `SIGIL_TRUSTED_PROXIES` has its forwarding headers ignored. Behind a load
//! balancer or reverse proxy every peer is the proxy, so one client's
//! failures would throttle everyone; when the peer is a trusted proxy, the
//! client is read from the hops it forwards:
//!
//! - `X-Forwarded-For`: comma-separated entries, each an address with or
//!   without a port (`192.0.2.7`, `192.0.2.7:5678`, `2001:db8::1`,
//!   `[2001:db8::1]`, `[2001:db8::1]:443`).
//! - RFC 7239 `Forwarded`: comma-separated elements whose `for=` is the hop,
//!   quoted or not (`for=192.0.2.60;proto=http;by=…`,
//!   `for="[2001:db8::1]:443"`), parameter names in any case.
//!
//! Several lines of one header read as one list, in order. The walk goes from
//! the right, past every hop that is itself a trusted proxy; the first other
//! hop is the client. Hops further left were written by the client and could
//! be anything, so they are never read. When every hop is a trusted proxy,
//! the left-most of them is the client; when a trusted proxy sends neither
//! header, the proxy itself is (a load balancer's health check).
//!
//! A trusted proxy whose headers name no client is refused ([`Unusable`],
//! 400 before any route runs) instead of falling back to the proxy's own
//! address, which would put every client behind it in one throttle bucket
//! and let 20 failed logins lock everyone out. That covers a hop that is not
//! an address (bad syntax, a zone index, bytes that are not visible ASCII)
//! and a hop the proxy chose not to reveal (`unknown`, an obfuscated `_name`,
//! a `Forwarded` element without `for=`): counting all of those as one
//! shared "unknown" source would be the same lock-out under another name.
//!
//! When a trusted proxy sends both headers, both must name the same client,
//! or the request is refused. sigil cannot know which of the two the proxy
//! writes; a proxy passes the other through from the client untouched, so
//! believing either one alone would let a client choose its address behind
//! a proxy that writes only the other. A `Forwarded` header in which no
//! element has `for=` names no hop at all (it carries only `proto`, `host`,
//! …) and counts as absent.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use poem::Request;
use poem::http::HeaderMap;

use super::problem::ApiError;

/// The client address of a request, put into its extensions by
/// [`trace_request`](super::middleware::trace_request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

pub use crate::config::TrustedProxies;

/// Why the forwarding headers of a trusted proxy name no client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// The nearest hop that is not a trusted proxy is not an address.
    Malformed,
    /// The nearest hop that is not a trusted proxy is hidden: `unknown`, an
    /// obfuscated identifier, or a `Forwarded` element without `for=`.
    Hidden,
    /// `Forwarded` and `X-Forwarded-For` name different clients.
    Disagree,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unusable::Malformed => "malformed",
            Unusable::Hidden => "hidden",
            Unusable::Disagree => "disagree",
        })
    }
}

impl Unusable {
    /// The 400 that refuses the request. The header is not echoed: it may
    /// carry anything a client wrote.
    pub fn refusal(self) -> ApiError {
        let why = match self {
            Unusable::Malformed => "a hop that is not an IP address",
            Unusable::Hidden => "a hidden or unknown hop where the client should be",
            Unusable::Disagree => "Forwarded and X-Forwarded-For naming different clients",
        };
        ApiError::bad_request(format!(
            "The trusted proxy's forwarding headers do not name the client ({why})."
        ))
    }
}

/// The client address of `req` (see the module documentation).
pub fn client_of(proxies: &TrustedProxies, req: &Request) -> Result<Option<IpAddr>, Unusable> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    client(proxies, peer, req.headers())
}

/// The client behind TCP peer `peer` that sent `headers`.
pub fn client(
    proxies: &TrustedProxies,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Option<IpAddr>, Unusable> {
    let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
        return Ok(None);
    };
    if !proxies.contains(peer) {
        return Ok(Some(peer));
    }
    let walk = |hops: Vec<Hop>| walk(proxies, peer, &hops);
    match (x_forwarded_for(headers), forwarded(headers)) {
        (None, None) => Ok(Some(peer)),
        (Some(hops), None) | (None, Some(hops)) => walk(hops).map(Some),
        (Some(x), Some(f)) => {
            let (x, f) = (walk(x)?, walk(f)?);
            if x == f {
                Ok(Some(x))
            } else {
                Err(Unusable::Disagree)
            }
        }
    }
}

/// One hop of a forwarding header, as the hop to its right wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Addr(IpAddr),
    Hidden,
    Malformed,
}

/// From the right: past the trusted proxies, the first other hop.
fn walk(proxies: &TrustedProxies, peer: IpAddr, hops: &[Hop]) -> Result<IpAddr, Unusable> {
    let mut client = peer;
    for hop in hops.iter().rev() {
        match *hop {
            Hop::Addr(ip) if proxies.contains(ip) => client = ip.to_canonical(),
            Hop::Addr(ip) => return Ok(ip.to_canonical()),
            Hop::Hidden => return Err(Unusable::Hidden),
            Hop::Malformed => return Err(Unusable::Malformed),
        }
    }
    Ok(client)
}

/// The hops of every `X-Forwarded-For` line, or `None` if there are none.
/// Lines are split on bytes, not decoded first: a comma is never part of a
/// multi-byte UTF-8 character, and a line with one bad entry still has good
/// entries to the right of it.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let hops: Vec<Hop> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|line| line.as_bytes().split(|b| *b == b','))
        .map(trim)
        .filter(|entry| !entry.is_empty())
        .map(node)
        .collect();
    (!hops.is_empty()).then_some(hops)
}

/// The hops of every `Forwarded` line (RFC 7239 §4), one per element, or
/// `None` if no element has a `for` parameter.
fn forwarded(headers: &HeaderMap) -> Option<Vec<Hop>> {
    let elements: Vec<Option<Hop>> = headers
        .get_all("forwarded")
        .iter()
        .flat_map(|line| split_unquoted(line.as_bytes(), b','))
        .map(trim)
        .filter(|element| !element.is_empty())
        .map(forwarded_for)
        .collect();
    if elements.iter().all(Option::is_none) {
        return None;
    }
    Some(
        elements
            .into_iter()
            .map(|hop| hop.unwrap_or(Hop::Hidden))
            .collect(),
    )
}

/// The `for` of one `Forwarded` element: `None` if it has none, a malformed
/// hop if the element does not parse or names `for` twice.
fn forwarded_for(element: &[u8]) -> Option<Hop> {
    let mut hop = None;
    for pair in split_unquoted(element, b';').map(trim) {
        if pair.is_empty() {
            continue;
        }
        let Some(eq) = pair.iter().position(|b| *b == b'=') else {
            return Some(Hop::Malformed);
        };
        let (name, value) = (trim(&pair[..eq]), trim(&pair[eq + 1..]));
        // A broken quoted string anywhere leaves the element's bounds in doubt.
        let value = if value.contains(&b'"') {
            match unquote(value) {
                Some(value) => Cow::Owned(value),
                None => return Some(Hop::Malformed),
            }
        } else {
            Cow::Borrowed(value)
        };
        if !name.eq_ignore_ascii_case(b"for") {
            continue;
        }
        if hop.is_some() {
            return Some(Hop::Malformed);
        }
        hop = Some(node(&value));
    }
    hop
}

/// Splits `s` on `sep` outside quoted strings (where `\` escapes the next byte).
fn split_unquoted(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    let (mut quoted, mut escaped) = (false, false);
    s.split(move |&b| {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if !quoted && b == sep {
            return true;
        }
        false
    })
}

/// The contents of a quoted string (RFC 9110 §5.6.4), or `None` if `value`
/// is not exactly one.
fn unquote(value: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = value.strip_prefix(b"\"")?.iter();
    let mut out = Vec::new();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.push(*bytes.next()?),
            b'"' => return bytes.as_slice().is_empty().then_some(out),
            _ => out.push(b),
        }
    }
    None
}

/// One hop's node (RFC 7239 §6): an IPv4 address, an IPv6 address bare or
/// in brackets, either with an optional port; `unknown` or an obfuscated
/// `_name` is hidden; anything else, including bytes outside visible ASCII,
/// is malformed.
fn node(raw: &[u8]) -> Hop {
    if raw.is_empty() || !raw.iter().all(|b| b.is_ascii_graphic()) {
        return Hop::Malformed;
    }
    // Visible ASCII, so this cannot fail.
    let Ok(text) = std::str::from_utf8(raw) else {
        return Hop::Malformed;
    };
    if text.eq_ignore_ascii_case("unknown") || text.starts_with('_') {
        return Hop::Hidden;
    }
    if let Some(rest) = text.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Hop::Malformed;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return match addr.parse::<Ipv6Addr>() {
            Ok(ip) if port_ok => Hop::Addr(IpAddr::V6(ip)),
            _ => Hop::Malformed,
        };
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Hop::Addr(ip);
    }
    match text.split_once(':') {
        Some((addr, port)) if is_port(port) => addr
            .parse::<Ipv4Addr>()
            .map_or(Hop::Malformed, |ip| Hop::Addr(IpAddr::V4(ip))),
        _ => Hop::Malformed,
    }
}

/// A port number, or an obfuscated port (`_name`, RFC 7239 §6.3).
fn is_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(name) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        }
        None => port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok(),
    }
}

/// `s` without the spaces and tabs around it.
fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = s.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(start), Some(end)) => &s[start..=end],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client behind `peer` given `headers` (name, raw value), as text.
    fn client_with(
        proxies: &str,
        peer: &str,
        headers: &[(&'static str, &[u8])],
    ) -> Result<Option<String>, Unusable> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, poem::http::HeaderValue::from_bytes(value).unwrap());
        }
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        let proxies = TrustedProxies::parse(proxies).unwrap();
        super::client(&proxies, Some(peer.ip()), &map).map(|ip| ip.map(|ip| ip.to_string()))
    }

    /// The client behind trusted proxy 10.0.0.5 given `X-Forwarded-For` lines.
    fn through_xff(lines: &[&str]) -> Result<Option<String>, Unusable> {
        let headers: Vec<_> = lines
            .iter()
            .map(|l| ("x-forwarded-for", l.as_bytes()))
            .collect();
        client_with("10.0.0.0/8", "10.0.0.5:5000", &headers)
    }

    /// The client behind trusted proxy 10.0.0.5 given `Forwarded` lines.
    fn through_forwarded(lines: &[&str]) -> Result<Option<String>, Unusable> {
        let headers: Vec<_> = lines.iter().map(|l| ("forwarded", l.as_bytes())).collect();
        client_with("10.0.0.0/8", "10.0.0.5:5000", &headers)
    }

    fn ok(ip: &str) -> Result<Option<String>, Unusable> {
        Ok(Some(ip.to_owned()))
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        assert_eq!(
            client_with("", "192.0.2.1:5000", &[("x-forwarded-for", b"203.0.113.9")]),
            ok("192.0.2.1")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        assert_eq!(
            through_xff(&["198.51.100.1, 203.0.113.9, 10.0.0.7"]),
            ok("203.0.113.9"),
            "the left-most entry was written by the client and is not believed"
        );
        assert_eq!(
            through_xff(&["198.51.100.1", "203.0.113.9"]),
            ok("203.0.113.9"),
            "repeated headers read as one list"
        );
        assert_eq!(
            through_xff(&["10.0.0.9", "10.0.0.7"]),
            ok("10.0.0.9"),
            "only proxies: the left-most of them"
        );
    }

    #[test]
    fn a_trusted_proxy_without_forwarding_headers_is_the_client_itself() {
        assert_eq!(through_xff(&[]), ok("10.0.0.5"));
        assert_eq!(through_xff(&["", " , "]), ok("10.0.0.5"), "empty lists");
        assert_eq!(
            through_forwarded(&["proto=https;host=example.com"]),
            ok("10.0.0.5"),
            "a Forwarded header without any for= names no hop"
        );
    }

    #[test]
    fn x_forwarded_for_entries_may_carry_a_port_or_brackets() {
        for (entry, client) in [
            ("198.51.100.7:5678", "198.51.100.7"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
            ("[::ffff:198.51.100.7]:80", "198.51.100.7"),
            ("  198.51.100.7\t", "198.51.100.7"),
        ] {
            assert_eq!(through_xff(&[entry]), ok(client), "{entry:?}");
        }
        assert_eq!(
            through_xff(&["[2001:db8::1]:443, 10.0.0.7:8080"]),
            ok("2001:db8::1"),
            "a trusted hop with a port is still passed"
        );
    }

    #[test]
    fn an_unusable_nearest_hop_from_a_trusted_proxy_is_refused() {
        for entry in [
            "not-an-ip",
            "198.51.100.7:",
            "198.51.100.7:65536",
            "198.51.100.7:http",
            "[2001:db8::1",
            "[2001:db8::1]443",
            "[198.51.100.7]",
            "2001:db8::1:443x",
            "fe80::1%eth0",
            "\"198.51.100.7\"",
            "198.51.100.7 203.0.113.9",
        ] {
            assert_eq!(through_xff(&[entry]), Err(Unusable::Malformed), "{entry:?}");
        }
        assert_eq!(through_xff(&["unknown"]), Err(Unusable::Hidden));
        assert_eq!(
            through_xff(&["198.51.100.7, junk, 10.0.0.7"]),
            Err(Unusable::Malformed),
            "the walk stops at the bad hop; it does not skip to the left"
        );
    }

    #[test]
    fn bytes_outside_visible_ascii_make_only_their_own_entry_unusable() {
        let line = "198.51.100.7, 2001:db8::\u{e9}".as_bytes();
        assert_eq!(
            client_with("10.0.0.0/8", "10.0.0.5:5000", &[("x-forwarded-for", line)]),
            Err(Unusable::Malformed)
        );
        let line = "\u{e9}\u{e9}, 198.51.100.7".as_bytes();
        assert_eq!(
            client_with("10.0.0.0/8", "10.0.0.5:5000", &[("x-forwarded-for", line)]),
            ok("198.51.100.7"),
            "left of the client: never read"
        );
        let lines: [(&str, &[u8]); 2] = [
            ("x-forwarded-for", b"\xff\xfe"),
            ("x-forwarded-for", b"198.51.100.7"),
        ];
        assert_eq!(
            client_with("10.0.0.0/8", "10.0.0.5:5000", &lines),
            ok("198.51.100.7"),
            "a bad line left of the proxy's own line"
        );
    }

    #[test]
    fn forwarded_names_the_client_in_every_rfc_7239_form() {
        for (line, client) in [
            ("for=192.0.2.60", "192.0.2.60"),
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            (
                "proto=http; For=\"192.0.2.60:4711\" ;by=10.0.0.1",
                "192.0.2.60",
            ),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("FOR=\"[2001:db8:cafe::17]:_abc\"", "2001:db8:cafe::17"),
            ("for=\"192.0.2.60\\:4711\"", "192.0.2.60"),
            (
                "for=198.51.100.1, for=192.0.2.43;host=\"a,b;c\", for=10.0.0.7",
                "192.0.2.43",
            ),
        ] {
            assert_eq!(through_forwarded(&[line]), ok(client), "{line:?}");
        }
        assert_eq!(
            through_forwarded(&["for=198.51.100.1", "for=192.0.2.43"]),
            ok("192.0.2.43"),
            "several lines read as one list"
        );
    }

    #[test]
    fn a_hidden_or_broken_forwarded_hop_from_a_trusted_proxy_is_refused() {
        for line in [
            "for=_hidden",
            "for=unknown",
            "for=\"_SEVKISEK\";proto=https",
        ] {
            assert_eq!(
                through_forwarded(&[line]),
                Err(Unusable::Hidden),
                "{line:?}"
            );
        }
        assert_eq!(
            through_forwarded(&["for=192.0.2.60, proto=https"]),
            Err(Unusable::Hidden),
            "an element without for= is a hop that did not say"
        );
        for line in [
            "for=\"192.0.2.60",
            "for=\"[2001:db8::1]:443\"x",
            "for=192.0.2.60;for=192.0.2.61",
            "for=192.0.2.60;garbage",
            "for=[2001:db8::1]:443;proto=\"https",
            "for=\"192.0.2.60, for=198.51.100.1",
        ] {
            assert_eq!(
                through_forwarded(&[line]),
                Err(Unusable::Malformed),
                "{line:?}"
            );
        }
        assert_eq!(
            client_with(
                "10.0.0.0/8",
                "10.0.0.5:5000",
                &[("forwarded", "for=\"\u{e9}\"".as_bytes())]
            ),
            Err(Unusable::Malformed)
        );
    }

    #[test]
    fn a_client_quote_cannot_swallow_the_proxys_forwarded_element() {
        // The client sent `for="x` and the proxy appended its element.
        assert!(through_forwarded(&["for=\"x, for=192.0.2.60"]).is_err());
        assert!(through_forwarded(&["for=\"x, for=\"[2001:db8::1]:443\""]).is_err());
        assert_eq!(
            through_forwarded(&["for=\"x", "for=192.0.2.60"]),
            ok("192.0.2.60"),
            "a quote never spans lines"
        );
    }

    #[test]
    fn both_headers_must_name_the_same_client() {
        let both = |xff: &'static str, fwd: &'static str| {
            client_with(
                "10.0.0.0/8",
                "10.0.0.5:5000",
                &[
                    ("x-forwarded-for", xff.as_bytes()),
                    ("forwarded", fwd.as_bytes()),
                ],
            )
        };
        assert_eq!(
            both("198.51.100.7", "for=\"198.51.100.7:5678\""),
            ok("198.51.100.7")
        );
        assert_eq!(
            both("198.51.100.7", "for=203.0.113.9"),
            Err(Unusable::Disagree),
            "the one the proxy did not write came from the client"
        );
        assert_eq!(both("198.51.100.7", "for=_hidden"), Err(Unusable::Hidden));
        assert_eq!(
            both("198.51.100.7", "proto=https"),
            ok("198.51.100.7"),
            "a Forwarded header without for= does not count"
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address_with_the_headers() {
        for (name, value) in [
            ("x-forwarded-for", &b"10.0.0.1"[..]),
            ("x-forwarded-for", b"\xff junk"),
            ("forwarded", b"for=_hidden"),
            ("forwarded", b"for=10.0.0.1"),
        ] {
            assert_eq!(
                client_with("10.0.0.0/8", "198.51.100.7:5000", &[(name, value)]),
                ok("198.51.100.7")
            );
        }
    }

    #[test]
    fn a_request_without_a_peer_address_has_no_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(super::client(&proxies, None, &HeaderMap::new()), Ok(None));
    }

    #[test]
    fn the_refusal_is_a_400_that_does_not_echo_the_header() {
        for why in [Unusable::Malformed, Unusable::Hidden, Unusable::Disagree] {
            let problem = why.refusal();
            assert_eq!(problem.problem().status, 400);
            assert!(problem.problem().detail.contains("forwarding headers"));
        }
    }
}
