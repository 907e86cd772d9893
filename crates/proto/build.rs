//! Compiles the vendored Kubernetes `.proto` files (see `protos/`) into one encoded
//! `FileDescriptorSet` with the pure-Rust `protox` compiler, so no `protoc` is needed.

use std::path::PathBuf;

const FILES: &[&str] = &[
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/apps/v1/generated.proto",
    "k8s.io/api/discovery/v1/generated.proto",
    "k8s.io/api/networking/v1/generated.proto",
    "k8s.io/api/autoscaling/v1/generated.proto",
    "k8s.io/api/policy/v1/generated.proto",
    "k8s.io/api/batch/v1/generated.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=protos");
    let mut compiler = protox::Compiler::new(["protos"])?;
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(FILES.iter().copied())?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("kubernetes.fds");
    std::fs::write(out, compiler.encode_file_descriptor_set())?;
    Ok(())
}
