//! The `SIGIL_TRUSTED_PROXIES` setting: the networks whose `X-Forwarded-For`
//! and `Forwarded` headers are believed. Which address a request then comes from is decided in
//! `http::client_addr`; this is only the list.

use std::net::IpAddr;

use ipnet::IpNet;

/// Proxies whose `X-Forwarded-For` and `Forwarded` headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks
    /// (`10.0.0.0/8, 192.0.2.1`); an empty list trusts no one.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(format!("{item:?} is not an address or CIDR network")),
                },
            };
            nets.push(net.trunc());
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_entry_in_the_list_is_refused_with_its_text() {
        let err = TrustedProxies::parse("10.0.0.0/8, nonsense").unwrap_err();
        assert!(err.contains("nonsense"), "{err}");
        assert_eq!(
            TrustedProxies::parse(" , ").unwrap(),
            TrustedProxies::default()
        );
    }

    #[test]
    fn addresses_and_networks_contain_what_they_name() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").unwrap();
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!proxies.contains("192.0.2.2".parse().unwrap()));
    }
}
