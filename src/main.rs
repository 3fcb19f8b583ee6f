//! `wangge`: maps the CLI's result to an exit code, nothing else.

fn main() {
    match wangge::cli::run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
