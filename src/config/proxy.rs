//! Compiling a provider's `proxy:`: absent (the environment decides), `none`, or an
//! `http://HOST:PORT` server with an optional credentials file, read now and watched.
//!
//! No message here quotes a proxy URL as written or the credentials file's contents: either
//! may hold a password, and config errors reach the log and `/status`.

use super::compile::Compiler;
use super::error::ConfigError;
use super::file::{ProxyFile, ProxyServerFile};
use crate::snapshot::{Credentials, Proxy, ProxyServer};
use aws_lc_rs::digest::Context;
use std::path::PathBuf;

/// A compiled `proxy:` and the credentials file it read (to watch).
pub(super) struct CompiledProxy {
    pub(super) proxy: Proxy,
    pub(super) file: Option<PathBuf>,
}

impl Compiler<'_> {
    /// The provider's proxy (`field` is the provider's path).
    pub(super) fn proxy(
        &self,
        field: &str,
        proxy: Option<&ProxyFile>,
    ) -> Result<CompiledProxy, ConfigError> {
        let field = format!("{field}.proxy");
        match proxy {
            None => Ok(CompiledProxy {
                proxy: Proxy::Env,
                file: None,
            }),
            Some(ProxyFile::None) => Ok(CompiledProxy {
                proxy: Proxy::Direct,
                file: None,
            }),
            Some(ProxyFile::Server(server)) => self.proxy_server(&field, server),
        }
    }

    fn proxy_server(
        &self,
        field: &str,
        file: &ProxyServerFile,
    ) -> Result<CompiledProxy, ConfigError> {
        let mut server = ProxyServer::parse(&file.url)
            .map_err(|message| self.invalid(format!("{field}.url"), message))?;
        if server.credentials.is_some() {
            // The config file is shown, logged and committed; a password belongs elsewhere.
            return Err(self.invalid(
                format!("{field}.url"),
                format!(
                    "must not carry user:password (the proxy is {}); put them in `credentials_file`",
                    server.url
                ),
            ));
        }
        let Some(credentials_file) = &file.credentials_file else {
            return Ok(CompiledProxy {
                proxy: Proxy::Server(server),
                file: None,
            });
        };
        let field = format!("{field}.credentials_file");
        let (path, bytes) = self.read_input(&field, credentials_file)?;
        let credentials = parse_credentials(&bytes).ok_or_else(|| {
            self.invalid(
                &field,
                format!(
                    "{} must hold one line `user:password` (basic auth; the user is not empty)",
                    path.display()
                ),
            )
        })?;
        server.credentials = Some(credentials);
        Ok(CompiledProxy {
            proxy: Proxy::Server(server),
            file: Some(path),
        })
    }
}

/// `user:password` on one line (a final line ending is allowed), UTF-8, no control
/// characters (they could not go into a header), a non-empty user (RFC 7617: the user-id
/// holds no `:`, so the first one splits).
fn parse_credentials(bytes: &[u8]) -> Option<Credentials> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.chars().any(char::is_control) {
        return None;
    }
    let (user, password) = line.split_once(':')?;
    (!user.is_empty()).then(|| Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Adds the proxy's credentials to a provider's fingerprint: `Debug` redacts them, so the
/// config entry's text alone would not change when the file does, and a new password must
/// give the provider a new client.
pub(super) fn fingerprint(proxy: &Proxy, fingerprint: &mut Context) {
    if let Proxy::Server(ProxyServer {
        credentials: Some(c),
        ..
    }) = proxy
    {
        fingerprint.update(c.user.as_bytes());
        fingerprint.update(b":");
        fingerprint.update(c.password.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::super::compile_str;
    use super::super::tests::error;
    use super::*;
    use std::path::Path;

    fn remote(proxy: &str) -> String {
        format!(
            "providers:\n  - name: p\n    issuer: https://i.test\n    audiences: [a]\n    jwks: {{ uri: 'https://i.test/jwks' }}\n{proxy}"
        )
    }

    /// A config beside a credentials file holding `credentials`; the provider's proxy.
    fn with_credentials(credentials: &[u8]) -> (tempfile::TempDir, Result<Proxy, String>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("proxy-credentials"), credentials).unwrap();
        let yaml = remote(
            "    proxy: { url: 'http://proxy.test:3128', credentials_file: proxy-credentials }\n",
        );
        let compiled = compile_str(&yaml, &dir.path().join("config.yaml"));
        let proxy = compiled
            .map(|s| s.providers[0].proxy.clone())
            .map_err(|e| e.to_string());
        (dir, proxy)
    }

    #[test]
    fn absent_none_or_a_server_with_credentials_read_from_a_file() {
        let compile = |yaml: &str| compile_str(yaml, Path::new("c.yaml")).unwrap();
        assert_eq!(compile(&remote("")).providers[0].proxy, Proxy::Env);
        assert_eq!(
            compile(&remote("    proxy: none\n")).providers[0].proxy,
            Proxy::Direct
        );
        let server = compile(&remote("    proxy: { url: 'http://proxy.test:3128' }\n"));
        assert_eq!(
            server.providers[0].proxy,
            Proxy::Server(ProxyServer {
                url: "http://proxy.test:3128".into(),
                credentials: None
            })
        );
        let (dir, proxy) = with_credentials(b"corp-user:pa:ss word\r\n");
        let Proxy::Server(ProxyServer {
            credentials: Some(c),
            ..
        }) = proxy.unwrap()
        else {
            panic!("no credentials");
        };
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("corp-user", "pa:ss word")
        );
        let snapshot = compile_str(
            &remote("    proxy: { url: 'http://proxy.test:3128', credentials_file: proxy-credentials }\n"),
            &dir.path().join("config.yaml"),
        )
        .unwrap();
        assert_eq!(
            snapshot.providers[0].files,
            [dir.path().join("proxy-credentials")],
            "the credentials file is watched"
        );
        assert!(
            !format!("{snapshot:?}").contains("pa:ss"),
            "Debug of the snapshot shows no password"
        );
    }

    #[test]
    fn a_new_password_changes_the_fingerprint() {
        let fingerprint = |credentials: &[u8]| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("creds"), credentials).unwrap();
            let yaml =
                remote("    proxy: { url: 'http://proxy.test:3128', credentials_file: creds }\n");
            compile_str(&yaml, &dir.path().join("config.yaml"))
                .unwrap()
                .providers[0]
                .fingerprint
        };
        assert_eq!(fingerprint(b"u:one"), fingerprint(b"u:one"));
        assert_ne!(fingerprint(b"u:one"), fingerprint(b"u:two"));
    }

    /// `proxy` (YAML lines of the provider) is refused with `expected`, quoting no secret.
    fn refused(proxy: &str, expected: &str) {
        let e = error(&remote(proxy));
        assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn proxy_errors_name_the_field_and_never_quote_a_secret() {
        let url = "providers[0].proxy.url: expected an http://HOST:PORT proxy URL";
        refused(
            "    proxy: { url: 'https://proxy.test:3128' }\n",
            &format!("{url} (https targets"),
        );
        refused(
            "    proxy: { url: 'http://proxy.test:3128/squid' }\n",
            &format!("{url} without a path"),
        );
        refused(
            "    proxy: { url: 'proxy.test' }\n",
            &format!("{url}; not a URL"),
        );
        refused(
            "    proxy: { url: 'http://corp:hunter2@proxy.test:3128' }\n",
            "providers[0].proxy.url: must not carry user:password (the proxy is http://proxy.test:3128)",
        );
        refused(
            "    proxy: 'http://corp:hunter2@proxy.test:3128'\n",
            "providers[0].proxy: expected `none` or a mapping: write `proxy: { url: ... }`",
        );
        refused(
            "    proxy: direct\n",
            "providers[0].proxy: expected `none` or a mapping with `url`",
        );
        refused(
            "    proxy: [a]\n",
            "providers[0].proxy: invalid type: sequence, expected `none` or a mapping",
        );
        refused(
            "    proxy: { uri: 'http://proxy.test:3128' }\n",
            "providers[0].proxy",
        );
        refused(
            "    proxy: { url: 'http://proxy.test:3128', credentials_file: /nonexistent/creds }\n",
            "providers[0].proxy.credentials_file: cannot read /nonexistent/creds",
        );
        let e = error(&super::super::tests::provider("    proxy: none\n"));
        assert!(
            e.contains("providers[0].proxy: applies only to providers that call their IdP"),
            "{e}"
        );
    }

    #[test]
    fn credentials_must_be_one_line_user_colon_password() {
        for bad in [
            &b"hunter2"[..],
            b":hunter2",
            b"u:hunter2\nsecond line",
            b"u:hunter2\0",
            b"\xffu:hunter2",
            b"",
        ] {
            let (_dir, proxy) = with_credentials(bad);
            let e = proxy.unwrap_err();
            assert!(
                e.contains("providers[0].proxy.credentials_file: ")
                    && e.contains("must hold one line `user:password`"),
                "{bad:?}: {e}"
            );
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
