//! The proxy environment variables, for providers without a `proxy:` of their own:
//! `HTTPS_PROXY` for https targets, `HTTP_PROXY` for http ones, `ALL_PROXY` for either when
//! its own is unset, and `NO_PROXY` for the hosts that go direct — each read uppercase
//! first, then lowercase, and an empty value is unset (curl's variables, and what reqwest
//! would have read by itself).
//!
//! `NO_PROXY` is a comma-separated list, as curl reads it: `*` (every host), a domain
//! (`corp.example` or `.corp.example`: that host and every name under it, case-insensitive),
//! an IP address, or an IP network (`10.0.0.0/8`, `fd00::/8`). A proxy URL without a scheme
//! (`proxy:3128`) is `http://`; userinfo in it is sent as basic auth and never shown.

use crate::cidr::in_network;
use crate::snapshot::ProxyServer;
use reqwest::Url;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// The proxies the environment names, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvProxies {
    https: Option<ProxyServer>,
    http: Option<ProxyServer>,
    no_proxy: Vec<Bypass>,
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bypass {
    Everything,
    /// Lowercase, without leading or trailing dots.
    Domain(String),
    Network(IpAddr, u8),
}

impl EnvProxies {
    /// This process's environment, read once: a process's own environment does not change
    /// under it (nothing here sets variables), and every client and `/status` must see the
    /// same answer. An unusable value is an error for every provider that relies on it.
    pub fn process() -> Result<Arc<EnvProxies>, String> {
        static ONCE: OnceLock<Result<Arc<EnvProxies>, String>> = OnceLock::new();
        ONCE.get_or_init(|| EnvProxies::from_lookup(|name| std::env::var(name).ok()).map(Arc::new))
            .clone()
    }

    /// The proxies named by the variables `get` returns.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<EnvProxies, String> {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                get(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
        };
        let server = |names| -> Result<Option<ProxyServer>, String> {
            let Some((name, value)) = first(names) else {
                return Ok(None);
            };
            let value = value.trim();
            let url = if value.contains("://") {
                value.to_owned()
            } else {
                format!("http://{value}")
            };
            ProxyServer::parse(&url)
                .map(Some)
                .map_err(|e| format!("{name}: {e}"))
        };
        let all = server(["ALL_PROXY", "all_proxy"])?;
        Ok(EnvProxies {
            https: server(["HTTPS_PROXY", "https_proxy"])?.or_else(|| all.clone()),
            http: server(["HTTP_PROXY", "http_proxy"])?.or(all),
            no_proxy: first(["NO_PROXY", "no_proxy"])
                .map(|(_, list)| list.split(',').filter_map(Bypass::parse).collect())
                .unwrap_or_default(),
        })
    }

    /// The proxy a request to `url` goes through, if any.
    pub fn server_for(&self, url: &Url) -> Option<&ProxyServer> {
        if self.no_proxy.iter().any(|b| b.covers(url)) {
            return None;
        }
        match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }
    }

    /// Every proxy named (a request may go through any of them).
    pub fn servers(&self) -> impl Iterator<Item = &ProxyServer> {
        self.https.iter().chain(self.http.iter())
    }
}

impl Bypass {
    fn parse(entry: &str) -> Option<Bypass> {
        let entry = entry.trim();
        if entry == "*" {
            return Some(Bypass::Everything);
        }
        let ip = |text: &str| {
            text.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        };
        if let Some((addr, bits)) = entry.split_once('/')
            && let (Some(addr), Ok(bits)) = (ip(addr), bits.parse::<u8>())
        {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            return (bits <= max).then_some(Bypass::Network(addr, bits));
        }
        if let Some(addr) = ip(entry) {
            let bits = if addr.is_ipv4() { 32 } else { 128 };
            return Some(Bypass::Network(addr, bits));
        }
        let domain = entry.trim_matches('.').to_ascii_lowercase();
        (!domain.is_empty()).then_some(Bypass::Domain(domain))
    }

    fn covers(&self, url: &Url) -> bool {
        // `host_str` keeps IPv6 brackets and leaves names as written (the url crate
        // lowercases them); an address literal never matches a domain entry.
        let Some(host) = url.host_str() else {
            return false;
        };
        let addr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        match (self, addr) {
            (Bypass::Everything, _) => true,
            (Bypass::Domain(domain), None) => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            (Bypass::Network(net, bits), Some(addr)) => in_network(addr, *net, *bits),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Result<EnvProxies, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EnvProxies::from_lookup(|name| vars.get(name).cloned())
    }

    fn via(env: &EnvProxies, url: &str) -> Option<String> {
        env.server_for(&Url::parse(url).unwrap())
            .map(|s| s.url.clone())
    }

    #[test]
    fn each_scheme_has_its_variable_uppercase_first_and_all_proxy_fills_in() {
        let upper_first = [
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ];
        let lower = [
            ("https_proxy", "lower:2"),
            ("http_proxy", "http://plain:3/"),
        ];
        let all = [
            ("ALL_PROXY", "http://all:4"),
            ("HTTP_PROXY", "http://plain:3"),
        ];
        let empty_is_unset = [("HTTPS_PROXY", " "), ("https_proxy", "http://lower:2")];
        // (variables, https proxy, http proxy)
        let cases: [(&[(&str, &str)], _, _); 5] = [
            (&upper_first, Some("http://upper:1"), None),
            (&lower, Some("http://lower:2"), Some("http://plain:3")),
            (&all, Some("http://all:4"), Some("http://plain:3")),
            (&empty_is_unset, Some("http://lower:2"), None),
            (&[], None, None),
        ];
        for (vars, https, http) in cases {
            let e = env(vars).unwrap();
            assert_eq!(
                via(&e, "https://idp.test/jwks").as_deref(),
                https,
                "{vars:?}"
            );
            assert_eq!(via(&e, "http://idp.test/jwks").as_deref(), http, "{vars:?}");
        }
    }

    #[test]
    fn userinfo_is_kept_as_credentials_and_a_bad_value_names_its_variable_only() {
        let e = env(&[("HTTPS_PROXY", "http://corp:hunter2@proxy.test:3128")]).unwrap();
        let server = e
            .server_for(&Url::parse("https://idp.test/").unwrap())
            .unwrap();
        assert_eq!(server.url, "http://proxy.test:3128");
        assert_eq!(server.credentials.as_ref().unwrap().password, "hunter2");
        let e = env(&[("https_proxy", "socks5://corp:hunter2@proxy.test:1080")]).unwrap_err();
        assert!(
            e.starts_with("https_proxy: expected an http://HOST:PORT proxy URL"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn no_proxy_covers_domains_below_it_addresses_and_networks() {
        let e = env(&[
            ("HTTPS_PROXY", "http://proxy.test:3128"),
            (
                "NO_PROXY",
                " .Corp.Test, internal ,10.0.0.0/8, 192.168.1.7,[::1], fd00::/8,, bad/99",
            ),
        ])
        .unwrap();
        for direct in [
            "https://corp.test/",
            "https://idp.CORP.test./jwks",
            "https://a.b.corp.test:8443/",
            "https://internal/",
            "https://10.200.0.1/",
            "https://192.168.1.7:443/",
            "https://[::1]:8443/",
            "https://[fd12::1]/",
        ] {
            assert_eq!(via(&e, direct), None, "{direct}");
        }
        for proxied in [
            "https://notcorp.test/",
            "https://corp.test.evil/",
            "https://internal.example/",
            "https://11.0.0.1/",
            "https://192.168.1.8/",
            "https://[::2]/",
        ] {
            assert_eq!(
                via(&e, proxied).as_deref(),
                Some("http://proxy.test:3128"),
                "{proxied}"
            );
        }
        let e = env(&[("https_proxy", "http://p:1"), ("no_proxy", "*")]).unwrap();
        assert_eq!(via(&e, "https://anything.test/"), None);
    }
}
