//! Peer benchmark: toolgate beside the other MCP aggregators, on the same two
//! upstreams, with the same client, in one run.
//!
//! ```sh
//! cargo bench --bench peers              # the full run (about 15 minutes on 2 cores)
//! cargo bench --bench peers -- --quick   # smoke run: fewer calls and spawns, short rounds
//! cargo bench --bench peers -- --only toolgate,magg --spawns 5
//! ```
//!
//! The bench installs what it measures itself: it runs
//! `bash tests/testbed/setup.sh` (the upstreams) and
//! `bash benches/peers/setup.sh` (the peers, into `target/peers/`; both
//! return at once when up to date). A peer that does not install or does not
//! start is reported as such, with the reason, and the others still run.
//! Results: a markdown table on stdout (progress on stderr), raw figures and
//! every sample in `target/bench/peers.json`. Exit status 1 when the run
//! failed or a process outlived it; with `--strict`, also when a target is
//! missed.
//!
//! # The upstreams
//!
//! Every path fronts the same two upstreams, the test bed's installed
//! binaries (no `npx`/`uvx` anywhere): npm
//! `@modelcontextprotocol/server-everything` (`$TESTBED_EVERYTHING`, run on
//! the test bed's Node 22: every path's processes get `PATH` with its
//! `node_modules/.bin` first, and the report names the Node each path's
//! upstream runs) and PyPI `mcp-server-time` (`$TESTBED_TIME`). Every call is
//! a `tools/call` of server-everything's `echo` (`{"message":"hello"}`)
//! through each path's name for it, found in its `tools/list`.
//!
//! # The paths
//!
//! | path | what the client's child process is |
//! |---|---|
//! | `direct` | the floor: no proxy. Two children, server-everything and mcp-server-time, started together; calls go to server-everything's `echo` |
//! | `toolgate` | `toolgate serve` (this build, release profile), `config.toml` with `[servers.everything]`, `[servers.time]` and `[audit] enabled = false`; its `tools/list` waits (up to about 2 s) for upstreams still starting. Tool: `everything__echo` |
//! | `toolgate-pins` | the same, governed by a signed org profile in its cache that pins both servers' tools (made by `toolgate profile pin` on the real servers, signed with a throwaway key; the registry URL is unreachable): `tools/list` is answered from the pins, without waiting for upstreams |
//! | `fastmcp-mount` | PyPI `fastmcp` 4.1.2: `benches/peers/fastmcp_mount.py`, one `create_proxy(StdioTransport(...))` per upstream mounted with `namespace=NAME` on a parent `FastMCP`, over stdio. Tool: `everything_echo` |
//! | `fastmcp-run` | the same fastmcp, as its docs' one-liner: `fastmcp run mcp.json` (an `mcpServers` file; internally `create_proxy(config)`). It builds its composite of upstreams per request, so every request starts both upstreams anew (about a second a call): measured at 1 in flight only (see "slow paths") |
//! | `magg` | PyPI `magg` 1.3.0 on Python ≥ 3.12 (skipped, with the reason, when there is none): `magg --config magg.json serve` over stdio, both servers with `prefix` = their name (what `magg server add NAME ... --prefix NAME` writes). Tool: `everything_echo`; magg adds its own 16 tools |
//! | `mcp-hub` | npm `mcp-hub` 4.2.1, HTTP only: `mcp-hub --port P --config mcp.json` and, as the stdio child, the bridge an IDE would run: PyPI `mcp-proxy` 0.13.0 in client mode against the hub's one endpoint (`mcp-proxy http://127.0.0.1:P/mcp`, legacy SSE). mcp-hub binds every interface and fetches a marketplace list at start, so both run in a private network namespace (`unshare --net`, `benches/peers/mcp-hub-stdio.sh`). Tool: `everything__echo` |
//! | `mcp-proxy` | PyPI `mcp-proxy` 0.13.0. It does not merge servers: in server mode one process starts every server of an `mcpServers` file (`--named-server-config`) and serves each at its own URL, `/servers/NAME/mcp`. So an IDE fronting two servers with it runs one `mcp-proxy --port P --named-server-config mcp.json` and has one MCP entry per server, each a stdio bridge `mcp-proxy --transport streamablehttp http://127.0.0.1:P/servers/NAME/mcp`. That is what is measured: the server process plus two bridges (two client connections, one per server); calls go through the `everything` bridge (tool: `echo`) |
//!
//! HTTP peers get a free loopback port at run time (bind `127.0.0.1:0`, read
//! it, release it). Peers run at their quietest documented log level
//! (`WARNING`: fastmcp's `log_level`/`-l`, mcp-proxy's `--log-level`,
//! `MAGG_LOG_LEVEL`/`FASTMCP_LOG_LEVEL`); mcp-hub has no such option.
//! toolgate runs with its defaults (its log goes to its state folder).
//! `RUST_LOG`, `PYTHONDONTWRITEBYTECODE`, `PYTHONUNBUFFERED` and
//! `NODE_OPTIONS` are removed from every child's environment (they would
//! slow some paths), and `HOME`/`XDG_*` point into the run's scratch folder.
//!
//! # The client
//!
//! One rmcp 3.11 client on every path, as in `benches/proxy.rs`:
//! child-process transport, a current-thread tokio runtime, no client
//! capabilities, protocol 2025-11-25, `Peer::call_tool` with its arguments
//! built once and cloned per call. Start-up waits are driven by the protocol:
//! the harness lists tools, and lists again when a server announces
//! `notifications/tools/list_changed`, with a 20 ms poll as a fallback.
//!
//! # The figures
//!
//! - **spawn → initialize**: from just before the first process of the path
//!   is spawned to the `initialize` result of every connection of the path
//!   (for `direct` and `mcp-proxy`, both connections; for `mcp-proxy`, after
//!   its server process listens). Median of `--spawns` spawns per path, after
//!   one unmeasured warm-up spawn per path (page cache); paths take turns in
//!   rotating order.
//! - **spawn → tools/list**: from the same moment to the first `tools/list`
//!   (over all the path's connections) that holds both server-everything's
//!   `echo` and mcp-server-time's `get_current_time`. Median.
//! - **echo p50 / p99**: `--calls` sequential calls per path (default 2,000),
//!   each timed from the call to its result, nearest-rank percentiles. All
//!   paths are connected side by side and measured in `--blocks` blocks
//!   (default 10) whose order rotates, so drift hits every path alike; before
//!   that, each connection is warmed up (up to 10×`--warmup` calls at 64 in
//!   flight, then up to `--warmup` sequential ones; Node's JIT needs them).
//!   **Added latency** = the path's p50 − direct's p50. The report also
//!   gives the median of each block's first call, made after the path sat
//!   idle while the others took their turns (toolgate trims its memory after
//!   2 s idle, and pays for it on the next call).
//! - **throughput at 1, 16, 64 in flight**: that many workers share a counter
//!   of calls and each keeps one call in flight; a round makes at least
//!   `--throughput-calls` calls and lasts at least 1 s (0.3 s with `--quick`);
//!   calls/s = calls completed / wall time. Paths take turns per level.
//! - **idle RSS**: the sum of `VmRSS` over the path's process tree, excluding
//!   the upstream processes themselves (any process whose command line runs
//!   `mcp-server-everything` or `mcp-server-time`, and its descendants): for
//!   toolgate the `serve` process; for fastmcp and magg their Python process;
//!   for mcp-hub the Node hub plus the Python bridge; for mcp-proxy the
//!   server process plus both bridges. Read 5 s after every path listed its
//!   tools and answered one `echo` (the sanity check), before the measured
//!   calls: median of 3 readings 100 ms apart (the JSON also has one reading
//!   a second while waiting, and the sum of `Pss`, shared pages split
//!   between processes). Each toolgate path runs its own copy of the binary:
//!   `serve`'s idle trim gives back its code pages (`MADV_PAGEOUT`), which
//!   the kernel does only for pages no other process maps, and one IDE runs
//!   one toolgate.
//! - **loaded RSS**: the same sum, the highest of readings every 20 ms
//!   during the path's 64-in-flight round (over the processes counted at the
//!   start of the round).
//!
//! A phase of one path (a latency block, a warm-up stage, a throughput
//! round) never runs longer than `--budget` seconds (default 10, 3 with
//! `--quick`): a path that hits it gets fewer samples, and the table says
//! so. **Slow paths**: a path whose median of 3 probe calls exceeds 100 ms is
//! measured at 1 in flight only (fastmcp-run starts two upstream processes
//! per request; 64 at once would start 128).
//!
//! # Targets (from the issue)
//!
//! - toolgate's added latency at most a tenth of the best peer's (the peer
//!   with the smallest added latency);
//! - `toolgate-pins` spawn → tools/list at least 20 times faster than the best
//!   peer's spawn → tools/list. (`toolgate` without a profile waits for its
//!   upstreams like the peers do; both rows are shown.)
//!
//! # Processes
//!
//! Each spawned child gets its own process group, and the harness makes
//! itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a process a path
//! started stays a descendant of the harness even when its parent exits
//! (Python's MCP SDK starts upstreams in sessions of their own). A path is
//! ended by closing its stdio (rmcp's `cancel`: SIGTERM after 3 s, then
//! kill) and SIGTERM to an HTTP server process (as a user stops a service:
//! mcp-proxy's server process, and mcp-hub, through the process group it
//! shares with its bridge); whatever of it is still alive 3 s later is ended by the harness (SIGTERM,
//! then SIGKILL) and listed in the report. At the end no descendant may be
//! left: one that is is reported as a leak, killed, and fails the run, as
//! is any process toolgate or a direct upstream leaves behind.
//!
//! Options (after `--`): `--quick`, `--calls N`, `--blocks N`, `--warmup N`,
//! `--throughput-calls N`, `--spawns N`, `--budget SECS`, `--only PATHS`
//! (comma-separated path names; `direct` is always measured), `--strict`.
//! Environment: `TOOLGATE_BENCH_BIN` (another toolgate build),
//! `TESTBED_EVERYTHING` / `TESTBED_TIME` (other upstream binaries; the test
//! bed's setup is then not run), `TOOLGATE_PEERS_DIR` (where the peers go),
//! `TOOLGATE_PEERS_PYTHON312` (a Python ≥ 3.12 for magg).

#[allow(dead_code)]
mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use common::{
    args::{Args, command_line},
    client::{self, BenchClient, Conn, ECHO_MESSAGE, echo_params, stderr_tail},
    procs::{
        Proc, await_gone, cmdline, descends, parents, process_tree, processes, pss_kib, signal,
        status_kib,
    },
    repo_dir,
    stats::{fmt_opt as fmt, ms, nonempty, split},
    testbed::{self, absolute, path_with, program_version, upstream_command},
    toolgate_bin,
};
use rmcp::{
    Peer,
    model::{CallToolRequestParams, ProtocolVersion, Tool},
    service::RoleClient,
};
use serde_json::{Value, json};
use tokio::{process::Command, sync::Notify, task::JoinSet};

/// `clientInfo.name` of the bench's client.
const CLIENT_NAME: &str = "toolgate-bench";

/// When the run began, for the progress lines.
static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// A progress line on stderr, with the seconds since the run began.
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!(
            "{:7.1}s {}",
            STARTED.get_or_init(Instant::now).elapsed().as_secs_f64(),
            format_args!($($arg)*)
        )
    };
}
/// Any single wait (a start, a complete tool list) before giving up.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// Any single call before giving up.
const CALL_LIMIT: Duration = Duration::from_secs(30);
/// How long a path's leftover processes get to exit by themselves after
/// its stdio is closed.
const GRACE: Duration = Duration::from_secs(3);
/// A path slower than this per call is measured at 1 in flight only.
const SLOW_CALL_MS: f64 = 100.0;
const INFLIGHT_LEVELS: [usize; 3] = [1, 16, 64];
/// Idle RSS is read this long after every path listed its tools.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// Targets (the issue's).
const TARGET_ADDED_LATENCY_FRACTION: f64 = 0.1;
const TARGET_PINS_STARTUP_SPEEDUP: f64 = 20.0;

// ---------------------------------------------------------------------------
// Paths

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum PathId {
    Direct,
    Toolgate,
    ToolgatePins,
    FastmcpMount,
    FastmcpRun,
    Magg,
    McpHub,
    McpProxy,
}

const ALL_PATHS: [PathId; 8] = [
    PathId::Direct,
    PathId::Toolgate,
    PathId::ToolgatePins,
    PathId::FastmcpMount,
    PathId::FastmcpRun,
    PathId::Magg,
    PathId::McpHub,
    PathId::McpProxy,
];

impl PathId {
    fn name(self) -> &'static str {
        match self {
            PathId::Direct => "direct",
            PathId::Toolgate => "toolgate",
            PathId::ToolgatePins => "toolgate-pins",
            PathId::FastmcpMount => "fastmcp-mount",
            PathId::FastmcpRun => "fastmcp-run",
            PathId::Magg => "magg",
            PathId::McpHub => "mcp-hub",
            PathId::McpProxy => "mcp-proxy",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        ALL_PATHS.into_iter().find(|p| p.name() == s)
    }

    fn is_peer(self) -> bool {
        !matches!(
            self,
            PathId::Direct | PathId::Toolgate | PathId::ToolgatePins
        )
    }

    /// The install (a line of `target/peers/status.tsv`) the path needs.
    fn install(self) -> Option<&'static str> {
        match self {
            PathId::FastmcpMount | PathId::FastmcpRun => Some("fastmcp"),
            PathId::Magg => Some("magg"),
            PathId::McpHub => Some("mcp-hub"),
            PathId::McpProxy => Some("mcp-proxy"),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            PathId::Direct => {
                "no proxy: server-everything and mcp-server-time, one connection each"
            }
            PathId::Toolgate => "`toolgate serve`, config with both servers, audit off",
            PathId::ToolgatePins => {
                "`toolgate serve` under a signed org profile pinning both servers' tools"
            }
            PathId::FastmcpMount => {
                "`python fastmcp_mount.py mcp.json`: two `create_proxy(StdioTransport)` mounted with namespaces"
            }
            PathId::FastmcpRun => "`fastmcp run mcp.json` (`create_proxy(mcpServers config)`)",
            PathId::Magg => "`magg --config magg.json serve` (stdio)",
            PathId::McpHub => {
                "`mcp-hub --port P` + stdio bridge `mcp-proxy http://127.0.0.1:P/mcp` (SSE), in `unshare --net`"
            }
            PathId::McpProxy => {
                "`mcp-proxy --port P --named-server-config mcp.json` + one stdio bridge per server (`--transport streamablehttp .../servers/NAME/mcp`)"
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Opts {
    calls: usize,
    blocks: usize,
    warmup: usize,
    throughput_calls: usize,
    spawns: usize,
    budget: Duration,
    min_round: Duration,
    only: Vec<PathId>,
    strict: bool,
    quick: bool,
    args: Vec<String>,
}

const USAGE: &str = "\
usage: cargo bench --bench peers -- [options]

  --quick               smoke run: 200 calls, 100 warm-up, 300 throughput calls
                        (rounds of at least 0.3 s), 3 spawns, 3 s budget
  --calls N             measured sequential echo calls per path (default 2000)
  --blocks N            paths take turns in N blocks (default 10)
  --warmup N            per path: up to 10 N calls at 64 in flight, then up to N
                        sequential ones, before measuring (default 1000)
  --throughput-calls N  calls per path and level, at least (default 2000)
  --spawns N            measured spawns per path in the start-up figures (default 20)
  --budget SECS         longest phase of one path: latency block, warm-up stage,
                        throughput round (default 10)
  --only LIST           only these paths, comma-separated (direct is always measured):
                        direct,toolgate,toolgate-pins,fastmcp-mount,fastmcp-run,
                        magg,mcp-hub,mcp-proxy
  --strict              exit with status 1 when a target is missed
  -h, --help            this help

Installs the upstreams (bash tests/testbed/setup.sh) and the peers
(bash benches/peers/setup.sh, into target/peers) itself.";

impl Opts {
    fn parse() -> Result<Self> {
        let mut args = Args::from_env(USAGE);
        let quick = args.quick;
        let mut o = Opts {
            calls: if quick { 200 } else { 2000 },
            blocks: 10,
            warmup: if quick { 100 } else { 1000 },
            throughput_calls: if quick { 300 } else { 2000 },
            spawns: if quick { 3 } else { 20 },
            budget: Duration::from_secs(if quick { 3 } else { 10 }),
            min_round: Duration::from_millis(if quick { 300 } else { 1000 }),
            only: Vec::new(),
            strict: false,
            quick,
            args: args.all.clone(),
        };
        while let Some(a) = args.next_arg() {
            match a.as_str() {
                "--quick" => {}
                "--calls" => o.calls = args.number(&a)?,
                "--blocks" => o.blocks = args.number(&a)?,
                "--warmup" => o.warmup = args.number(&a)?,
                "--throughput-calls" => o.throughput_calls = args.number(&a)?,
                "--spawns" => o.spawns = args.number(&a)?,
                "--budget" => o.budget = Duration::from_secs(args.number(&a)? as u64),
                "--strict" => o.strict = true,
                "--only" => {
                    let v = args.value(&a)?;
                    for s in v.split(',').filter(|s| !s.is_empty()) {
                        let p = PathId::parse(s)
                            .with_context(|| format!("--only: unknown path {s:?}\n\n{USAGE}"))?;
                        o.only.push(p);
                    }
                }
                other => args.other(other)?,
            }
        }
        Ok(o)
    }

    fn selected(&self) -> Vec<PathId> {
        ALL_PATHS
            .into_iter()
            .filter(|p| *p == PathId::Direct || self.only.is_empty() || self.only.contains(p))
            .collect()
    }

    fn command_line(&self) -> String {
        command_line("peers", &self.args)
    }
}

// ---------------------------------------------------------------------------
// Installs

fn peers_dir() -> PathBuf {
    std::env::var_os("TOOLGATE_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("target/peers"))
}

/// Runs a setup script; its progress goes to our stderr.
fn run_setup(script: &Path) -> Result<()> {
    progress!("[setup] bash {}", script.display());
    let status = std::process::Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("run bash {}", script.display()))?;
    ensure!(status.success(), "{} failed ({status})", script.display());
    Ok(())
}

/// The upstream binaries: `$TESTBED_EVERYTHING` and `$TESTBED_TIME` when both
/// are set, else the test bed's (installed here first).
fn upstreams() -> Result<(PathBuf, PathBuf)> {
    if let (Some(e), Some(t)) = (
        std::env::var_os("TESTBED_EVERYTHING"),
        std::env::var_os("TESTBED_TIME"),
    ) {
        let (e, t) = (absolute(e.into())?, absolute(t.into())?);
        ensure!(
            e.exists(),
            "TESTBED_EVERYTHING={} does not exist",
            e.display()
        );
        ensure!(t.exists(), "TESTBED_TIME={} does not exist", t.display());
        return Ok((e, t));
    }
    run_setup(&repo_dir().join("tests/testbed/setup.sh"))?;
    let tb = absolute(testbed::dir())?;
    let e = tb.join(testbed::EVERYTHING);
    let t = tb.join(testbed::TIME);
    ensure!(
        e.exists(),
        "{} missing after the test bed's setup",
        e.display()
    );
    ensure!(
        t.exists(),
        "{} missing after the test bed's setup",
        t.display()
    );
    Ok((e, t))
}

/// `target/peers/status.tsv`: per install, the executable or why not.
fn peer_installs() -> Result<BTreeMap<String, Result<PathBuf, String>>> {
    run_setup(&repo_dir().join("benches/peers/setup.sh"))?;
    let path = peers_dir().join("status.tsv");
    let text = fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(name), Some(state), what) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let what = what.unwrap_or("").to_string();
        let v = if state == "ok" {
            Ok(PathBuf::from(what))
        } else {
            Err(format!("{state}: {what}"))
        };
        out.insert(name.to_string(), v);
    }
    Ok(out)
}

/// `name==version` from a requirements file of ours.
fn pinned_version(file: &str, package: &str) -> String {
    let text = fs::read_to_string(repo_dir().join("benches/peers").join(file)).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{package}==")))
        .unwrap_or("?")
        .to_string()
}

fn npm_version(package_json: &Path) -> String {
    fs::read_to_string(package_json)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

// ---------------------------------------------------------------------------
// Processes (`common::procs`)

/// An upstream process: one whose command line runs one of the two
/// upstream servers.
fn is_upstream(pid: i32) -> bool {
    cmdline(pid).iter().any(|a| {
        let base = a.rsplit('/').next().unwrap_or(a);
        base == "mcp-server-everything" || base == "mcp-server-time"
    })
}

/// The processes of a path that count for its memory: the roots and their
/// descendants, less the upstream processes and their descendants. Also
/// returns the upstream processes found.
fn counted_tree(roots: &[i32]) -> (Vec<Proc>, Vec<Proc>) {
    process_tree(roots, |p| is_upstream(p.pid))
}

#[derive(Clone, Debug)]
struct RssReading {
    rss_kib: u64,
    pss_kib: u64,
    processes: Vec<String>,
}

fn tree_rss(roots: &[i32]) -> RssReading {
    let (counted, _) = counted_tree(roots);
    RssReading {
        rss_kib: counted
            .iter()
            .filter_map(|p| status_kib(p.pid, "VmRSS:"))
            .sum(),
        pss_kib: counted.iter().filter_map(|p| pss_kib(p.pid)).sum(),
        processes: counted
            .iter()
            .map(|p| format!("{} {}", p.pid, p.comm))
            .collect(),
    }
}

/// Samples the summed VmRSS of `pids` every 20 ms on a thread of its own
/// until stopped; returns the highest sum.
fn rss_sampler(pids: Vec<i32>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        loop {
            let sum: u64 = pids.iter().filter_map(|p| status_kib(*p, "VmRSS:")).sum();
            peak = peak.max(sum);
            if stop.load(Ordering::Relaxed) {
                return peak;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Makes this process the reaper of its orphaned descendants.
fn become_subreaper() {
    // SAFETY: prctl(2) with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r != 0 {
        eprintln!(
            "warning: PR_SET_CHILD_SUBREAPER failed ({}); orphaned processes may go unnoticed",
            std::io::Error::last_os_error()
        );
    }
}

/// The `node` that runs a process (its executable) and its version.
fn node_of(pid: i32, cache: &mut BTreeMap<PathBuf, String>) -> Option<String> {
    let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let version = cache
        .entry(exe.clone())
        .or_insert_with(|| program_version(&exe))
        .clone();
    Some(format!("{} {version}", exe.display()))
}

// ---------------------------------------------------------------------------
// The client (`common::client`)

/// One echo call, given up after `CALL_LIMIT`.
async fn echo(peer: &Peer<RoleClient>, params: &CallToolRequestParams) -> Result<()> {
    tokio::time::timeout(CALL_LIMIT, client::call(peer, params))
        .await
        .with_context(|| format!("no result within {CALL_LIMIT:?}"))?
}

fn is_echo(name: &str) -> bool {
    name == "echo" || (name.starts_with("everything") && name.ends_with("echo"))
}

fn is_time(name: &str) -> bool {
    name == "get_current_time" || (name.starts_with("time") && name.ends_with("get_current_time"))
}

/// One running path: its connections (children the client talks to over
/// stdio) and any server process started before them.
struct Instance {
    path: PathId,
    conns: Vec<Conn>,
    aux: Vec<(tokio::process::Child, PathBuf)>,
    roots: Vec<i32>,
    t0: Instant,
    init: Duration,
    tools_changed: Arc<Notify>,
    /// (connection index, tool name) of echo, once listed.
    echo: Option<(usize, String)>,
    time_tool: Option<String>,
    tool_count: usize,
}

impl Instance {
    /// Lists tools on every connection until, together, they hold echo and
    /// get_current_time; returns the time since spawn.
    async fn wait_listed(&mut self) -> Result<Duration> {
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let mut lists: Vec<Vec<Tool>> = Vec::new();
            for c in &self.conns {
                let tools = tokio::time::timeout(WAIT_LIMIT, c.peer().list_all_tools())
                    .await
                    .with_context(|| format!("{}: tools/list timed out", c.label))?
                    .with_context(|| format!("{}: tools/list", c.label))?;
                lists.push(tools);
            }
            let echo = lists.iter().enumerate().find_map(|(i, l)| {
                l.iter()
                    .find(|t| is_echo(&t.name))
                    .map(|t| (i, t.name.to_string()))
            });
            let time = lists
                .iter()
                .flatten()
                .find(|t| is_time(&t.name))
                .map(|t| t.name.to_string());
            if let (Some(e), Some(t)) = (echo, time.clone()) {
                let took = self.t0.elapsed();
                self.echo = Some(e);
                self.time_tool = Some(t);
                self.tool_count = lists.iter().map(Vec::len).sum();
                return Ok(took);
            }
            if Instant::now() >= deadline {
                let names: Vec<&str> = lists.iter().flatten().map(|t| t.name.as_ref()).collect();
                let logs: String = self
                    .conns
                    .iter()
                    .map(|c| stderr_tail(&c.stderr_log))
                    .collect();
                bail!(
                    "tools/list still lacks echo or get_current_time after {WAIT_LIMIT:?}; it has {} tools: {names:?}{logs}",
                    names.len()
                );
            }
            tokio::select! {
                _ = self.tools_changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }

    fn echo_conn(&self) -> Result<(&Peer<RoleClient>, CallToolRequestParams)> {
        let (i, name) = self.echo.as_ref().context("echo not listed yet")?;
        Ok((self.conns[*i].peer(), echo_params(name)))
    }
}

// ---------------------------------------------------------------------------
// The environment of a run

struct Env {
    scratch: tempfile::TempDir,
    home: PathBuf,
    everything: PathBuf,
    time: PathBuf,
    node_bin: PathBuf,
    installs: BTreeMap<String, Result<PathBuf, String>>,
    mcp_json: PathBuf,
    magg_json: PathBuf,
    toolgate_home: PathBuf,
    pins_home: Result<PathBuf, String>,
    /// Process groups of every child spawned.
    groups: BTreeSet<i32>,
    /// Our own children, which tokio waits for.
    spawned: BTreeSet<i32>,
    /// Roots of the paths running now.
    live: BTreeMap<i32, PathId>,
    notes: Vec<String>,
    leaks: Vec<String>,
    spawn_counter: usize,
}

/// Removed from every child's environment.
const ENV_REMOVED: [&str; 8] = [
    "RUST_LOG",
    "TOOLGATE_CONFIG",
    "TOOLGATE_HOME",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "NODE_OPTIONS",
];

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

struct Launch {
    /// A server process to start first, and the port to wait for.
    aux: Option<(Command, u16)>,
    /// The children the client connects to, with a label each.
    conns: Vec<(String, Command)>,
}

impl Env {
    fn path_var(&self) -> OsString {
        path_with([self.node_bin.clone()])
    }

    /// A command with the common environment of every path's processes.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for k in ENV_REMOVED {
            c.env_remove(k);
        }
        c.env("PATH", self.path_var())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env(
                "TOOLGATE_MANAGED_CONFIG",
                self.scratch.path().join("no-managed-config.toml"),
            )
            .current_dir(self.scratch.path());
        c
    }

    /// An upstream started directly: toolgate's base environment for stdio
    /// upstreams, with PATH holding the command's folder first.
    fn upstream_command(&self, program: &Path) -> Command {
        let dirs = program.parent().map(Path::to_path_buf).into_iter();
        let path = path_with(dirs.chain([self.node_bin.clone()]));
        let mut c = upstream_command(program, Some(path));
        c.env("HOME", &self.home).current_dir(self.scratch.path());
        c
    }

    fn install(&self, name: &str) -> Result<&Path> {
        match self.installs.get(name) {
            Some(Ok(p)) => Ok(p),
            Some(Err(e)) => bail!("{e}"),
            None => bail!("{name} is not in target/peers/status.tsv"),
        }
    }

    /// Why a path cannot run here, if it cannot.
    fn unavailable(&self, p: PathId) -> Option<String> {
        if let Some(i) = p.install()
            && let Err(e) = self.install(i)
        {
            return Some(format!("{i} not installed ({e:#})"));
        }
        match p {
            PathId::McpHub => {
                if let Err(e) = self.install("mcp-proxy") {
                    return Some(format!("needs mcp-proxy as its stdio bridge ({e:#})"));
                }
                for tool in ["unshare", "ip"] {
                    let found = std::env::var_os("PATH")
                        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
                    if !found {
                        return Some(format!(
                            "`{tool}` not found: mcp-hub binds every interface, so it runs in a private network namespace (util-linux, iproute2)"
                        ));
                    }
                }
                None
            }
            PathId::ToolgatePins => self.pins_home.as_ref().err().cloned(),
            _ => None,
        }
    }

    fn log(&mut self, p: PathId, what: &str) -> PathBuf {
        self.spawn_counter += 1;
        let dir = self.scratch.path().join("logs");
        let _ = fs::create_dir_all(&dir);
        dir.join(format!(
            "{:04}-{}-{what}.stderr.log",
            self.spawn_counter,
            p.name()
        ))
    }

    fn launch(&mut self, p: PathId) -> Result<Launch> {
        let bridge = |env: &Env, url: String, streamable: bool| -> Result<Command> {
            let mut c = env.command(env.install("mcp-proxy")?);
            c.args(["--log-level", "WARNING"]);
            if streamable {
                c.args(["--transport", "streamablehttp"]);
            }
            c.arg(url);
            Ok(c)
        };
        Ok(match p {
            PathId::Direct => Launch {
                aux: None,
                conns: vec![
                    ("everything".into(), self.upstream_command(&self.everything)),
                    ("time".into(), self.upstream_command(&self.time)),
                ],
            },
            PathId::Toolgate | PathId::ToolgatePins => {
                let home = if p == PathId::Toolgate {
                    self.toolgate_home.clone()
                } else {
                    self.pins_home.clone().map_err(anyhow::Error::msg)?
                };
                // Each toolgate path runs its own copy of the binary: two
                // processes mapping one file share its pages, and serve's
                // idle trim (MADV_PAGEOUT of its code) only releases pages
                // no other process maps. One IDE runs one toolgate.
                let copy = self
                    .scratch
                    .path()
                    .join(format!("bin-{}/toolgate", p.name()));
                if !copy.exists() {
                    fs::create_dir_all(copy.parent().context("no folder")?)?;
                    fs::copy(toolgate_bin(), &copy).context("copy the toolgate binary")?;
                }
                let mut c = self.command(&copy);
                c.arg("serve").env("TOOLGATE_HOME", home);
                Launch {
                    aux: None,
                    conns: vec![(p.name().into(), c)],
                }
            }
            PathId::FastmcpMount => {
                let fastmcp = self.install("fastmcp")?;
                let python = fastmcp.with_file_name("python");
                let mut c = self.command(python);
                c.arg(repo_dir().join("benches/peers/fastmcp_mount.py"))
                    .arg(&self.mcp_json);
                Launch {
                    aux: None,
                    conns: vec![(p.name().into(), c)],
                }
            }
            PathId::FastmcpRun => {
                let mut c = self.command(self.install("fastmcp")?);
                c.arg("run")
                    .arg(&self.mcp_json)
                    .args(["--no-banner", "-l", "WARNING"]);
                Launch {
                    aux: None,
                    conns: vec![(p.name().into(), c)],
                }
            }
            PathId::Magg => {
                let mut c = self.command(self.install("magg")?);
                c.arg("--config")
                    .arg(&self.magg_json)
                    .args(["serve", "--no-banner"])
                    .env("MAGG_LOG_LEVEL", "WARNING")
                    .env("FASTMCP_LOG_LEVEL", "WARNING");
                Launch {
                    aux: None,
                    conns: vec![(p.name().into(), c)],
                }
            }
            PathId::McpHub => {
                let port = free_port()?;
                self.spawn_counter += 1;
                let state = self
                    .scratch
                    .path()
                    .join(format!("mcp-hub-{}", self.spawn_counter));
                let mut c = self.command("unshare");
                c.args(["--net", "--", "bash"])
                    .arg(repo_dir().join("benches/peers/mcp-hub-stdio.sh"))
                    .arg(port.to_string())
                    .arg(&self.mcp_json)
                    .arg(state)
                    .arg(self.install("mcp-hub")?)
                    .arg(self.install("mcp-proxy")?);
                Launch {
                    aux: None,
                    conns: vec![(p.name().into(), c)],
                }
            }
            PathId::McpProxy => {
                let port = free_port()?;
                let mut server = self.command(self.install("mcp-proxy")?);
                server
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--log-level", "WARNING", "--named-server-config"])
                    .arg(&self.mcp_json);
                let url = |name: &str| format!("http://127.0.0.1:{port}/servers/{name}/mcp");
                Launch {
                    aux: Some((server, port)),
                    conns: vec![
                        (
                            "everything bridge".into(),
                            bridge(self, url("everything"), true)?,
                        ),
                        ("time bridge".into(), bridge(self, url("time"), true)?),
                    ],
                }
            }
        })
    }

    /// Starts a path: its server process (waiting until it listens), then
    /// its connections, each through the `initialize` handshake.
    async fn start(&mut self, p: PathId) -> Result<Instance> {
        let launch = self.launch(p)?;
        let notify = Arc::new(Notify::new());
        let mut inst = Instance {
            path: p,
            conns: Vec::new(),
            aux: Vec::new(),
            roots: Vec::new(),
            t0: Instant::now(),
            init: Duration::ZERO,
            tools_changed: notify.clone(),
            echo: None,
            time_tool: None,
            tool_count: 0,
        };
        match self.start_inner(launch, &mut inst, notify).await {
            Ok(()) => Ok(inst),
            Err(e) => {
                self.kill_instance(inst).await;
                Err(e)
            }
        }
    }

    async fn start_inner(
        &mut self,
        launch: Launch,
        inst: &mut Instance,
        notify: Arc<Notify>,
    ) -> Result<()> {
        let p = inst.path;
        inst.t0 = Instant::now();
        if let Some((mut cmd, port)) = launch.aux {
            let log = self.log(p, "server");
            let out = fs::File::create(&log)?;
            cmd.process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out.try_clone()?))
                .stderr(Stdio::from(out))
                .kill_on_drop(true);
            let mut child = cmd
                .spawn()
                .with_context(|| format!("{}: spawn server", p.name()))?;
            let pid = child.id().context("server has no pid")? as i32;
            self.groups.insert(pid);
            self.spawned.insert(pid);
            self.live.insert(pid, p);
            inst.roots.push(pid);
            let deadline = Instant::now() + WAIT_LIMIT;
            loop {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    break;
                }
                if let Some(st) = child.try_wait()? {
                    inst.aux.push((child, log.clone()));
                    bail!(
                        "{}: server exited ({st}) before listening on {port}{}",
                        p.name(),
                        stderr_tail(&log)
                    );
                }
                if Instant::now() >= deadline {
                    inst.aux.push((child, log.clone()));
                    bail!(
                        "{}: server not listening on {port} after {WAIT_LIMIT:?}{}",
                        p.name(),
                        stderr_tail(&log)
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            inst.aux.push((child, log));
        }
        // Spawn every connection's child first, so they start together.
        let mut pending = Vec::new();
        for (label, cmd) in launch.conns {
            let log = self.log(p, &label.replace(' ', "-"));
            let child = client::spawn(&format!("{} ({label})", p.name()), cmd, &log)?;
            let pid = child.pid as i32;
            self.groups.insert(pid);
            self.spawned.insert(pid);
            self.live.insert(pid, p);
            inst.roots.push(pid);
            pending.push(child);
        }
        for child in pending {
            let client = BenchClient::sharing(CLIENT_NAME, notify.clone());
            inst.conns.push(child.initialize(client, WAIT_LIMIT).await?);
        }
        inst.init = inst.t0.elapsed();
        Ok(())
    }

    /// Ends a path as a user would (stdio closed; SIGTERM to a server
    /// process), then cleans up what it left. Returns the time from closing
    /// its stdio to its children's exit.
    async fn shutdown(&mut self, inst: Instance) -> Result<Duration> {
        let t = Instant::now();
        let mut result = Ok(());
        for c in inst.conns {
            if let Err(e) = c.service.cancel().await {
                result = Err(anyhow::anyhow!("{}: shutdown: {e}", c.label));
            }
        }
        if inst.path == PathId::McpHub {
            // The hub is a service, in the bridge's process group: stopped
            // as a user stops one, with SIGTERM.
            for r in &inst.roots {
                signal(-*r, libc::SIGTERM);
            }
        }
        for (mut child, _) in inst.aux {
            if let Some(pid) = child.id() {
                signal(pid as i32, libc::SIGTERM);
            }
            if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
        let took = t.elapsed();
        for r in &inst.roots {
            self.live.remove(r);
        }
        self.settle(inst.path).await;
        result.map(|()| took)
    }

    /// Ends a path that failed to start or run: kills its groups.
    async fn kill_instance(&mut self, inst: Instance) {
        for r in &inst.roots {
            signal(-*r, libc::SIGKILL);
            self.live.remove(r);
        }
        drop(inst);
        tokio::task::yield_now().await;
        self.settle_quiet().await;
    }

    /// Live processes of ours that belong to no running path: descendants
    /// of the harness (a subreaper, so orphans stay descendants) or members
    /// of a group it made, outside the trees of the running paths. Reaps
    /// zombies of orphans on the way (tokio reaps its own children).
    fn stragglers(&self) -> Vec<Proc> {
        let me = std::process::id() as i32;
        let procs = processes();
        let parent = parents(&procs);
        for p in &procs {
            if p.ppid == me && p.state == 'Z' && !self.spawned.contains(&p.pid) {
                // SAFETY: waitpid(2) on a zombie child that tokio does not own.
                unsafe {
                    libc::waitpid(p.pid, std::ptr::null_mut(), libc::WNOHANG);
                }
            }
        }
        procs
            .into_iter()
            .filter(|p| p.pid != me && p.state != 'Z')
            .filter(|p| self.groups.contains(&p.pgrp) || descends(&parent, p.pid, me))
            .filter(|p| !self.live.keys().any(|r| descends(&parent, p.pid, *r)))
            .collect()
    }

    /// After a path was ended: gives its leftovers GRACE to exit, then ends
    /// them (SIGTERM, 1 s, SIGKILL) and notes it. Leftovers of toolgate or of
    /// a direct upstream count as leaks.
    async fn settle(&mut self, p: PathId) {
        let deadline = Instant::now() + GRACE;
        let mut left = self.stragglers();
        while !left.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            left = self.stragglers();
        }
        if left.is_empty() {
            return;
        }
        let names: Vec<String> = left
            .iter()
            .map(|p| format!("{} {}", p.pid, p.comm))
            .collect();
        self.end(&left).await;
        let note = format!(
            "{}: {} process(es) still alive {GRACE:?} after its stdio closed, ended by the harness: {}",
            p.name(),
            names.len(),
            names.join(", ")
        );
        eprintln!("note: {note}");
        if p.is_peer() {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        } else {
            self.leaks.push(note);
        }
    }

    async fn settle_quiet(&mut self) {
        let deadline = Instant::now() + GRACE;
        let mut left = self.stragglers();
        while !left.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            left = self.stragglers();
        }
        self.end(&left).await;
    }

    /// SIGTERM, up to 1 s, then SIGKILL.
    async fn end(&mut self, procs: &[Proc]) {
        for p in procs {
            signal(p.pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let alive = self.stragglers();
            if !procs.iter().any(|p| alive.iter().any(|a| a.pid == p.pid)) {
                return;
            }
        }
        for p in procs {
            signal(p.pid, libc::SIGKILL);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = self.stragglers();
    }

    /// The final check: nothing of ours may be alive.
    async fn check_no_leftovers(&mut self) {
        self.live.clear();
        let mut leaks = std::mem::take(&mut self.leaks);
        await_gone(|| self.stragglers(), "the benchmark", &mut leaks).await;
        self.leaks = leaks;
    }
}

// ---------------------------------------------------------------------------
// Set-up of the configurations

fn write_configs(env: &mut Env) -> Result<()> {
    let everything = env.everything.to_str().context("upstream path not UTF-8")?;
    let time = env.time.to_str().context("upstream path not UTF-8")?;
    let servers = json!({
        "everything": {"command": everything, "args": []},
        "time": {"command": time, "args": []},
    });
    fs::write(
        &env.mcp_json,
        serde_json::to_string_pretty(&json!({ "mcpServers": servers }))?,
    )?;
    // What `magg server add NAME local --command CMD --prefix NAME` writes.
    fs::write(
        &env.magg_json,
        serde_json::to_string_pretty(&json!({"servers": {
            "everything": {"source": "local", "prefix": "everything", "command": everything},
            "time": {"source": "local", "prefix": "time", "command": time},
        }}))?,
    )?;
    fs::create_dir_all(&env.toolgate_home)?;
    fs::write(
        env.toolgate_home.join("config.toml"),
        format!(
            "[audit]\nenabled = false\n\n[servers.everything]\ncommand = {}\nargs = []\n\n[servers.time]\ncommand = {}\nargs = []\n",
            json!(everything),
            json!(time)
        ),
    )?;
    Ok(())
}

/// A toolgate home governed by a signed profile that pins both servers'
/// tools: the profile is pinned by `toolgate profile pin` against the real
/// servers (as an admin makes one), signed with a throwaway key, and put in
/// the home's cache as a pull leaves it; the registry is unreachable.
fn make_pins_home(env: &Env) -> Result<PathBuf> {
    use toolgate::profile::{registry::Meta, sign};
    let admin = env.scratch.path().join("profile-admin");
    fs::create_dir_all(&admin)?;
    let profile = admin.join("profile.toml");
    let everything = env.everything.to_str().context("not UTF-8")?;
    let time = env.time.to_str().context("not UTF-8")?;
    fs::write(
        &profile,
        format!(
            "org = \"Bench Corp\"\nserial = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2099-01-01T00:00:00Z\"\n\n\
             [settings]\npersonal_servers = \"deny\"\nunpinned_tools = \"hide\"\n\n\
             [servers.everything]\ncommand = {}\nargs = []\nowner = \"bench\"\n\n\
             [servers.time]\ncommand = {}\nargs = []\nowner = \"bench\"\n",
            json!(everything),
            json!(time)
        ),
    )?;
    let mut pin = std::process::Command::new(toolgate_bin());
    pin.args(["profile", "pin"])
        .arg(&profile)
        .env("TOOLGATE_HOME", admin.join("home"))
        .env(
            "TOOLGATE_MANAGED_CONFIG",
            env.scratch.path().join("no-managed-config.toml"),
        )
        .env("PATH", env.path_var())
        .env("HOME", &env.home)
        .env_remove("RUST_LOG")
        .env_remove("TOOLGATE_CONFIG")
        .stdin(Stdio::null())
        .current_dir(env.scratch.path());
    let out = pin.output().context("run toolgate profile pin")?;
    ensure!(
        out.status.success(),
        "`toolgate profile pin` failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = fs::read_to_string(&profile)?;
    ensure!(
        text.contains("[servers.everything.tools.echo]")
            && text.contains("[servers.time.tools.get_current_time]"),
        "`toolgate profile pin` did not pin echo and get_current_time"
    );
    let (pk, sk, _) = sign::keygen(None).map_err(|e| anyhow::anyhow!("keygen: {e}"))?;
    let key_line = sign::public_line(&pk).map_err(|e| anyhow::anyhow!("public key: {e}"))?;
    let sig = sign::sign(text.as_bytes(), &sk, None, "bench")
        .map_err(|e| anyhow::anyhow!("sign: {e}"))?;
    let home = env.scratch.path().join("toolgate-pins");
    let cache = home.join("state/profile");
    fs::create_dir_all(&cache)?;
    fs::write(cache.join("profile.toml"), &text)?;
    fs::write(cache.join("profile.toml.minisig"), &sig)?;
    let meta = Meta {
        highest_serial: 1,
        ..Meta::default()
    };
    fs::write(cache.join("meta.json"), serde_json::to_vec(&meta)?)?;
    // Port 9 (discard): nothing listens; serve must not wait for it.
    fs::write(
        home.join("config.toml"),
        format!(
            "[audit]\nenabled = false\n\n[registry]\nurl = \"http://127.0.0.1:9/profile.toml\"\nkeys = [{}]\n",
            json!(key_line)
        ),
    )?;
    Ok(home)
}

// ---------------------------------------------------------------------------
// Results

#[derive(Clone, Debug, Default)]
struct Round {
    calls: usize,
    seconds: f64,
    capped: bool,
}

impl Round {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
}

#[derive(Default)]
struct PathResult {
    unavailable: Option<String>,
    calls_error: Option<String>,
    startup_error: Option<String>,
    latency_ms: Vec<f64>,
    latency_capped: bool,
    /// The first call of each latency block (after the path sat idle while
    /// the other paths took their turns); also in `latency_ms`.
    block_first_ms: Vec<f64>,
    warmup_calls: usize,
    slow: Option<f64>,
    throughput: BTreeMap<usize, Result<Round, String>>,
    idle: Option<RssReading>,
    /// The idle RSS once a second while waiting to read it.
    idle_series_kib: Vec<u64>,
    loaded_kib: Option<u64>,
    init_ms: Vec<f64>,
    tools_ms: Vec<f64>,
    shutdown_ms: Vec<f64>,
    echo_tool: Option<String>,
    time_tool: Option<String>,
    tool_count: usize,
    node: Option<String>,
    upstream_procs: usize,
}

/// The median; `None` without samples.
fn median(v: &[f64]) -> Option<f64> {
    pct(v, 50.0)
}

/// Percentile `p`; `None` without samples.
fn pct(v: &[f64], p: f64) -> Option<f64> {
    nonempty(v).map(|v| common::stats::pct(v, p))
}

impl PathResult {
    fn p50(&self) -> Option<f64> {
        pct(&self.latency_ms, 50.0)
    }
    fn p99(&self) -> Option<f64> {
        pct(&self.latency_ms, 99.0)
    }
    fn rate(&self, level: usize) -> Option<f64> {
        match self.throughput.get(&level) {
            Some(Ok(r)) if r.calls > 0 => Some(r.rate()),
            _ => None,
        }
    }
}

/// Block `b`'s order of the paths: a rotation, reversed every other lap,
/// so each path goes first, and follows each other, in turn.
fn rotation<T: Copy>(items: &[T], b: usize) -> Vec<T> {
    let n = items.len().max(1);
    let mut v: Vec<T> = (0..items.len()).map(|i| items[(i + b) % n]).collect();
    if (b / n) % 2 == 1 {
        v.reverse();
    }
    v
}

// ---------------------------------------------------------------------------
// Scenarios

/// Calls at `inflight` until at least `min_calls` calls and `min_time` are
/// done, or `budget` is up (then no new call starts).
async fn throughput_round(
    peer: &Peer<RoleClient>,
    params: &CallToolRequestParams,
    inflight: usize,
    min_calls: usize,
    min_time: Duration,
    budget: Duration,
) -> Result<Round> {
    let started = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..inflight {
        let (peer, params) = (peer.clone(), params.clone());
        let (started, done) = (started.clone(), done.clone());
        set.spawn(async move {
            loop {
                let i = started.fetch_add(1, Ordering::Relaxed);
                let el = t.elapsed();
                if (i >= min_calls && el >= min_time) || el >= budget {
                    return Ok::<_, anyhow::Error>(());
                }
                echo(&peer, &params).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let calls = done.load(Ordering::Relaxed);
    Ok(Round {
        calls,
        seconds: t.elapsed().as_secs_f64(),
        capped: calls < min_calls,
    })
}

/// Latency, warm-up, throughput and memory: every path connected side by
/// side, measured in turns.
async fn scenario_calls(
    env: &mut Env,
    o: &Opts,
    paths: &[PathId],
    res: &mut BTreeMap<PathId, PathResult>,
) -> Result<()> {
    let mut insts: BTreeMap<PathId, Instance> = BTreeMap::new();
    let mut node_cache = BTreeMap::new();
    for &p in paths {
        progress!("[calls] starting {}", p.name());
        let started = async {
            let mut inst = env.start(p).await?;
            if let Err(e) = inst.wait_listed().await {
                env.kill_instance(inst).await;
                return Err(e);
            }
            Ok(inst)
        }
        .await;
        match started {
            Ok(inst) => {
                let r = res.get_mut(&p).expect("path");
                r.echo_tool = inst.echo.as_ref().map(|e| e.1.clone());
                r.time_tool = inst.time_tool.clone();
                r.tool_count = inst.tool_count;
                insts.insert(p, inst);
            }
            Err(e) => {
                progress!("[calls] {}: {e:#}", p.name());
                res.get_mut(&p).expect("path").calls_error = Some(format!("start: {e:#}"));
            }
        }
    }
    ensure!(
        insts.contains_key(&PathId::Direct),
        "the direct path did not start: {}",
        res[&PathId::Direct].calls_error.clone().unwrap_or_default()
    );

    // Sanity: echo answers with the message everywhere.
    let mut failed: Vec<(PathId, String)> = Vec::new();
    for (p, inst) in &insts {
        let check = async {
            let (peer, params) = inst.echo_conn()?;
            let r = tokio::time::timeout(CALL_LIMIT, peer.call_tool(params)).await??;
            let text = serde_json::to_string(&r.content)?;
            ensure!(text.contains(ECHO_MESSAGE), "echo did not echo: {text}");
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = check {
            failed.push((*p, format!("first echo: {e:#}")));
        }
    }
    drop_failed(env, &mut insts, res, failed).await;

    // Idle memory, and which Node each path's upstream runs.
    progress!("[calls] idle for {IDLE_WAIT:?}, then reading RSS");
    let idle_start = Instant::now();
    while idle_start.elapsed() < IDLE_WAIT {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (p, inst) in &insts {
            let rss = tree_rss(&inst.roots).rss_kib;
            res.get_mut(p).expect("path").idle_series_kib.push(rss);
        }
    }
    for (p, inst) in &insts {
        let mut readings = Vec::new();
        for _ in 0..3 {
            readings.push(tree_rss(&inst.roots));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        readings.sort_by_key(|r| r.rss_kib);
        let r = res.get_mut(p).expect("path");
        r.idle = Some(readings[1].clone());
        let (_, upstream) = counted_tree(&inst.roots);
        r.upstream_procs = upstream.len();
        r.node = upstream
            .iter()
            .find(|u| {
                cmdline(u.pid)
                    .iter()
                    .any(|a| a.ends_with("mcp-server-everything"))
            })
            .and_then(|u| node_of(u.pid, &mut node_cache));
    }

    // Probe: a path slower than SLOW_CALL_MS per call runs at 1 in flight only.
    let mut failed = Vec::new();
    for (p, inst) in &insts {
        let probe = async {
            let (peer, params) = inst.echo_conn()?;
            let mut t = Vec::new();
            for _ in 0..3 {
                let s = Instant::now();
                echo(peer, &params).await?;
                t.push(ms(s.elapsed()));
            }
            anyhow::Ok(median(&t).unwrap_or(0.0))
        }
        .await;
        match probe {
            Ok(m) if m > SLOW_CALL_MS => res.get_mut(p).expect("path").slow = Some(m),
            Ok(_) => {}
            Err(e) => failed.push((*p, format!("probe: {e:#}"))),
        }
    }
    drop_failed(env, &mut insts, res, failed).await;

    // Warm-up.
    let mut failed = Vec::new();
    for (p, inst) in &insts {
        progress!("[calls] warming up {}", p.name());
        let slow = res[p].slow.is_some();
        let warm = async {
            let (peer, params) = inst.echo_conn()?;
            let mut n = 0;
            if !slow {
                let r =
                    throughput_round(peer, &params, 64, o.warmup * 10, Duration::ZERO, o.budget)
                        .await?;
                n += r.calls;
            }
            let t = Instant::now();
            for _ in 0..o.warmup {
                if t.elapsed() >= o.budget {
                    break;
                }
                echo(peer, &params).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }
        .await;
        match warm {
            Ok(n) => res.get_mut(p).expect("path").warmup_calls = n,
            Err(e) => failed.push((*p, format!("warm-up: {e:#}"))),
        }
    }
    drop_failed(env, &mut insts, res, failed).await;

    // Latency: blocks, paths in rotating order, each block capped by the
    // budget.
    progress!(
        "[calls] latency: {} sequential calls per path in {} blocks",
        o.calls,
        o.blocks
    );
    for b in 0..o.blocks {
        let n = split(o.calls, o.blocks, b);
        let order: Vec<PathId> = rotation(&insts.keys().copied().collect::<Vec<_>>(), b);
        let mut failed = Vec::new();
        for p in order {
            let Some(inst) = insts.get(&p) else { continue };
            let r = res.get_mut(&p).expect("path");
            let block = async {
                let (peer, params) = inst.echo_conn()?;
                let t = Instant::now();
                for i in 0..n {
                    if t.elapsed() >= o.budget {
                        r.latency_capped = true;
                        break;
                    }
                    let s = Instant::now();
                    echo(peer, &params).await?;
                    let took = ms(s.elapsed());
                    r.latency_ms.push(took);
                    if i == 0 {
                        r.block_first_ms.push(took);
                    }
                }
                anyhow::Ok(())
            }
            .await;
            if let Err(e) = block {
                failed.push((p, format!("latency: {e:#}")));
            }
        }
        drop_failed(env, &mut insts, res, failed).await;
    }

    // Throughput at each level, paths in rotating order; memory sampled
    // during the 64-in-flight round.
    for (li, &level) in INFLIGHT_LEVELS.iter().enumerate() {
        progress!("[calls] throughput at {level} in flight");
        let order: Vec<PathId> = rotation(&insts.keys().copied().collect::<Vec<_>>(), li + 1);
        let mut failed = Vec::new();
        for p in order {
            let Some(inst) = insts.get(&p) else { continue };
            let r = res.get_mut(&p).expect("path");
            if let Some(m) = r.slow
                && level > 1
            {
                r.throughput.insert(
                    level,
                    Err(format!(
                        "skipped: {m:.0} ms per call (> {SLOW_CALL_MS} ms), measured at 1 in flight only"
                    )),
                );
                continue;
            }
            let sample = level == 64 && p != PathId::Direct;
            let sampler = sample.then(|| {
                let (counted, _) = counted_tree(&inst.roots);
                let stop = Arc::new(AtomicBool::new(false));
                let h = rss_sampler(counted.iter().map(|c| c.pid).collect(), stop.clone());
                (stop, h)
            });
            let round = async {
                let (peer, params) = inst.echo_conn()?;
                throughput_round(
                    peer,
                    &params,
                    level,
                    o.throughput_calls,
                    o.min_round,
                    o.budget,
                )
                .await
            }
            .await;
            if let Some((stop, h)) = sampler {
                stop.store(true, Ordering::Relaxed);
                if let Ok(peak) = h.join() {
                    r.loaded_kib = Some(peak);
                }
            }
            match round {
                Ok(round) => {
                    r.throughput.insert(level, Ok(round));
                }
                Err(e) => {
                    r.throughput.insert(level, Err(format!("failed: {e:#}")));
                    failed.push((p, format!("throughput at {level}: {e:#}")));
                }
            }
        }
        drop_failed(env, &mut insts, res, failed).await;
    }

    for (p, inst) in std::mem::take(&mut insts) {
        if let Err(e) = env.shutdown(inst).await {
            progress!("[calls] {}: {e:#}", p.name());
        }
    }
    Ok(())
}

/// Records the failures and ends those paths (the others go on).
async fn drop_failed(
    env: &mut Env,
    insts: &mut BTreeMap<PathId, Instance>,
    res: &mut BTreeMap<PathId, PathResult>,
    failed: Vec<(PathId, String)>,
) {
    for (p, why) in failed {
        progress!("[calls] {} failed: {why}", p.name());
        let r = res.get_mut(&p).expect("path");
        r.calls_error.get_or_insert(why);
        if let Some(inst) = insts.remove(&p) {
            env.kill_instance(inst).await;
        }
    }
}

/// Start-up: spawn → initialize and spawn → tools/list, one path at a
/// time, paths in rotating order; round 0 is an unmeasured warm-up.
async fn scenario_startup(
    env: &mut Env,
    o: &Opts,
    paths: &[PathId],
    res: &mut BTreeMap<PathId, PathResult>,
) -> Result<()> {
    progress!(
        "[startup] {} spawns per path (+1 warm-up), {} paths",
        o.spawns,
        paths.len()
    );
    for round in 0..=o.spawns {
        for p in rotation(paths, round) {
            if res[&p].startup_error.is_some() {
                continue;
            }
            let one = async {
                let mut inst = env.start(p).await?;
                let listed = match inst.wait_listed().await {
                    Ok(t) => t,
                    Err(e) => {
                        env.kill_instance(inst).await;
                        return Err(e);
                    }
                };
                let init = inst.init;
                let shut = env.shutdown(inst).await?;
                anyhow::Ok((init, listed, shut))
            }
            .await;
            let r = res.get_mut(&p).expect("path");
            match one {
                Ok((init, listed, shut)) => {
                    if round > 0 {
                        r.init_ms.push(ms(init));
                        r.tools_ms.push(ms(listed));
                        r.shutdown_ms.push(ms(shut));
                    }
                }
                Err(e) => {
                    progress!("[startup] {}: {e:#}", p.name());
                    r.startup_error = Some(format!("{e:#}"));
                }
            }
        }
        if round > 0 {
            progress!("[startup] round {round}/{} done", o.spawns);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Report

/// "value (ratio×)" against direct.
fn with_ratio(v: Option<f64>, direct: Option<f64>, decimals: usize, show: bool) -> String {
    match (v, direct) {
        (Some(v), Some(d)) if show && v.is_finite() && d > 0.0 => {
            format!("{v:.decimals$} ({:.2}×)", v / d)
        }
        _ => fmt(v, decimals),
    }
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| common::stats::mib(k as f64))
}

struct Verdicts {
    /// (toolgate added ms, best peer name, its added ms, ratio, met)
    latency: Option<(f64, &'static str, f64, f64, bool)>,
    /// (pins ms, best peer name, its ms, speed-up, met)
    startup: Option<(f64, &'static str, f64, f64, bool)>,
}

fn added(res: &BTreeMap<PathId, PathResult>, p: PathId) -> Option<f64> {
    let d = res.get(&PathId::Direct)?.p50()?;
    Some(res.get(&p)?.p50()? - d)
}

fn verdicts(res: &BTreeMap<PathId, PathResult>) -> Verdicts {
    let best_added = res
        .keys()
        .filter(|p| p.is_peer())
        .filter_map(|p| added(res, *p).map(|a| (*p, a)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let latency = match (added(res, PathId::Toolgate), best_added) {
        (Some(t), Some((bp, b))) => {
            let ratio = if b > 0.0 { t / b } else { f64::INFINITY };
            Some((
                t,
                bp.name(),
                b,
                ratio,
                t <= TARGET_ADDED_LATENCY_FRACTION * b,
            ))
        }
        _ => None,
    };
    let best_start = res
        .iter()
        .filter(|(p, _)| p.is_peer())
        .filter_map(|(p, r)| median(&r.tools_ms).map(|m| (*p, m)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let pins = res
        .get(&PathId::ToolgatePins)
        .and_then(|r| median(&r.tools_ms));
    let startup = match (pins, best_start) {
        (Some(t), Some((bp, b))) => {
            let speedup = b / t;
            Some((
                t,
                bp.name(),
                b,
                speedup,
                speedup >= TARGET_PINS_STARTUP_SPEEDUP,
            ))
        }
        _ => None,
    };
    Verdicts { latency, startup }
}

struct Versions {
    everything: String,
    time: String,
    fastmcp: String,
    magg: String,
    mcp_proxy: String,
    mcp_hub: String,
}

fn versions(env: &Env) -> Versions {
    let everything_pkg = env
        .node_bin
        .join("../@modelcontextprotocol/server-everything/package.json");
    let time_req =
        fs::read_to_string(repo_dir().join("tests/testbed/requirements.txt")).unwrap_or_default();
    Versions {
        everything: npm_version(&everything_pkg),
        time: time_req
            .lines()
            .find_map(|l| l.strip_prefix("mcp-server-time=="))
            .unwrap_or("?")
            .to_string(),
        fastmcp: pinned_version("requirements-fastmcp.txt", "fastmcp"),
        magg: pinned_version("requirements-magg.txt", "magg"),
        mcp_proxy: pinned_version("requirements-mcp-proxy.txt", "mcp-proxy"),
        mcp_hub: fs::read_to_string(repo_dir().join("benches/peers/package-lock.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|l| {
                l["packages"]["node_modules/mcp-hub"]["version"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "?".into()),
    }
}

fn status_of(r: &PathResult) -> Option<String> {
    if let Some(u) = &r.unavailable {
        return Some(format!("not measured: {u}"));
    }
    let mut parts = Vec::new();
    if let Some(e) = &r.calls_error {
        parts.push(format!("calls failed: {e}"));
    }
    if let Some(e) = &r.startup_error {
        parts.push(format!("start-up failed: {e}"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn print_report(
    o: &Opts,
    m: &common::Machine,
    v: &Versions,
    res: &BTreeMap<PathId, PathResult>,
    env: &Env,
    ver: &Verdicts,
) {
    println!("# toolgate beside its peers\n");
    println!("- command: `{}`", o.command_line());
    println!(
        "- machine: {} CPUs, {}, {} RAM, Linux {}",
        m.nproc, m.cpu, m.mem_total, m.kernel
    );
    println!(
        "- toolgate: `{}` (each toolgate path runs a copy of it)",
        toolgate_bin().display()
    );
    println!(
        "- upstreams: server-everything {} (`{}`), mcp-server-time {} (`{}`)",
        v.everything,
        env.everything.display(),
        v.time,
        env.time.display()
    );
    println!(
        "- peers: fastmcp {}, magg {}, mcp-proxy {}, mcp-hub {} (installed by benches/peers/setup.sh)",
        v.fastmcp, v.magg, v.mcp_proxy, v.mcp_hub
    );
    println!(
        "- client: rmcp 3.11 over each path's stdio, protocol {}, no capabilities",
        ProtocolVersion::LATEST_WITH_INITIALIZE
    );
    if o.quick {
        println!("- **quick run**: smoke figures, not for comparison");
    }
    println!();
    let d = &res[&PathId::Direct];
    let (d_init, d_tools, d_p50, d_p99) =
        (median(&d.init_ms), median(&d.tools_ms), d.p50(), d.p99());
    println!(
        "| path | spawn → initialize, ms | spawn → tools/list, ms | echo p50, ms | echo p99, ms | added p50, ms | calls/s, 1 in flight | 16 in flight | 64 in flight | idle RSS, MiB | loaded RSS, MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (p, r) in res {
        if r.unavailable.is_some() {
            println!("| {} | not measured (below) | | | | | | | | | |", p.name());
            continue;
        }
        let show = *p != PathId::Direct;
        let dir = |l: usize| d.rate(l);
        let added = if show {
            fmt(added(res, *p), 3)
        } else {
            "—".into()
        };
        let rss = |x: Option<f64>| if show { fmt(x, 1) } else { "—".into() };
        println!(
            "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name(),
            if r.latency_capped { " ⁽ᵇ⁾" } else { "" },
            with_ratio(median(&r.init_ms), d_init, 1, show),
            with_ratio(median(&r.tools_ms), d_tools, 1, show),
            with_ratio(r.p50(), d_p50, 3, show),
            with_ratio(r.p99(), d_p99, 3, show),
            added,
            with_ratio(r.rate(1), dir(1), 0, show),
            with_ratio(r.rate(16), dir(16), 0, show),
            with_ratio(r.rate(64), dir(64), 0, show),
            rss(mib(r.idle.as_ref().map(|i| i.rss_kib))),
            rss(mib(r.loaded_kib)),
        );
    }
    println!();
    println!(
        "Ratios are to `direct` (the upstreams with no proxy). Medians of {} spawns; {} sequential calls per path unless marked ⁽ᵇ⁾ (the {}-s budget per block cut it short: see the sample counts below). RSS: the path's processes less the upstream processes (see benches/peers.rs).",
        o.spawns,
        o.calls,
        o.budget.as_secs()
    );
    println!();
    println!("Targets:");
    println!();
    match ver.latency {
        Some((t, bp, b, ratio, met)) => println!(
            "- toolgate's added latency (p50 over direct): {t:.3} ms; the best peer's ({bp}): {b:.3} ms; ratio {ratio:.3} (target ≤ {TARGET_ADDED_LATENCY_FRACTION}): {}",
            if met { "**met**" } else { "**missed**" }
        ),
        None => println!("- toolgate's added latency: — (no peer, or toolgate, measured)"),
    }
    match ver.startup {
        Some((t, bp, b, s, met)) => println!(
            "- spawn → tools/list, toolgate with pins: {t:.1} ms; the best peer's ({bp}): {b:.1} ms; {s:.1}× faster (target ≥ {TARGET_PINS_STARTUP_SPEEDUP}×): {}",
            if met { "**met**" } else { "**missed**" }
        ),
        None => println!("- spawn → tools/list with pins: — (no peer, or toolgate-pins, measured)"),
    }
    let firsts: Vec<String> = res
        .iter()
        .filter_map(|(p, r)| median(&r.block_first_ms).map(|m| format!("{} {m:.3}", p.name())))
        .collect();
    if !firsts.is_empty() {
        println!();
        println!(
            "First call of each latency block, after the path sat idle while the others took their turns (median, ms; included in the percentiles above): {}.",
            firsts.join(", ")
        );
    }
    println!();
    println!("Paths:");
    println!();
    for (p, r) in res {
        let mut line = format!("- `{}`: {}", p.name(), p.describe());
        if let (Some(e), Some(t)) = (&r.echo_tool, &r.time_tool) {
            line.push_str(&format!("; tools `{e}`, `{t}` ({} listed)", r.tool_count));
        }
        if !r.latency_ms.is_empty() {
            line.push_str(&format!("; {} latency samples", r.latency_ms.len()));
        }
        if let Some(m) = r.slow {
            line.push_str(&format!(
                "; slow ({m:.0} ms a call): measured at 1 in flight only"
            ));
        }
        if let Some(n) = &r.node {
            line.push_str(&format!("; upstream on `{n}`"));
        }
        if let Some(s) = status_of(r) {
            line.push_str(&format!("; **{}**", first_line(&s)));
        }
        println!("{line}");
    }
    if !env.notes.is_empty() {
        println!();
        println!("Notes:");
        println!();
        for n in &env.notes {
            println!("- {n}");
        }
    }
    println!();
    common::print_leftovers("at the end", &env.leaks, "; ");
}

fn report_json(
    o: &Opts,
    m: &common::Machine,
    v: &Versions,
    res: &BTreeMap<PathId, PathResult>,
    env: &Env,
    ver: &Verdicts,
) -> Value {
    let dist = |v: &[f64]| json!({"median_ms": median(v), "samples_ms": v});
    let paths: serde_json::Map<String, Value> = res
        .iter()
        .map(|(p, r)| {
            let tput: serde_json::Map<String, Value> = r
                .throughput
                .iter()
                .map(|(l, x)| {
                    (
                        l.to_string(),
                        match x {
                            Ok(x) => json!({"calls": x.calls, "seconds": x.seconds, "calls_per_s": x.rate(), "capped_by_budget": x.capped}),
                            Err(e) => json!({"error": e}),
                        },
                    )
                })
                .collect();
            (
                p.name().to_string(),
                json!({
                    "describe": p.describe(),
                    "peer": p.is_peer(),
                    "unavailable": r.unavailable,
                    "calls_error": r.calls_error,
                    "startup_error": r.startup_error,
                    "echo_tool": r.echo_tool,
                    "time_tool": r.time_tool,
                    "tools_listed": r.tool_count,
                    "upstream_node": r.node,
                    "upstream_processes_at_idle": r.upstream_procs,
                    "slow_ms_per_call": r.slow,
                    "warmup_calls": r.warmup_calls,
                    "latency": {
                        "count": r.latency_ms.len(),
                        "capped_by_budget": r.latency_capped,
                        "p50_ms": r.p50(),
                        "p90_ms": pct(&r.latency_ms, 90.0),
                        "p99_ms": r.p99(),
                        "added_p50_ms": added(res, *p),
                        "block_first_ms": r.block_first_ms,
                        "samples_ms": r.latency_ms,
                    },
                    "throughput": tput,
                    "idle_rss": r.idle.as_ref().map(|i| json!({
                        "vm_rss_kib": i.rss_kib, "pss_kib": i.pss_kib, "processes": i.processes,
                    })),
                    "idle_rss_series_kib": r.idle_series_kib,
                    "loaded_rss_kib": r.loaded_kib,
                    "startup": {
                        "init": dist(&r.init_ms),
                        "tools_list": dist(&r.tools_ms),
                        "shutdown": dist(&r.shutdown_ms),
                    },
                }),
            )
        })
        .collect();
    common::figures(
        o.command_line(),
        m.json(),
        json!({
            "upstreams": {"everything": env.everything, "everything_version": v.everything, "time": env.time, "time_version": v.time},
            "peer_versions": {"fastmcp": v.fastmcp, "magg": v.magg, "mcp-proxy": v.mcp_proxy, "mcp-hub": v.mcp_hub},
            "options": {
                "calls": o.calls, "blocks": o.blocks, "warmup": o.warmup,
                "throughput_calls": o.throughput_calls, "spawns": o.spawns,
                "budget_s": o.budget.as_secs_f64(), "min_round_s": o.min_round.as_secs_f64(),
                "inflight_levels": INFLIGHT_LEVELS, "quick": o.quick,
                "only": o.only.iter().map(|p| p.name()).collect::<Vec<_>>(),
            },
            "paths": paths,
            "targets": {
                "added_latency": ver.latency.map(|(t, bp, b, r, met)| json!({
                    "toolgate_added_ms": t, "best_peer": bp, "best_peer_added_ms": b,
                    "ratio": r, "target_max_ratio": TARGET_ADDED_LATENCY_FRACTION, "met": met,
                })),
                "pins_startup": ver.startup.map(|(t, bp, b, s, met)| json!({
                    "toolgate_pins_ms": t, "best_peer": bp, "best_peer_ms": b,
                    "speedup": s, "target_min_speedup": TARGET_PINS_STARTUP_SPEEDUP, "met": met,
                })),
            },
            "notes": env.notes,
            "leaked_processes": env.leaks,
        }),
    )
}

// ---------------------------------------------------------------------------

async fn run(o: Opts) -> Result<bool> {
    STARTED.get_or_init(Instant::now);
    become_subreaper();
    let (everything, time) = upstreams()?;
    let installs = peer_installs()?;
    common::require_toolgate()?;
    let m = common::machine();
    let out_dir = common::out_dir()?;
    let scratch = common::scratch(&out_dir, "tmp-peers-")?;
    let home = scratch.path().join("home");
    fs::create_dir_all(&home)?;
    let node_bin = everything
        .parent()
        .context("upstream has no folder")?
        .to_path_buf();
    let mut env = Env {
        mcp_json: scratch.path().join("mcp.json"),
        magg_json: scratch.path().join("magg.json"),
        toolgate_home: scratch.path().join("toolgate"),
        pins_home: Err("not made yet".into()),
        scratch,
        home,
        everything,
        time,
        node_bin,
        installs,
        groups: BTreeSet::new(),
        spawned: BTreeSet::new(),
        live: BTreeMap::new(),
        notes: Vec::new(),
        leaks: Vec::new(),
        spawn_counter: 0,
    };
    write_configs(&mut env)?;
    let paths_wanted = o.selected();
    if paths_wanted.contains(&PathId::ToolgatePins) {
        progress!("[setup] pinning the upstreams' tools (toolgate profile pin)");
        env.pins_home = make_pins_home(&env).map_err(|e| format!("{e:#}"));
        if let Err(e) = &env.pins_home {
            progress!("[setup] toolgate-pins: {e}");
        }
        // `profile pin` started the upstreams: none may be left.
        env.settle(PathId::ToolgatePins).await;
    }

    let mut res: BTreeMap<PathId, PathResult> = BTreeMap::new();
    let mut paths = Vec::new();
    for p in paths_wanted {
        let mut r = PathResult::default();
        if let Some(why) = env.unavailable(p) {
            progress!("[setup] {}: not measured: {why}", p.name());
            r.unavailable = Some(why);
        } else {
            paths.push(p);
        }
        res.insert(p, r);
    }

    let outcome = async {
        scenario_calls(&mut env, &o, &paths, &mut res).await?;
        let startable: Vec<PathId> = paths
            .iter()
            .copied()
            .filter(|p| {
                res[p]
                    .calls_error
                    .as_deref()
                    .is_none_or(|e| !e.starts_with("start:"))
            })
            .collect();
        for p in &paths {
            if !startable.contains(p) {
                let r = res.get_mut(p).expect("path");
                r.startup_error = r.calls_error.clone();
            }
        }
        scenario_startup(&mut env, &o, &startable, &mut res).await
    }
    .await;
    env.check_no_leftovers().await;
    outcome?;

    let v = versions(&env);
    let ver = verdicts(&res);
    print_report(&o, &m, &v, &res, &env, &ver);
    let json = report_json(&o, &m, &v, &res, &env, &ver);
    common::write_figures(&out_dir.join("peers.json"), &json, true)?;
    // Full details of failures, which the table shortens to a line.
    for (p, r) in &res {
        if let Some(s) = status_of(r)
            && s.lines().count() > 1
        {
            eprintln!("---- {} ----\n{s}", p.name());
        }
    }
    if !env.leaks.is_empty() {
        eprintln!("error: processes outlived their path (see above)");
        return Ok(false);
    }
    let missed = [ver.latency.map(|l| l.4), ver.startup.map(|s| s.4)]
        .into_iter()
        .flatten()
        .any(|met| !met);
    Ok(!(o.strict && missed))
}

fn main() {
    common::run_bench(Opts::parse, run);
}
