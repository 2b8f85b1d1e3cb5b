//! Wiring: load the config into the shared snapshot, bind the listeners, run the gRPC,
//! HTTP check (optional), probe and debug servers over one [`Authorizer`], and shut down
//! gracefully (readiness off → stop accepting → drain). Just over 400 lines: the listeners'
//! start-up and their one shutdown sequence read best in one place.

use crate::admin::{self, AdminState, Readiness};
use crate::authorizer::Authorizer;
use crate::config::watch::Reloader;
use crate::config::{self, ConfigError};
use crate::grpc::AuthzService;
use crate::observe::{Observer, StateCollector};
use crate::proto::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use crate::remote::RemoteKeys;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::token::cache::TokenCache;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic_health::ServingStatus;

/// Everything `serve` needs, parsed once by the CLI.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub grpc_listen: SocketAddr,
    /// Probes and `/metrics`.
    pub admin_listen: SocketAddr,
    /// `/status`, `/debug/*`, `POST /jwks/refresh`: loopback unless the operator says
    /// otherwise.
    pub debug_listen: SocketAddr,
    /// Where to write the bound addresses as JSON (useful with port 0).
    pub address_file: Option<PathBuf>,
    /// How long in-flight checks may take to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// How long an HTTP listener waits for a request's head.
    pub header_read_timeout: Duration,
    /// How long the config directory must be quiet before a reload.
    pub watch_debounce: Duration,
    /// How many denials `/debug/denials` keeps.
    pub recent_denials: usize,
    /// Denial audit events written per reason per second (0: all).
    pub audit_rate_limit: u32,
    /// The log filter `/debug/log-level` reads and replaces (`None`: this process did not
    /// install the subscriber, e.g. a test).
    pub log_level: Option<crate::logging::LogLevel>,
    /// Verified-token cache bounds (0: off).
    pub token_cache_entries: usize,
    pub token_cache_bytes: usize,
    /// The HTTP check listener (`--http-listen`), off when `None`.
    pub http_listen: Option<SocketAddr>,
    /// What it serves.
    pub http: crate::http::HttpOptions,
    /// OpenTelemetry traces; off when `None`.
    pub traces: Option<crate::telemetry::Settings>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the address file {path}: {source}")]
    AddressFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("HTTP check server failed: {0}")]
    Http(std::io::Error),
    #[error("admin server failed: {0}")]
    Admin(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("cannot watch the config: {0}")]
    Watch(#[from] notify::Error),
    #[error("cannot export traces: {0}")]
    Telemetry(String),
}

/// Loads the config, binds, and serves until SIGTERM or SIGINT.
pub async fn serve(options: ServeOptions) -> Result<(), AppError> {
    let snapshot = config::load(&options.config)?;
    log_snapshot(&snapshot);
    let snapshot = SharedSnapshot::new(snapshot);
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| AppError::Bind { addr, source })
    };
    let grpc = bind(options.grpc_listen).await?;
    let admin = bind(options.admin_listen).await?;
    let debug = bind(options.debug_listen).await?;
    let http = match options.http_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let local = |listener: &TcpListener, addr| {
        listener
            .local_addr()
            .map_err(|source| AppError::Bind { addr, source })
    };
    let addresses = Addresses {
        grpc: local(&grpc, options.grpc_listen)?,
        admin: local(&admin, options.admin_listen)?,
        debug: local(&debug, options.debug_listen)?,
        http: (http.as_ref().zip(options.http_listen))
            .map(|(listener, addr)| local(listener, addr))
            .transpose()?,
    };
    if let Some(path) = &options.address_file {
        write_address_file(path, &addresses).map_err(|source| AppError::AddressFile {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(warning) = debug_listen_warning(addresses.debug) {
        tracing::warn!(debug = %addresses.debug, "{warning}");
    }
    tracing::info!(grpc = %addresses.grpc, admin = %addresses.admin, debug = %addresses.debug, http = ?addresses.http, config = %options.config.display(), "serving");
    let shutdown = termination_signal().map_err(AppError::Signals)?;
    let listeners = Listeners {
        grpc,
        admin,
        debug,
        http,
    };
    run(
        snapshot,
        listeners,
        Readiness::default(),
        shutdown,
        &options,
    )
    .await
}

/// The bound listeners: Check, probes and metrics, and the debug endpoints.
pub struct Listeners {
    pub grpc: TcpListener,
    pub admin: TcpListener,
    pub debug: TcpListener,
    /// The HTTP check listener, when `--http-listen` is given.
    pub http: Option<TcpListener>,
}

/// The addresses actually bound (port 0 resolved).
struct Addresses {
    grpc: SocketAddr,
    admin: SocketAddr,
    debug: SocketAddr,
    http: Option<SocketAddr>,
}

/// A warning when the debug listener is reachable from outside the host (or pod): it is
/// allowed — behind a NetworkPolicy or on a private interface it can be what an operator
/// wants — but it discloses the config and spends the IdP's rate limit, so say so loudly.
pub fn debug_listen_warning(addr: SocketAddr) -> Option<&'static str> {
    // `to_canonical`: an IPv4-mapped `::ffff:127.0.0.1` is loopback too.
    (!addr.ip().to_canonical().is_loopback()).then_some(
        "--debug-listen is not a loopback address: /status, /debug/denials and POST /jwks/refresh \
         (issuers, audiences, kids, JWKS URLs, fetch errors; IdP fetches) are reachable from the \
         network without authentication; restrict it (NetworkPolicy, firewall) or use 127.0.0.1",
    )
}

/// Runs the three servers and the config watcher on bound listeners until `shutdown`
/// completes, then drains.
pub async fn run(
    snapshot: SharedSnapshot,
    listeners: Listeners,
    ready: Readiness,
    shutdown: impl Future<Output = ()>,
    options: &ServeOptions,
) -> Result<(), AppError> {
    let remote = RemoteKeys::new(snapshot.clone());
    remote.sync();
    let reloader = Arc::new(Reloader::new(
        options.config.clone(),
        snapshot.clone(),
        Some(remote.clone()),
    ));
    let started = Instant::now();
    let cache =
        TokenCache::new(options.token_cache_entries, options.token_cache_bytes).map(Arc::new);
    let mut observer =
        Observer::new(options.recent_denials).with_audit_rate_limit(options.audit_rate_limit);
    observer.register_state(StateCollector {
        snapshot: snapshot.clone(),
        remote: remote.clone(),
        reloads: reloader.stats(),
        cache: cache.clone(),
        ready: ready.clone(),
        started,
    });
    let introspection_metrics = crate::introspection::Metrics::new();
    observer.register_introspection(&introspection_metrics);
    let introspector = crate::introspection::Introspector::new(introspection_metrics);
    let telemetry = crate::telemetry::start(options.traces.as_ref(), &mut observer)
        .map_err(AppError::Telemetry)?;
    let observer = Arc::new(observer);
    // Reports audit events suppressed by the rate limit even when the flood has stopped.
    let flushing = observer.clone();
    let observer_at_stop = observer.clone();
    let flush_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            flushing.flush_audit();
        }
    });
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<AuthorizationServer<AuthzService>>()
        .await;
    let (stop_grpc, grpc_stopped) = watch::channel(false);
    let (stop_others, others_stopped) = watch::channel(false);
    let admin_state = AdminState {
        ready: ready.clone(),
        snapshot: snapshot.clone(),
        reloads: reloader.stats(),
        remote: remote.clone(),
        observer: observer.clone(),
        started,
        log_level: options.log_level.clone(),
    };
    let grace_task = tokio::spawn(report_startup_grace(snapshot.clone()));
    // One core for every front end: same cache, same refetch limiter, same record.
    let authorizer = Authorizer::new(snapshot.clone(), Some(remote), observer)
        .with_cache(cache)
        .with_introspector(Some(introspector))
        .with_telemetry(telemetry.clone());
    // The HTTP front end stops with the gRPC one: both carry checks to drain.
    let mut http_task = listeners.http.map(|listener| {
        let stop = stopped(grpc_stopped.clone());
        tokio::spawn(crate::http::serve(
            listener,
            authorizer.clone(),
            options.http.clone(),
            options.header_read_timeout,
            stop,
        ))
    });
    let mut grpc_task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(AuthorizationServer::new(AuthzService::over(authorizer)))
            .serve_with_incoming_shutdown(
                crate::grpc::connection::incoming(listeners.grpc),
                stopped(grpc_stopped),
            ),
    );
    let mut admin_task = tokio::spawn(crate::http_server::serve(
        listeners.admin,
        admin::router(admin_state.clone()),
        options.header_read_timeout,
        stopped(others_stopped.clone()),
    ));
    let mut debug_task = tokio::spawn(crate::http_server::serve(
        listeners.debug,
        admin::debug::router(admin_state),
        options.header_read_timeout,
        stopped(others_stopped.clone()),
    ));
    let mut watch_task = tokio::spawn(config::watch::run(
        reloader,
        options.watch_debounce,
        others_stopped,
    ));
    ready.set(true);
    tokio::select! {
        () = shutdown => {}
        result = &mut grpc_task => return finished_early(result.map(|r| r.map_err(AppError::Grpc))),
        result = &mut admin_task => return finished_early(result.map(|r| r.map_err(AppError::Admin))),
        result = &mut debug_task => return finished_early(result.map(|r| r.map_err(AppError::Admin))),
        result = &mut watch_task => return finished_early(result.map(|r| r.map_err(AppError::Watch))),
        Some(result) = async { match &mut http_task { Some(task) => Some(task.await), None => None } } => {
            return finished_early(result.map(|r| r.map_err(AppError::Http)));
        }
    }
    tracing::info!(drain_timeout = ?options.drain_timeout, "shutting down: readiness off, draining in-flight checks");
    ready.set(false);
    health
        .set_not_serving::<AuthorizationServer<AuthzService>>()
        .await;
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let _ = stop_grpc.send(true);
    // One deadline for every listener carrying checks (they drain at the same time).
    let deadline = tokio::time::Instant::now() + options.drain_timeout;
    match tokio::time::timeout_at(deadline, &mut grpc_task).await {
        Ok(Ok(Err(e))) => return Err(AppError::Grpc(e)),
        Ok(_) => {}
        Err(_) => {
            tracing::warn!("drain timeout reached; closing remaining connections");
            grpc_task.abort();
        }
    }
    if let Some(task) = &mut http_task {
        // Stopped by the same signal, so it has been draining meanwhile.
        if tokio::time::timeout_at(deadline, &mut *task).await.is_err() {
            tracing::warn!("drain timeout reached; closing remaining HTTP check connections");
            task.abort();
        }
    }
    let _ = stop_others.send(true);
    flush_task.abort();
    // Whatever the limit held back in the last seconds, the current one included.
    observer_at_stop.flush_audit_all();
    for task in [&mut admin_task, &mut debug_task] {
        if tokio::time::timeout(Duration::from_secs(1), &mut *task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
    if tokio::time::timeout(Duration::from_secs(1), &mut watch_task)
        .await
        .is_err()
    {
        watch_task.abort();
    }
    grace_task.abort();
    crate::telemetry::stop(telemetry).await;
    tracing::info!("stopped");
    Ok(())
}

/// After `startup_grace`, says which providers still have no keys (their tokens are then
/// denied with `keys_unavailable` while `/readyz` reports ready).
async fn report_startup_grace(snapshot: SharedSnapshot) {
    let Some(grace) = snapshot.load().startup_grace else {
        return;
    };
    tokio::time::sleep(grace).await;
    let current = snapshot.load();
    let missing: Vec<&str> = current
        .providers
        .iter()
        .filter(|p| p.keys.is_empty())
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        tracing::warn!(providers = ?missing, "startup grace expired: ready without keys for these providers; their tokens are denied (keys_unavailable) until a fetch succeeds");
    }
}

fn finished_early(
    result: Result<Result<(), AppError>, tokio::task::JoinError>,
) -> Result<(), AppError> {
    match result {
        Ok(Err(e)) => Err(e),
        // A server that returns Ok without a shutdown signal, or a panicked task, is a bug;
        // report it as an admin I/O failure rather than exiting silently.
        Ok(Ok(())) => Err(AppError::Admin(std::io::Error::other(
            "a server stopped unexpectedly",
        ))),
        Err(join) => Err(AppError::Admin(std::io::Error::other(join.to_string()))),
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An Err means the sender is gone, which also means "stop".
    let _ = rx.wait_for(|stop| *stop).await;
}

fn termination_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Writes `{"grpc": "...", "admin": "...", "debug": "...", "http": "..."}` (`http` only
/// when listening) via a temporary file and a
/// rename, so a reader never sees a partial file.
fn write_address_file(path: &std::path::Path, addresses: &Addresses) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut body = serde_json::json!({
        "grpc": addresses.grpc.to_string(),
        "admin": addresses.admin.to_string(),
        "debug": addresses.debug.to_string(),
    });
    if let Some(http) = addresses.http {
        body["http"] = http.to_string().into();
    }
    let body = body.to_string();
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

/// One log line per provider; never key material.
pub fn log_snapshot(snapshot: &Snapshot) {
    for p in &snapshot.providers {
        let kids: Vec<&str> = p
            .keys
            .keys()
            .iter()
            .map(|k| k.kid().unwrap_or("-"))
            .collect();
        tracing::info!(provider = %p.name, issuers = ?p.trusted_issuers(), audiences = ?p.audiences, kids = ?kids, "provider loaded");
    }
}

#[cfg(test)]
mod tests {
    use super::debug_listen_warning;

    #[test]
    fn only_a_non_loopback_debug_listener_is_warned_about() {
        for quiet in [
            "127.0.0.1:9193",
            "127.0.0.2:0",
            "[::1]:9193",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(
                debug_listen_warning(quiet.parse().unwrap()),
                None,
                "{quiet}"
            );
        }
        for loud in ["0.0.0.0:9193", "[::]:9193", "10.0.0.7:9193"] {
            assert!(
                debug_listen_warning(loud.parse().unwrap()).is_some(),
                "{loud}"
            );
        }
    }
}
