//! `certctl`: see `certctl --help`.

use certctl_cli::commands::{Cli, run};
use clap::Parser as _;

fn main() {
    // Usage errors exit 2 here, with clap's message.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(cli)) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
