//! One file per subcommand, each with `run`.

pub mod add;
pub mod approve;
pub mod audit;
pub mod auth;
pub mod call;
pub mod completions;
pub mod doctor;
pub mod import;
pub mod install;
pub mod policy;
pub mod profile;
pub mod remove;
pub mod scan;
pub mod secret;
pub mod serve;
pub mod servers;
pub mod tools;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::config::{Config, Loaded, Paths};

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    // These need no config or state.
    match &cli.command {
        Command::Completions(args) => return completions::completions(args.shell),
        Command::Man(args) => return completions::man(&args.out),
        _ => {}
    }
    let paths = Paths::resolve(cli.global.config.as_deref())?;
    match cli.command {
        Command::Completions(_) | Command::Man(_) => unreachable!("handled above"),
        Command::Serve(args) => serve::run(&paths, args),
        Command::Add(args) => add::run(&paths, args),
        Command::Remove(args) => remove::run(&paths, args),
        Command::Servers(args) => servers::run(&paths, args),
        Command::Tools(args) => tools::run(&paths, args),
        Command::Call(args) => call::run(&paths, args),
        Command::Secret(cmd) => secret::run(&paths, cmd),
        Command::Login(args) => auth::login(&paths, args),
        Command::Logout(args) => auth::logout(&paths, args),
        Command::Auth(crate::cli::AuthCommand::Status(args)) => auth::status(&paths, args),
        Command::Profile(cmd) => profile::run(&paths, cmd),
        Command::Policy(crate::cli::PolicyCommand::Explain(args)) => policy::explain(&paths, args),
        Command::Scan(args) => scan::run(&paths, args),
        Command::Approve(args) => approve::run(&paths, args),
        Command::Audit(cmd) => audit::run(&paths, cmd),
        Command::Doctor(args) => doctor::run(&paths, args),
        Command::Install(args) => install::install(&paths, args),
        Command::Uninstall(args) => install::uninstall(&paths, args),
        Command::Import(args) => import::run(&paths, args),
    }
}

/// The single-threaded runtime every command uses: a proxy's work is I/O
/// bound, and one thread keeps hand-offs between tasks free of cross-thread
/// wake-ups.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The runtime of `serve`: as [`runtime`], with adaptive busy-polling
/// (see [`crate::wire::spin`]).
pub fn serve_runtime() -> Result<tokio::runtime::Runtime> {
    crate::wire::spin::enable();
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(crate::wire::spin::before_park)
        .build()?)
}

/// Loads the config for a command.
/// Loads the config for a command, and sets up (without opening) the
/// keychain its secret references are resolved from.
///
/// The config returned is the one in effect: where an org profile is in
/// force, its servers replace the user's (see [`crate::profile::govern`]),
/// and the governance that goes with it is installed for this process.
pub fn load(paths: &Paths) -> Result<Loaded> {
    let mut loaded = Config::load(paths)?;
    crate::secrets::install_vault(crate::secrets::Vault::new(
        paths.clone(),
        loaded.config.keychain,
    ));
    let state = crate::profile::registry::load(paths, &loaded.config);
    let (config, governance) = crate::profile::govern::govern(&loaded.config, &state);
    install_policy(&loaded.config, &state)?;
    crate::policy::set_buckets(paths.db_file());
    crate::policy::protect::set(paths, &crate::secrets::service_name(paths));
    crate::profile::govern::install(governance);
    loaded.config = config;
    Ok(loaded)
}

/// Compiles and installs the policy for a profile state. A policy that
/// does not compile is an error: governance fails closed.
pub fn install_policy(user: &Config, state: &crate::profile::registry::State) -> Result<()> {
    match crate::profile::govern::policy_for(user, state) {
        Ok(Some(p)) => crate::policy::install(p),
        Ok(None) => crate::policy::clear(),
        Err(e) => {
            return Err(
                crate::error::UserError::new(format!("the policy is invalid: {e}"))
                    .hint("fix [policy] (toolgate profile lint checks the org's)")
                    .into(),
            );
        }
    }
    Ok(())
}

/// Loads the user's config as written, without applying an org profile.
pub fn load_user(paths: &Paths) -> Result<Loaded> {
    let loaded = Config::load(paths)?;
    crate::secrets::install_vault(crate::secrets::Vault::new(
        paths.clone(),
        loaded.config.keychain,
    ));
    Ok(loaded)
}

/// Writes data output (listings, results) to stdout. Only commands other
/// than `serve` use it.
#[allow(clippy::print_stdout)]
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}

/// Writes a message for people to stderr.
pub fn say(text: &str) {
    use std::io::Write;
    // Through the spinner's writer: a line said while one spins goes above it.
    let _ = writeln!(crate::progress::stderr(), "{text}");
}

/// Starts the upstreams accepted by `filter` the way `serve` would (no client
/// capabilities) and waits until each is ready or has failed.
pub async fn connect(
    config: &Config,
    filter: impl Fn(&crate::upstream::Upstream) -> bool,
) -> std::sync::Arc<crate::upstream::manager::Manager> {
    let (manager, mut events) = crate::upstream::manager::Manager::new(config);
    // Nothing relays what the upstreams send here: taken and dropped, so
    // that no upstream waits for room to send more.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let params = crate::upstream::upstream_init_params(crate::proxy::PROTOCOL_VERSIONS[0], None);
    manager.start(params, filter);
    // Wait for the first outcome of each started upstream: a failed start
    // moves on to "restarting", which is an outcome.
    let longest = config
        .servers
        .values()
        .map(|s| s.startup_timeout())
        .max()
        .unwrap_or_default();
    manager
        .settle(longest + std::time::Duration::from_secs(1))
        .await;
    manager
}
