//! The one client every path uses: rmcp 3.11, child-process transport, no
//! client capabilities, the protocol version pinned, and a wake-up when the
//! server says its tool list changed.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use rmcp::{
    ClientHandler, Peer, ServiceExt,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, JsonObject,
        ProtocolVersion, Tool,
    },
    service::{NotificationContext, RoleClient, RunningService},
    transport::TokioChildProcess,
};
use serde_json::Value;
use tokio::{process::Command, sync::Notify};

use super::stats::short;

/// The message of every `echo` call.
pub const ECHO_MESSAGE: &str = "hello";

/// Lines of a child's stderr log quoted in an error.
const TAIL_LINES: usize = 20;

/// The client. It declares no capabilities (so server-everything exposes
/// the same tools directly and through toolgate) and wakes the harness when
/// the server says its tool list changed.
#[derive(Clone)]
pub struct BenchClient {
    /// `clientInfo.name` in `initialize`.
    name: &'static str,
    tools_changed: Arc<Notify>,
}

impl BenchClient {
    pub fn new(name: &'static str) -> Self {
        Self::sharing(name, Arc::default())
    }

    /// A client that wakes `tools_changed`, which other clients may share.
    pub fn sharing(name: &'static str, tools_changed: Arc<Notify>) -> Self {
        BenchClient {
            name,
            tools_changed,
        }
    }
}

impl ClientHandler for BenchClient {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        // notify_one keeps a permit when nobody waits yet, so a notification
        // that arrives while a tools/list is in flight is not lost.
        self.tools_changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        // rmcp's default protocol version is 2026-07-28, which has no
        // `initialize`; pin the newest version that has one, on every path.
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(self.name, env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

/// A child spawned for a client, not yet through the handshake.
pub struct Spawned {
    label: String,
    transport: TokioChildProcess,
    pub pid: u32,
    spawned_at: Instant,
    stderr_log: PathBuf,
}

/// Spawns `cmd` (its stdio for the client, its stderr to `stderr_log`) in a
/// process group of its own, so that every process it starts can be found
/// (and, if one leaked, ended) by group id. `RUST_LOG` is removed: a user's
/// debug logging would skew the figures.
pub fn spawn(label: &str, mut cmd: Command, stderr_log: &Path) -> Result<Spawned> {
    cmd.env_remove("RUST_LOG");
    cmd.process_group(0);
    let stderr =
        fs::File::create(stderr_log).with_context(|| format!("create {}", stderr_log.display()))?;
    let spawned_at = Instant::now();
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::from(stderr))
        .spawn()
        .with_context(|| format!("{label}: spawn"))?;
    let pid = transport.id().context("child has no pid")?;
    Ok(Spawned {
        label: label.to_string(),
        transport,
        pid,
        spawned_at,
        stderr_log: stderr_log.to_path_buf(),
    })
}

impl Spawned {
    /// Completes the MCP handshake, giving up after `wait`.
    pub async fn initialize(self, client: BenchClient, wait: Duration) -> Result<Conn> {
        let Spawned {
            label,
            transport,
            pid,
            spawned_at,
            stderr_log,
        } = self;
        let tools_changed = client.tools_changed.clone();
        let service = match tokio::time::timeout(wait, client.serve(transport)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => bail!(
                "{label}: initialize failed: {e}{}",
                stderr_tail(&stderr_log)
            ),
            Err(_) => bail!(
                "{label}: no initialize result within {wait:?}{}",
                stderr_tail(&stderr_log)
            ),
        };
        let init = spawned_at.elapsed();
        Ok(Conn {
            label,
            service,
            pid,
            spawned_at,
            init,
            tools_changed,
            stderr_log,
        })
    }
}

/// Spawns `cmd` and completes the MCP handshake as client `client_name`,
/// giving up after `wait`.
pub async fn connect(
    label: &str,
    cmd: Command,
    stderr_log: &Path,
    client_name: &'static str,
    wait: Duration,
) -> Result<Conn> {
    let client = BenchClient::new(client_name);
    spawn(label, cmd, stderr_log)?
        .initialize(client, wait)
        .await
}

/// A connected client and the child process behind it.
pub struct Conn {
    pub label: String,
    pub service: RunningService<RoleClient, BenchClient>,
    pub pid: u32,
    pub spawned_at: Instant,
    /// Time from spawn to the `initialize` result.
    pub init: Duration,
    pub tools_changed: Arc<Notify>,
    pub stderr_log: PathBuf,
}

impl Conn {
    pub fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }

    /// Lists tools until `complete` accepts the list (an error from it ends
    /// the wait); returns the list and the time since spawn. Re-lists when
    /// the server announces a change, and every `poll` in case no
    /// notification comes. After `wait`, fails with what `lacking` says of
    /// the last list.
    pub async fn wait_for_tools(
        &self,
        wait: Duration,
        poll: Duration,
        complete: impl Fn(&[Tool]) -> Result<bool>,
        lacking: impl Fn(&[Tool]) -> String,
    ) -> Result<(Vec<Tool>, Duration)> {
        let deadline = Instant::now() + wait;
        loop {
            let tools = self
                .peer()
                .list_all_tools()
                .await
                .with_context(|| format!("{}: tools/list", self.label))?;
            if complete(&tools)? {
                return Ok((tools, self.spawned_at.elapsed()));
            }
            if Instant::now() >= deadline {
                bail!(
                    "{}: {}{}",
                    self.label,
                    lacking(&tools),
                    stderr_tail(&self.stderr_log)
                );
            }
            tokio::select! {
                _ = self.tools_changed.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Cancels the service: closes the child's stdin and waits for it to
    /// exit (rmcp sends SIGTERM after 3 s, then SIGKILL). Returns the time
    /// the child took to exit. Dropping the service instead would leave the
    /// child to a background task that may never run.
    pub async fn shutdown(self) -> Result<Duration> {
        let t = Instant::now();
        self.service
            .cancel()
            .await
            .with_context(|| format!("{}: shutdown", self.label))?;
        Ok(t.elapsed())
    }
}

/// The last lines of a child's log, to append to an error.
pub fn stderr_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "\n---- last lines of {} ----\n{}",
        path.display(),
        lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
    )
}

/// A `tools/call` of `tool` with these arguments.
pub fn call_params(tool: &str, args: &[(&str, Value)]) -> CallToolRequestParams {
    let args: JsonObject = args
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    CallToolRequestParams::new(tool.to_string()).with_arguments(args)
}

/// The `echo` call of `tool` (server-everything's echo under its name on
/// the path) with [`ECHO_MESSAGE`].
pub fn echo_params(tool: &str) -> CallToolRequestParams {
    call_params(tool, &[("message", Value::String(ECHO_MESSAGE.into()))])
}

/// One call; fails on a protocol error or an `isError` result (shown
/// shortened: a result can be megabytes).
pub async fn call(peer: &Peer<RoleClient>, params: &CallToolRequestParams) -> Result<()> {
    let r = peer.call_tool(params.clone()).await?;
    ensure!(
        r.is_error != Some(true),
        "{} returned isError: {}",
        params.name,
        short(&format!("{r:?}"))
    );
    Ok(())
}
