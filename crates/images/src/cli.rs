//! Command-line parsing shared by the images (clap, with Go pflag's `--flag value`/`--flag=value`).

use crate::Console;

/// Parses `args` (without the program name) as `program`'s flags. On `--help` prints usage to
/// stdout and returns `Err(0)`; on a bad command line prints the error to stderr and returns
/// `Err(EXIT_USAGE)`.
pub(crate) fn parse<T: clap::Parser>(
    program: &str,
    args: &[String],
    console: &Console,
) -> Result<T, i32> {
    let argv = std::iter::once(program.to_owned()).chain(args.iter().cloned());
    T::try_parse_from(argv).map_err(|e| {
        let text = e.render().to_string();
        if e.use_stderr() {
            console.err(text.trim_end());
        } else {
            console.out(text.trim_end());
        }
        e.exit_code()
    })
}

/// Prints a usage error and returns the usage exit code.
pub(crate) fn usage_error(console: &Console, program: &str, msg: &str) -> i32 {
    console.err(&format!("{program}: {msg}"));
    crate::EXIT_USAGE
}
