//! Side-by-side benchmark: the same upstream MCP server called directly and
//! through `toolgate serve`, in one run, with the same client.
//!
//! Run with `cargo bench --bench proxy` (add `-- --quick` for a smoke run).
//! See `benches/README.md` for what each figure means and how the comparison
//! is kept fair. In short:
//!
//! - one client implementation (rmcp, child-process transport, a
//!   current-thread tokio runtime) on every path, declaring the same (empty)
//!   client capabilities and the same protocol version;
//! - the upstream is `@modelcontextprotocol/server-everything`, started with
//!   the same command, environment and `PATH` as toolgate starts it;
//! - calls go to connections that stay open side by side (direct, via
//!   toolgate, and a second direct one as an A/A control), in blocks whose
//!   order rotates, over several fresh sets of connections, after a warm-up;
//!   each block's first call (the path's processes asleep after the others'
//!   blocks) is reported on its own row, not among the sequential calls;
//! - every child is shut down explicitly (stdin closed, then waited for), and
//!   the harness checks that no process it started outlives its scenario.
//!
//! Results: a markdown table on stdout, raw figures in
//! `target/bench/proxy.json`. Progress goes to stderr.

#[allow(dead_code)]
mod common;

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use common::{
    args::{Args, command_line},
    client::{self, Conn, ECHO_MESSAGE, call, echo_params},
    procs::{check_no_leftovers, settled_rss_kib, status_kib},
    stats::{fmt_opt, median, ms, nonempty, percentile, sorted, split, summary},
    testbed::{self, path_with, program_version, toolgate_command, upstream_command},
    toolgate_bin,
};
use rmcp::{
    Peer,
    model::{CallToolRequestParams, ProtocolVersion, Tool},
    service::RoleClient,
};
use serde_json::{Value, json};
use tokio::{process::Command, task::JoinSet};

/// The upstream tool every call goes to (with `{"message": "hello"}`).
const ECHO_TOOL: &str = "echo";
/// `clientInfo.name` of the bench's client.
const CLIENT_NAME: &str = "toolgate-bench";

/// Upstream names for the start-up scenario (two copies of server-everything).
const STARTUP_UPSTREAMS: [&str; 2] = ["alpha", "beta"];

/// How long any single wait (initialize, a complete tool list) may take before
/// the harness gives up: generous, this is a failure detector, not a target.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// Targets, shown next to the figures.
const TARGET_P50_RATIO: f64 = 1.15;
const TARGET_P99_RATIO: f64 = 1.5;
const TARGET_THROUGHPUT_RATIO: f64 = 0.85;
const TARGET_INIT_MS: f64 = 10.0;
const TARGET_IDLE_RSS_MIB: f64 = 12.0;
/// With `--realistic-policy` (the policy issue's targets).
const TARGET_POLICY_P50_RATIO: f64 = 1.3;
const TARGET_POLICY_P99_RATIO: f64 = 2.0;

// ---------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Opts {
    /// Measured sequential calls per path.
    calls: usize,
    /// Warm-up per connection: 10 times this at full concurrency, then 3
    /// times this many sequential calls (not measured).
    warmup: usize,
    /// Fresh sets of connections the latency and throughput figures are
    /// pooled over.
    sessions: usize,
    /// Blocks per path and session; paths alternate block by block.
    blocks: usize,
    /// Calls per path and session in the throughput scenario.
    throughput_calls: usize,
    /// Calls in flight in the throughput scenario.
    inflight: usize,
    /// Spawns per path in the start-up scenario.
    spawns: usize,
    /// Upstreams configured in the idle-RSS scenario.
    rss_upstreams: usize,
    /// Only measure the direct path (toolgate not needed).
    direct_only: bool,
    /// Run toolgate with a realistic policy: 100 rules, guardrails in both
    /// directions, rate limits on.
    realistic_policy: bool,
    /// The via path keeps the audit trail, and the control is toolgate
    /// without it (audit on vs off in one run).
    audit: bool,
    /// Exit 1 when a target is missed.
    strict: bool,
    /// Scenarios to run (calls, startup, rss); all when empty.
    only: Vec<String>,
    quick: bool,
    /// The arguments as given, for the report.
    args: Vec<String>,
}

const SCENARIOS: [&str; 3] = ["calls", "startup", "rss"];

const USAGE: &str = "\
usage: cargo bench --bench proxy -- [options]

  --quick             smoke run: 200 calls, 1 session, 100 warm-up, 1000 throughput
                      calls, 3 spawns
  --calls N           measured sequential echo calls per path (default 2000)
  --warmup N          warm-up per connection: 10 N calls at full concurrency,
                      then 3 N sequential calls (default 1000)
  --sessions N        spread the calls over N fresh sets of connections (default 10)
  --blocks N          alternate the paths in N blocks per session (default 5)
  --throughput-calls N  calls per path and session at full concurrency (default 10000)
  --inflight N        calls in flight in the throughput scenario (default 64)
  --spawns N          spawns per path in the start-up scenario (default 20)
  --rss-upstreams N   stdio upstreams in the idle-RSS scenario (default 10)
  --direct-only       measure the direct path only (toolgate not needed)
  --realistic-policy  toolgate runs a realistic policy: 100 rules (globs, argument
                      conditions), argument constraints on echo, guardrails in both
                      directions, two rate limits (never reached); its targets
                      are p50 ratio <= 1.3 and p99 ratio <= 2
  --audit             the via path keeps the audit trail ([audit] enabled), and the
                      control path is toolgate without it: the noise table then
                      reads audit off vs direct, and the report adds audit on vs off;
                      the start-up and idle-RSS toolgates keep it too
  --only LIST         run only these scenarios, comma-separated: calls,startup,rss
  --strict            exit with status 1 when a target is missed
  -h, --help          this help

The upstream is mcp-server-everything: $TESTBED_EVERYTHING, else
target/testbed/npm/node_modules/.bin/mcp-server-everything
(install it with: bash tests/testbed/setup.sh).";

impl Opts {
    fn parse() -> Result<Self> {
        let mut args = Args::from_env(USAGE);
        let quick = args.quick;
        let mut o = Opts {
            calls: if quick { 200 } else { 2000 },
            warmup: if quick { 100 } else { 1000 },
            sessions: if quick { 1 } else { 10 },
            blocks: 5,
            throughput_calls: if quick { 1000 } else { 10_000 },
            inflight: 64,
            spawns: if quick { 3 } else { 20 },
            rss_upstreams: 10,
            direct_only: false,
            realistic_policy: false,
            audit: false,
            strict: false,
            only: Vec::new(),
            quick,
            args: args.all.clone(),
        };
        while let Some(a) = args.next_arg() {
            match a.as_str() {
                "--quick" => {}
                "--calls" => o.calls = args.number(&a)?,
                "--warmup" => o.warmup = args.number(&a)?,
                "--blocks" => o.blocks = args.number(&a)?,
                "--sessions" => o.sessions = args.number(&a)?,
                "--throughput-calls" => o.throughput_calls = args.number(&a)?,
                "--inflight" => o.inflight = args.number(&a)?,
                "--spawns" => o.spawns = args.number(&a)?,
                "--rss-upstreams" => o.rss_upstreams = args.number(&a)?,
                "--direct-only" => o.direct_only = true,
                "--realistic-policy" => o.realistic_policy = true,
                "--audit" => o.audit = true,
                "--strict" => o.strict = true,
                "--only" => o.only.extend(args.scenarios(&a, &SCENARIOS)?),
                other => args.other(other)?,
            }
        }
        Ok(o)
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }

    fn command_line(&self) -> String {
        command_line("proxy", &self.args)
    }
}

// ---------------------------------------------------------------------------
// The client

/// PATH for an upstream: the folder of its command first, then ours (what
/// toolgate does, so `#!/usr/bin/env node` finds the same Node either way).
fn upstream_path(command: &Path) -> std::ffi::OsString {
    path_with(command.parent().map(Path::to_path_buf))
}

/// The `node` an upstream's `#!/usr/bin/env node` runs, and its version.
fn upstream_node(command: &Path) -> String {
    let path = upstream_path(command);
    let Some(node) = std::env::split_paths(&path)
        .map(|d| d.join("node"))
        .find(|p| p.is_file())
    else {
        return "node not found".into();
    };
    format!("{} {}", node.display(), program_version(&node))
}

/// What to start: server-everything directly, or toolgate with a config.
enum Target<'a> {
    Direct { everything: &'a Path },
    Via { home: &'a Path },
}

impl Target<'_> {
    fn command(&self) -> Command {
        match self {
            // The environment toolgate gives a stdio upstream: a base set of
            // variables (none of NODE_OPTIONS and the like), and PATH with
            // the command's folder first (where the testbed keeps Node 22).
            Target::Direct { everything } => {
                upstream_command(everything, Some(upstream_path(everything)))
            }
            Target::Via { home } => {
                let mut c = toolgate_command(home);
                c.arg("serve");
                c
            }
        }
    }
}

/// Lists tools until `complete` accepts the list; returns the list and the
/// time since spawn. Re-lists when the server announces a change (with a
/// 20 ms poll as a fallback in case no notification comes).
async fn wait_for_tools(
    c: &Conn,
    what: &str,
    complete: impl Fn(&[Tool]) -> bool,
) -> Result<(Vec<Tool>, Duration)> {
    c.wait_for_tools(
        WAIT_LIMIT,
        Duration::from_millis(20),
        |tools| Ok(complete(tools)),
        |tools| {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
            format!(
                "tools/list still lacks {what} after {WAIT_LIMIT:?}; it has {} tools: {names:?}",
                names.len()
            )
        },
    )
    .await
}

#[derive(Default)]
struct Path2<T> {
    direct: T,
    via: T,
}

/// Per-path raw samples, filled in by the scenarios.
#[derive(Default)]
struct Results {
    /// Per path (`DIRECT`, `VIA`, `CONTROL`): one sample per call.
    latency_ms: [Vec<f64>; 3],
    /// Per path: the first call of each block, after the path sat idle
    /// while the others ran (not among the measured sequential calls).
    cold_ms: [Vec<f64>; 3],
    /// Per path: (calls, seconds) per throughput round.
    throughput_rounds: [Vec<(usize, f64)>; 3],
    init_ms: Path2<Vec<f64>>,
    tools_ms: Path2<Vec<f64>>,
    shutdown_ms: Path2<Vec<f64>>,
    direct_tool_count: usize,
    idle_rss_kib: Option<u64>,
    /// RSS right when every tool was listed (before the idle trim).
    listed_rss_kib: Option<u64>,
    idle_hwm_kib: Option<u64>,
    rss_tool_count: usize,
    leaks: Vec<String>,
}

impl Results {
    fn throughput(rounds: &[(usize, f64)]) -> f64 {
        let calls: usize = rounds.iter().map(|r| r.0).sum();
        let secs: f64 = rounds.iter().map(|r| r.1).sum();
        calls as f64 / secs
    }
}

// ---------------------------------------------------------------------------
// Scenarios

struct Env {
    everything: PathBuf,
    scratch: tempfile::TempDir,
    /// Process groups of every child spawned so far.
    groups: BTreeSet<i32>,
}

impl Env {
    /// Writes a toolgate home whose config has the given upstreams, all of
    /// them server-everything. `prefix`: `Some("")` keeps tool names as is,
    /// `None` leaves toolgate's default (`<name>__<tool>`).
    fn home(&self, name: &str, upstreams: &[&str], prefix: Option<&str>) -> Result<PathBuf> {
        let home = self.scratch.path().join(name);
        fs::create_dir_all(&home)?;
        let command = self
            .everything
            .to_str()
            .context("mcp-server-everything path is not UTF-8")?;
        // The audit trail is on by default; the proxy's own figures are
        // without it, and `--audit` turns it on (`audit_on`).
        let mut toml = String::from("[audit]\nenabled = false\n\n");
        for u in upstreams {
            toml.push_str(&format!("[servers.{u}]\n"));
            // A JSON string is a valid TOML basic string.
            toml.push_str(&format!("command = {}\n", json!(command)));
            toml.push_str("args = []\n");
            if let Some(p) = prefix {
                toml.push_str(&format!("prefix = {}\n", json!(p)));
            }
            toml.push('\n');
        }
        fs::write(home.join("config.toml"), toml)?;
        Ok(home)
    }

    fn log(&self, name: &str) -> PathBuf {
        self.scratch.path().join(format!("{name}.stderr.log"))
    }

    async fn connect(&mut self, label: &str, target: Target<'_>, log: &str) -> Result<Conn> {
        let conn = client::connect(
            label,
            target.command(),
            &self.log(log),
            CLIENT_NAME,
            WAIT_LIMIT,
        )
        .await?;
        self.groups.insert(conn.pid as i32);
        Ok(conn)
    }
}

/// With `--audit`, the start-up and idle-RSS homes keep the audit trail too.
fn with_audit(home: PathBuf, on: bool) -> Result<PathBuf> {
    if on {
        audit_on(&home)?;
    }
    Ok(home)
}

/// Turns the audit trail on in a home made by `Env::home`.
fn audit_on(home: &std::path::Path) -> Result<()> {
    let config = fs::read_to_string(home.join("config.toml"))?;
    let on = config.replacen("[audit]\nenabled = false\n", "[audit]\nenabled = true\n", 1);
    anyhow::ensure!(
        on != config,
        "the bench config has no [audit] table to turn on"
    );
    fs::write(home.join("config.toml"), on)?;
    Ok(())
}

/// The `[policy]` of the realistic-policy run, as config.toml text: 100
/// rules of the kinds an org writes (server and tool globs, exact tools,
/// argument conditions; most of them about other servers, as in a real
/// profile, a few about server-everything), constraints on `echo`'s
/// arguments, the built-in guardrails plus two org rules acting in both
/// directions, and two rate limits high enough never to refuse a call.
fn realistic_policy() -> String {
    let mut t = String::from(
        "\n[policy]\ndefault = \"allow\"\n\n[policy.tiers]\ndestructive = \"step-up\"\n\n",
    );
    let servers = [
        "github", "gitlab", "jira", "slack", "postgres", "aws", "k8s", "drive", "linear",
    ];
    let verbs = [
        "delete_*", "create_*", "update_*", "merge_*", "list_*", "get_*", "search_*",
    ];
    let decisions = ["deny", "step-up", "observe", "allow"];
    let mut n = 0;
    for (i, server) in servers.iter().enumerate() {
        for (j, verb) in verbs.iter().enumerate() {
            n += 1;
            t.push_str(&format!(
                "[[policy.rules]]\nid = \"r{n}\"\nserver = \"{server}\"\ntool = \"{verb}\"\ndecision = \"{}\"\n\n",
                decisions[(i + j) % decisions.len()]
            ));
        }
        n += 1;
        t.push_str(&format!(
            "[[policy.rules]]\nid = \"r{n}\"\nserver = \"{server}\"\ntool = \"run_query\"\n\
             when = [{{ arg = \"sql\", pattern = \"(?i)^\\\\s*(drop|truncate|delete)\\\\b\" }}]\n\
             decision = \"deny\"\n\n"
        ));
    }
    // Rules that reach server-everything's tools (the call under test).
    let everything = [
        ("everything", "*", "", "observe"),
        ("everything", "echo", "", "allow"),
        (
            "everything",
            "echo",
            "{ arg = \"message\", pattern = \"(?i)drop table\" }",
            "deny",
        ),
        (
            "everything",
            "echo",
            "{ arg = \"message\", present = false }",
            "deny",
        ),
        ("everything", "get-env", "", "deny"),
        ("everything", "trigger-*", "", "step-up"),
        ("every*", "long*", "", "observe"),
        ("*", "delete_*", "", "step-up"),
    ];
    for (server, tool, when, decision) in everything {
        n += 1;
        t.push_str(&format!(
            "[[policy.rules]]\nid = \"r{n}\"\nserver = \"{server}\"\ntool = \"{tool}\"\n"
        ));
        if !when.is_empty() {
            t.push_str(&format!("when = [{when}]\n"));
        }
        t.push_str(&format!("decision = \"{decision}\"\n\n"));
    }
    while n < 100 {
        n += 1;
        t.push_str(&format!(
            "[[policy.rules]]\nid = \"r{n}\"\nserver = \"internal-{n}\"\ntool = \"tool_{n}\"\ndecision = \"observe\"\n\n"
        ));
    }
    t.push_str(
        "[policy.tools.\"everything/echo\"]\n\
         tier = \"read\"\n\
         schema = { type = \"object\", required = [\"message\"] }\n\
         args.message = { max_length = 10000, deny_pattern = \"(?i)rm -rf /\" }\n\n\
         [[policy.limits]]\nid = \"all-calls\"\nmax = 100000000\nper = \"day\"\nburst = 10000000\nscope = \"all\"\n\n\
         [[policy.limits]]\nid = \"echo\"\nserver = \"everything\"\ntool = \"echo\"\nmax = 100000000\nper = \"minute\"\nburst = 10000000\n\n\
         [policy.guardrails]\nbuiltin = true\n\n\
         [policy.guardrails.actions]\nsecret = { arguments = \"block\", results = \"redact\" }\npii = { arguments = \"warn\", results = \"redact\" }\n\n\
         [[policy.guardrails.rules]]\nid = \"acme.ticket\"\npattern = \"ACME-[0-9]{6}\"\narguments = \"warn\"\nresults = \"redact\"\n\n\
         [[policy.guardrails.rules]]\nid = \"acme.host\"\npattern = \"[a-z0-9-]+\\\\.corp\\\\.acme\\\\.example\"\narguments = \"warn\"\nresults = \"redact\"\n",
    );
    t
}

/// Every tool of `baseline` appears once per upstream, named after the
/// upstream (`<upstream><separator><tool>`, whatever the separator is).
fn has_all_tools(tools: &[Tool], upstreams: &[&str], baseline: &[String]) -> bool {
    upstreams.iter().all(|u| {
        baseline.iter().all(|b| {
            tools.iter().any(|t| {
                let n = t.name.as_ref();
                n.starts_with(u) && n.ends_with(b.as_str()) && n.len() <= u.len() + b.len() + 3
            })
        })
    })
}

/// The connections of the latency and throughput scenario.
const DIRECT: usize = 0;
const VIA: usize = 1;
/// A second direct connection, measured exactly like the first: the A/A
/// control whose ratio to `DIRECT` shows the noise floor of the run.
const CONTROL: usize = 2;
const PATH_LABELS: [&str; 3] = ["direct", "via toolgate", "direct (A/A control)"];
/// Log file names per path.
const PATH_LOGS: [&str; 3] = ["calls-direct", "calls-via", "calls-control"];

/// Every order of the given paths; block `b` runs `orders[b % len]`, so each
/// path goes first, second (and third) equally often.
fn orders(paths: &[usize]) -> Vec<Vec<usize>> {
    if paths.len() <= 1 {
        return vec![paths.to_vec()];
    }
    let mut out = Vec::new();
    for (i, &first) in paths.iter().enumerate() {
        let mut rest = paths.to_vec();
        rest.remove(i);
        for mut tail in orders(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

/// Scenarios 1 and 2: sequential latency and throughput. Each session opens
/// fresh connections on every path, side by side, and measures them in
/// alternating blocks; figures are pooled over the sessions, so neither a
/// lucky process nor a noisy moment favours one path.
async fn scenario_calls(env: &mut Env, o: &Opts, r: &mut Results) -> Result<()> {
    for s in 0..o.sessions {
        let calls = split(o.calls, o.sessions, s);
        let tput = o.throughput_calls;
        eprintln!(
            "[calls] session {}/{}: {calls} sequential calls per path in {} blocks, \
             then {tput} calls with {} in flight",
            s + 1,
            o.sessions,
            o.blocks,
            o.inflight
        );
        calls_session(env, o, r, s, calls, tput).await?;
    }
    Ok(())
}

async fn calls_session(
    env: &mut Env,
    o: &Opts,
    r: &mut Results,
    session: usize,
    calls: usize,
    tput: usize,
) -> Result<()> {
    let params = echo_params(ECHO_TOOL);
    let everything = env.everything.clone();
    let has_echo = |tools: &[Tool]| tools.iter().any(|t| t.name == ECHO_TOOL);
    let mut paths = vec![DIRECT, CONTROL];
    if !o.direct_only {
        paths.insert(1, VIA);
    }
    let orders = orders(&paths);

    // Homes first: the via path's tools are checked against direct's.
    let via_home = if o.direct_only {
        None
    } else {
        let home = env.home("calls", &["everything"], Some(""))?;
        if o.realistic_policy {
            let mut config = fs::read_to_string(home.join("config.toml"))?;
            config.push_str(&realistic_policy());
            fs::write(home.join("config.toml"), config)?;
        }
        if o.audit {
            audit_on(&home)?;
        }
        Some(home)
    };
    let control_home = if o.audit {
        Some(env.home("calls-off", &["everything"], Some(""))?)
    } else {
        None
    };

    // The processes start in a rotating order: where the scheduler places a
    // process (next to the client or not) depends on when it starts, and
    // that lasts for the session.
    let mut conns: Vec<(usize, Conn)> = Vec::new();
    for &k in &orders[session % orders.len()] {
        let conn = match (k, &via_home, &control_home) {
            (VIA, Some(home), _) | (CONTROL, _, Some(home)) => {
                env.connect(PATH_LABELS[k], Target::Via { home }, PATH_LOGS[k])
                    .await?
            }
            _ => {
                env.connect(
                    PATH_LABELS[k],
                    Target::Direct {
                        everything: &everything,
                    },
                    PATH_LOGS[k],
                )
                .await?
            }
        };
        conns.push((k, conn));
    }
    let conn = |k: usize| &conns.iter().find(|(kk, _)| *kk == k).expect("path").1;
    let (direct_tools, _) = wait_for_tools(conn(DIRECT), "echo", has_echo).await?;
    wait_for_tools(conn(CONTROL), "echo", has_echo).await?;
    if via_home.is_some() {
        // Same tool names as direct (prefix ""), so the same call works.
        let names: BTreeSet<String> = direct_tools.iter().map(|t| t.name.to_string()).collect();
        wait_for_tools(
            conn(VIA),
            "every tool of server-everything, unprefixed",
            |tools| {
                let got: BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
                names.is_subset(&got)
            },
        )
        .await?;
    }

    // Sanity: the echo answers with the message on every path.
    for (_, c) in &conns {
        let res = c.peer().call_tool(params.clone()).await?;
        let text = serde_json::to_string(&res.content)?;
        ensure!(
            text.contains(ECHO_MESSAGE),
            "{}: echo did not echo: {text}",
            c.label
        );
    }

    // Warm-up, so that the figures are of steady state: node's JIT needs a
    // few thousand calls, and the garbage of the concurrent calls takes
    // node's collector a few thousand sequential ones to settle (before
    // that, 1 to 2 % of the calls pause for milliseconds on every path).
    for (_, c) in &conns {
        throughput_round(c.peer(), o.warmup * 10, o.inflight, &params).await?;
        for _ in 0..o.warmup * 3 {
            call(c.peer(), &params).await?;
        }
    }

    // Latency: blocks in rotating order.
    for b in 0..o.blocks {
        let n = split(calls, o.blocks, b);
        for &k in &orders[(session * o.blocks + b) % orders.len()] {
            let c = conn(k);
            // The first call after a switch finds this path's processes
            // asleep and their caches cold: it is kept apart (the cold row),
            // so that the sequential figures are of back-to-back calls, as
            // they would be without the interleaving.
            let t = Instant::now();
            call(c.peer(), &params).await?;
            r.cold_ms[k].push(ms(t.elapsed()));
            let out = &mut r.latency_ms[k];
            for _ in 0..n {
                let t = Instant::now();
                call(c.peer(), &params).await?;
                out.push(ms(t.elapsed()));
            }
        }
    }

    // Throughput: `inflight` workers share a counter of calls; two rounds
    // per path, in rotating order.
    for round in 0..2 {
        let n = split(tput, 2, round);
        for &k in &orders[(session * 2 + round + 1) % orders.len()] {
            let secs = throughput_round(conn(k).peer(), n, o.inflight, &params).await?;
            r.throughput_rounds[k].push((n, secs));
        }
    }

    for (_, c) in conns {
        c.shutdown().await?;
    }
    check_no_leftovers(&env.groups, |_| false, "its scenario", &mut r.leaks).await;
    Ok(())
}

/// `total` calls with `inflight` of them outstanding at any time; returns
/// the wall time in seconds.
async fn throughput_round(
    peer: &Peer<RoleClient>,
    total: usize,
    inflight: usize,
    params: &CallToolRequestParams,
) -> Result<f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let t = Instant::now();
    for _ in 0..inflight.min(total) {
        let peer = peer.clone();
        let next = next.clone();
        let params = params.clone();
        set.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                call(&peer, &params).await?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(res) = set.join_next().await {
        res??;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Scenario 3: spawn to `initialize` result, and spawn to the first complete
/// tool list. Direct: one server-everything. Via: toolgate with two.
async fn scenario_startup(
    env: &mut Env,
    o: &Opts,
    r: &mut Results,
    baseline: &[String],
) -> Result<()> {
    let home = if o.direct_only {
        None
    } else {
        Some(with_audit(
            env.home("startup", &STARTUP_UPSTREAMS, None)?,
            o.audit,
        )?)
    };
    eprintln!(
        "[startup] {} spawns per path (via: {} upstreams)",
        o.spawns,
        STARTUP_UPSTREAMS.len()
    );
    for i in 0..o.spawns {
        let order: [bool; 2] = if i % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for is_via in order {
            if is_via {
                let Some(home) = &home else { continue };
                let c = env
                    .connect("via toolgate", Target::Via { home }, "startup-via")
                    .await?;
                let (_, t) = wait_for_tools(&c, "the tools of both upstreams", |tools| {
                    has_all_tools(tools, &STARTUP_UPSTREAMS, baseline)
                })
                .await?;
                r.init_ms.via.push(ms(c.init));
                r.tools_ms.via.push(ms(t));
                r.shutdown_ms.via.push(ms(c.shutdown().await?));
            } else {
                let everything = env.everything.clone();
                let c = env
                    .connect(
                        "direct",
                        Target::Direct {
                            everything: &everything,
                        },
                        "startup-direct",
                    )
                    .await?;
                let (_, t) = wait_for_tools(&c, "every tool", |tools| {
                    baseline
                        .iter()
                        .all(|b| tools.iter().any(|t| t.name == b.as_str()))
                })
                .await?;
                r.init_ms.direct.push(ms(c.init));
                r.tools_ms.direct.push(ms(t));
                r.shutdown_ms.direct.push(ms(c.shutdown().await?));
            }
            check_no_leftovers(&env.groups, |_| false, "its scenario", &mut r.leaks).await;
        }
    }
    Ok(())
}

/// Scenario 4: VmRSS of the toolgate process (not its children) with N stdio
/// upstreams, once every upstream's tools are listed and memory has settled.
async fn scenario_rss(env: &mut Env, o: &Opts, r: &mut Results, baseline: &[String]) -> Result<()> {
    let names: Vec<String> = (0..o.rss_upstreams).map(|i| format!("s{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    eprintln!("[rss] toolgate with {} upstreams", names.len());
    let home = with_audit(env.home("rss", &names, None)?, o.audit)?;
    let c = env
        .connect("via toolgate", Target::Via { home: &home }, "rss-via")
        .await?;
    let (tools, _) = wait_for_tools(&c, "the tools of every upstream", |tools| {
        has_all_tools(tools, &names, baseline)
    })
    .await?;
    r.rss_tool_count = tools.len();
    // Idle: serve gives memory back after 2 s without a message from the
    // IDE (an IDE's toolgate waits most of its life), so the first sample
    // is taken 5 s after the tools were listed; then every 100 ms until
    // three samples in a row agree within 64 KiB (at most 3 s more).
    r.listed_rss_kib = status_kib(c.pid, "VmRSS:");
    // (5 s, then the first 100 ms step.)
    r.idle_rss_kib = Some(settled_rss_kib(c.pid, Duration::from_millis(5100)).await?);
    r.idle_hwm_kib = status_kib(c.pid, "VmHWM:");
    c.shutdown().await?;
    check_no_leftovers(&env.groups, |_| false, "its scenario", &mut r.leaks).await;
    Ok(())
}

// ---------------------------------------------------------------------------
// Report

struct Row {
    metric: String,
    direct: Option<f64>,
    via: Option<f64>,
    ratio: Option<f64>,
    target: String,
    met: Option<bool>,
    decimals: usize,
}

fn fmt_ratio(q: Option<f64>) -> String {
    q.map_or("—".into(), |q| format!("{q:.2}×"))
}

impl Row {
    /// A row with no target.
    fn info(metric: String, direct: Option<f64>, via: Option<f64>, decimals: usize) -> Self {
        Row {
            metric,
            direct,
            via,
            ratio: ratio(via, direct),
            target: "—".into(),
            met: None,
            decimals,
        }
    }
}

fn ratio(via: Option<f64>, direct: Option<f64>) -> Option<f64> {
    Some(via? / direct?).filter(|r| r.is_finite())
}

fn rows(o: &Opts, r: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    let ld = nonempty(&r.latency_ms[DIRECT]).map(sorted);
    let lv = nonempty(&r.latency_ms[VIA]).map(sorted);
    let (p50, p99) = if o.realistic_policy {
        (TARGET_POLICY_P50_RATIO, TARGET_POLICY_P99_RATIO)
    } else {
        (TARGET_P50_RATIO, TARGET_P99_RATIO)
    };
    for (p, target) in [(50.0, Some(p50)), (90.0, None), (99.0, Some(p99))] {
        let d = ld.as_deref().map(|s| percentile(s, p));
        let v = lv.as_deref().map(|s| percentile(s, p));
        let q = ratio(v, d);
        rows.push(Row {
            metric: format!("echo latency p{p:.0}, ms ({} sequential calls)", o.calls),
            direct: d,
            via: v,
            ratio: q,
            target: target.map_or("—".into(), |t| format!("ratio ≤ {t}")),
            met: target.and_then(|t| Some(q? <= t)),
            decimals: 3,
        });
    }
    let cd = nonempty(&r.cold_ms[DIRECT]).map(median);
    let cv = nonempty(&r.cold_ms[VIA]).map(median);
    rows.push(Row {
        metric: format!(
            "echo latency of a cold call, ms (median of {}: a path's first call after the others ran)",
            r.cold_ms[DIRECT].len().max(r.cold_ms[VIA].len())
        ),
        direct: cd,
        via: cv,
        ratio: ratio(cv, cd),
        target: "—".into(),
        met: None,
        decimals: 3,
    });
    let td = nonempty_rounds(&r.throughput_rounds[DIRECT]).map(Results::throughput);
    let tv = nonempty_rounds(&r.throughput_rounds[VIA]).map(Results::throughput);
    let q = ratio(tv, td);
    rows.push(Row {
        metric: format!("throughput, calls/s ({} in flight)", o.inflight),
        direct: td,
        via: tv,
        ratio: q,
        target: format!("ratio ≥ {TARGET_THROUGHPUT_RATIO}"),
        met: q.map(|q| q >= TARGET_THROUGHPUT_RATIO),
        decimals: 0,
    });
    let md = nonempty(&r.init_ms.direct).map(median);
    let mv = nonempty(&r.init_ms.via).map(median);
    rows.push(Row {
        metric: format!(
            "spawn → initialize result, ms (median of {})",
            r.init_ms.direct.len().max(r.init_ms.via.len())
        ),
        direct: md,
        via: mv,
        ratio: ratio(mv, md),
        target: format!("via ≤ {TARGET_INIT_MS} ms"),
        met: mv.map(|v| v <= TARGET_INIT_MS),
        decimals: 1,
    });
    let md = nonempty(&r.tools_ms.direct).map(median);
    let mv = nonempty(&r.tools_ms.via).map(median);
    rows.push(Row {
        metric: format!(
            "spawn → complete tools/list, ms (median; via: {} upstreams)",
            STARTUP_UPSTREAMS.len()
        ),
        direct: md,
        via: mv,
        ratio: ratio(mv, md),
        target: "—".into(),
        met: None,
        decimals: 1,
    });
    let md = nonempty(&r.shutdown_ms.direct).map(median);
    let mv = nonempty(&r.shutdown_ms.via).map(median);
    rows.push(Row {
        metric: "stdin closed → exit, ms (median)".into(),
        direct: md,
        via: mv,
        ratio: ratio(mv, md),
        target: "—".into(),
        met: None,
        decimals: 1,
    });
    let rss = r.idle_rss_kib.map(|k| k as f64 / 1024.0);
    rows.push(Row {
        metric: format!(
            "idle RSS of toolgate, MiB ({} stdio upstreams)",
            o.rss_upstreams
        ),
        direct: None,
        via: rss,
        ratio: None,
        target: format!("≤ {TARGET_IDLE_RSS_MIB} MiB"),
        met: rss.map(|v| v <= TARGET_IDLE_RSS_MIB),
        decimals: 1,
    });
    rows
}

fn nonempty_rounds(v: &[(usize, f64)]) -> Option<&[(usize, f64)]> {
    (!v.is_empty()).then_some(v)
}

/// The A/A control against direct (`via` holds the control's figures).
fn noise_rows(r: &Results) -> Vec<Row> {
    let mut out = Vec::new();
    let ld = nonempty(&r.latency_ms[DIRECT]).map(sorted);
    let lc = nonempty(&r.latency_ms[CONTROL]).map(sorted);
    for p in [50.0, 90.0, 99.0] {
        let d = ld.as_deref().map(|s| percentile(s, p));
        let c = lc.as_deref().map(|s| percentile(s, p));
        out.push(Row::info(format!("echo latency p{p:.0}, ms"), d, c, 3));
    }
    let td = nonempty_rounds(&r.throughput_rounds[DIRECT]).map(Results::throughput);
    let tc = nonempty_rounds(&r.throughput_rounds[CONTROL]).map(Results::throughput);
    out.push(Row::info("throughput, calls/s".into(), td, tc, 0));
    out
}

fn print_report(o: &Opts, m: &common::Machine, everything: &Path, rows: &[Row], r: &Results) {
    println!("# toolgate proxy benchmark\n");
    println!("- command: `{}`", o.command_line());
    println!(
        "- machine: {} CPUs (nproc), {}, {} RAM, Linux {}",
        m.nproc, m.cpu, m.mem_total, m.kernel
    );
    println!("- toolgate: `{}`", toolgate_bin().display());
    println!(
        "- upstream: `{}` on `{}`",
        everything.display(),
        upstream_node(everything)
    );
    println!(
        "- client: rmcp 3.11 (child process, current-thread runtime), protocol {}, \
         no capabilities",
        ProtocolVersion::LATEST_WITH_INITIALIZE
    );
    if o.quick {
        println!("- **quick run**: smoke figures, not for comparison");
    }
    if o.direct_only {
        println!("- **direct only**: toolgate not measured");
    }
    if o.audit {
        println!(
            "- **audit on** the via path; the control (noise table) is toolgate with audit off"
        );
    }
    if o.realistic_policy {
        println!(
            "- **realistic policy** on the via path: 100 rules, argument constraints, \
             guardrails both ways, rate limits (see `realistic_policy()` in benches/proxy.rs)"
        );
    }
    println!();
    println!("| metric | direct | via toolgate | ratio | target | met? |");
    println!("|---|---:|---:|---:|---|---|");
    for row in rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.metric,
            fmt_opt(row.direct, row.decimals),
            fmt_opt(row.via, row.decimals),
            fmt_ratio(row.ratio),
            row.target,
            met
        );
    }
    if o.audit {
        // Audit on (via) against audit off (the control): what it adds.
        let on = nonempty(&r.latency_ms[VIA]).map(sorted);
        let off = nonempty(&r.latency_ms[CONTROL]).map(sorted);
        if let (Some(on), Some(off)) = (on, off) {
            println!();
            println!("Audit on vs off (both through toolgate, same calls, one run):");
            println!();
            println!("| percentile | audit off, ms | audit on, ms | added, µs |");
            println!("|---|---:|---:|---:|");
            for p in [50.0, 90.0, 99.0] {
                let (a, b) = (percentile(&off, p), percentile(&on, p));
                println!("| p{p:.0} | {a:.3} | {b:.3} | {:.1} |", (b - a) * 1000.0);
            }
            let t_on = nonempty_rounds(&r.throughput_rounds[VIA]).map(Results::throughput);
            let t_off = nonempty_rounds(&r.throughput_rounds[CONTROL]).map(Results::throughput);
            if let (Some(a), Some(b)) = (t_off, t_on) {
                println!(
                    "\nthroughput, {} in flight: audit off {a:.0} calls/s, on {b:.0} ({:.2}×)",
                    o.inflight,
                    b / a
                );
            }
        }
        return;
    }
    let noise = noise_rows(r);
    if noise.iter().any(|row| row.ratio.is_some()) {
        println!();
        println!(
            "Noise floor: a second direct connection, measured like the others \
             (A/A; a ratio within this distance of 1.00 is noise):"
        );
        println!();
        println!("| metric | direct | direct again | ratio |");
        println!("|---|---:|---:|---:|");
        for row in &noise {
            println!(
                "| {} | {} | {} | {} |",
                row.metric,
                fmt_opt(row.direct, row.decimals),
                fmt_opt(row.via, row.decimals),
                fmt_ratio(row.ratio)
            );
        }
    }
    println!();
    println!(
        "Direct: one mcp-server-everything ({} tools). Start-up direct column: one \
         server-everything spawned directly; via: toolgate with {} copies.",
        r.direct_tool_count,
        STARTUP_UPSTREAMS.len()
    );
    if let Some(hwm) = r.idle_hwm_kib {
        println!(
            "Idle RSS read 5 s after {} tools were listed ({:.1} MiB when they were); \
             peak (VmHWM) {:.1} MiB.",
            r.rss_tool_count,
            r.listed_rss_kib.unwrap_or(0) as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    common::print_leftovers("after each scenario", &r.leaks, ", ");
}

fn report_json(
    o: &Opts,
    m: &common::Machine,
    everything: &Path,
    rows: &[Row],
    r: &Results,
) -> Value {
    let rounds = |v: &[(usize, f64)]| -> Value {
        json!({
            "calls_per_s": nonempty_rounds(v).map(Results::throughput),
            "rounds": v.iter().map(|(n, s)| json!({"calls": n, "seconds": s})).collect::<Vec<_>>(),
        })
    };
    let dist =
        |v: &[f64]| -> Value { json!({ "median_ms": nonempty(v).map(median), "samples_ms": v }) };
    common::figures(
        o.command_line(),
        m.json(),
        json!({
            "upstream": everything,
            "node": upstream_node(everything),
            "options": {
                "calls": o.calls, "warmup": o.warmup, "latency_blocks": o.blocks,
                "throughput_calls": o.throughput_calls, "inflight": o.inflight,
                "sessions": o.sessions, "spawns": o.spawns, "rss_upstreams": o.rss_upstreams,
                "quick": o.quick, "direct_only": o.direct_only, "only": o.only,
            },
            "latency": {
                "direct": summary(&r.latency_ms[DIRECT]),
                "via": summary(&r.latency_ms[VIA]),
                "control": summary(&r.latency_ms[CONTROL]),
                "direct_samples_ms": r.latency_ms[DIRECT],
                "via_samples_ms": r.latency_ms[VIA],
                "control_samples_ms": r.latency_ms[CONTROL],
                "cold": {
                    "direct": summary(&r.cold_ms[DIRECT]),
                    "via": summary(&r.cold_ms[VIA]),
                    "control": summary(&r.cold_ms[CONTROL]),
                },
            },
            "throughput": {
                "direct": rounds(&r.throughput_rounds[DIRECT]),
                "via": rounds(&r.throughput_rounds[VIA]),
                "control": rounds(&r.throughput_rounds[CONTROL]),
            },
            "startup": {
                "init": { "direct": dist(&r.init_ms.direct), "via": dist(&r.init_ms.via) },
                "tools_list_complete": { "direct": dist(&r.tools_ms.direct), "via": dist(&r.tools_ms.via) },
                "shutdown": { "direct": dist(&r.shutdown_ms.direct), "via": dist(&r.shutdown_ms.via) },
            },
            "idle_rss": {
                "vm_rss_kib": r.idle_rss_kib,
                "vm_rss_kib_when_listed": r.listed_rss_kib,
                "vm_hwm_kib": r.idle_hwm_kib,
                "tools_listed": r.rss_tool_count,
            },
            "table": rows.iter().map(|row| json!({
                "metric": row.metric, "direct": row.direct, "via": row.via,
                "ratio": row.ratio, "target": row.target, "met": row.met,
            })).collect::<Vec<_>>(),
            "noise_floor": noise_rows(r).iter().map(|row| json!({
                "metric": row.metric, "direct": row.direct, "control": row.via, "ratio": row.ratio,
            })).collect::<Vec<_>>(),
            "leaked_processes": r.leaks,
        }),
    )
}

// ---------------------------------------------------------------------------

async fn run(o: Opts) -> Result<bool> {
    let everything = testbed::find_everything()?;
    if !o.direct_only {
        common::require_toolgate()?;
    }
    let m = common::machine();
    let out_dir = common::out_dir()?;
    let mut env = Env {
        everything: everything.clone(),
        // On the same disk as a real toolgate home, not a tmpfs /tmp.
        scratch: common::scratch(&out_dir, "tmp-")?,
        groups: BTreeSet::new(),
    };
    let mut r = Results::default();

    let outcome = async {
        if o.runs("calls") {
            scenario_calls(&mut env, &o, &mut r).await?;
        }
        // The tool names server-everything lists directly, for the
        // completeness checks of the start-up and RSS scenarios.
        let baseline = {
            let c = env
                .connect(
                    "direct",
                    Target::Direct {
                        everything: &everything,
                    },
                    "baseline",
                )
                .await?;
            let (tools, _) =
                wait_for_tools(&c, "echo", |t| t.iter().any(|t| t.name == ECHO_TOOL)).await?;
            c.shutdown().await?;
            r.direct_tool_count = tools.len();
            tools.iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
        };
        if o.runs("startup") {
            scenario_startup(&mut env, &o, &mut r, &baseline).await?;
        }
        if o.runs("rss") && !o.direct_only {
            scenario_rss(&mut env, &o, &mut r, &baseline).await?;
        }
        anyhow::Ok(())
    }
    .await;
    // On an error, connections were dropped mid-scenario: make sure their
    // processes are gone before reporting.
    check_no_leftovers(&env.groups, |_| false, "its scenario", &mut r.leaks).await;
    outcome?;

    let rows = rows(&o, &r);
    print_report(&o, &m, &everything, &rows, &r);
    let json = report_json(&o, &m, &everything, &rows, &r);
    common::write_figures(&out_dir.join("proxy.json"), &json, true)?;

    let missed = rows.iter().any(|row| row.met == Some(false));
    if !r.leaks.is_empty() {
        eprintln!("error: processes outlived their scenario (see above)");
        return Ok(false);
    }
    Ok(!(o.strict && missed))
}

fn main() {
    common::run_bench(Opts::parse, run);
}
