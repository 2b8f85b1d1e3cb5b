//! Compiles the vendored Envoy ext_authz proto subset in `proto/` with `protox` (pure Rust, so
//! no `protoc` is needed anywhere) and generates the tonic server side only.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["envoy/service/auth/v3/external_auth.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // The request's `bytes` fields become `bytes::Bytes`: decoding slices tonic's
        // receive buffer. The answer's stay `Vec<u8>`: built from a `String` without a copy,
        // and encoded with a plain copy, where encoding a `Bytes` made from a `String` first
        // allocates to share it (one allocation per metadata key and value).
        .bytes(".envoy.service.auth.v3.AttributeContext")
        .bytes(".envoy.config.core.v3")
        .build_client(false)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
