//! A provider's outbound proxy as compiled from its `proxy:` (or its absence): the
//! environment's, none, or one HTTP proxy server with optional basic-auth credentials.
//!
//! Credentials never leave these types through `Debug` or a URL: a [`ProxyServer`]'s `url`
//! never carries userinfo, so it can be shown in `/status`, logs and errors, and only the
//! client that authenticates to the proxy reads [`Credentials`].

use std::fmt;

/// How a provider's outbound requests (JWKS, discovery) reach the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// No `proxy:`: the proxy environment variables decide (see `remote::env_proxy`).
    #[default]
    Env,
    /// `proxy: none`: always direct, whatever the environment says.
    Direct,
    /// `proxy: { url, credentials_file }`: every request through this server.
    Server(ProxyServer),
}

/// An HTTP proxy: https targets go through it with `CONNECT`, http ones in absolute form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyServer {
    /// `http://host:port`, without userinfo: safe to show.
    pub url: String,
    /// `Proxy-Authorization: Basic` credentials, if the proxy wants them.
    pub credentials: Option<Credentials>,
}

/// A proxy's basic-auth user and password. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(redacted)")
    }
}

impl ProxyServer {
    /// Parses a proxy URL: `http://HOST[:PORT][/]` (port 80 when none is written). Userinfo
    /// (`http://user:password@host:port`) becomes `credentials`; whether that is allowed is
    /// the caller's rule. Messages never quote `text`, which may hold a password.
    pub fn parse(text: &str) -> Result<ProxyServer, String> {
        let url = reqwest::Url::parse(text)
            .map_err(|e| format!("expected an http://HOST:PORT proxy URL; not a URL ({e})"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "expected an http://HOST:PORT proxy URL (https targets go through it with CONNECT); got scheme {:?}",
                url.scheme()
            ));
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err("expected an http://HOST:PORT proxy URL; it has no host".to_owned());
        };
        let safe = format!("http://{host}:{port}");
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "expected an http://HOST:PORT proxy URL without a path, query or fragment (the proxy is {safe})"
            ));
        }
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some(Credentials {
                user: percent_decode(user)?,
                password: percent_decode(password.unwrap_or(""))?,
            }),
        };
        Ok(ProxyServer {
            url: safe,
            credentials,
        })
    }
}

/// `%XX` escapes of a URL's userinfo, decoded to UTF-8 (the url crate keeps them encoded).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the proxy URL's user or password is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_url_is_normalised_and_its_userinfo_becomes_credentials() {
        let plain = ProxyServer::parse("http://Proxy.Corp.example:3128/").unwrap();
        assert_eq!(plain.url, "http://proxy.corp.example:3128");
        assert_eq!(plain.credentials, None);
        assert_eq!(
            ProxyServer::parse("http://10.0.0.1").unwrap().url,
            "http://10.0.0.1:80"
        );
        assert_eq!(
            ProxyServer::parse("http://[::1]:8080").unwrap().url,
            "http://[::1]:8080"
        );
        let with = ProxyServer::parse("http://corp%5Cal:p%40ss%3Aw%25rd@proxy.test:3128").unwrap();
        assert_eq!(with.url, "http://proxy.test:3128");
        let c = with.credentials.unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("corp\\al", "p@ss:w%rd")
        );
        assert_eq!(format!("{c:?}"), "Credentials(redacted)");
    }

    #[test]
    fn a_bad_proxy_url_is_refused_without_quoting_it() {
        for (text, expected) in [
            ("https://proxy.test:3128", "got scheme \"https\""),
            ("socks5://proxy.test:1080", "got scheme \"socks5\""),
            ("http://proxy.test:3128/path", "without a path"),
            ("http://proxy.test:3128/?a=b", "without a path, query"),
            ("proxy.test:3128", "got scheme \"proxy.test\""),
            ("http://user:hunter2@", "not a URL"),
            ("not a url", "not a URL"),
        ] {
            let e = ProxyServer::parse(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
