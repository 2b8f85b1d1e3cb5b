//! `envoy-jwt-authz`: parse the command line, set up logging, run, map to an exit code
//! (64 = unusable configuration, as in sysexits' EX_USAGE).

use clap::Parser;
use envoy_jwt_authz::app::{self, AppError, ServeOptions};
use envoy_jwt_authz::cli::{Cli, Command, LogFormat};
use envoy_jwt_authz::commands;
use envoy_jwt_authz::token::verify::UnixTime;
use std::process::ExitCode;

const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format);
            let options = ServeOptions {
                config: args.config,
                grpc_listen: args.grpc_listen,
                admin_listen: args.admin_listen,
                debug_listen: args.debug_listen,
                address_file: args.address_file,
                drain_timeout: args.drain_timeout.get(),
                watch_debounce: args.watch_debounce.get(),
                recent_denials: args.recent_denials,
                token_cache_entries: args.token_cache_entries,
                token_cache_bytes: args.token_cache_bytes,
            };
            let workers = args
                .worker_threads
                .filter(|n| *n > 0)
                .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
                .unwrap_or(1);
            // One worker: a current-thread runtime, which spares the cross-thread wake-ups
            // of a one-worker multi-thread scheduler (measured: see BENCHMARKS.md).
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
                Err(e @ AppError::Config(_)) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { file } => {
            init_logging(LogFormat::Text);
            match commands::check_config(&file) {
                Ok(summary) => {
                    print!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        Command::Explain(args) => match commands::explain(&args, UnixTime::now()) {
            Ok((report, allowed)) => {
                print!("{report}");
                if allowed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::MintToken(args) => print_or_fail(commands::mint_token(&args, UnixTime::now())),
        Command::PublicJwks(args) => print_or_fail(commands::public_jwks(&args)),
    }
}

fn print_or_fail(result: Result<String, commands::DevError>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default `info` level.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
