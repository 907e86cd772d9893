//! Prints the JSON of a Kubernetes protobuf body: `cargo run -p knet-proto --example decode -- FILE [--wire]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: decode FILE [--wire]");
        return ExitCode::FAILURE;
    };
    let wire = args.next().as_deref() == Some("--wire");
    let body = match std::fs::read(&path) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let decoded = if wire {
        knet_proto::decode_wire(&body)
    } else {
        knet_proto::decode(&body)
    };
    match decoded.map(|v| serde_json::to_string_pretty(&v)) {
        Ok(Ok(text)) => {
            #[allow(clippy::print_stdout)]
            {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
