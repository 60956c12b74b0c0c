//! The upstream side: toolgate as an MCP client of each configured server.
//!
//! Each [`Upstream`] is supervised by its own task: it starts the server
//! (spawning a child process for a stdio server), performs the MCP handshake
//! mirroring the IDE's client capabilities, fetches the whole tool list, and
//! then watches the connection. When the server crashes, every request in
//! flight fails at once with a sentence saying so, and the server is
//! restarted with exponential backoff (0.5 s doubling to 30 s); after
//! [`MAX_ATTEMPTS`] failed starts in a row it is marked failed and left alone
//! until toolgate restarts, and its tools leave the list.
//!
//! Upstreams are independent: a slow, failing or missing one never delays
//! another, nor the IDE's `initialize`.
//!
//! Shutdown of a stdio server follows the MCP lifecycle: close its stdin, wait
//! up to 2 s, `SIGTERM` its process group, wait up to 2 s, `SIGKILL` the
//! group, and reap it. Children run in their own process group (so `npx`'s own
//! children go too) and, on Linux, get `SIGKILL` if toolgate dies without
//! cleaning up (`PR_SET_PDEATHSIG`). Their own children, which that signal
//! does not reach, are taken down by the [`reaper`], a watchdog process that
//! outlives toolgate just long enough to stop every group it left behind. A
//! process that leaves its group (`setsid`) escapes both.

pub mod command;
pub mod conn;
pub mod http;
pub mod manager;
pub mod reaper;

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

use crate::config::ServerConfig;
use crate::secrets::Secret;
use crate::wire::Outbound;
pub use conn::{CallError, Connection, Inbound, ProgressRoute, Reply};

/// Failed starts in a row before an upstream is marked failed.
pub const MAX_ATTEMPTS: u32 = 5;
/// An upstream that ran this long counts as healthy: its attempt count resets.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Lines of an upstream's stderr kept for error messages.
const STDERR_TAIL: usize = 20;

/// How long a stdio server's stdout gets to end after its process exited
/// before the exit alone counts as the end of the connection.
const EXIT_THEN_EOF: Duration = Duration::from_millis(250);

/// Where an upstream is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not started (lazy start, or before the IDE's `initialize`).
    Idle,
    Starting,
    Ready,
    /// Crashed or failed to start; will retry.
    Restarting {
        attempt: u32,
        error: String,
    },
    /// Gave up after repeated failures.
    Failed(String),
    /// The org profile does not let it run (or its instructions drifted):
    /// why. Never started.
    Blocked(String),
    /// A remote server that needs a login (OAuth) before it can be used:
    /// waits for one (this process's browser login, or `toolgate login`).
    NeedsLogin(String),
    Disabled,
    Stopped,
}

impl State {
    pub fn label(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Restarting { .. } => "restarting",
            State::Failed(_) => "failed",
            State::NeedsLogin(_) => "needs_login",
            State::Blocked(_) => "blocked",
            State::Disabled => "disabled",
            State::Stopped => "stopped",
        }
    }

    /// Whether the upstream may still become ready without outside help.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            State::Idle | State::Starting | State::Restarting { .. }
        )
    }
}

/// What an upstream said about itself in its `initialize` result.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInit {
    #[serde(default)]
    pub protocol_version: String,
    #[serde(default)]
    pub capabilities: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub server_info: serde_json::Value,
    #[serde(default)]
    pub instructions: Option<String>,
}

impl ServerInit {
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.contains_key(capability)
    }
}

/// One tool as the upstream listed it: its name and its exact JSON.
#[derive(Debug, Clone)]
pub struct ToolDef {
    pub name: String,
    pub raw: Box<RawValue>,
}

/// A configured upstream server and its current connection.
pub struct Upstream {
    pub index: usize,
    pub name: Arc<str>,
    pub config: ServerConfig,
    state: watch::Sender<State>,
    live: RwLock<Option<Live>>,
    tools: RwLock<Arc<Vec<ToolDef>>>,
    stderr_tail: Mutex<VecDeque<String>>,
    /// Stops this upstream's supervisor alone (the org profile blocked it).
    halt: Mutex<Option<watch::Sender<bool>>>,
    /// OAuth state of a remote upstream (made on first connect).
    auth: std::sync::OnceLock<Option<Arc<crate::auth::ServerAuth>>>,
    /// Secret values this upstream was given: blanked out of its stderr
    /// before toolgate logs or shows it.
    secret_values: Mutex<Vec<Secret>>,
    /// When the current connection became ready, and how long it took.
    pub started: Mutex<Option<(Instant, Duration)>>,
}

/// The current connection and what the server declared.
#[derive(Clone)]
pub struct Live {
    pub conn: Arc<Connection>,
    pub init: Arc<ServerInit>,
}

impl Upstream {
    pub fn new(index: usize, name: &str, config: ServerConfig) -> Arc<Self> {
        let state = if let Some(why) = crate::profile::govern::is_blocked(name) {
            State::Blocked(why)
        } else if config.enabled() {
            State::Idle
        } else {
            State::Disabled
        };
        Arc::new(Self {
            index,
            name: name.into(),
            config,
            state: watch::Sender::new(state),
            live: RwLock::new(None),
            tools: RwLock::new(Arc::new(Vec::new())),
            stderr_tail: Mutex::new(VecDeque::new()),
            secret_values: Mutex::new(Vec::new()),
            auth: std::sync::OnceLock::new(),
            halt: Mutex::new(None),
            started: Mutex::new(None),
        })
    }

    pub fn state(&self) -> State {
        self.state.borrow().clone()
    }

    /// The OAuth side of a remote upstream, unless its config sends its own
    /// `Authorization` header or the process has no keychain set up.
    pub fn auth(&self) -> Option<Arc<crate::auth::ServerAuth>> {
        self.auth
            .get_or_init(|| {
                let url = reqwest::Url::parse(self.config.url.as_deref()?).ok()?;
                if self
                    .config
                    .headers
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case("authorization"))
                {
                    return None;
                }
                let vault = crate::secrets::vault()?;
                Some(Arc::new(crate::auth::ServerAuth::new(
                    self.name.clone(),
                    url,
                    self.config.oauth.clone(),
                    vault.paths().clone(),
                    vault,
                    crate::auth::interactive(),
                )))
            })
            .clone()
    }

    /// Blocks the upstream for good (the org profile forbids it now).
    pub(crate) fn block(&self, why: String) {
        crate::events::emit(crate::events::Event::ServerBlocked {
            server: &self.name,
            reason: &why,
        });
        *self.tools.write().expect("tools lock") = Arc::new(Vec::new());
        self.state.send_replace(State::Blocked(why));
    }

    /// Tools known from the org profile's pins, before the upstream runs.
    pub(crate) fn set_pinned_tools(&self, defs: &[(String, String)]) {
        let tools = defs
            .iter()
            .filter_map(|(name, json)| {
                Some(ToolDef {
                    name: name.clone(),
                    raw: RawValue::from_string(json.clone()).ok()?,
                })
            })
            .collect();
        *self.tools.write().expect("tools lock") = Arc::new(tools);
    }

    /// Lets a blocked upstream start again (a new profile allows it).
    pub(crate) fn unblock(&self) {
        let state = if self.config.enabled() {
            State::Idle
        } else {
            State::Disabled
        };
        self.state.send_replace(state);
    }

    /// The stop signal of a new supervisor: set by the manager's shutdown or
    /// by [`Upstream::halt`].
    pub(crate) fn new_halt(&self, mut shutdown: watch::Receiver<bool>) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let forward = tx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => { forward.send_replace(true); }
                () = forward.closed() => {}
            }
        });
        *self.halt.lock().expect("halt lock") = Some(tx);
        rx
    }

    /// Stops this upstream's supervisor (and its process), alone.
    pub(crate) fn halt(&self) {
        if let Some(tx) = self.halt.lock().expect("halt lock").take() {
            tx.send_replace(true);
        }
    }

    pub fn is_blocked(&self) -> bool {
        matches!(self.state(), State::Blocked(_))
    }

    /// Marks an upstream about to be started as starting.
    pub(crate) fn mark_starting(&self) {
        self.state.send_replace(State::Starting);
    }

    pub fn watch_state(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    /// The prefix of this upstream's exposed names.
    pub fn prefix(&self) -> &str {
        self.config.prefix(&self.name)
    }

    /// The live connection, if the upstream is ready.
    pub fn live(&self) -> Option<Live> {
        self.live.read().expect("live lock poisoned").clone()
    }

    pub fn tools(&self) -> Arc<Vec<ToolDef>> {
        self.tools.read().expect("tools lock poisoned").clone()
    }

    /// Waits until the upstream is ready or can no longer become ready by
    /// itself, or `limit` passes. Returns the live connection if ready.
    pub async fn wait_ready(&self, limit: Duration) -> Option<Live> {
        let mut rx = self.state.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|s| !s.is_pending())).await;
        self.live()
    }

    /// Why the upstream cannot serve a request right now, in words.
    pub fn unavailable_reason(&self) -> String {
        match self.state() {
            State::Ready => format!("the server \"{}\" is ready", self.name),
            State::Idle | State::Starting => {
                format!("the server \"{}\" is still starting", self.name)
            }
            State::Restarting { attempt, error } => format!(
                "the server \"{}\" is restarting after a failure (attempt {attempt} of {MAX_ATTEMPTS}): {error}",
                self.name
            ),
            State::Failed(error) => format!(
                "the server \"{}\" failed to start {MAX_ATTEMPTS} times and was given up: {error}",
                self.name
            ),
            State::NeedsLogin(why) | State::Blocked(why) => why,
            State::Disabled => format!("the server \"{}\" is disabled in config.toml", self.name),
            State::Stopped => format!("the server \"{}\" was stopped", self.name),
        }
    }

    fn stderr_summary(&self) -> Option<String> {
        let tail = self.stderr_tail.lock().expect("stderr lock poisoned");
        let lines: Vec<&str> = tail
            .iter()
            .rev()
            .take(3)
            .rev()
            .map(String::as_str)
            .collect();
        (!lines.is_empty()).then(|| lines.join(" | "))
    }
}

/// What the supervisor needs from the manager.
pub(crate) struct SupervisorCtx {
    pub init_params: String,
    pub max_message: usize,
    pub inbound: mpsc::UnboundedSender<(usize, Inbound)>,
    pub tools_changed: Arc<dyn Fn(usize) + Send + Sync>,
    pub on_ready: Arc<dyn Fn(usize) + Send + Sync>,
    pub shutdown: watch::Receiver<bool>,
}

/// Runs one upstream until shutdown.
pub(crate) async fn supervise(up: Arc<Upstream>, ctx: SupervisorCtx) {
    let mut shutdown = ctx.shutdown.clone();
    let mut attempt: u32 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        up.state.send_replace(State::Starting);
        let began = Instant::now();
        let started = tokio::select! {
            r = start(&up, &ctx) => r,
            () = stopped(&mut shutdown) => break,
        };
        match started {
            Ok(mut running) => {
                *up.started.lock().expect("lock") = Some((Instant::now(), began.elapsed()));
                up.state.send_replace(State::Ready);
                (ctx.on_ready)(up.index);
                let ran_since = Instant::now();
                let reason = tokio::select! {
                    r = running.conn.wait_closed() => r,
                    r = exited(&mut running.child, &running.conn, &up.name) => r,
                    () = stopped(&mut shutdown) => {
                        running.stop(&up).await;
                        break;
                    }
                };
                let exit = running.stop(&up).await;
                let mut error = reason;
                if let Some(exit) = exit {
                    error.push_str(&format!(" ({exit})"));
                }
                if let Some(tail) = up.stderr_summary() {
                    error.push_str(&format!("; its last stderr lines: {tail}"));
                }
                crate::events::emit(crate::events::Event::ServerCrashed {
                    server: &up.name,
                    error: &error,
                });
                if ran_since.elapsed() >= HEALTHY_AFTER {
                    attempt = 0;
                }
                attempt += 1;
                if !backoff(&up, &ctx, attempt, error, &mut shutdown).await {
                    break;
                }
            }
            Err(error) => {
                if up.is_blocked() {
                    crate::events::emit(crate::events::Event::ServerFailed {
                        server: &up.name,
                        error: &error,
                    });
                    (ctx.tools_changed)(up.index);
                    stopped(&mut shutdown).await;
                    return;
                }
                if let Some(auth) = up.auth()
                    && let Some(why) = auth.needs_login()
                {
                    // Not a failure of the server: wait for a login, then
                    // connect again at once (no attempt counted).
                    up.state.send_replace(State::NeedsLogin(why));
                    (ctx.tools_changed)(up.index);
                    if !wait_for_login(&up, &auth, &mut shutdown).await {
                        break;
                    }
                    continue;
                }
                crate::events::emit(crate::events::Event::ServerFailed {
                    server: &up.name,
                    error: &error,
                });
                attempt += 1;
                if !backoff(&up, &ctx, attempt, error, &mut shutdown).await {
                    break;
                }
            }
        }
    }
    if !up.is_blocked() {
        up.state.send_replace(State::Stopped);
    }
}

/// Waits until new tokens are adopted by this process, or another process
/// (`toolgate login`, another `serve`) records a login; false on shutdown.
async fn wait_for_login(
    up: &Arc<Upstream>,
    auth: &Arc<crate::auth::ServerAuth>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut changed = auth.subscribe();
    changed.borrow_and_update();
    let name = up.name.to_string();
    let stamp = move || {
        let vault = crate::secrets::vault()?;
        let store = crate::store::Store::open(&vault.paths().db_file()).ok()?;
        store.login(&name).ok().flatten().map(|l| l.updated_at)
    };
    let s = stamp.clone();
    let before = tokio::task::spawn_blocking(s).await.ok().flatten();
    loop {
        tokio::select! {
            _ = changed.changed() => return true,
            () = stopped(shutdown) => return false,
            () = tokio::time::sleep(Duration::from_secs(2)) => {
                let s = stamp.clone();
                let now = tokio::task::spawn_blocking(s).await.ok().flatten();
                if now.is_some() && now != before {
                    return true;
                }
            }
        }
    }
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Waits before the next attempt; returns false on shutdown (a server given
/// up waits for nothing else).
async fn backoff(
    up: &Upstream,
    ctx: &SupervisorCtx,
    attempt: u32,
    error: String,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    if attempt >= MAX_ATTEMPTS {
        // Given up: its tools leave the list rather than fail every call.
        *up.tools.write().expect("tools lock poisoned") = Arc::new(Vec::new());
        up.state.send_replace(State::Failed(error));
        (ctx.tools_changed)(up.index);
        stopped(shutdown).await;
        false
    } else {
        let delay = Duration::from_millis(500) * 2u32.pow(attempt - 1);
        let delay = delay.min(Duration::from_secs(30));
        up.state.send_replace(State::Restarting { attempt, error });
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = stopped(shutdown) => false,
        }
    }
}

/// A started upstream: its connection and, for stdio, its process.
struct Running {
    conn: Arc<Connection>,
    child: Option<Child>,
    /// The stdio child's process group (its PID), registered with the
    /// reaper; 0 for none.
    pgid: u32,
    /// The child's stdout, watched by the busy-poller.
    watched_fd: Option<i32>,
}

impl Running {
    /// Stops the server; returns how its process ended, for stdio.
    async fn stop(&mut self, up: &Upstream) -> Option<String> {
        *up.live.write().expect("live lock poisoned") = None;
        if let Some(fd) = self.watched_fd.take() {
            crate::wire::spin::unwatch(fd);
        }
        self.conn
            .close(&format!("the server \"{}\" is stopping", up.name));
        self.conn.close_output().await;
        let mut child = self.child.take()?;
        let pgid = std::mem::take(&mut self.pgid);
        let status = stop_child(&mut child, pgid).await;
        // Reaped, and what was left of its group killed: the ID is no
        // longer ours to signal.
        reaper::unregister(pgid);
        status.map(|s| describe_exit(&s))
    }
}

/// Waits until a stdio server's own process ends (never, for a remote one),
/// and returns why the connection ended. Its stdout usually ends at the same
/// moment and says so first; where a process it started still holds that
/// stdout open, the exit is what tells that it crashed, and the connection
/// is closed here.
async fn exited(child: &mut Option<Child>, conn: &Connection, name: &str) -> String {
    let Some(child) = child.as_mut() else {
        return std::future::pending().await;
    };
    let _ = child.wait().await;
    match tokio::time::timeout(EXIT_THEN_EOF, conn.wait_closed()).await {
        Ok(reason) => reason,
        Err(_) => {
            let reason = format!(
                "the server \"{name}\" exited, while a process it started still held its stdout open"
            );
            conn.close(&reason);
            reason
        }
    }
}

/// A stdio server dropped without [`Running::stop`] (its start given up
/// half-way, at shutdown or by a block): its whole group is killed, not just
/// the child (`kill_on_drop`), while the child, unreaped, still holds the
/// group's ID.
impl Drop for Running {
    fn drop(&mut self) {
        if self.pgid != 0 {
            kill_group(self.pgid, Signal::Kill);
            reaper::unregister(self.pgid);
        }
    }
}

fn describe_exit(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "exited".into(),
    }
}

/// Closes stdin (done by the caller), then TERM, then KILL the process group
/// `pgid` the child leads. The group is signalled by its ID, kept from the
/// spawn: once the child is reaped, `Child::id` no longer gives it, and its
/// stragglers (children that ignore the end of stdin) still need the KILL.
async fn stop_child(child: &mut Child, pgid: u32) -> Option<std::process::ExitStatus> {
    let grace = Duration::from_secs(2);
    if let Ok(Ok(status)) = tokio::time::timeout(grace, child.wait()).await {
        kill_group(pgid, Signal::Kill); // stragglers of the group, if any
        return Some(status);
    }
    kill_group(pgid, Signal::Term);
    if let Ok(Ok(status)) = tokio::time::timeout(grace, child.wait()).await {
        kill_group(pgid, Signal::Kill);
        return Some(status);
    }
    kill_group(pgid, Signal::Kill);
    let _ = child.start_kill();
    child.wait().await.ok()
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

fn kill_group(pgid: u32, signal: Signal) {
    #[cfg(unix)]
    if let Ok(pgid) = i32::try_from(pgid)
        && pgid > 1
    {
        let sig = match signal {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // SAFETY: kill(2) with a negative pid signals the process group the
        // child leads (it was spawned with process_group(0)); never -1.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (pgid, signal);
    }
}

/// Starts the upstream and performs the handshake.
async fn start(up: &Arc<Upstream>, ctx: &SupervisorCtx) -> Result<Running, String> {
    let timeout = up.config.startup_timeout();
    let values = resolve_secrets(up).await?;
    let (conn, child, pgid, watched_fd) = if let Some(command) = up.config.command.clone() {
        // Resolving may ask the login shell, which can take seconds: never on
        // the runtime thread, which serves every other upstream and the IDE.
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let path = std::env::var_os("PATH");
        let program = tokio::task::spawn_blocking(move || {
            command::resolve(&command, path.as_deref(), home.as_deref())
        })
        .await
        .map_err(|e| format!("the server \"{}\" cannot start: {e}", up.name))?
        .map_err(|e| format!("the server \"{}\" cannot start: {e}", up.name))?;
        let (conn, child, fd) = spawn_stdio(up, ctx, &program, &values)?;
        let pgid = child.id().unwrap_or(0);
        (conn, Some(child), pgid, fd)
    } else {
        let auth = up.auth();
        if let Some(auth) = &auth {
            auth.load().await;
        }
        let (conn, input) = http::connect(up, ctx.max_message, &values, auth)?;
        spawn_reader(up, ctx, &conn, BufReader::new(input));
        (conn, None, 0, None)
    };
    let mut running = Running {
        conn,
        child,
        pgid,
        watched_fd,
    };
    match handshake(up, &running.conn, &ctx.init_params, timeout).await {
        Ok(init) => {
            if let Err(why) = crate::profile::govern::current()
                .check_instructions(&up.name, init.instructions.as_deref())
            {
                running.stop(up).await;
                up.block(why.clone());
                return Err(why);
            }
            let init = Arc::new(init);
            *up.live.write().expect("live lock poisoned") = Some(Live {
                conn: running.conn.clone(),
                init: init.clone(),
            });
            if init.has("tools") {
                match list_all_tools(&running.conn, timeout).await {
                    Ok(tools) => {
                        *up.tools.write().expect("tools lock poisoned") = Arc::new(tools);
                        (ctx.tools_changed)(up.index);
                    }
                    Err(e) => {
                        let exit = running.stop(up).await;
                        return Err(format!(
                            "the server \"{}\" started but listing its tools failed: {e}{}",
                            up.name,
                            exit.map(|e| format!(" ({e})")).unwrap_or_default()
                        ));
                    }
                }
            }
            Ok(running)
        }
        Err(e) => {
            let exit = running.stop(up).await;
            let mut msg = e;
            if let Some(exit) = exit {
                msg.push_str(&format!(" ({exit})"));
            }
            if let Some(tail) = up.stderr_summary() {
                msg.push_str(&format!("; its last stderr lines: {tail}"));
            }
            Err(msg)
        }
    }
}

/// The server's `env` (stdio) or `headers` (remote) values, with their
/// `${secret:...}` references resolved from the keychain. The keychain is
/// read here, at connect time, off the runtime thread; never per call.
async fn resolve_secrets(up: &Arc<Upstream>) -> Result<BTreeMap<String, Secret>, String> {
    use crate::secrets::refs::Template;
    let values = if up.config.command.is_some() {
        &up.config.env
    } else {
        &up.config.headers
    };
    let mut templates = Vec::with_capacity(values.len());
    for (key, value) in values {
        let t = Template::parse(value, &up.name)
            .map_err(|e| format!("the server \"{}\" cannot start: {key}: {e}", up.name))?;
        templates.push((key.clone(), t));
    }
    if !templates.iter().any(|(_, t)| t.has_refs()) {
        return Ok(values
            .iter()
            .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
            .collect());
    }
    let name = up.name.clone();
    let cannot = move |e: crate::error::UserError| match e.hint {
        Some(hint) => format!("the server \"{name}\" cannot start: {} ({hint})", e.message),
        None => format!("the server \"{name}\" cannot start: {}", e.message),
    };
    let Some(vault) = crate::secrets::vault() else {
        return Err(cannot(crate::error::UserError::problem(
            "its config references secrets, and this process has no keychain",
        )));
    };
    let resolved = tokio::task::spawn_blocking(move || {
        let mut used = Vec::new();
        let mut out = BTreeMap::new();
        for (key, t) in templates {
            let value = t.resolve(|r| {
                let secret = vault.lookup(r)?;
                used.push(secret.clone());
                Ok::<_, crate::error::UserError>(secret)
            })?;
            out.insert(key, value);
        }
        Ok::<_, crate::error::UserError>((out, used))
    })
    .await
    .map_err(|e| format!("the server \"{}\" cannot start: {e}", up.name))?;
    let (out, used) = resolved.map_err(cannot)?;
    *up.secret_values.lock().expect("lock") = used;
    Ok(out)
}

/// Blanks the secrets an upstream was given out of a line it printed.
fn redact(up: &Upstream, line: &str) -> String {
    let secrets = up.secret_values.lock().expect("lock");
    let mut line = line.to_string();
    for s in secrets.iter().filter(|s| s.expose().len() >= 4) {
        if line.contains(s.expose()) {
            line = line.replace(s.expose(), "<redacted>");
        }
    }
    line
}

fn spawn_stdio(
    up: &Arc<Upstream>,
    ctx: &SupervisorCtx,
    program: &std::path::Path,
    env: &BTreeMap<String, Secret>,
) -> Result<(Arc<Connection>, Child, Option<i32>), String> {
    let cfg = &up.config;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&cfg.args)
        .env_clear()
        .envs(command::environment(
            program,
            &cfg.inherit_env,
            &BTreeMap::new(),
        ))
        .envs(env.iter().map(|(k, v)| (k, v.expose())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = &cfg.cwd {
        cmd.current_dir(cwd);
    }
    #[cfg(unix)]
    {
        cmd.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl is async-signal-safe; it runs in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "the server \"{}\" could not be started ({}): {e}",
            up.name,
            program.display()
        )
    })?;
    if let Some(pid) = child.id() {
        // Its group outlives toolgate no longer than the reaper's grace.
        reaper::register(pid);
    }
    let stdin = child.stdin.take().expect("stdin was piped");
    let stdout = child.stdout.take().expect("stdout was piped");
    let stderr = child.stderr.take().expect("stderr was piped");
    up.stderr_tail.lock().expect("lock").clear();
    let conn = Connection::new(up.name.clone(), Arc::new(Outbound::new(Box::pin(stdin))));
    #[cfg(unix)]
    let watched_fd = {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stdout);
        conn.watch_for_spin(fd);
        Some(fd)
    };
    #[cfg(not(unix))]
    let watched_fd = None;
    spawn_reader(up, ctx, &conn, BufReader::with_capacity(64 * 1024, stdout));
    let weak = Arc::downgrade(up);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Some(up) = weak.upgrade() else { break };
            let line = redact(&up, &line);
            tracing::debug!(server = %up.name, "stderr: {}", line.escape_debug());
            let mut tail = up.stderr_tail.lock().expect("lock");
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line.chars().take(300).collect());
        }
    });
    Ok((conn, child, watched_fd))
}

/// Runs a connection's reader, handing what it receives to the manager.
fn spawn_reader<R>(up: &Upstream, ctx: &SupervisorCtx, conn: &Arc<Connection>, input: BufReader<R>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(conn.clone().read_loop(input, ctx.max_message, tx));
    let inbound = ctx.inbound.clone();
    let index = up.index;
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if inbound.send((index, msg)).is_err() {
                break;
            }
        }
    });
}

async fn handshake(
    up: &Upstream,
    conn: &Connection,
    init_params: &str,
    timeout: Duration,
) -> Result<ServerInit, String> {
    let reply = conn
        .call(
            "initialize",
            |_| Some(init_params.to_owned()),
            None,
            timeout,
            std::future::pending(),
        )
        .await;
    let raw = reply.map_err(|e| describe_call_error(&up.name, "initialize", &e))?;
    let init: ServerInit = serde_json::from_str(raw.get()).map_err(|e| {
        format!(
            "the server \"{}\" answered initialize with something that is not an initialize result: {e}",
            up.name
        )
    })?;
    conn.notify("notifications/initialized", None)
        .await
        .map_err(|e| format!("could not write to the server \"{}\": {e}", up.name))?;
    Ok(init)
}

/// A page of a list result: the items stay raw.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(default)]
    pub tools: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub prompts: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub resources: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub resource_templates: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The most pages toolgate follows in one listing (a server that always
/// returns a cursor must not keep it busy forever).
pub const MAX_PAGES: usize = 1000;

/// Fetches every page of `tools/list`.
pub async fn list_all_tools(conn: &Connection, timeout: Duration) -> Result<Vec<ToolDef>, String> {
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    let mut tools = Vec::new();
    for tool in list_all(conn, "tools/list", timeout).await? {
        match serde_json::from_str::<Named>(tool.get()) {
            Ok(n) => tools.push(ToolDef {
                name: n.name,
                raw: tool,
            }),
            Err(e) => tracing::warn!(
                server = conn.server(),
                "skipping a tool without a name: {e}"
            ),
        }
    }
    Ok(tools)
}

/// Fetches every page of a list method (`tools/list`, `prompts/list`,
/// `resources/list`, `resources/templates/list`); the items stay raw.
pub async fn list_all(
    conn: &Connection,
    method: &str,
    timeout: Duration,
) -> Result<Vec<Box<RawValue>>, String> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .map(|c| serde_json::json!({ "cursor": c }).to_string());
        let raw = conn
            .call(method, |_| params, None, timeout, std::future::pending())
            .await
            .map_err(|e| describe_call_error(conn.server(), method, &e))?;
        let page: Page = serde_json::from_str(raw.get())
            .map_err(|e| format!("its {method} result is malformed: {e}"))?;
        let list = match method {
            "tools/list" => page.tools,
            "prompts/list" => page.prompts,
            "resources/list" => page.resources,
            _ => page.resource_templates,
        };
        items.extend(list.unwrap_or_default());
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => return Ok(items),
        }
    }
    Err(format!("its {method} returned more than {MAX_PAGES} pages"))
}

/// Words for a failed call to an upstream.
pub fn describe_call_error(server: &str, method: &str, e: &CallError) -> String {
    match e {
        CallError::Rpc(err) => {
            let message = serde_json::from_str::<serde_json::Value>(err.get())
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| err.get().to_owned());
            format!("the server \"{server}\" answered {method} with an error: {message}")
        }
        CallError::Closed(why) => why.clone(),
        CallError::Timeout(t) => format!(
            "the server \"{server}\" did not answer {method} within {}",
            crate::util::format_duration(*t)
        ),
        CallError::Cancelled => format!("{method} to the server \"{server}\" was cancelled"),
        CallError::Delivered => format!("the server \"{server}\" answered {method}"),
        CallError::TooLarge(n) => format!(
            "the server \"{server}\" answered {method} with {n} bytes, more than serve.max_message_size"
        ),
    }
}

/// Makes the raw `initialize` params toolgate sends upstream, mirroring the
/// IDE's capabilities that toolgate can relay.
pub fn upstream_init_params(
    protocol_version: &str,
    client_caps: Option<&serde_json::Value>,
) -> String {
    let mut caps = serde_json::Map::new();
    if let Some(serde_json::Value::Object(ide)) = client_caps {
        for key in ["roots", "sampling", "elicitation", "experimental"] {
            if let Some(v) = ide.get(key) {
                caps.insert(key.to_owned(), v.clone());
            }
        }
    }
    serde_json::json!({
        "protocolVersion": protocol_version,
        "capabilities": caps,
        "clientInfo": { "name": "toolgate", "version": env!("CARGO_PKG_VERSION") },
    })
    .to_string()
}
