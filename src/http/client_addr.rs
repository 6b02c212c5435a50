//! Who is asking: the client address that rate limits and audit events use.
//!
//! By default it is the TCP peer. Behind a load balancer or reverse proxy
//! every peer is the proxy, so one client's failures would throttle everyone;
//! when the peer is one of `SIGIL_TRUSTED_PROXIES`, the client is the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
//! Entries further left were written by the client and could be anything, so
//! they are never believed.

use std::net::IpAddr;

use poem::Request;
use poem::http::HeaderMap;

/// The client address of a request, put into its extensions by
/// [`trace_request`](super::middleware::trace_request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

pub use crate::config::TrustedProxies;

/// The client address of `req` (see the module documentation).
pub fn client_of(proxies: &TrustedProxies, req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    client(proxies, peer, req.headers())
}

/// The client behind TCP peer `peer` that sent `headers`.
pub fn client(
    proxies: &TrustedProxies,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !proxies.contains(peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if proxies.contains(ip) => client = ip.to_canonical(),
            Ok(ip) => return Some(ip.to_canonical()),
            // A malformed hop: stop at the last address we could trust.
            Err(_) => return Some(client),
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(proxies: &str, peer: &str, forwarded: &[&str]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        let proxies = TrustedProxies::parse(proxies).unwrap();
        super::client(&proxies, Some(peer.ip()), &headers).map(|ip| ip.to_string())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        assert_eq!(
            client("", "192.0.2.1:5000", &["203.0.113.9"]).as_deref(),
            Some("192.0.2.1")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.5:5000",
                &["198.51.100.1, 203.0.113.9, 10.0.0.7"]
            )
            .as_deref(),
            Some("203.0.113.9"),
            "the left-most entry was written by the client and is not believed"
        );
        assert_eq!(
            client(
                "10.0.0.0/8",
                "10.0.0.5:5000",
                &["198.51.100.1", "203.0.113.9"]
            )
            .as_deref(),
            Some("203.0.113.9"),
            "repeated headers read as one list"
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client_itself() {
        assert_eq!(
            client("10.0.0.5", "10.0.0.5:5000", &[]).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            client("10.0.0.0/8", "10.0.0.5:5000", &["not-an-ip"]).as_deref(),
            Some("10.0.0.5")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address_with_the_header() {
        assert_eq!(
            client("10.0.0.0/8", "198.51.100.7:5000", &["10.0.0.1"]).as_deref(),
            Some("198.51.100.7")
        );
    }
}
