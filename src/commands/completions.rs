//! `toolgate completions SHELL` and the man page: generated from the
//! command-line definition itself, so they never disagree with it. The
//! generated files are committed (`completions/`, `packaging/man/`;
//! `bash packaging/regen.sh` rewrites them) and a test fails when they are
//! stale.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::exit;

pub fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "toolgate", &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(exit::OK)
}

/// Writes `toolgate.1` and a page per subcommand (`toolgate-serve.1`,
/// `toolgate-audit-verify.1`...) into `dir`.
pub fn man(dir: &std::path::Path) -> Result<u8> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    Ok(exit::OK)
}
