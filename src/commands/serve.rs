//! `toolgate serve`: the MCP server the IDE launches, over stdio.

use anyhow::Result;

use crate::cli::ServeArgs;
use crate::config::{Paths, Source};
use crate::error::{UserError, exit};

pub fn run(paths: &Paths, args: ServeArgs) -> Result<u8> {
    if args.print_token {
        super::out(&crate::proxy::http::install_token(paths)?);
        return Ok(exit::OK);
    }
    if let Some(addr) = args.listen
        && !addr.ip().is_loopback()
        && !args.allow_non_loopback
    {
        return Err(UserError::new(format!(
                "{addr} is not a loopback address; toolgate only listens on loopback unless told otherwise"
            ))
            .hint("use 127.0.0.1:PORT, or add --allow-non-loopback if you really mean it")
            .into());
    }
    // serve runs for hours: only the code it uses stays resident.
    crate::util::map_code_on_demand();
    let _guard = crate::logging::init(paths, true, "info");
    let loaded = super::load(paths)?;
    crate::auth::set_interactive(true);
    match &loaded.source {
        Source::File(path) => {
            tracing::info!(config = %path.display(), servers = loaded.config.servers.len(), "toolgate {} serving", env!("CARGO_PKG_VERSION"))
        }
        Source::Embedded => tracing::info!(
            "toolgate {} serving the embedded default (no servers): {} does not exist",
            env!("CARGO_PKG_VERSION"),
            paths.config_file.display()
        ),
    }
    let _recorder = record_upstreams(paths);
    // The audit trail: every call's record is committed before its answer.
    let audit = &loaded.config.audit;
    let checkpoint_interval = audit.checkpoint_interval.0;
    if audit.enabled {
        let trail = paths.state_dir.join("audit.db");
        let fsync = audit.durability == crate::config::Durability::Fsync;
        match crate::audit::Writer::start(&trail, fsync, audit.checkpoint_every) {
            Ok(w) => {
                w.set_fail_open(audit.fails_open());
                // Checkpoints are signed with the device key, read from the
                // keychain in the background.
                let signer = match crate::secrets::vault() {
                    Some(vault) => {
                        let s = crate::audit::sign::Signer::loading();
                        s.load_in_background(vault);
                        s
                    }
                    None => crate::audit::sign::Signer::failed("no keychain is set up".into()),
                };
                w.set_signer(signer);
                crate::audit::writer::install(w);
                let g = crate::profile::govern::current();
                if let Some(serial) = g.serial {
                    crate::audit::record_governance(
                        "profile.applied",
                        None,
                        serde_json::json!({"serial": serial, "summary": g.summary, "why": "in force at start"}),
                    );
                }
                // Records go to the org's collector in the background.
                crate::audit::upload::start(paths, audit.sinks.clone(), audit.spool.clone());
                crate::audit::set_keep_results(
                    audit.results == crate::config::AuditResults::Redacted,
                );
            }
            Err(e) => {
                let broken = crate::audit::Writer::broken(&trail, format!("{e:#}"));
                if audit.fails_open() {
                    tracing::warn!(
                        "{e:#}; calls go on unrecorded (on_failure = \"continue\"): run `toolgate doctor`"
                    );
                    broken.set_fail_open(true);
                } else {
                    tracing::error!("{e:#}; calls are denied until the audit trail can be written");
                }
                crate::audit::writer::install(broken);
            }
        }
    }
    let rt = super::serve_runtime()?;
    let broker = crate::approve::broker::Broker::new();
    let served = rt.block_on(async {
        // Calls held for approval are offered on this process's socket.
        let sockets = super::approve::socket_dir(paths);
        match broker.listen(&sockets) {
            Ok(()) => crate::approve::broker::install(broker.clone()),
            Err(e) => tracing::error!(
                "approvals are unavailable, so calls that need one are denied: could not listen in {}: {e}",
                sockets.display()
            ),
        }
        if let Some(w) = crate::audit::writer::current() {
            let every = checkpoint_interval.max(std::time::Duration::from_secs(1));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    // SQLite may wait for another process's lock (up to its
                    // busy timeout): never on the thread that serves.
                    if let Ok(Err(e)) =
                        tokio::task::spawn_blocking(move || w.checkpoint("interval")).await
                    {
                        tracing::warn!("could not write an audit checkpoint: {e}");
                    }
                }
            });
        }
        let user = crate::config::Config::load(paths)?.config;
        if user.registry.url.is_some() {
            // On a thread of its own: fetching (and setting up TLS, which
            // reads the system's trust store) never competes with the
            // proxy for its thread.
            let paths = paths.clone();
            let spawned = std::thread::Builder::new()
                .name("toolgate-profile".into())
                .spawn(move || match super::runtime() {
                    Ok(rt) => rt.block_on(refresh_profile(paths, user)),
                    Err(e) => tracing::warn!("cannot refresh the org profile: {e:#}"),
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot refresh the org profile: {e}");
            }
        }
        match args.listen {
            Some(addr) => {
                let token = if args.no_token {
                    tracing::warn!("--no-token: any local process can use this server");
                    None
                } else {
                    Some(crate::proxy::http::install_token(paths)?)
                };
                let options = crate::proxy::http::ListenOptions { addr, token };
                crate::proxy::http::listen(&loaded.config, options, shutdown_signal()).await
            }
            None => {
                let (input, output) = crate::wire::stdio()?;
                crate::proxy::serve(&loaded.config, input, output, shutdown_signal()).await
            }
        }
    });
    // Blocking work still under way (a checkpoint waiting for another
    // process's lock on the trail) is not waited for: the process exits.
    rt.shutdown_background();
    // Held calls go with the process.
    broker.close();
    // Every record into the database, and the chain as it stands at exit
    // gets a signed checkpoint. Records that cannot get there now (another
    // process holds the database locked) are safe in the journal, which the
    // next toolgate takes over: the exit does not wait long for them.
    if let Some(w) = crate::audit::writer::current()
        && w.close(EXIT_FLUSH)
        && let Err(e) = w.checkpoint("shutdown")
    {
        tracing::warn!("could not write the audit checkpoint at exit: {e}");
    }
    served?;
    Ok(exit::OK)
}

/// How long `serve` waits at exit for its audit records to reach the
/// database.
const EXIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(3);

/// Keeps the org profile current while serving, never delaying start-up:
/// pulls at once in the background, then every `registry.refresh` (default
/// 1 h); a newly verified profile is put in force without a restart (the
/// running managers apply it and announce `list_changed`). `SIGUSR1` makes
/// serve re-read the cache (after a `toolgate profile pull` elsewhere). A
/// failed pull leaves the profile in force as it was. Warns in the log when
/// the profile is about to expire.
async fn refresh_profile(paths: Paths, user: crate::config::Config) {
    use crate::profile::registry;
    let every = user
        .registry
        .refresh
        .map_or(std::time::Duration::from_secs(3600), |d| d.0)
        .max(std::time::Duration::from_secs(1));
    let warn_before = user
        .registry
        .warn_before
        .map_or(7 * 86_400, |d| d.0.as_secs() as i64);
    let reload = |why: &str| {
        let state = registry::load(&paths, &user);
        match &state {
            registry::State::Active(a) => {
                tracing::info!(
                    serial = a.profile.serial,
                    "{why}: the org profile of {} serial {} is in force",
                    a.profile.org,
                    a.profile.serial
                );
                crate::audit::record_governance(
                    "profile.applied",
                    None,
                    serde_json::json!({"org": a.profile.org, "serial": a.profile.serial, "why": why}),
                );
            }
            registry::State::Missing(reason) => crate::audit::record_governance(
                "profile.rejected",
                None,
                serde_json::json!({"reason": reason, "why": why}),
            ),
            registry::State::Unmanaged => {}
        }
        let (_, governance) = crate::profile::govern::govern(&user, &state);
        if let Err(e) = super::install_policy(&user, &state) {
            // Fail closed: a policy that does not compile denies everything.
            tracing::error!("{e:#}");
            crate::policy::install_deny_all(format!("{e:#}"));
        }
        crate::profile::govern::install(governance);
    };
    #[cfg(unix)]
    let mut usr1 =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
    #[cfg(not(unix))]
    let mut usr1: Option<()> = None;
    loop {
        // A pull can take long (a registry that accepts connections and
        // does not answer, until the request times out): SIGUSR1 is
        // answered meanwhile.
        let pulled = {
            let pull = registry::pull(&paths, &user);
            tokio::pin!(pull);
            loop {
                tokio::select! {
                    pulled = &mut pull => break pulled,
                    () = next_usr1(&mut usr1) => reload("SIGUSR1"),
                }
            }
        };
        match pulled {
            Ok(registry::Pulled::Updated { serial, .. }) => {
                reload(&format!("pulled serial {serial}"))
            }
            Ok(registry::Pulled::Unchanged { .. }) => {}
            Err(e) => {
                tracing::warn!("could not update the org profile (the one in force stays): {e}");
                crate::audit::record_governance(
                    "profile.rejected",
                    None,
                    serde_json::json!({"reason": e.to_string(), "why": "pull"}),
                );
            }
        }
        let governance = crate::profile::govern::current();
        if let Some(expires) = governance.expires_at
            && expires - crate::auth::now_secs() < warn_before
        {
            tracing::warn!(
                "the {} expires at {}: it must be renewed (toolgate profile status)",
                governance.summary,
                crate::util::rfc3339(expires)
            );
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = next_usr1(&mut usr1) => reload("SIGUSR1"),
        }
    }
}

/// The next SIGUSR1 (never, where there is none).
#[cfg(unix)]
async fn next_usr1(usr1: &mut Option<tokio::signal::unix::Signal>) {
    match usr1.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn next_usr1(_: &mut Option<()>) {
    std::future::pending::<()>().await
}

/// Records each upstream's state in the local store, from a thread of its
/// own: opening and writing SQLite never delays the proxy. Without a store,
/// serve goes on and says so in the log. Dropping the guard writes what is
/// queued before serve exits.
/// One upstream state change: server, state, tool count, error.
type Row = (String, &'static str, Option<usize>, Option<String>);
/// The recorder's way to the writer thread; `None` once serve is done.
type RowSender = std::sync::Arc<std::sync::Mutex<Option<std::sync::mpsc::Sender<Row>>>>;

fn record_upstreams(paths: &Paths) -> RecorderGuard {
    use crate::events::Event;
    let (tx, rx) = std::sync::mpsc::channel::<Row>();
    let db = paths.db_file();
    let writer = std::thread::spawn(move || {
        let store = match crate::store::Store::open(&db) {
            Ok(store) => store,
            Err(e) => {
                tracing::warn!(
                    "the local store is not available, so `toolgate servers` will not show what this serve saw: {e:#}"
                );
                return;
            }
        };
        for (server, state, tools, error) in rx {
            if let Err(e) = store.record_upstream(&server, state, tools, error.as_deref()) {
                tracing::warn!("could not record the state of {server} in the local store: {e:#}");
            }
        }
    });
    let sender = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let events_sender = sender.clone();
    crate::events::set_recorder(move |event| {
        let row: Row = match event {
            Event::ServerReady { server, tools, .. } => {
                (server.to_string(), "ready", Some(*tools), None)
            }
            Event::ServerFailed { server, error } => {
                (server.to_string(), "failed", None, Some(error.to_string()))
            }
            Event::ServerCrashed { server, error } => {
                (server.to_string(), "crashed", None, Some(error.to_string()))
            }
            _ => return,
        };
        if let Some(tx) = events_sender.lock().expect("recorder lock").as_ref() {
            let _ = tx.send(row);
        }
    });
    RecorderGuard {
        sender,
        writer: Some(writer),
    }
}

struct RecorderGuard {
    sender: RowSender,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RecorderGuard {
    fn drop(&mut self) {
        self.sender.lock().expect("recorder lock").take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Resolves on SIGTERM, SIGINT or SIGHUP (Ctrl-C elsewhere).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut streams = Vec::new();
        for kind in [
            SignalKind::terminate(),
            SignalKind::interrupt(),
            SignalKind::hangup(),
        ] {
            match signal(kind) {
                Ok(s) => streams.push(s),
                Err(e) => tracing::warn!("cannot listen for a signal: {e}"),
            }
        }
        if streams.is_empty() {
            return std::future::pending().await;
        }
        let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
        let _ = futures_select_all(waits).await;
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Waits for the first of several futures.
async fn futures_select_all<F: std::future::Future + Unpin>(futures: impl Iterator<Item = F>) {
    let mut futures: Vec<F> = futures.collect();
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}
