//! Runs a built-in image as its own process, as `knet image NAME ARGS...` will:
//! `cargo run -p knet-images --example image -- netexec --http-port=8080`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.split_first() {
        Some((name, rest)) => knet_images::run(name, rest),
        None => {
            let names: Vec<&str> = knet_images::builtin_images()
                .iter()
                .map(|i| i.name)
                .collect();
            eprintln!("usage: image NAME [ARGS...]; images: {}", names.join(", "));
            knet_images::EXIT_USAGE
        }
    };
    std::process::exit(code);
}
