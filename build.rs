//! Compiles the vendored Envoy ext_authz proto subset in `proto/` with `protox` (pure Rust, so
//! no `protoc` is needed anywhere) and generates the tonic server side only.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["envoy/service/auth/v3/external_auth.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // `bytes` fields become `bytes::Bytes`: decoding slices tonic's receive buffer.
        .bytes(".")
        .build_client(false)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
