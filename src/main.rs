//! `envoy-jwt-authz`: parse the command line, run it, exit with its code (the codes are in
//! [`commands`](envoy_jwt_authz::commands)).

use clap::Parser;
use envoy_jwt_authz::cli::Cli;
use envoy_jwt_authz::commands;
use std::process::ExitCode;

fn main() -> ExitCode {
    commands::run(Cli::parse())
}
