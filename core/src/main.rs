use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = spinup::cli::Cli::parse();
    match spinup::cli::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spinup: {e}");
            e.exit_code()
        }
    }
}
