//! Every command from a parsed command line to an exit code ([`run`], all `main` calls), and
//! the non-serving commands themselves: `check-config`, `explain`, `mint-token`,
//! `public-jwks`, each returning its output as text so tests can call it without a process.
//!
//! Exit codes: 0 success (`explain`: allowed); 1 failure (`explain`: denied); 2 usage (clap,
//! `explain`'s own errors); 64 unusable configuration (sysexits' `EX_USAGE`).
//!
//! (Slightly over 400 lines: `check-config`'s summary of providers, routes and resources
//! grew with #16/#17; splitting it off is the next step when it grows again.)

use crate::algorithm::Algorithm;
use crate::app::{self, AppError, ServeOptions};
use crate::cli::{
    Cli, Command, DpopProofArgs, ExplainArgs, KeyArgs, LogFormat, MintArgs, ServeArgs,
};
use crate::config::{self, ConfigError};
use crate::explain;
use crate::introspection::Introspector;
use crate::logging::{self, LogLevel};
use crate::mint::SigningKey;
use crate::remote::{FetchReport, RemoteKeys};
use crate::snapshot::KeySource;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::token::verify::UnixTime;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod check_config;
pub use check_config::check_config;

/// An unusable configuration (sysexits' `EX_USAGE`), so scripts and probes can tell it from a
/// crash.
pub const EXIT_CONFIG: u8 = 64;

/// Runs the command to its exit code, printing its output or error.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => {
            let log_level = logging::init(args.log_format);
            serve(&args, log_level)
        }
        Command::CheckConfig { file } => {
            logging::init(LogFormat::Text);
            match check_config(&file) {
                Ok(summary) => {
                    print!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e, ExitCode::from(EXIT_CONFIG)),
            }
        }
        Command::Explain(args) => match explain(&args, UnixTime::now()) {
            Ok((report, allowed)) => {
                print!("{report}");
                ExitCode::from(if allowed { 0 } else { 1 })
            }
            Err(e) => fail(&e, ExitCode::from(2)),
        },
        Command::MintToken(args) => print_or_fail(mint_token(&args, UnixTime::now())),
        Command::PublicJwks(args) => print_or_fail(public_jwks(&args)),
        Command::ConfigSchema => {
            print!("{}", crate::config::schema::config_schema());
            ExitCode::SUCCESS
        }
        Command::MintDpopProof(args) => print_or_fail(mint_dpop_proof(&args, UnixTime::now())),
    }
}

/// `serve`: the runtime sized by `--worker-threads`, then [`app::serve`] until a signal.
fn serve(args: &ServeArgs, log_level: LogLevel) -> ExitCode {
    let traces =
        match crate::telemetry::Settings::resolve(&args.traces, |name| std::env::var(name).ok()) {
            Ok(traces) => traces,
            // A usage error, like clap's own.
            Err(problem) => return fail(&std::io::Error::other(problem), ExitCode::from(2)),
        };
    let options = ServeOptions {
        config: args.config.clone(),
        grpc_listen: args.grpc_listen,
        admin_listen: args.admin_listen,
        debug_listen: args.debug_listen,
        address_file: args.address_file.clone(),
        drain_timeout: args.drain_timeout.get(),
        header_read_timeout: args.header_read_timeout.get(),
        watch_debounce: args.watch_debounce.get(),
        recent_denials: args.recent_denials,
        audit_rate_limit: args.audit_rate_limit,
        log_level: Some(log_level),
        token_cache_entries: args.token_cache_entries,
        token_cache_bytes: args.token_cache_bytes,
        http_listen: args.http_listen,
        http: crate::http::HttpOptions {
            envoy_path_prefix: args.http_envoy_path_prefix.clone(),
            route_header: args.http_route_header.clone(),
            forward_auth: args.http_forward_auth,
            forward_auth_path: args.http_forward_auth_path.clone(),
        },
        traces,
    };
    if args.http_listen.is_some()
        && let Some(problem) = options.http.problem()
    {
        // A usage error, like clap's own.
        return fail(&std::io::Error::other(problem), ExitCode::from(2));
    }
    if options.header_read_timeout.is_zero() {
        let problem =
            "--header-read-timeout must be positive (a client needs time to send its headers)";
        return fail(&std::io::Error::other(problem), ExitCode::from(2));
    }
    let workers = args
        .worker_threads
        .filter(|n| *n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    // One worker: a current-thread runtime, which spares the cross-thread wake-ups of a
    // one-worker multi-thread scheduler (measured: see BENCHMARKS.md).
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ AppError::Config(_)) => fail(&e, ExitCode::from(EXIT_CONFIG)),
        Err(e) => fail(&e, ExitCode::FAILURE),
    }
}

fn fail(error: &dyn std::error::Error, code: ExitCode) -> ExitCode {
    eprintln!("error: {error}");
    code
}

fn print_or_fail(result: Result<String, DevError>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, ExitCode::FAILURE),
    }
}

/// Why a demo command failed.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("unsupported --alg {0:?}")]
    Algorithm(String),
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error(transparent)]
    Key(#[from] crate::mint::MintError),
    #[error("--claim {0:?}: expected NAME=JSON")]
    Claim(String),
}

fn signing_key(args: &KeyArgs) -> Result<SigningKey, DevError> {
    let alg =
        Algorithm::from_name(&args.alg).ok_or_else(|| DevError::Algorithm(args.alg.clone()))?;
    let pem = std::fs::read_to_string(&args.key)
        .map_err(|e| DevError::Read(args.key.display().to_string(), e))?;
    let key = SigningKey::from_pkcs8_pem(&pem, alg)?;
    Ok(match &args.kid {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

/// The public JWK Set for the key, pretty-printed.
pub fn public_jwks(args: &KeyArgs) -> Result<String, DevError> {
    let key = signing_key(args)?;
    Ok(serde_json::to_string_pretty(&json!({ "keys": [key.public_jwk()] })).unwrap_or_default())
}

/// A signed token for the given claims, valid from `now` for `--ttl`.
pub fn mint_token(args: &MintArgs, now: UnixTime) -> Result<String, DevError> {
    let key = signing_key(&args.key)?;
    let aud = match args.aud.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    let ttl = i64::try_from(args.ttl.get().as_secs()).unwrap_or(i64::MAX);
    let mut claims = json!({ "iss": args.iss, "aud": aud, "iat": now.0, "nbf": now.0, "exp": now.0.saturating_add(ttl) });
    if let Some(sub) = &args.sub {
        claims["sub"] = json!(sub);
    }
    if let Some(scope) = &args.scope {
        claims["scope"] = json!(scope);
    }
    for extra in &args.claims {
        let (name, value) = extra
            .split_once('=')
            .ok_or_else(|| DevError::Claim(extra.clone()))?;
        let value: Value =
            serde_json::from_str(value).map_err(|_| DevError::Claim(extra.clone()))?;
        claims[name] = value;
    }
    Ok(key.mint(&claims)?)
}

/// `mint-dpop-proof`: a proof for `--method` `--url`, or with `--jkt` the key's thumbprint.
pub fn mint_dpop_proof(args: &DpopProofArgs, now: UnixTime) -> Result<String, DevError> {
    let key = signing_key(&args.key)?;
    if args.jkt {
        return Ok(key.thumbprint());
    }
    let url = args.url.as_deref().unwrap_or_default();
    let iat = now.0.saturating_add(args.iat_offset);
    Ok(key.dpop_proof(
        &args.method,
        url,
        iat,
        args.token.as_deref(),
        args.nonce.as_deref(),
    )?)
}

/// Why `explain` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--header {0:?}: expected `Name: value`")]
    Header(String),
    #[error("cannot read the token from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("no token given")]
    NoToken,
    #[error("--client-cert {0}: {1}")]
    ClientCert(String, std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs `explain`: the rendered report and whether the token would be allowed.
pub fn explain(args: &ExplainArgs, now: UnixTime) -> Result<(String, bool), ExplainError> {
    let raw = match args.token.as_deref() {
        Some(token) if token != "-" => token.to_owned(),
        _ => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(ExplainError::Stdin)?;
            text
        }
    };
    let trimmed = raw.trim();
    let token = match trimmed.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => trimmed,
    };
    if token.is_empty() {
        return Err(ExplainError::NoToken);
    }
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| ExplainError::Header(header.clone()))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let host = headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let client_cert = match &args.client_cert {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| ExplainError::ClientCert(path.display().to_string(), e))?,
        ),
        None => None,
    };
    let (snapshot, fetches) = snapshot_with_keys(&args.config)?;
    let now = args.now.map_or(now, UnixTime);
    let mut question = explain::Question {
        token,
        method: &args.method,
        path: &args.path,
        host: &host,
        headers,
        route_name: args.route.as_deref(),
        show_claims: args.show_claims,
        introspected: None,
        client_certificate: client_cert.as_deref(),
    };
    let answer = match explain::introspector(&snapshot, &question, now) {
        Some(provider) if args.introspect => Some(introspect_once(provider, token)?),
        _ => None,
    };
    question.introspected = answer.as_deref();
    let report = explain::explain(&snapshot, &question, now, &fetches);
    let text = if args.json {
        explain::render_json(&report)
    } else {
        explain::render_text(&report)
    };
    Ok((text, report.allowed))
}

/// `provider`'s introspection answer for `token` (waiting up to its own timeout).
fn introspect_once(
    provider: &crate::snapshot::Provider,
    token: &str,
) -> Result<Arc<crate::introspection::Answer>, ExplainError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ExplainError::Runtime)?;
    let wait = provider
        .introspection
        .as_ref()
        .map_or(Duration::from_secs(5), |i| i.timeout + i.connect_timeout);
    let introspector = Introspector::new(crate::introspection::Metrics::new());
    Ok(runtime.block_on(introspector.introspect(provider, token, wait)))
}

/// The compiled config, with remote key sets fetched once (so `explain` judges with the
/// keys the server would have).
fn snapshot_with_keys(path: &Path) -> Result<(Arc<Snapshot>, Vec<FetchReport>), ExplainError> {
    let snapshot = config::load(path)?;
    if !snapshot
        .providers
        .iter()
        .any(|p| matches!(p.key_source, KeySource::Remote(_)))
    {
        return Ok((Arc::new(snapshot), Vec::new()));
    }
    let shared = SharedSnapshot::new(snapshot);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ExplainError::Runtime)?;
    let fetches = runtime.block_on(async {
        let remote = RemoteKeys::new(shared.clone());
        remote.sync();
        remote.refresh_all().await;
        remote.reports()
    });
    Ok((shared.load_full(), fetches))
}
