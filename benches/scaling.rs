//! Scaling benchmark: how toolgate's cost grows with the number of upstreams,
//! the number of tools and the size of results.
//!
//! ```sh
//! cargo bench --bench scaling                      # the full run (about 5 min + the build)
//! cargo bench --bench scaling -- --quick           # smoke run (about a minute)
//! cargo bench --bench scaling -- --only tools --strict
//! ```
//!
//! Options (after `--`):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `--quick` | | 300 calls per point, 1 session, 5 blocks, 50 warm-up calls, 40 MB per result size |
//! | `--only LIST` | all | `upstreams`, `tools`, `results`, comma-separated |
//! | `--calls N` | 3000 | measured sequential calls per path and point, split over the sessions |
//! | `--sessions N` | 5 | fresh sets of processes per point |
//! | `--blocks N` | 10 | blocks per path and session; the paths take turns |
//! | `--warmup N` | 200 | unmeasured calls per connection first |
//! | `--upstreams LIST` | 1,10,50 | upstream counts |
//! | `--tools-per-upstream N` | 10 | tools of each upstream in the upstreams scenario (e.g. 1000 to combine both axes) |
//! | `--tools LIST` | 10,1000,10000 | tool counts of the tools scenario |
//! | `--sizes LIST` | 1000,...,10000000 | result sizes in bytes |
//! | `--result-budget MB` | 400 | at most this many MB per path and result size, over the sessions |
//! | `--no-idle-rss` | | skip the idle-RSS reading (about 5 s per via connection) |
//! | `--tolerance-us N` | 50 | allowed growth of the added p50 (see the rules) |
//! | `--strict` | | exit 1 when a rule is broken |
//!
//! Nothing to install: the upstream is this bench binary itself, re-executed
//! as a synthetic MCP stdio server (`scaling --upstream --tools N --bytes S`,
//! see `benches/scaling/upstream.rs`). It answers `initialize`, `tools/list`
//! (pages of 1,000 tools), `tools/call` (a text content of exactly S bytes,
//! each size serialised once) and `ping` from serde_json by hand, with no
//! async runtime, so its cost is tiny and the same on both paths: what
//! varies is toolgate.
//!
//! # What is measured
//!
//! Every point is measured on three paths side by side, with the same rmcp
//! 3.11 client (child-process transport, current-thread runtime, no client
//! capabilities, protocol 2025-11-25, `Peer::call_tool`, as in
//! `benches/proxy.rs`):
//!
//! - **direct**: the client → one synthetic upstream;
//! - **via**: the client → `toolgate serve` → the point's upstream(s);
//! - **A/A**: a second direct connection, measured exactly like the first;
//!   the difference of the two direct p50s is the noise of the run.
//!
//! Sequential calls are made in blocks (10 per session by default) whose
//! order of paths rotates through every permutation, after a warm-up of 200
//! calls per connection; each session starts fresh processes, and the points
//! of a scenario take turns from one session to the next (session 2 starts
//! with the second point, ...), so neither the time of a call nor a slow
//! moment of the machine favours a path or a point. Latency samples are
//! pooled over the sessions; nearest-rank percentiles.
//!
//! 1. **upstreams** (`1, 10, 50`): toolgate in front of K upstreams of 10
//!    tools each (`u00` ... `u49`, default prefixes, so `u49__t00009`); every
//!    call goes to the last tool of the last upstream; direct is that one
//!    upstream alone. 128-byte results.
//! 2. **tools** (`10, 1,000, 10,000`): one upstream with N tools behind
//!    toolgate; calls go to the last tool; direct is the same upstream.
//!    128-byte results.
//! 3. **results** (`1 KB, 10 KB, 100 KB, 1 MB, 10 MB`, decimal: 1 KB = 1,000
//!    bytes): one upstream of 10 tools, whose tool returns as many bytes as
//!    the call's `bytes` argument asks; sizes in increasing order within a
//!    session, paths in rotating blocks within a size. Calls per size: 3,000
//!    at most, and no more than 400 MB per path (so 400 at 1 MB and 40 at
//!    10 MB), at least 20; a 10 MB p99 is then close to the maximum. MB/s is
//!    the size divided by the p50 time of a whole call (request, result,
//!    parse by the client).
//!
//! For each point of 1 and 2 the report gives p50 and p99 per path, the
//! **added latency** (via − direct, µs) and the ratio; the A/A difference;
//! from spawn to the `initialize` result and to the first `tools/list` that
//! holds every tool (toolgate's `tools/list` waits up to `serve.list_wait`,
//! 2 s, for upstreams still starting; the harness re-lists on
//! `notifications/tools/list_changed`, with a 20 ms poll as a fallback); a
//! complete `tools/list` (every page: toolgate's are 500 tools, the
//! upstream's 1,000) on connections that are ready, 3 per path and session
//! in rotating order (what an IDE pays on every `list_changed`); and
//! toolgate's memory: `VmRSS` of the `toolgate serve` process alone (not its
//! upstreams), from `/proc/PID/status`, read (a) the moment the complete list
//! arrived, (b) **idle**: after the calls, once serve has given memory back
//! (it does after 2 to 4 s without a message from the IDE): 4.5 s after the
//! last call, then every 100 ms until three readings agree within 64 KiB (at
//! most 3 s); and (c) the peak, `VmHWM`. (a) and (b) are shown with
//! `RssAnon` beside them, the anonymous memory (heap, stacks) that holds
//! the tools: the rest of `VmRSS` is mostly toolgate's executable, which
//! serve pages out when idle (`MADV_PAGEOUT`), except pages another process
//! maps at the same time, so another toolgate running the same binary (a
//! test suite, another bench) keeps the idle `VmRSS` near 14 MiB while
//! `RssAnon` does not move. Start-up and memory figures are medians over the
//! sessions. The growth column is the idle `RssAnon` per upstream (in the
//! upstreams scenario) or per 1,000 tools (in the tools scenario) above the
//! first point. The results scenario reports, per size, p50/p99 per path,
//! the added time (also per MB), MB/s per path, and toolgate's `VmHWM` after
//! that size's calls (its peak so far, sizes going up).
//!
//! # The rules (`--strict` exits 1 when one is broken; always reported)
//!
//! - **flat in upstreams / in tools**: the added p50 at the largest point
//!   exceeds the added p50 at the smallest point by no more than the
//!   tolerance, 50 µs by default (`--tolerance-us`). Why p50 and 50 µs: the
//!   synthetic call takes 15 to 60 µs direct and toolgate adds 15 to 30, and
//!   on a shared 2-vCPU VM the p50 of identical connections can differ by
//!   40 µs when the scheduler places a pair of processes apart (see the A/A
//!   column; five sessions of fresh processes average that out) while a p99
//!   moves by hundreds; an overhead that grew with upstreams or tools
//!   (a linear scan per call, a lock held while listing) shows up as far more
//!   than 50 µs at 50 upstreams or 10,000 tools. The p99s are reported, not
//!   judged.
//! - **memory at most linear in tools**: the first segment (10 → 1,000 tools)
//!   gives the slope s = max(ΔRSS, 512 KiB) / Δtools; every later point must
//!   have RSS ≤ RSS(first) + 1.5 × s × (tools − tools(first)). Applied to
//!   the idle `RssAnon` and to the peak (`VmHWM`). The 512 KiB floor keeps
//!   RSS noise in a small first step from making the rule stricter than
//!   linear.
//! - **results linear in size**: the added p50 of the largest size is at most
//!   2 × the added p50 of the next size scaled by the size ratio, plus the
//!   tolerance: toolgate may cost time per byte, but not more per byte for
//!   bigger results.
//!
//! # Set-up and fairness
//!
//! - toolgate is the release build cargo makes for this bench
//!   (`CARGO_BIN_EXE_toolgate`), or `TOOLGATE_BENCH_BIN`. Each via process
//!   gets its own `TOOLGATE_HOME` under `target/bench/tmp-*` (deleted at the
//!   end), a config with `[audit] enabled = false` (as `benches/proxy.rs`
//!   runs), no policy, and one `[servers.uNN]` per upstream (`command` = this
//!   binary, `args` = `--upstream ...`; default `prefix`, `timeout` and
//!   `startup_timeout`). `RUST_LOG` and `TOOLGATE_CONFIG` are removed from
//!   its environment; the rest of the harness's environment passes through,
//!   so `TOOLGATE_BUSY_POLL=0 cargo bench --bench scaling` measures toolgate
//!   without busy-polling (the report says so when the variable is set).
//! - **Message size**: toolgate refuses a JSON-RPC message over
//!   `serve.max_message_size` (default 64 MiB, `src/config/mod.rs`), so 10 MB
//!   results pass with the default and the config does not set it. The
//!   client (rmcp's stdio transport) drops lines over 16 MiB, so `--sizes`
//!   above about 16,000,000 fail on the direct path too.
//! - The direct upstream gets the environment toolgate gives a stdio
//!   upstream: a cleared environment with the base variables and `PATH`.
//! - What differs on purpose: the tool's name (`t00009` direct,
//!   `u00__t00009` via: toolgate's prefix) and toolgate's own pages of 500
//!   tools (the upstream's are 1,000), both part of what toolgate costs.
//!
//! # Output and clean shutdown
//!
//! A markdown report on stdout (two tables per scenario and the verdicts),
//! progress on stderr, the raw figures (every latency sample) in
//! `target/bench/scaling.json` (`version` 1). Every connection is closed with
//! rmcp's `cancel()` (stdin closed, then waited for), each child runs in its
//! own process group, and after every point the harness looks in `/proc` for
//! any live process that descends from it, is in one of those groups, or is
//! a synthetic upstream of this run (its command line carries `--run PID`),
//! which catches an upstream that toolgate left behind in its own process
//! group; after 5 s whatever is left is reported, killed by pid, and the run
//! fails. The exit status is 1 on an error or a leftover process, and with
//! `--strict` also when a rule is broken; 2 on a bad command line.

#[allow(dead_code)]
mod common;
#[path = "scaling/upstream.rs"]
mod upstream;

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use common::{
    args::{Args, command_line},
    client::{self, Conn, call},
    procs::{check_no_leftovers, cmdline, settled_rss_kib, status_kib},
    stats::{fmt as f, median, mib, ms, pct, split, summary},
    testbed::{toolgate_command, upstream_command},
    toolgate_bin,
};
use rmcp::model::{CallToolRequestParams, ProtocolVersion, Tool};
use serde_json::{Value, json};
use tokio::process::Command;

/// How long any single wait may take before the harness gives up: a failure
/// detector, not a target.
const WAIT_LIMIT: Duration = Duration::from_secs(120);
/// `clientInfo.name` of the bench's client.
const CLIENT_NAME: &str = "toolgate-bench-scaling";

/// Tools per upstream in the results scenario, and by default in the
/// upstreams scenario.
const TOOLS_PER_UPSTREAM: usize = 10;
/// Result size of the calls in the upstreams and tools scenarios.
const CALL_BYTES: usize = 128;
/// Tools per `tools/list` page of the synthetic upstream.
const UPSTREAM_PAGE: usize = 1000;
/// Complete listings per path and session on ready connections.
const LIST_REPS: usize = 3;

/// Floor of the first RSS step in the linearity rule.
const RSS_FLOOR_KIB: f64 = 512.0;
/// Allowed growth of the RSS slope over the first segment's.
const RSS_SLOPE_FACTOR: f64 = 1.5;
/// Allowed growth of the cost per byte between the two largest results.
const RESULT_PER_BYTE_FACTOR: f64 = 2.0;

// ---------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Opts {
    /// Measured sequential calls per path and point (split over sessions).
    calls: usize,
    sessions: usize,
    blocks: usize,
    warmup: usize,
    upstream_counts: Vec<usize>,
    /// Tools of each upstream in the upstreams scenario.
    tools_per_upstream: usize,
    tool_counts: Vec<usize>,
    sizes: Vec<usize>,
    /// Bytes per path a result size may move (over all sessions).
    result_budget: usize,
    /// Fewest calls per path for a result size.
    min_result_calls: usize,
    /// Measure the idle RSS (about 5 s per via connection).
    idle_rss: bool,
    tolerance_us: f64,
    strict: bool,
    only: Vec<String>,
    quick: bool,
    args: Vec<String>,
}

const SCENARIOS: [&str; 3] = ["upstreams", "tools", "results"];

const USAGE: &str = "\
usage: cargo bench --bench scaling -- [options]

  --quick              smoke run: 300 calls per point, 1 session, 5 blocks,
                       50 warm-up calls, 40 MB per result size
  --only LIST          scenarios to run, comma-separated: upstreams,tools,results
  --calls N            measured sequential calls per path and point, split over
                       the sessions (default 3000)
  --sessions N         fresh sets of processes per point (default 5)
  --blocks N           blocks per path and session; paths take turns (default 10)
  --warmup N           unmeasured calls per connection first (default 200)
  --upstreams LIST     upstream counts (default 1,10,50)
  --tools-per-upstream N  tools of each upstream in the upstreams scenario (default 10)
  --tools LIST         tool counts (default 10,1000,10000)
  --sizes LIST         result sizes in bytes (default 1000,10000,100000,1000000,10000000)
  --result-budget MB   at most this many MB per path and result size (default 400)
  --no-idle-rss        skip the idle-RSS reading (saves about 5 s per via connection)
  --tolerance-us N     allowed growth of the added p50 latency (default 50)
  --strict             exit 1 when a rule is broken (see the module doc)
  -h, --help           this help

toolgate: $TOOLGATE_BENCH_BIN, else the release build cargo made for the bench.";

fn list(v: &str, name: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for s in v.split(',') {
        let n: usize = s
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name}: not a number: {s:?}"))?;
        ensure!(n > 0, "{name}: values must be at least 1");
        out.push(n);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Opts {
    fn parse() -> Result<Self> {
        let mut args = Args::from_env(USAGE);
        let quick = args.quick;
        let mut o = Opts {
            calls: if quick { 300 } else { 3000 },
            sessions: if quick { 1 } else { 5 },
            blocks: if quick { 5 } else { 10 },
            warmup: if quick { 50 } else { 200 },
            upstream_counts: vec![1, 10, 50],
            tools_per_upstream: TOOLS_PER_UPSTREAM,
            tool_counts: vec![10, 1000, 10_000],
            sizes: vec![1_000, 10_000, 100_000, 1_000_000, 10_000_000],
            result_budget: if quick { 40_000_000 } else { 400_000_000 },
            min_result_calls: if quick { 5 } else { 20 },
            idle_rss: true,
            tolerance_us: 50.0,
            strict: false,
            only: Vec::new(),
            quick,
            args: args.all.clone(),
        };
        while let Some(a) = args.next_arg() {
            match a.as_str() {
                "--quick" => {}
                "--calls" => o.calls = args.number(&a)?,
                "--sessions" => o.sessions = args.number(&a)?,
                "--blocks" => o.blocks = args.number(&a)?,
                "--warmup" => o.warmup = args.number(&a)?,
                "--upstreams" => o.upstream_counts = list(&args.value(&a)?, &a)?,
                "--tools-per-upstream" => o.tools_per_upstream = args.number(&a)?,
                "--tools" => o.tool_counts = list(&args.value(&a)?, &a)?,
                "--sizes" => o.sizes = list(&args.value(&a)?, &a)?,
                "--result-budget" => o.result_budget = args.number(&a)? * 1_000_000,
                "--no-idle-rss" => o.idle_rss = false,
                "--tolerance-us" => o.tolerance_us = args.number(&a)? as f64,
                "--strict" => o.strict = true,
                "--only" => o.only.extend(args.scenarios(&a, &SCENARIOS)?),
                other => args.other(other)?,
            }
        }
        ensure!(o.calls >= o.sessions, "--calls must be at least --sessions");
        Ok(o)
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }

    fn command_line(&self) -> String {
        command_line("scaling", &self.args)
    }

    /// Calls per path for a result size, over all sessions.
    fn result_calls(&self, size: usize) -> usize {
        (self.result_budget / size)
            .max(self.min_result_calls)
            .min(self.calls)
            .max(self.sessions)
    }
}

// ---------------------------------------------------------------------------
// The client (`common::client`)

/// Lists tools until the list has `count` tools including `name`; returns
/// the time since spawn. Re-lists on `list_changed`, with a 20 ms poll as a
/// fallback.
async fn wait_for_tools(c: &Conn, count: usize, name: &str) -> Result<Duration> {
    let (_, took) = c
        .wait_for_tools(
            WAIT_LIMIT,
            Duration::from_millis(20),
            |tools| {
                if tools.len() == count && tools.iter().any(|t| t.name == name) {
                    return Ok(true);
                }
                ensure!(
                    tools.len() <= count,
                    "{}: tools/list has {} tools, more than the {count} expected",
                    c.label,
                    tools.len()
                );
                Ok(false)
            },
            |tools: &[Tool]| {
                format!(
                    "tools/list still has {} of {count} tools (or lacks {name}) after {WAIT_LIMIT:?}",
                    tools.len()
                )
            },
        )
        .await?;
    Ok(took)
}

/// The call every measurement makes: `tool`, asking for `bytes` bytes.
fn call_params(tool: &str, bytes: usize) -> CallToolRequestParams {
    client::call_params(tool, &[("bytes", json!(bytes))])
}

/// One call whose result must be a text of exactly `bytes` bytes.
async fn checked_call(c: &Conn, params: &CallToolRequestParams, bytes: usize) -> Result<()> {
    let r = c
        .peer()
        .call_tool(params.clone())
        .await
        .with_context(|| format!("{}: tools/call of {bytes} bytes", c.label))?;
    let len = r
        .content
        .first()
        .and_then(|b| b.as_text())
        .map(|t| t.text.len());
    ensure!(
        r.is_error != Some(true) && len == Some(bytes),
        "{}: expected a text of {bytes} bytes, got isError={:?}, text length {len:?}",
        c.label,
        r.is_error
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Processes (`common::procs`)

/// Whether `pid` is a synthetic upstream of this run (its command line
/// holds `--upstream` and `--run TAG`).
fn is_our_upstream(pid: i32, tag: &str) -> bool {
    let args = cmdline(pid);
    args.iter().any(|a| a == upstream::FLAG)
        && args.windows(2).any(|w| w[0] == "--run" && w[1] == tag)
}

/// Idle RSS: serve gives memory back 2 to 4 s after the last message from
/// the IDE; read 4.5 s after the last call, then every 100 ms until three
/// readings agree within 64 KiB (at most 3 s more).
async fn idle_rss_kib(pid: u32) -> Result<(u64, u64)> {
    let rss = settled_rss_kib(pid, Duration::from_millis(4500)).await?;
    let anon = status_kib(pid, "RssAnon:").context("read RssAnon of toolgate")?;
    Ok((rss, anon))
}

// ---------------------------------------------------------------------------
// Figures

fn median_kib(v: &[u64]) -> Option<f64> {
    let f: Vec<f64> = v.iter().map(|&k| k as f64).collect();
    (!f.is_empty()).then(|| median(&f))
}

const DIRECT: usize = 0;
const VIA: usize = 1;
const CONTROL: usize = 2;
const PATH_LABELS: [&str; 3] = ["direct", "via toolgate", "direct (A/A)"];

/// Every order of the paths; block `b` runs `ORDERS[b % 6]`.
const ORDERS: [[usize; 3]; 6] = [
    [DIRECT, VIA, CONTROL],
    [VIA, CONTROL, DIRECT],
    [CONTROL, DIRECT, VIA],
    [DIRECT, CONTROL, VIA],
    [VIA, DIRECT, CONTROL],
    [CONTROL, VIA, DIRECT],
];

/// One point of the upstreams or tools scenario, pooled over sessions.
#[derive(Default)]
struct Point {
    upstreams: usize,
    tools_each: usize,
    latency_ms: [Vec<f64>; 3],
    direct_init_ms: Vec<f64>,
    direct_list_ms: Vec<f64>,
    via_init_ms: Vec<f64>,
    via_list_ms: Vec<f64>,
    /// Per path: a complete `tools/list` (every page) on a ready connection.
    relist_ms: [Vec<f64>; 3],
    rss_listed_kib: Vec<u64>,
    rss_idle_kib: Vec<u64>,
    /// `RssAnon` (heap and stacks: what holds the tools), same moments.
    anon_listed_kib: Vec<u64>,
    anon_idle_kib: Vec<u64>,
    hwm_kib: Vec<u64>,
}

impl Point {
    fn tools(&self) -> usize {
        self.upstreams * self.tools_each
    }

    fn p(&self, path: usize, p: f64) -> f64 {
        pct(&self.latency_ms[path], p)
    }

    /// via − direct at percentile `p`, µs.
    fn added_us(&self, p: f64) -> f64 {
        (self.p(VIA, p) - self.p(DIRECT, p)) * 1e3
    }

    fn json(&self) -> Value {
        json!({
            "upstreams": self.upstreams,
            "tools_per_upstream": self.tools_each,
            "tools": self.tools(),
            "latency": {
                "direct": summary(&self.latency_ms[DIRECT]),
                "via": summary(&self.latency_ms[VIA]),
                "control": summary(&self.latency_ms[CONTROL]),
                "added_p50_us": self.added_us(50.0),
                "added_p99_us": self.added_us(99.0),
                "direct_samples_ms": self.latency_ms[DIRECT],
                "via_samples_ms": self.latency_ms[VIA],
                "control_samples_ms": self.latency_ms[CONTROL],
            },
            "startup_ms": {
                "direct_init": self.direct_init_ms,
                "direct_tools_list_complete": self.direct_list_ms,
                "via_init": self.via_init_ms,
                "via_tools_list_complete": self.via_list_ms,
            },
            "tools_list_ready_ms": {
                "direct": self.relist_ms[DIRECT],
                "via": self.relist_ms[VIA],
                "control": self.relist_ms[CONTROL],
            },
            "toolgate_memory_kib": {
                "vm_rss_when_listed": self.rss_listed_kib,
                "vm_rss_idle": self.rss_idle_kib,
                "rss_anon_when_listed": self.anon_listed_kib,
                "rss_anon_idle": self.anon_idle_kib,
                "vm_hwm": self.hwm_kib,
            },
        })
    }
}

/// One result size, pooled over sessions.
#[derive(Default)]
struct SizePoint {
    bytes: usize,
    latency_ms: [Vec<f64>; 3],
    /// toolgate's VmHWM and VmRSS right after this size's calls.
    hwm_kib: Vec<u64>,
    rss_after_kib: Vec<u64>,
}

impl SizePoint {
    fn p(&self, path: usize, p: f64) -> f64 {
        pct(&self.latency_ms[path], p)
    }

    fn added_ms(&self, p: f64) -> f64 {
        self.p(VIA, p) - self.p(DIRECT, p)
    }

    /// Decimal MB per second at the p50.
    fn mb_s(&self, path: usize) -> f64 {
        self.bytes as f64 / 1e6 / (self.p(path, 50.0) / 1e3)
    }

    fn json(&self) -> Value {
        json!({
            "bytes": self.bytes,
            "direct": summary(&self.latency_ms[DIRECT]),
            "via": summary(&self.latency_ms[VIA]),
            "control": summary(&self.latency_ms[CONTROL]),
            "added_p50_ms": self.added_ms(50.0),
            "added_p99_ms": self.added_ms(99.0),
            "direct_mb_per_s": self.mb_s(DIRECT),
            "via_mb_per_s": self.mb_s(VIA),
            "toolgate_vm_hwm_kib": self.hwm_kib,
            "toolgate_vm_rss_after_kib": self.rss_after_kib,
            "direct_samples_ms": self.latency_ms[DIRECT],
            "via_samples_ms": self.latency_ms[VIA],
            "control_samples_ms": self.latency_ms[CONTROL],
        })
    }
}

#[derive(Default)]
struct Results {
    upstreams: Vec<Point>,
    tools: Vec<Point>,
    sizes: Vec<SizePoint>,
    results_via_list_ms: Vec<f64>,
    leaks: Vec<String>,
}

// ---------------------------------------------------------------------------
// Scenarios

struct Env {
    exe: PathBuf,
    scratch: tempfile::TempDir,
    groups: BTreeSet<i32>,
    /// Tags this run's synthetic upstreams (`--run TAG`).
    tag: String,
    seq: usize,
}

impl Env {
    fn exe_str(&self) -> Result<&str> {
        self.exe
            .to_str()
            .context("the bench binary's path is not UTF-8")
    }

    /// The direct path: one synthetic upstream, started as toolgate starts
    /// a stdio upstream (cleared environment, the base variables, PATH).
    fn upstream_command(&self, spec: &upstream::Spec) -> Command {
        let mut c = upstream_command(&self.exe, std::env::var_os("PATH"));
        c.args(spec.args(&self.tag));
        c
    }

    /// A toolgate home with `upstreams` synthetic upstreams `u00`, `u01`, ...
    fn home(&mut self, upstreams: usize, spec: &upstream::Spec) -> Result<PathBuf> {
        self.seq += 1;
        let home = self.scratch.path().join(format!("home-{:03}", self.seq));
        fs::create_dir_all(&home)?;
        let command = json!(self.exe_str()?);
        let args = json!(spec.args(&self.tag));
        // No policy; the audit trail off, as benches/proxy.rs measures
        // (serve.max_message_size left at its default of 64 MiB).
        let mut toml = String::from("[audit]\nenabled = false\n\n");
        for i in 0..upstreams {
            // JSON strings and arrays of strings are valid TOML.
            toml.push_str(&format!(
                "[servers.{}]\ncommand = {command}\nargs = {args}\n\n",
                upstream_name(i)
            ));
        }
        fs::write(home.join("config.toml"), toml)?;
        Ok(home)
    }

    fn via_command(home: &Path) -> Command {
        let mut c = toolgate_command(home);
        c.arg("serve");
        c
    }

    async fn connect(&mut self, label: &str, cmd: Command) -> Result<Conn> {
        self.seq += 1;
        let log = self.scratch.path().join(format!(
            "{:03}-{}.stderr.log",
            self.seq,
            label
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        ));
        let conn = client::connect(label, cmd, &log, CLIENT_NAME, WAIT_LIMIT).await?;
        self.groups.insert(conn.pid as i32);
        Ok(conn)
    }

    async fn leftovers(&self, leaks: &mut Vec<String>) {
        let tag = &self.tag;
        check_no_leftovers(
            &self.groups,
            |p| is_our_upstream(p.pid, tag),
            "its point",
            leaks,
        )
        .await;
    }
}

fn upstream_name(i: usize) -> String {
    format!("u{i:02}")
}

/// The exposed name of `tool` of upstream `i` (toolgate's default prefix).
fn exposed(i: usize, tool: &str) -> String {
    format!("{}__{tool}", upstream_name(i))
}

/// Opens the three connections of a point: direct and the A/A control to
/// one upstream of `spec`, via to toolgate with `upstreams` of them; waits
/// for every tool on each. Returns them in path order.
async fn open_paths(
    env: &mut Env,
    upstreams: usize,
    spec: &upstream::Spec,
    direct_tool: &str,
    via_tool: &str,
) -> Result<[(Conn, Duration); 3]> {
    let direct = env
        .connect(PATH_LABELS[DIRECT], env.upstream_command(spec))
        .await?;
    let direct_list = wait_for_tools(&direct, spec.tools, direct_tool).await?;
    let control = env
        .connect(PATH_LABELS[CONTROL], env.upstream_command(spec))
        .await?;
    let control_list = wait_for_tools(&control, spec.tools, direct_tool).await?;
    let home = env.home(upstreams, spec)?;
    let via = env
        .connect(PATH_LABELS[VIA], Env::via_command(&home))
        .await?;
    let via_list = wait_for_tools(&via, upstreams * spec.tools, via_tool).await?;
    Ok([
        (direct, direct_list),
        (via, via_list),
        (control, control_list),
    ])
}

/// Sequential calls in `blocks` blocks per path, paths in rotating order.
async fn measure_blocks(
    conns: &[&Conn; 3],
    params: &[CallToolRequestParams; 3],
    calls: usize,
    blocks: usize,
    rotation: usize,
    out: &mut [Vec<f64>; 3],
) -> Result<()> {
    let blocks = blocks.min(calls).max(1);
    for b in 0..blocks {
        let n = split(calls, blocks, b);
        for &k in &ORDERS[(rotation + b) % ORDERS.len()] {
            let peer = conns[k].peer();
            for _ in 0..n {
                let t = Instant::now();
                call(peer, &params[k]).await?;
                out[k].push(ms(t.elapsed()));
            }
        }
    }
    Ok(())
}

/// One session of one point of the upstreams or tools scenario.
async fn measure_point(
    env: &mut Env,
    o: &Opts,
    point: &mut Point,
    session: usize,
    leaks: &mut Vec<String>,
) -> Result<()> {
    let spec = upstream::Spec {
        tools: point.tools_each,
        bytes: CALL_BYTES,
        page: UPSTREAM_PAGE,
    };
    let last = upstream::tool_name(point.tools_each - 1);
    let via_tool = exposed(point.upstreams - 1, &last);
    let [(direct, dl), (via, vl), (control, _)] =
        open_paths(env, point.upstreams, &spec, &last, &via_tool).await?;
    point.direct_init_ms.push(ms(direct.init));
    point.direct_list_ms.push(ms(dl));
    point.via_init_ms.push(ms(via.init));
    point.via_list_ms.push(ms(vl));
    if let Some(k) = status_kib(via.pid, "VmRSS:") {
        point.rss_listed_kib.push(k);
    }
    if let Some(k) = status_kib(via.pid, "RssAnon:") {
        point.anon_listed_kib.push(k);
    }

    let direct_params = call_params(&last, CALL_BYTES);
    let via_params = call_params(&via_tool, CALL_BYTES);
    let params = [direct_params.clone(), via_params, direct_params];
    let conns = [&direct, &via, &control];
    // Complete listings on ready connections (what an IDE pays on every
    // list_changed), paths in rotating order.
    for rep in 0..LIST_REPS {
        for &k in &ORDERS[(session * LIST_REPS + rep) % ORDERS.len()] {
            let t = Instant::now();
            let n = conns[k]
                .peer()
                .list_all_tools()
                .await
                .with_context(|| format!("{}: tools/list", conns[k].label))?
                .len();
            point.relist_ms[k].push(ms(t.elapsed()));
            let want = if k == VIA {
                point.tools()
            } else {
                point.tools_each
            };
            ensure!(
                n == want,
                "{}: listed {n} tools, not {want}",
                conns[k].label
            );
        }
    }
    for (k, c) in conns.iter().enumerate() {
        checked_call(c, &params[k], CALL_BYTES).await?;
        for _ in 0..o.warmup {
            call(c.peer(), &params[k]).await?;
        }
    }
    let calls = split(o.calls, o.sessions, session);
    measure_blocks(
        &conns,
        &params,
        calls,
        o.blocks,
        session * o.blocks,
        &mut point.latency_ms,
    )
    .await?;

    if o.idle_rss {
        let (rss, anon) = idle_rss_kib(via.pid).await?;
        point.rss_idle_kib.push(rss);
        point.anon_idle_kib.push(anon);
    }
    if let Some(k) = status_kib(via.pid, "VmHWM:") {
        point.hwm_kib.push(k);
    }
    for c in [direct, via, control] {
        c.shutdown().await?;
    }
    env.leftovers(leaks).await;
    Ok(())
}

/// Scenarios 1 and 2: the points take turns from session to session.
async fn scenario_points(
    env: &mut Env,
    o: &Opts,
    name: &str,
    points: &mut [Point],
    leaks: &mut Vec<String>,
) -> Result<()> {
    for s in 0..o.sessions {
        for j in 0..points.len() {
            let i = (s + j) % points.len();
            let p = &mut points[i];
            eprintln!(
                "[{name}] session {}/{}: {} upstream(s) × {} tools, {} calls per path",
                s + 1,
                o.sessions,
                p.upstreams,
                p.tools_each,
                split(o.calls, o.sessions, s)
            );
            measure_point(env, o, p, s, leaks).await?;
        }
    }
    Ok(())
}

/// Scenario 3: result sizes, one set of connections per session.
async fn scenario_results(
    env: &mut Env,
    o: &Opts,
    r: &mut Results,
    leaks: &mut Vec<String>,
) -> Result<()> {
    for s in 0..o.sessions {
        eprintln!(
            "[results] session {}/{}: sizes {:?}",
            s + 1,
            o.sessions,
            o.sizes
        );
        let spec = upstream::Spec {
            tools: TOOLS_PER_UPSTREAM,
            bytes: CALL_BYTES,
            page: UPSTREAM_PAGE,
        };
        let tool = upstream::tool_name(0);
        let via_tool = exposed(0, &tool);
        let [(direct, _), (via, vl), (control, _)] =
            open_paths(env, 1, &spec, &tool, &via_tool).await?;
        r.results_via_list_ms.push(ms(vl));
        let conns = [&direct, &via, &control];
        let small = [
            call_params(&tool, CALL_BYTES),
            call_params(&via_tool, CALL_BYTES),
            call_params(&tool, CALL_BYTES),
        ];
        for (k, c) in conns.iter().enumerate() {
            for _ in 0..o.warmup {
                call(c.peer(), &small[k]).await?;
            }
        }
        for (i, &bytes) in o.sizes.iter().enumerate() {
            let sp = &mut r.sizes[i];
            let params = [
                call_params(&tool, bytes),
                call_params(&via_tool, bytes),
                call_params(&tool, bytes),
            ];
            // Checks the size, and has each upstream serialise this size's
            // answer before anything is timed.
            for (k, c) in conns.iter().enumerate() {
                checked_call(c, &params[k], bytes)
                    .await
                    .with_context(|| format!("a result of {bytes} bytes"))?;
            }
            let calls = split(o.result_calls(bytes), o.sessions, s);
            eprintln!("[results]   {}: {calls} calls per path", human_bytes(bytes));
            measure_blocks(
                &conns,
                &params,
                calls,
                o.blocks,
                s * o.blocks,
                &mut sp.latency_ms,
            )
            .await
            .with_context(|| format!("a result of {bytes} bytes"))?;
            if let Some(k) = status_kib(via.pid, "VmHWM:") {
                sp.hwm_kib.push(k);
            }
            if let Some(k) = status_kib(via.pid, "VmRSS:") {
                sp.rss_after_kib.push(k);
            }
        }
        for c in [direct, via, control] {
            c.shutdown().await?;
        }
        env.leftovers(leaks).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Rules

struct Verdict {
    rule: String,
    detail: String,
    ok: bool,
}

/// The added p50 at the largest point against the smallest.
fn flat_rule(o: &Opts, what: &str, points: &[Point], x: impl Fn(&Point) -> usize) -> Verdict {
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let (a, b) = (first.added_us(50.0), last.added_us(50.0));
    let growth = b - a;
    Verdict {
        rule: format!("added p50 flat in {what}"),
        detail: format!(
            "{} → {}: {a:.1} → {b:.1} µs ({growth:+.1} µs; tolerance +{:.0} µs)",
            thousands(x(first)),
            thousands(x(last)),
            o.tolerance_us
        ),
        ok: growth <= o.tolerance_us,
    }
}

/// Memory at most linear in tools: every point after the first segment
/// within 1.5 × the first segment's slope (floored at 512 KiB).
fn linear_rule(what: &str, points: &[Point], kib: impl Fn(&Point) -> Option<f64>) -> Verdict {
    let rule = format!("{what} at most linear in tools");
    let figures: Vec<(usize, f64)> = points
        .iter()
        .filter_map(|p| Some((p.tools(), kib(p)?)))
        .collect();
    if figures.len() < 3 {
        return Verdict {
            rule,
            detail: "needs three points".into(),
            ok: true,
        };
    }
    let (n0, r0) = figures[0];
    let (n1, r1) = figures[1];
    let slope = (r1 - r0).max(RSS_FLOOR_KIB) / (n1 - n0) as f64;
    let mut ok = true;
    let mut parts = vec![format!(
        "first step {} → {} tools: {:+.2} MiB (slope {:.2} MiB per 1,000 tools)",
        thousands(n0),
        thousands(n1),
        mib(r1 - r0),
        mib(slope * 1000.0)
    )];
    for &(n, r) in &figures[2..] {
        let limit = r0 + RSS_SLOPE_FACTOR * slope * (n - n0) as f64;
        ok &= r <= limit;
        parts.push(format!(
            "{} tools: {:.1} MiB (limit {:.1} MiB)",
            thousands(n),
            mib(r),
            mib(limit)
        ));
    }
    Verdict {
        rule,
        detail: parts.join("; "),
        ok,
    }
}

/// The cost per byte of the largest result at most twice the next one's.
fn size_rule(o: &Opts, sizes: &[SizePoint]) -> Verdict {
    let rule = "added time per byte not growing with result size".to_string();
    if sizes.len() < 2 {
        return Verdict {
            rule,
            detail: "needs two sizes".into(),
            ok: true,
        };
    }
    let (a, b) = (&sizes[sizes.len() - 2], &sizes[sizes.len() - 1]);
    let scale = b.bytes as f64 / a.bytes as f64;
    let limit = RESULT_PER_BYTE_FACTOR * a.added_ms(50.0).max(0.0) * scale + o.tolerance_us / 1e3;
    let got = b.added_ms(50.0);
    Verdict {
        rule,
        detail: format!(
            "{}: +{:.3} ms; {}: +{got:.3} ms (limit {limit:.3} ms = {RESULT_PER_BYTE_FACTOR} × {scale:.0} × the smaller + tolerance)",
            human_bytes(a.bytes),
            a.added_ms(50.0),
            human_bytes(b.bytes)
        ),
        ok: got <= limit,
    }
}

fn verdicts(o: &Opts, r: &Results) -> Vec<Verdict> {
    let mut v = Vec::new();
    if r.upstreams.len() >= 2 {
        v.push(flat_rule(o, "upstreams", &r.upstreams, |p| p.upstreams));
    }
    if r.tools.len() >= 2 {
        v.push(flat_rule(o, "tools", &r.tools, |p| p.tools()));
        if o.idle_rss {
            v.push(linear_rule("idle anonymous RSS (RssAnon)", &r.tools, |p| {
                median_kib(&p.anon_idle_kib)
            }));
        }
        v.push(linear_rule("peak RSS (VmHWM)", &r.tools, |p| {
            median_kib(&p.hwm_kib)
        }));
    }
    if !r.sizes.is_empty() {
        v.push(size_rule(o, &r.sizes));
    }
    v
}

// ---------------------------------------------------------------------------
// Report

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{} MB", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{} KB", n / 1_000),
        n => format!("{} B", thousands(n)),
    }
}

fn opt_mib(v: Option<f64>) -> String {
    v.map_or("—".into(), |k| f(mib(k), 1))
}

fn latency_table(first_col: &str, points: &[Point], x: impl Fn(&Point) -> String) {
    println!(
        "| {first_col} | calls | direct p50 ms | via p50 ms | added p50 µs | p50 ratio | \
         direct p99 ms | via p99 ms | added p99 µs | p99 ratio | A/A Δp50 µs |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in points {
        let (d50, v50, d99, v99) = (
            p.p(DIRECT, 50.0),
            p.p(VIA, 50.0),
            p.p(DIRECT, 99.0),
            p.p(VIA, 99.0),
        );
        println!(
            "| {} | {} | {} | {} | {} | {}× | {} | {} | {} | {}× | {} |",
            x(p),
            thousands(p.latency_ms[VIA].len()),
            f(d50, 3),
            f(v50, 3),
            f(p.added_us(50.0), 1),
            f(v50 / d50, 2),
            f(d99, 3),
            f(v99, 3),
            f(p.added_us(99.0), 1),
            f(v99 / d99, 2),
            f((p.p(CONTROL, 50.0) - d50) * 1e3, 1),
        );
    }
}

fn startup_table(first_col: &str, points: &[Point], x: impl Fn(&Point) -> String, per: PerUnit) {
    let per_col = match per {
        PerUnit::Upstream => "idle RssAnon per upstream above the first point, KiB",
        PerUnit::KiloTools => "idle RssAnon per 1,000 tools above the first point, MiB",
    };
    println!(
        "| {first_col} | tools listed | spawn → initialize via, ms | spawn → complete list direct, ms | \
         via, ms | tools/list when ready direct, ms | via, ms | toolgate RSS (anon) at list, MiB | \
         idle RSS (anon), MiB | peak (VmHWM), MiB | {per_col} |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let base = points.first();
    for p in points {
        let idle = median_kib(&p.anon_idle_kib);
        let growth = match (base, idle) {
            (Some(b), Some(idle)) if b.tools() != p.tools() => {
                median_kib(&b.anon_idle_kib).map(|b0| match per {
                    PerUnit::Upstream => f((idle - b0) / (p.upstreams - b.upstreams) as f64, 0),
                    PerUnit::KiloTools => f(
                        mib(idle - b0) / ((p.tools() - b.tools()) as f64 / 1000.0),
                        2,
                    ),
                })
            }
            _ => None,
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            x(p),
            thousands(p.tools()),
            f(median(&p.via_init_ms), 1),
            f(median(&p.direct_list_ms), 1),
            f(median(&p.via_list_ms), 1),
            f(median(&p.relist_ms[DIRECT]), 1),
            f(median(&p.relist_ms[VIA]), 1),
            with_anon(&p.rss_listed_kib, &p.anon_listed_kib),
            with_anon(&p.rss_idle_kib, &p.anon_idle_kib),
            opt_mib(median_kib(&p.hwm_kib)),
            growth.unwrap_or_else(|| "—".into()),
        );
    }
}

/// "VmRSS (RssAnon)" in MiB, medians.
fn with_anon(rss: &[u64], anon: &[u64]) -> String {
    match (median_kib(rss), median_kib(anon)) {
        (Some(r), Some(a)) => format!("{} ({})", f(mib(r), 1), f(mib(a), 1)),
        (r, _) => opt_mib(r),
    }
}

#[derive(Clone, Copy)]
enum PerUnit {
    Upstream,
    KiloTools,
}

fn def_bytes(n: usize) -> f64 {
    let k = n.min(1000);
    let total: usize = (0..k)
        .map(|i| upstream::tool_def(i, n).to_string().len())
        .sum();
    total as f64 / k as f64
}

fn print_report(o: &Opts, m: &common::Machine, r: &Results, verdicts: &[Verdict]) {
    println!("# toolgate scaling benchmark\n");
    println!("- command: `{}`", o.command_line());
    println!(
        "- machine: {} CPUs (nproc), {}, {} RAM, Linux {}, load average at the start {}",
        m.nproc, m.cpu, m.mem_total, m.kernel, m.load
    );
    println!("- toolgate: `{}`", toolgate_bin().display());
    println!(
        "- upstream: this bench binary as a synthetic MCP stdio server (serde_json by hand, \
         pages of {UPSTREAM_PAGE} tools; a tool definition is about {:.0} bytes)",
        def_bytes(10)
    );
    println!(
        "- client: rmcp 3.11 (child process, current-thread runtime), protocol {}, no capabilities",
        ProtocolVersion::LATEST_WITH_INITIALIZE
    );
    println!(
        "- {} calls per path and point over {} session(s) in {} blocks each, after {} warm-up \
         calls; start-up and memory figures are medians over the sessions",
        thousands(o.calls),
        o.sessions,
        o.blocks,
        o.warmup
    );
    if let Some(v) = std::env::var_os("TOOLGATE_BUSY_POLL") {
        println!(
            "- toolgate ran with `TOOLGATE_BUSY_POLL={}`",
            v.to_string_lossy()
        );
    }
    if o.quick {
        println!("- **quick run**: smoke figures, not for comparison");
    }

    if !r.upstreams.is_empty() {
        println!(
            "\n## Upstreams: K upstreams of {} tools; calls to one tool of \
             one upstream ({CALL_BYTES}-byte results)\n",
            o.tools_per_upstream
        );
        latency_table("upstreams", &r.upstreams, |p| thousands(p.upstreams));
        println!();
        startup_table(
            "upstreams",
            &r.upstreams,
            |p| thousands(p.upstreams),
            PerUnit::Upstream,
        );
    }
    if !r.tools.is_empty() {
        println!(
            "\n## Tools: one upstream with N tools; calls to its last tool ({CALL_BYTES}-byte results)\n"
        );
        latency_table("tools", &r.tools, |p| thousands(p.tools()));
        println!();
        startup_table(
            "tools",
            &r.tools,
            |p| thousands(p.tools()),
            PerUnit::KiloTools,
        );
    }
    if !r.sizes.is_empty() {
        println!(
            "\n## Result size: one upstream of {TOOLS_PER_UPSTREAM} tools; text results of S bytes\n"
        );
        println!(
            "| result | calls | direct p50 ms | via p50 ms | added p50 ms | p50 ratio | direct p99 ms | \
             via p99 ms | added p99 ms | added p50 per MB, ms | direct MB/s | via MB/s | A/A Δp50 ms | \
             toolgate peak RSS, MiB |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for s in &r.sizes {
            let (d50, v50, d99, v99) = (
                s.p(DIRECT, 50.0),
                s.p(VIA, 50.0),
                s.p(DIRECT, 99.0),
                s.p(VIA, 99.0),
            );
            println!(
                "| {} | {} | {} | {} | {} | {}× | {} | {} | {} | {} | {} | {} | {} | {} |",
                human_bytes(s.bytes),
                thousands(s.latency_ms[VIA].len()),
                f(d50, 3),
                f(v50, 3),
                f(s.added_ms(50.0), 3),
                f(v50 / d50, 2),
                f(d99, 3),
                f(v99, 3),
                f(s.added_ms(99.0), 3),
                f(s.added_ms(50.0) / (s.bytes as f64 / 1e6), 2),
                f(s.mb_s(DIRECT), 0),
                f(s.mb_s(VIA), 0),
                f(s.p(CONTROL, 50.0) - d50, 3),
                opt_mib(median_kib(&s.hwm_kib)),
            );
        }
        println!(
            "\nPeak RSS: toolgate's VmHWM after each size's calls (sizes in increasing order, \
             so the peak so far); VmRSS right after the largest: {} MiB.",
            r.sizes
                .last()
                .map_or("—".into(), |s| opt_mib(median_kib(&s.rss_after_kib)))
        );
    }

    if !verdicts.is_empty() {
        println!("\n## Verdicts\n");
        println!("| rule | figures | holds? |");
        println!("|---|---|---|");
        for v in verdicts {
            println!(
                "| {} | {} | {} |",
                v.rule,
                v.detail,
                if v.ok { "yes" } else { "**no**" }
            );
        }
    }
    println!();
    common::print_leftovers("after each point", &r.leaks, ", ");
}

fn report_json(o: &Opts, m: &common::Machine, r: &Results, verdicts: &[Verdict]) -> Value {
    let mut machine = m.json();
    machine["loadavg_at_start"] = json!(m.load);
    common::figures(
        o.command_line(),
        machine,
        json!({
            "toolgate_busy_poll_env": std::env::var("TOOLGATE_BUSY_POLL").ok(),
            "options": {
                "calls": o.calls, "sessions": o.sessions, "blocks": o.blocks, "warmup": o.warmup,
                "upstream_counts": o.upstream_counts, "tool_counts": o.tool_counts,
                "sizes": o.sizes, "result_budget_bytes": o.result_budget,
                "min_result_calls": o.min_result_calls, "idle_rss": o.idle_rss,
                "tolerance_us": o.tolerance_us, "quick": o.quick, "only": o.only,
                "tools_per_upstream": o.tools_per_upstream, "call_bytes": CALL_BYTES,
                "upstream_page": UPSTREAM_PAGE, "tool_definition_bytes": def_bytes(10),
            },
            "upstreams": r.upstreams.iter().map(Point::json).collect::<Vec<_>>(),
            "tools": r.tools.iter().map(Point::json).collect::<Vec<_>>(),
            "results": {
                "via_tools_list_complete_ms": r.results_via_list_ms,
                "sizes": r.sizes.iter().map(SizePoint::json).collect::<Vec<_>>(),
            },
            "verdicts": verdicts.iter().map(|v| json!({
                "rule": v.rule, "figures": v.detail, "holds": v.ok,
            })).collect::<Vec<_>>(),
            "leaked_processes": r.leaks,
        }),
    )
}

// ---------------------------------------------------------------------------

async fn run(o: Opts) -> Result<bool> {
    common::require_toolgate()?;
    let m = common::machine();
    let out_dir = common::out_dir()?;
    let mut env = Env {
        exe: std::env::current_exe().context("the bench binary's path")?,
        scratch: common::scratch(&out_dir, "tmp-")?,
        groups: BTreeSet::new(),
        tag: std::process::id().to_string(),
        seq: 0,
    };
    let mut r = Results::default();
    let mut leaks = Vec::new();
    let started = Instant::now();

    let outcome = async {
        if o.runs("upstreams") {
            r.upstreams = o
                .upstream_counts
                .iter()
                .map(|&k| Point {
                    upstreams: k,
                    tools_each: o.tools_per_upstream,
                    ..Point::default()
                })
                .collect();
            scenario_points(&mut env, &o, "upstreams", &mut r.upstreams, &mut leaks).await?;
        }
        if o.runs("tools") {
            r.tools = o
                .tool_counts
                .iter()
                .map(|&n| Point {
                    upstreams: 1,
                    tools_each: n,
                    ..Point::default()
                })
                .collect();
            scenario_points(&mut env, &o, "tools", &mut r.tools, &mut leaks).await?;
        }
        if o.runs("results") {
            r.sizes = o
                .sizes
                .iter()
                .map(|&bytes| SizePoint {
                    bytes,
                    ..SizePoint::default()
                })
                .collect();
            scenario_results(&mut env, &o, &mut r, &mut leaks).await?;
        }
        anyhow::Ok(())
    }
    .await;
    env.leftovers(&mut leaks).await;
    r.leaks = leaks;
    outcome?;
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());

    let verdicts = verdicts(&o, &r);
    print_report(&o, &m, &r, &verdicts);
    common::write_figures(
        &out_dir.join("scaling.json"),
        &report_json(&o, &m, &r, &verdicts),
        true,
    )?;

    if !r.leaks.is_empty() {
        eprintln!("error: processes outlived their point (see above)");
        return Ok(false);
    }
    let broken = verdicts.iter().any(|v| !v.ok);
    if broken {
        eprintln!(
            "{}: a scaling rule does not hold (see Verdicts)",
            if o.strict { "error" } else { "note" }
        );
    }
    Ok(!(o.strict && broken))
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(upstream::FLAG) {
        std::process::exit(upstream::run(&argv[2..]));
    }
    common::run_bench(Opts::parse, run);
}
