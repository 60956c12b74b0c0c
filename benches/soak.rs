//! Soak run: `toolgate serve` with the whole pipeline on, at a steady rate
//! for a long time; its memory and open files must stay flat and nothing
//! may fail.
//!
//! ```sh
//! bash tests/testbed/setup.sh                # once: server-everything, mcp-server-time, python
//! cargo bench --bench soak                   # 10 minutes at 100 calls/s (plus the release build)
//! cargo bench --bench soak -- --quick        # 60 s smoke run
//! cargo bench --bench soak -- --duration 30m --rate 200 --strict
//! ```
//!
//! Run the 10-minute figure on a quiet machine: a compilation next to it
//! shows in the latencies (less in the memory figures).
//!
//! # What runs
//!
//! - **One `toolgate serve`**: the bench's release build (or
//!   `TOOLGATE_BENCH_BIN`), spawned by an rmcp 3.11 client (child-process
//!   transport, current-thread runtime, no client capabilities, protocol
//!   2025-11-25, as in `benches/proxy.rs`) in its own process group, with
//!   its own `TOOLGATE_HOME` under `target/bench/tmp-soak-*` (kept when the
//!   verdict fails or with `--keep`, for its logs; deleted otherwise).
//!   `RUST_LOG`, `TOOLGATE_LOG`, `TOOLGATE_CONFIG` and `TOOLGATE_KEYCHAIN`
//!   are removed from its environment, so it logs at its default level
//!   (`info`, to stderr and `state/logs/`), as an IDE's would.
//! - **Two upstreams**: `everything` (npm `server-everything`,
//!   `$TESTBED_EVERYTHING`) and `time` (PyPI `mcp-server-time`,
//!   `$TESTBED_TIME`), default prefixes (`everything__echo`, `time__...`).
//! - **Policy**: rules with argument conditions (deny `echo` whose message
//!   says "drop table", deny `get_current_time` for one time zone, observe
//!   `get-sum` when `a > 1000`), a plain deny of `get-env`, argument
//!   constraints on `echo` (schema, `max_length`, `deny_pattern`), two rate
//!   limits that never trip (10^8 a minute), the built-in guardrails with
//!   `pii.email` redacted from results (secrets block in arguments by
//!   default).
//! - **Audit**: on, results kept as by default (only their size), a signed
//!   checkpoint every 1,000 records (the device key in the kernel keyutils
//!   store, `[keychain] backend = "keyutils"`, deleted at the end), and one
//!   OTLP/HTTP sink (protobuf, gzip, default batches: 500 records or 5 s)
//!   pointing at the real receiver, `tests/collector/receiver.py` run with
//!   the test bed's python (`$TESTBED_PYTHON`) on a loopback port it picks
//!   and prints first. Records are uploaded and acknowledged during the run
//!   by `serve`'s own background uploader.
//!
//! # The load
//!
//! Open loop: call `k` is due at `k / rate` seconds, and each is sent at
//! its time on its own task, whether earlier ones have answered or not (at
//! most 512 in flight: beyond that a due call is not sent, an error). Per
//! 100 calls: 49 `everything__echo`, 15 `everything__get-sum`, 5 `get-sum`
//! with `a > 1000` (observed), 15 `time__get_current_time`, 5
//! `everything__get-structured-content`, 5 `echo` of a message holding an
//! e-mail address (must come back `[REDACTED:pii.email]`), 2 `echo` denied
//! by an argument condition, 1 `get-env` denied, 1 `get_current_time`
//! denied by an argument condition, 1 `echo` carrying an AWS-style key
//! (blocked by the guardrails) and 1 `tools/list` (must list as many tools
//! as at the start), in a fixed shuffled order. Each kind is called once
//! before the clock starts, so a misconfiguration stops the run at once.
//! Every answer is checked: the planned refusals are `isError` results
//! with `_meta["dev.toolgate/error"].kind` `denied` (or `guardrail`) naming
//! the rule; anything else that is not the expected result (another
//! error, a wrong text, a transport error, no answer in 30 s) is an error.
//! Latency: from sending a call to its result.
//!
//! # What is sampled
//!
//! Every second, of the `toolgate serve` process itself (not its
//! upstreams): `VmRSS`, `VmHWM` and `Threads` (`/proc/PID/status`) and its
//! open file descriptors (entries of `/proc/PID/fd`); also the upstreams'
//! summed RSS, for reference. Every 30 s (10 s with `--quick`): `toolgate
//! audit status --json` with the same `TOOLGATE_HOME` (records in the
//! trail, its bytes, the sink's `waiting`, `acked_seq`, `failures`,
//! `last_error`), the receiver's `GET /stats` and how many lines it wrote.
//!
//! # The verdict
//!
//! The first 10 % of the run is warm-up (at least 30 s; 15 s with
//! `--quick`). After it, toolgate's RSS over the first window (60 s, or a
//! third of the time after warm-up if shorter) is compared with the last
//! window: mean with mean, max with max; the same for its open fds. It
//! passes when:
//!
//! - RSS and fds grew by at most 5 % (mean and max; the fd maxima may also
//!   differ by one, a socket open at that instant);
//! - nothing unexpected happened: every call was answered as planned; the
//!   sink never reported a failure; the receiver refused nothing and wrote
//!   nothing on stderr; `serve` logged no `ERROR` and did not panic; the
//!   uploader kept up (never more than 30 s worth of records waiting) and
//!   had records acknowledged during the run;
//! - at the end, `serve`, its stdin closed, exits within 3 s (before rmcp
//!   would signal it); `toolgate audit flush --json` succeeds; the trail
//!   then holds no record and the sink has nothing waiting; the receiver
//!   has every record from 1 to the last `seq` (duplicates are allowed and
//!   counted: delivery is at least once), one call record per `tools/call`
//!   sent, with the planned numbers of `allow`, `observe`, `deny` and
//!   `blocked` decisions; `toolgate audit verify --json` says intact, with
//!   signed checkpoints;
//! - no process of the run outlives it (as in `benches/proxy.rs`: the
//!   descendants of the bench and the members of its children's process
//!   groups, given 5 s, then reported and killed by pid).
//!
//! # Output
//!
//! A table on stdout, one row per minute (10 s with `--quick`; `--row D`):
//! calls made, rate achieved, planned refusals, p50/p99/max latency in ms,
//! toolgate's RSS (mean, MiB), fds and threads (max), records waiting for
//! the sink (the row's last reading) and errors; then each check (`[ok]`
//! or `[FAIL]`), figures for reference (`[info]`: the upstreams' RSS,
//! threads, peak RSS, the trail's size, shutdown time, load average) and a
//! `verdict:` line. `serve`'s WARN lines that are governance events (the
//! mix triggers `guardrail` events on purpose) are counted apart from
//! other WARN lines. Raw figures go to `target/bench/soak.json` (`version`
//! 1): every second's sample, every status reading, every call (time,
//! kind, latency, outcome), the errors, the end state (flush, status,
//! verify, what the receiver got). Progress goes to stderr. The exit
//! status is 1 on a harness failure or a leftover process; with
//! `--strict`, also when the verdict fails.
//!
//! Options (after `--`): `--duration D` (`600s`, `10m`, `1h`; default
//! 10m), `--quick` (60 s, 10 s rows), `--rate N` (calls/s, default 100),
//! `--warmup D`, `--row D`, `--strict`, `--keep` (keep the scratch
//! folder).

#[allow(dead_code)]
mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use common::{
    args::{Args, command_line},
    client::{self, Conn, call_params},
    procs::{check_no_leftovers, process_tree, status_field, status_kib},
    repo_dir,
    stats::{fmt, max, mean, percentile, short, sorted},
    testbed::{Testbed, toolgate_command},
    toolgate_bin,
};
use rmcp::{Peer, model::CallToolRequestParams, service::RoleClient};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    process::Command,
    sync::Notify,
    task::JoinSet,
};

/// Allowed growth of RSS and fds between the first and the last window.
const MAX_GROWTH: f64 = 0.05;
/// A call unanswered this long is an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls in flight beyond which a due call is not sent (an error).
const MAX_INFLIGHT: usize = 512;
/// Setup waits (initialize, the first complete tool list).
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// `clientInfo.name` of the bench's client.
const CLIENT_NAME: &str = "toolgate-soak";
/// serve must exit this soon after its stdin closes (rmcp sends SIGTERM
/// at 3 s: past that, the exit was not serve's own).
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(2900);
/// The uploader keeps up when no more than this many seconds' worth of
/// records wait for the sink.
const MAX_LAG_SECS: f64 = 30.0;
/// The tools every call goes to (default prefixes).
const REQUIRED_TOOLS: [&str; 5] = [
    "everything__echo",
    "everything__get-sum",
    "everything__get-structured-content",
    "everything__get-env",
    "time__get_current_time",
];
const TIME_ZONES: [&str; 4] = ["UTC", "Europe/Paris", "Asia/Tokyo", "America/New_York"];
const DENIED_ZONE: &str = "Antarctica/Troll";
/// AWS's own documentation example key: matches the built-in secret rule.
const FAKE_AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

// ---------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Opts {
    duration: Duration,
    rate: f64,
    warmup: Duration,
    row: Duration,
    status_every: Duration,
    quick: bool,
    strict: bool,
    keep: bool,
    args: Vec<String>,
}

const USAGE: &str = "\
usage: cargo bench --bench soak -- [options]

  --duration D   how long to run (default 10m; 600s, 10m, 1h)
  --quick        smoke run: 60 s, 15 s warm-up, 10 s rows, status every 10 s
  --rate N       calls per second (default 100)
  --warmup D     warm-up (default 10 % of the run, at least 30 s; quick: 15 s)
  --row D        one table row per D (default 1m; quick: 10s)
  --strict       exit 1 when the verdict fails
  --keep         keep the scratch folder (toolgate's home, logs) under target/bench
  -h, --help     this help

Needs the test bed: bash tests/testbed/setup.sh (then optionally
source target/testbed/env.sh; TESTBED_EVERYTHING, TESTBED_TIME and
TESTBED_PYTHON override what target/testbed/env.sh says).";

fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .with_context(|| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("not a duration: {s:?} (use 600s, 10m, 1h)"),
    };
    ensure!(secs > 0.0, "a duration must be positive: {s:?}");
    Ok(Duration::from_secs_f64(secs))
}

impl Opts {
    fn parse() -> Result<Self> {
        let mut args = Args::from_env(USAGE);
        let quick = args.quick;
        let mut duration = if quick {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(600)
        };
        let mut rate = 100.0;
        let mut warmup = None;
        let mut row = None;
        let mut strict = false;
        let mut keep = false;
        while let Some(a) = args.next_arg() {
            match a.as_str() {
                "--quick" => {}
                "--duration" => duration = parse_duration(&args.value(&a)?)?,
                "--warmup" => warmup = Some(parse_duration(&args.value(&a)?)?),
                "--row" => row = Some(parse_duration(&args.value(&a)?)?),
                "--rate" => {
                    let v = args.value(&a)?;
                    rate = v
                        .parse()
                        .with_context(|| format!("--rate: not a number: {v:?}"))?;
                    ensure!(
                        rate > 0.0 && rate <= 10_000.0,
                        "--rate must be in (0, 10000]"
                    );
                }
                "--strict" => strict = true,
                "--keep" => keep = true,
                other => args.other(other)?,
            }
        }
        let warmup = warmup.unwrap_or(if quick {
            Duration::from_secs(15)
        } else {
            (duration / 10).max(Duration::from_secs(30))
        });
        ensure!(
            warmup + Duration::from_secs(3) <= duration,
            "the warm-up ({warmup:?}) leaves too little of the run ({duration:?})"
        );
        let row = row.unwrap_or(if quick {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(60)
        });
        Ok(Opts {
            duration,
            rate,
            warmup,
            row,
            status_every: if quick {
                Duration::from_secs(10)
            } else {
                Duration::from_secs(30)
            },
            quick,
            strict,
            keep,
            args: args.all,
        })
    }

    fn command_line(&self) -> String {
        command_line("soak", &self.args)
    }

    /// The comparison window: 60 s, or a third of the time after warm-up.
    fn window(&self) -> Duration {
        ((self.duration - self.warmup) / 3).min(Duration::from_secs(60))
    }
}

// ---------------------------------------------------------------------------
// Environment

/// The machine, for the raw figures (the load average now: at the start).
fn machine_json() -> Value {
    let m = common::machine();
    json!({"nproc": m.nproc, "cpu": m.cpu, "kernel": m.kernel, "loadavg": m.load})
}

// ---------------------------------------------------------------------------
// The receiver

/// tests/collector/receiver.py, stopped (by pid) in `stop`.
struct Receiver {
    child: std::process::Child,
    port: u16,
    out: PathBuf,
    stderr_log: PathBuf,
}

impl Receiver {
    fn start(python: &Path, dir: &Path) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let out = dir.join("collected.ndjson");
        let stderr_log = dir.join("receiver.stderr.log");
        let mut child = std::process::Command::new(python)
            .arg(repo_dir().join("tests/collector/receiver.py"))
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr_log)?)
            .process_group(0)
            .spawn()
            .with_context(|| format!("start the receiver with {}", python.display()))?;
        // Its first stdout line is the port, once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("receiver stdout")?)
            .read_line(&mut line)
            .context("read the receiver's port")?;
        let port = match line.trim().parse() {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the receiver did not print its port (got {line:?}); its stderr:\n{}",
                    fs::read_to_string(&stderr_log).unwrap_or_default()
                );
            }
        };
        Ok(Self {
            child,
            port,
            out,
            stderr_log,
        })
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What the status task needs of it.
    fn view(&self) -> ReceiverView {
        ReceiverView {
            port: self.port,
            out: self.out.clone(),
            read_to: 0,
            lines: 0,
        }
    }

    /// Every line it wrote, parsed, one at a time (the file holds tens of
    /// MB after a long run); a line that is not JSON is `Err` with its text.
    fn lines(&self) -> Result<impl Iterator<Item = Result<Value, String>>> {
        let f =
            fs::File::open(&self.out).with_context(|| format!("open {}", self.out.display()))?;
        Ok(BufReader::new(f).lines().map(|l| {
            let l = l.map_err(|e| e.to_string())?;
            serde_json::from_str(&l).map_err(|_| l)
        }))
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// toolgate's home

fn toml_str(s: &str) -> String {
    // A JSON string is a valid TOML basic string.
    json!(s).to_string()
}

fn write_config(home: &Path, tb: &Testbed, receiver_port: u16) -> Result<()> {
    fs::create_dir_all(home)?;
    let path = |p: &Path| -> Result<String> {
        Ok(toml_str(
            p.to_str().context("a test bed path is not UTF-8")?,
        ))
    };
    let config = format!(
        r#"# benches/soak.rs: the whole pipeline on.
[keychain]
backend = "keyutils"

[servers.everything]
command = {everything}
args = []

[servers.time]
command = {time}
args = []

[audit]
enabled = true
checkpoint_every = 1000

[audit.sinks.collector]
type = "otlp"
url = "http://127.0.0.1:{receiver_port}/v1/logs"

[policy]
default = "allow"

[[policy.rules]]
id = "soak.no-drop-table"
server = "everything"
tool = "echo"
when = [{{ arg = "message", pattern = "(?i)drop\\s+table" }}]
decision = "deny"
reason = "the soak bench denies this on purpose"

[[policy.rules]]
id = "soak.no-env"
server = "everything"
tool = "get-env"
decision = "deny"
reason = "the environment stays private"

[[policy.rules]]
id = "soak.no-troll"
server = "time"
tool = "get_current_time"
when = [{{ arg = "timezone", equals = "{DENIED_ZONE}" }}]
decision = "deny"

[[policy.rules]]
id = "soak.big-sums"
server = "everything"
tool = "get-sum"
when = [{{ arg = "a", gt = 1000 }}]
decision = "observe"

[[policy.rules]]
id = "soak.read-only"
server = "every*"
tool = "get-*"
decision = "allow"

[policy.tools."everything/echo"]
tier = "read"
schema = {{ type = "object", required = ["message"] }}
args.message = {{ max_length = 10000, deny_pattern = "(?i)rm -rf /" }}

[[policy.limits]]
id = "soak.all"
max = 100000000
per = "minute"
burst = 10000000
scope = "all"

[[policy.limits]]
id = "soak.time"
server = "time"
max = 100000000
per = "minute"
burst = 10000000

[policy.guardrails]
builtin = true

[policy.guardrails.actions]
"pii.email" = {{ results = "redact" }}
"#,
        everything = path(&tb.everything)?,
        time = path(&tb.time)?,
    );
    fs::write(home.join("config.toml"), config)?;
    Ok(())
}

/// Deletes the device key the run made in the kernel keyring.
fn delete_device_key(home: &Path) {
    use toolgate::secrets::{BackendKind, KeychainSettings, Vault};
    let vault = Vault::new(
        toolgate::config::Paths::under(home),
        KeychainSettings {
            backend: BackendKind::Keyutils,
        },
    );
    if let Err(e) = vault
        .keychain()
        .and_then(|kc| kc.delete(toolgate::audit::sign::KEY_ACCOUNT))
    {
        eprintln!("warning: could not delete the run's audit key from the keyring: {e}");
    }
}

/// toolgate with the run's home, at its default log level, with the
/// run's keychain settings.
fn toolgate(home: &Path) -> Command {
    let mut c = toolgate_command(home);
    c.env_remove("TOOLGATE_KEYCHAIN")
        .env_remove("TOOLGATE_LOG")
        .env_remove("RUST_LOG");
    c
}

/// `toolgate <args> --json` with the run's home: exit code and JSON.
async fn toolgate_json(home: &Path, args: &[&str]) -> Result<(Option<i32>, Value)> {
    let mut cmd = toolgate(home);
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .with_context(|| format!("toolgate {args:?}: no answer in 120 s"))?
        .with_context(|| format!("run toolgate {args:?}"))?;
    let v = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "toolgate {args:?} (exit {:?}): not JSON: {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((out.status.code(), v))
}

// ---------------------------------------------------------------------------
// The client (`common::client`, as in benches/proxy.rs)

async fn start_serve(home: &Path, stderr_log: &Path) -> Result<Conn> {
    let mut cmd = toolgate(home);
    cmd.arg("serve");
    client::connect("toolgate serve", cmd, stderr_log, CLIENT_NAME, WAIT_LIMIT).await
}

/// Lists until every required tool is there (re-listing on `list_changed`,
/// polling every 100 ms); returns the tool count.
async fn wait_for_tools(serve: &Conn) -> Result<usize> {
    let (tools, _) = serve
        .wait_for_tools(
            WAIT_LIMIT,
            Duration::from_millis(100),
            |tools| {
                let names: BTreeSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
                Ok(REQUIRED_TOOLS.iter().all(|t| names.contains(t)))
            },
            |tools| {
                let names: BTreeSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
                format!(
                    "tools/list still lacks some of {REQUIRED_TOOLS:?} after {WAIT_LIMIT:?}: {names:?}"
                )
            },
        )
        .await?;
    Ok(tools.len())
}

// ---------------------------------------------------------------------------
// The mix

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Echo,
    Sum,
    SumObserved,
    Time,
    Structured,
    Redacted,
    DenyEcho,
    DenyEnv,
    DenyTime,
    Blocked,
    List,
}

impl Kind {
    const ALL: [Kind; 11] = [
        Kind::Echo,
        Kind::Sum,
        Kind::SumObserved,
        Kind::Time,
        Kind::Structured,
        Kind::Redacted,
        Kind::DenyEcho,
        Kind::DenyEnv,
        Kind::DenyTime,
        Kind::Blocked,
        Kind::List,
    ];

    /// Calls of this kind per 100.
    fn share(self) -> usize {
        match self {
            Kind::Echo => 49,
            Kind::Sum => 15,
            Kind::SumObserved => 5,
            Kind::Time => 15,
            Kind::Structured => 5,
            Kind::Redacted => 5,
            Kind::DenyEcho => 2,
            Kind::DenyEnv => 1,
            Kind::DenyTime => 1,
            Kind::Blocked => 1,
            Kind::List => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Sum => "get-sum",
            Kind::SumObserved => "get-sum (observed)",
            Kind::Time => "get_current_time",
            Kind::Structured => "get-structured-content",
            Kind::Redacted => "echo (e-mail redacted)",
            Kind::DenyEcho => "echo (denied)",
            Kind::DenyEnv => "get-env (denied)",
            Kind::DenyTime => "get_current_time (denied)",
            Kind::Blocked => "echo (secret blocked)",
            Kind::List => "tools/list",
        }
    }

    /// The decision the audit record must carry (`None`: no record).
    fn decision(self) -> Option<&'static str> {
        match self {
            Kind::List => None,
            Kind::SumObserved => Some("observe"),
            Kind::DenyEcho | Kind::DenyEnv | Kind::DenyTime => Some("deny"),
            Kind::Blocked => Some("blocked"),
            _ => Some("allow"),
        }
    }

    fn refused(self) -> bool {
        matches!(self.decision(), Some("deny" | "blocked"))
    }
}

/// The order of the kinds within each 100 calls: every kind spread out
/// (a fixed shuffle), so each row of the table gets the same mix.
fn mix() -> Vec<Kind> {
    let mut v: Vec<Kind> = Kind::ALL
        .iter()
        .flat_map(|&k| std::iter::repeat_n(k, k.share()))
        .collect();
    assert_eq!(v.len(), 100);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// The request of call `i` of kind `k`, and what its text must contain.
fn request(k: Kind, i: u64) -> (CallToolRequestParams, String) {
    match k {
        Kind::Echo => (
            call_params(
                "everything__echo",
                &[("message", json!(format!("soak {i}")))],
            ),
            format!("Echo: soak {i}"),
        ),
        Kind::Sum | Kind::SumObserved => {
            let a = if k == Kind::Sum {
                (i % 1000) as i64
            } else {
                1001 + (i % 1000) as i64
            };
            let b = (i % 7) as i64;
            (
                call_params("everything__get-sum", &[("a", json!(a)), ("b", json!(b))]),
                format!("is {}", a + b),
            )
        }
        Kind::Time => {
            let tz = TIME_ZONES[(i % TIME_ZONES.len() as u64) as usize];
            (
                call_params("time__get_current_time", &[("timezone", json!(tz))]),
                tz.to_string(),
            )
        }
        Kind::Structured => (
            call_params(
                "everything__get-structured-content",
                &[("location", json!("Chicago"))],
            ),
            "temperature".into(),
        ),
        Kind::Redacted => (
            call_params(
                "everything__echo",
                &[(
                    "message",
                    json!(format!("soak {i} mail soak{i}@example.com")),
                )],
            ),
            "[REDACTED:pii.email]".into(),
        ),
        Kind::DenyEcho => (
            call_params(
                "everything__echo",
                &[("message", json!(format!("soak {i}; DROP TABLE users")))],
            ),
            "soak.no-drop-table".into(),
        ),
        Kind::DenyEnv => (
            call_params("everything__get-env", &[]),
            "soak.no-env".into(),
        ),
        Kind::DenyTime => (
            call_params(
                "time__get_current_time",
                &[("timezone", json!(DENIED_ZONE))],
            ),
            "soak.no-troll".into(),
        ),
        Kind::Blocked => (
            call_params(
                "everything__echo",
                &[("message", json!(format!("soak {i} key {FAKE_AWS_KEY}")))],
            ),
            "secret.aws-access-key".into(),
        ),
        Kind::List => (CallToolRequestParams::new("tools/list"), String::new()),
    }
}

/// One call of kind `k`; Ok when it was answered as planned.
async fn one_call(peer: &Peer<RoleClient>, k: Kind, i: u64, tools: usize) -> Result<(), String> {
    if k == Kind::List {
        let listed = peer
            .list_all_tools()
            .await
            .map_err(|e| format!("tools/list: {e}"))?;
        if listed.len() != tools {
            return Err(format!(
                "tools/list: {} tools, {tools} at the start",
                listed.len()
            ));
        }
        return Ok(());
    }
    let (params, want) = request(k, i);
    let tool = params.name.to_string();
    let r = peer
        .call_tool(params)
        .await
        .map_err(|e| format!("{tool}: {e}"))?;
    let v = serde_json::to_value(&r).map_err(|e| e.to_string())?;
    let text = v.to_string();
    let is_error = r.is_error == Some(true);
    if k.refused() {
        let kind = v["_meta"]["dev.toolgate/error"]["kind"].as_str();
        let want_kind = if k == Kind::Blocked {
            "guardrail"
        } else {
            "denied"
        };
        if !is_error || kind != Some(want_kind) || !text.contains(&want) {
            return Err(format!(
                "{}: expected a refusal ({want_kind}, {want}), got {}",
                k.name(),
                short(&text)
            ));
        }
        if k == Kind::Blocked && text.contains(FAKE_AWS_KEY) {
            return Err(format!("{}: the refusal shows the secret", k.name()));
        }
        return Ok(());
    }
    if is_error || !text.contains(&want) {
        return Err(format!(
            "{}: expected a result holding {want:?}, got {}",
            k.name(),
            short(&text)
        ));
    }
    if k == Kind::Redacted && text.contains("@example.com") {
        return Err(format!("{}: the e-mail address came through", k.name()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Processes (`common::procs`)

/// Summed VmRSS (KiB) of the descendants of `root`.
fn descendants_rss_kib(root: u32) -> u64 {
    let (tree, _) = process_tree(&[root as i32], |_| false);
    tree.iter()
        .filter(|p| p.pid != root as i32)
        .filter_map(|p| status_kib(p.pid, "VmRSS:"))
        .sum()
}

/// One second's reading of the serve process.
#[derive(Debug, Clone)]
struct Sample {
    t: f64,
    rss_kib: u64,
    hwm_kib: u64,
    fds: usize,
    threads: u64,
    upstreams_rss_kib: u64,
}

/// One `audit status` (and receiver) reading.
#[derive(Debug, Clone, Default)]
struct AuditSample {
    t: f64,
    records: u64,
    bytes: u64,
    last_seq: u64,
    waiting: u64,
    acked_seq: u64,
    failures: u64,
    last_error: Option<String>,
    received_lines: usize,
    receiver_attempts: u64,
    receiver_refused: u64,
    state: StateSizes,
}

/// One call's outcome: seconds since the start (when sent), kind, latency.
struct CallRecord {
    t: f64,
    kind: Kind,
    ms: f64,
    ok: bool,
}

#[derive(Default)]
struct Shared {
    calls: Vec<CallRecord>,
    errors: Vec<(f64, String)>,
    error_count: usize,
    /// When each error happened (all of them, for the table).
    error_times: Vec<f64>,
    samples: Vec<Sample>,
    audit: Vec<AuditSample>,
}

impl Shared {
    fn error(&mut self, t: f64, msg: String) {
        self.error_count += 1;
        self.error_times.push(t);
        if self.errors.len() < 50 {
            eprintln!("error at {t:.1} s: {msg}");
            self.errors.push((t, msg));
        }
    }
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(s: &SharedRef) -> std::sync::MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// The run

/// Reads the serve process once; `None` once it is gone.
fn sample(pid: u32, t: f64) -> Option<Sample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    if status
        .lines()
        .find(|l| l.starts_with("State:"))
        .is_some_and(|l| l.contains('Z'))
    {
        return None;
    }
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Sample {
        t,
        rss_kib: status_field(&status, "VmRSS:")?,
        hwm_kib: status_field(&status, "VmHWM:").unwrap_or(0),
        fds,
        threads: status_field(&status, "Threads:").unwrap_or(0),
        upstreams_rss_kib: descendants_rss_kib(pid),
    })
}

/// The end of the run: what the collector got, and the trail's verdict.
#[derive(Default)]
struct Final {
    flush: Value,
    status: Value,
    verify: Value,
    verify_code: Option<i32>,
    /// Records (not checkpoints) the receiver wrote, duplicates included.
    received: usize,
    distinct: usize,
    duplicates: usize,
    missing: Vec<u64>,
    last_seq: u64,
    checkpoints_received: usize,
    /// Call records received (distinct), per decision.
    decisions: BTreeMap<String, usize>,
    call_records: usize,
}

struct Outcome {
    shared: Shared,
    tools: usize,
    sent: BTreeMap<Kind, usize>,
    final_: Final,
    serve_log: ServeLog,
    elapsed: f64,
    /// From closing serve's stdin to its exit.
    shutdown_s: f64,
    /// Non-empty lines the receiver wrote on stderr (a failed request).
    receiver_stderr: usize,
}

/// What serve wrote on stderr (its log at the default level).
#[derive(Default)]
struct ServeLog {
    /// WARN lines that are governance events (`event="guardrail"`...), by
    /// event: the mix causes them on purpose.
    events: BTreeMap<String, usize>,
    /// Other WARN lines.
    warn: usize,
    error: usize,
    panicked: bool,
    /// The first ERROR, other WARN and panic lines.
    first: Vec<String>,
}

fn read_serve_log(path: &Path) -> ServeLog {
    let mut log = ServeLog::default();
    for line in fs::read_to_string(path).unwrap_or_default().lines() {
        let panicked = line.contains("panicked");
        let is_error = line.contains(" ERROR ");
        let event = line
            .split_once(" event=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(name, _)| name.to_string());
        let is_warn = line.contains(" WARN ");
        log.panicked |= panicked;
        if is_error {
            log.error += 1;
        } else if is_warn {
            match event {
                Some(e) => *log.events.entry(e).or_default() += 1,
                None => log.warn += 1,
            }
        }
        let notable = panicked || is_error || (is_warn && !line.contains(" event=\""));
        if notable && log.first.len() < 10 {
            log.first.push(short(line));
        }
    }
    log
}

async fn soak(
    o: &Opts,
    home: &Path,
    scratch: &Path,
    receiver: &Receiver,
    groups: &mut BTreeSet<i32>,
) -> Result<Outcome> {
    let serve_log = scratch.join("serve.stderr.log");
    eprintln!("[soak] starting toolgate serve (home {})", home.display());
    let serve = start_serve(home, &serve_log).await?;
    groups.insert(serve.pid as i32);
    let tools = wait_for_tools(&serve).await?;
    eprintln!("[soak] {tools} tools listed; checking each kind of call once");
    // Every kind once, before the clock starts: a misconfiguration is a
    // setup failure, not ten minutes of errors.
    for (n, k) in Kind::ALL.iter().enumerate() {
        one_call(serve.peer(), *k, 1_000_000 + n as u64, tools)
            .await
            .map_err(|e| anyhow::anyhow!("sanity call: {e}"))?;
    }

    let shared: SharedRef = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let end = start + o.duration;
    let secs = move || start.elapsed().as_secs_f64();

    // Every second: the process.
    let sampler = {
        let shared = shared.clone();
        let stop = stop.clone();
        let pid = serve.pid;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let t = secs();
                match sample(pid, t) {
                    Some(s) => lock(&shared).samples.push(s),
                    None => {
                        lock(&shared).error(t, "toolgate serve is gone".into());
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    // Every 30 s: the trail and the collector.
    let stop_status = Arc::new(Notify::new());
    let status_task = {
        let shared = shared.clone();
        let stop = stop.clone();
        let stop_status = stop_status.clone();
        let home = home.to_path_buf();
        let mut r = receiver.view();
        let every = o.status_every;
        async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    // notify_one keeps a permit: a stop that comes while a
                    // reading runs is not missed.
                    _ = stop_status.notified() => break,
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = secs();
                match r.audit_sample(&home, t).await {
                    Ok(a) => {
                        eprintln!(
                            "[soak] {t:>5.0} s: trail {} records, {} waiting for the sink, \
                             {} acknowledged, receiver {} lines",
                            a.records, a.waiting, a.acked_seq, a.received_lines
                        );
                        lock(&shared).audit.push(a);
                    }
                    Err(e) => lock(&shared).error(t, format!("audit status: {e:#}")),
                }
            }
            r
        }
    };
    let status_handle = tokio::spawn(status_task);

    // The load: open loop.
    eprintln!(
        "[soak] {} calls/s for {:?} (warm-up {:?})",
        o.rate, o.duration, o.warmup
    );
    let mix = mix();
    let inflight = Arc::new(AtomicUsize::new(0));
    let mut set: JoinSet<()> = JoinSet::new();
    let mut sent: BTreeMap<Kind, usize> = BTreeMap::new();
    let period = Duration::from_secs_f64(1.0 / o.rate);
    let mut k: u64 = 0;
    let mut last_progress = 0u64;
    loop {
        let due = start + period.mul_f64(k as f64);
        if due >= end || stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        while set.try_join_next().is_some() {}
        let kind = mix[(k % mix.len() as u64) as usize];
        let i = k;
        k += 1;
        if inflight.load(Ordering::Relaxed) >= MAX_INFLIGHT {
            lock(&shared).error(
                secs(),
                format!("{MAX_INFLIGHT} calls in flight: call {i} not sent"),
            );
            continue;
        }
        *sent.entry(kind).or_default() += 1;
        inflight.fetch_add(1, Ordering::Relaxed);
        let peer = serve.peer().clone();
        let shared = shared.clone();
        let in_flight = inflight.clone();
        set.spawn(async move {
            let t0 = Instant::now();
            let t = secs();
            let r = match tokio::time::timeout(CALL_TIMEOUT, one_call(&peer, kind, i, tools)).await
            {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "{}: no answer in {CALL_TIMEOUT:?} (call {i})",
                    kind.name()
                )),
            };
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let mut s = lock(&shared);
            s.calls.push(CallRecord {
                t,
                kind,
                ms,
                ok: r.is_ok(),
            });
            if let Err(e) = r {
                s.error(t, e);
            }
        });
        let elapsed = start.elapsed().as_secs();
        if elapsed >= last_progress + 30 && elapsed > 0 {
            last_progress = elapsed;
            eprintln!(
                "[soak] {elapsed} s: {k} calls sent, {} in flight",
                inflight.load(Ordering::Relaxed)
            );
        }
    }
    // Let the last calls answer.
    while set.join_next().await.is_some() {}
    let elapsed = secs();
    stop.store(true, Ordering::Relaxed);
    stop_status.notify_one();
    let _ = sampler.await;
    let mut view = status_handle.await.unwrap_or_else(|_| receiver.view());
    // One more reading after the load, before shutdown.
    match view.audit_sample(home, secs()).await {
        Ok(a) => lock(&shared).audit.push(a),
        Err(e) => lock(&shared).error(secs(), format!("audit status: {e:#}")),
    }

    eprintln!("[soak] stopping serve (stdin closed)");
    let stderr_log = serve.stderr_log.clone();
    let t = Instant::now();
    // rmcp closes stdin, waits 3 s, then sends SIGTERM, waits, kills.
    match tokio::time::timeout(Duration::from_secs(30), serve.service.cancel()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => lock(&shared).error(secs(), format!("serve shutdown: {e}")),
        Err(_) => lock(&shared).error(secs(), "serve shutdown: no exit within 30 s".into()),
    }
    let shutdown_s = t.elapsed().as_secs_f64();
    if shutdown_s >= SHUTDOWN_LIMIT.as_secs_f64() {
        lock(&shared).error(
            secs(),
            format!(
                "serve took {shutdown_s:.1} s to exit after its stdin closed \
                 (rmcp signals it after 3 s)"
            ),
        );
    }

    let mut shared = std::mem::take(&mut *lock(&shared));
    let final_ = finish(home, receiver, &mut shared).await?;
    Ok(Outcome {
        shared,
        tools,
        sent,
        final_,
        serve_log: read_serve_log(&stderr_log),
        elapsed,
        shutdown_s,
        receiver_stderr: 0,
    })
}

/// The receiver as the status readings see it: its port and its file.
struct ReceiverView {
    port: u16,
    out: PathBuf,
    /// Lines counted so far, up to this offset of its file (which grows
    /// by tens of MB in a long run: only the new part is read).
    read_to: u64,
    lines: usize,
}

impl ReceiverView {
    /// An `audit status` reading, with the receiver's view.
    async fn audit_sample(&mut self, home: &Path, t: f64) -> Result<AuditSample> {
        let (code, v) = toolgate_json(home, &["audit", "status", "--json"]).await?;
        ensure!(code == Some(0), "audit status exited {code:?}: {v}");
        let sink = &v["sinks"][0];
        let stats = stats_at(self.port).await.unwrap_or(Value::Null);
        let u = |v: &Value| v.as_u64().unwrap_or(0);
        Ok(AuditSample {
            t,
            records: u(&v["records"]),
            bytes: u(&v["bytes"]),
            last_seq: u(&v["last_seq"]),
            waiting: u(&sink["waiting"]),
            acked_seq: u(&sink["acked_seq"]),
            failures: u(&sink["failures"]),
            last_error: sink["last_error"].as_str().map(str::to_string),
            received_lines: self.count_lines(),
            receiver_attempts: u(&stats["attempts"]),
            receiver_refused: u(&stats["refused"]),
            state: StateSizes::of(home),
        })
    }

    fn count_lines(&mut self) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = fs::File::open(&self.out) else {
            return self.lines;
        };
        if f.seek(SeekFrom::Start(self.read_to)).is_err() {
            return self.lines;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_ok() {
            // Up to the last complete line only.
            if let Some(last) = buf.iter().rposition(|&c| c == b'\n') {
                self.lines += buf[..=last].iter().filter(|&&c| c == b'\n').count();
                self.read_to += last as u64 + 1;
            }
        }
        self.lines
    }
}

/// Sizes of what toolgate keeps on disk.
#[derive(Debug, Clone, Default)]
struct StateSizes {
    /// Everything under `state/`.
    total: u64,
    /// `state/logs/`.
    logs: u64,
    /// `state/toolgate.db` and its WAL (rate-limit buckets and the like).
    store: u64,
}

impl StateSizes {
    fn of(home: &Path) -> Self {
        let state = home.join("state");
        let file = |name: &str| fs::metadata(state.join(name)).map_or(0, |m| m.len());
        StateSizes {
            total: dir_size(&state),
            logs: dir_size(&state.join("logs")),
            store: file("toolgate.db") + file("toolgate.db-wal"),
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The receiver's `GET /stats`: `{"attempts", "refused"}`.
async fn stats_at(port: u16) -> Result<Value> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(serde_json::from_str(body)?)
}

/// After serve stopped: flush, count what the receiver has, verify.
async fn finish(home: &Path, receiver: &Receiver, shared: &mut Shared) -> Result<Final> {
    let mut f = Final::default();
    let now = shared.calls.last().map_or(0.0, |c| c.t);
    eprintln!("[soak] toolgate audit flush");
    let (code, flush) = toolgate_json(home, &["audit", "flush", "--json"]).await?;
    if code != Some(0) || flush["ok"] != true {
        shared.error(now, format!("audit flush exited {code:?}: {flush}"));
    }
    f.flush = flush;
    let (_, status) = toolgate_json(home, &["audit", "status", "--json"]).await?;
    let sink = &status["sinks"][0];
    if status["records"].as_u64() != Some(0) || sink["waiting"].as_u64() != Some(0) {
        shared.error(
            now,
            format!(
                "after the flush the trail still holds {} records, {} waiting for the sink",
                status["records"], sink["waiting"]
            ),
        );
    }
    if let Some(e) = sink["last_error"].as_str() {
        shared.error(now, format!("the sink's last error: {e}"));
    }
    f.last_seq = sink["acked_seq"].as_u64().unwrap_or(0);
    f.status = status;

    // What the receiver has.
    let mut seqs: BTreeMap<u64, usize> = BTreeMap::new();
    let mut call_ids: BTreeSet<String> = BTreeSet::new();
    for l in receiver.lines()? {
        let l = match l {
            Ok(l) => l,
            Err(bad) => {
                shared.error(
                    now,
                    format!("a line of the receiver's file: {}", short(&bad)),
                );
                continue;
            }
        };
        if l["event_name"] == "toolgate.audit.checkpoint" {
            f.checkpoints_received += 1;
            continue;
        }
        f.received += 1;
        let Some(seq) = l["seq"].as_u64() else {
            shared.error(
                now,
                format!("a received record without seq: {}", short(&l.to_string())),
            );
            continue;
        };
        *seqs.entry(seq).or_default() += 1;
        if l["event_name"] == "toolgate.audit.call" {
            let body: Value = l["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            let id = body["id"].as_str().unwrap_or_default().to_string();
            if call_ids.insert(id) {
                let d = body["decision"].as_str().unwrap_or("none").to_string();
                *f.decisions.entry(d).or_default() += 1;
            }
        }
    }
    f.call_records = call_ids.len();
    f.distinct = seqs.len();
    f.duplicates = f.received - f.distinct;
    let top = seqs
        .keys()
        .next_back()
        .copied()
        .unwrap_or(0)
        .max(f.last_seq);
    f.missing = (1..=top).filter(|s| !seqs.contains_key(s)).collect();
    if top != f.last_seq {
        shared.error(
            now,
            format!(
                "the receiver has records up to {top}, the sink's acknowledgement says {}",
                f.last_seq
            ),
        );
    }
    if !f.missing.is_empty() {
        shared.error(
            now,
            format!(
                "the receiver lacks {} record(s) of 1..={top}: {:?}",
                f.missing.len(),
                &f.missing[..f.missing.len().min(20)]
            ),
        );
    }

    eprintln!("[soak] toolgate audit verify");
    let (code, verify) = toolgate_json(home, &["audit", "verify", "--json"]).await?;
    f.verify_code = code;
    if code != Some(0) || verify["intact"] != true {
        shared.error(now, format!("audit verify exited {code:?}: {verify}"));
    }
    if verify["signed_checkpoints"].as_u64().unwrap_or(0) == 0 {
        shared.error(now, "audit verify: no signed checkpoint".into());
    }
    f.verify = verify;
    Ok(f)
}

// ---------------------------------------------------------------------------
// Report

struct RowFigures {
    label: String,
    from: f64,
    to: f64,
    warmup: bool,
    calls: usize,
    rate: f64,
    refused: usize,
    p50: f64,
    p99: f64,
    max_ms: f64,
    rss_mib: f64,
    fds: f64,
    threads: f64,
    waiting: Option<u64>,
    errors: usize,
}

fn rows(o: &Opts, out: &Outcome) -> Vec<RowFigures> {
    let s = &out.shared;
    let step = o.row.as_secs_f64();
    let total = out.elapsed.max(o.duration.as_secs_f64());
    let n = (o.duration.as_secs_f64() / step).ceil() as usize;
    let mut v = Vec::new();
    for r in 0..n {
        let from = r as f64 * step;
        let to = ((r + 1) as f64 * step).min(total);
        let calls: Vec<&CallRecord> = s.calls.iter().filter(|c| c.t >= from && c.t < to).collect();
        let lat = sorted(&calls.iter().map(|c| c.ms).collect::<Vec<_>>());
        let samples: Vec<&Sample> = s
            .samples
            .iter()
            .filter(|x| x.t >= from && x.t < to)
            .collect();
        let label = if step >= 60.0 && step.fract() == 0.0 && (step as u64).is_multiple_of(60) {
            format!("{}", (from / 60.0) as u64 + 1)
        } else {
            format!("{from:.0}–{to:.0} s")
        };
        v.push(RowFigures {
            label,
            from,
            to,
            warmup: from < o.warmup.as_secs_f64(),
            calls: calls.len(),
            rate: calls.len() as f64 / (to - from).max(1e-9),
            refused: calls.iter().filter(|c| c.kind.refused()).count(),
            p50: percentile(&lat, 50.0),
            p99: percentile(&lat, 99.0),
            max_ms: lat.last().copied().unwrap_or(f64::NAN),
            rss_mib: mean(
                &samples
                    .iter()
                    .map(|x| x.rss_kib as f64 / 1024.0)
                    .collect::<Vec<_>>(),
            ),
            fds: max(&samples.iter().map(|x| x.fds as f64).collect::<Vec<_>>()),
            threads: max(&samples.iter().map(|x| x.threads as f64).collect::<Vec<_>>()),
            waiting: s
                .audit
                .iter()
                .rfind(|a| a.t >= from && a.t < to + 1.0)
                .map(|a| a.waiting),
            errors: s
                .error_times
                .iter()
                .filter(|&&t| t >= from && t < to)
                .count(),
        });
    }
    v
}

/// First vs last window after warm-up: (mean, max) of each.
struct Growth {
    first_mean: f64,
    last_mean: f64,
    first_max: f64,
    last_max: f64,
}

impl Growth {
    fn of(o: &Opts, samples: &[Sample], f: impl Fn(&Sample) -> f64, end: f64) -> Self {
        let w = o.window().as_secs_f64();
        let a = o.warmup.as_secs_f64();
        let first: Vec<f64> = samples
            .iter()
            .filter(|s| s.t >= a && s.t < a + w)
            .map(&f)
            .collect();
        let last: Vec<f64> = samples
            .iter()
            .filter(|s| s.t >= end - w && s.t <= end)
            .map(&f)
            .collect();
        Growth {
            first_mean: mean(&first),
            last_mean: mean(&last),
            first_max: max(&first),
            last_max: max(&last),
        }
    }

    fn mean_growth(&self) -> f64 {
        self.last_mean / self.first_mean - 1.0
    }

    fn max_growth(&self) -> f64 {
        self.last_max / self.first_max - 1.0
    }
}

struct Check {
    what: String,
    ok: bool,
}

fn checks(o: &Opts, out: &Outcome, rss: &Growth, fds: &Growth) -> Vec<Check> {
    let s = &out.shared;
    let f = &out.final_;
    let mut c = Vec::new();
    let pct = |g: f64| format!("{:+.1} %", g * 100.0);
    c.push(Check {
        what: format!(
            "RSS: mean {:.2} → {:.2} MiB ({}), max {:.2} → {:.2} MiB ({}); limit +{:.0} %",
            rss.first_mean / 1024.0,
            rss.last_mean / 1024.0,
            pct(rss.mean_growth()),
            rss.first_max / 1024.0,
            rss.last_max / 1024.0,
            pct(rss.max_growth()),
            MAX_GROWTH * 100.0
        ),
        ok: rss.mean_growth() <= MAX_GROWTH && rss.max_growth() <= MAX_GROWTH,
    });
    c.push(Check {
        what: format!(
            "open fds: mean {:.1} → {:.1} ({}), max {:.0} → {:.0}; limit +{:.0} % (max: +1 fd)",
            fds.first_mean,
            fds.last_mean,
            pct(fds.mean_growth()),
            fds.first_max,
            fds.last_max,
            MAX_GROWTH * 100.0
        ),
        ok: fds.mean_growth() <= MAX_GROWTH
            && (fds.max_growth() <= MAX_GROWTH || fds.last_max <= fds.first_max + 1.0),
    });
    let answered = s.calls.len();
    let bad = s.calls.iter().filter(|c| !c.ok).count();
    let refused = s.calls.iter().filter(|c| c.ok && c.kind.refused()).count();
    c.push(Check {
        what: format!(
            "calls: {answered} made, {refused} refused as planned, {bad} unexpected; {} error(s) in all",
            s.error_count
        ),
        ok: s.error_count == 0,
    });
    let failures = s.audit.iter().map(|a| a.failures).max().unwrap_or(0);
    let refused_rx = s
        .audit
        .iter()
        .map(|a| a.receiver_refused)
        .max()
        .unwrap_or(0);
    let sink_errors = s.audit.iter().filter(|a| a.last_error.is_some()).count();
    let acked_during = s
        .audit
        .iter()
        .filter(|a| a.t <= out.elapsed)
        .map(|a| a.acked_seq)
        .max()
        .unwrap_or(0);
    let rx_err = out.receiver_stderr;
    c.push(Check {
        what: format!(
            "upload during the run: {acked_during} records acknowledged by the receiver, \
             sink failures {failures}, readings with a sink error {sink_errors}, \
             receiver refusals {refused_rx}, receiver stderr lines {rx_err}"
        ),
        ok: acked_during > 0 && failures == 0 && sink_errors == 0 && refused_rx == 0 && rx_err == 0,
    });
    // The uploader keeps up: records waiting, in seconds of records.
    let after: Vec<&AuditSample> = s
        .audit
        .iter()
        .filter(|a| a.t >= o.warmup.as_secs_f64())
        .collect();
    let first = s.audit.first();
    let last = s.audit.last();
    let per_sec = match (first, last) {
        (Some(a), Some(b)) if b.t > a.t => {
            (b.last_seq.max(b.acked_seq) as f64 - a.last_seq.max(a.acked_seq) as f64) / (b.t - a.t)
        }
        _ => 0.0,
    };
    let max_wait = after.iter().map(|a| a.waiting).max().unwrap_or(0);
    let lag = if per_sec > 0.0 {
        max_wait as f64 / per_sec
    } else {
        0.0
    };
    c.push(Check {
        what: format!(
            "spool: at most {max_wait} records waiting after warm-up ({lag:.1} s of records at \
             {per_sec:.0} records/s; limit {MAX_LAG_SECS:.0} s)"
        ),
        ok: lag <= MAX_LAG_SECS,
    });
    // The end.
    let sent_calls: usize = out
        .sent
        .iter()
        .filter(|(k, _)| **k != Kind::List)
        .map(|(_, n)| n)
        .sum::<usize>()
        + Kind::ALL.iter().filter(|k| **k != Kind::List).count();
    let want = |d: &str| -> usize {
        out.sent
            .iter()
            .filter(|(k, _)| k.decision() == Some(d))
            .map(|(_, n)| n)
            .sum::<usize>()
            + Kind::ALL.iter().filter(|k| k.decision() == Some(d)).count()
    };
    let got = |d: &str| f.decisions.get(d).copied().unwrap_or(0);
    let decisions_ok = ["allow", "observe", "deny", "blocked"]
        .iter()
        .all(|d| got(d) == want(d))
        && f.decisions
            .keys()
            .all(|d| ["allow", "observe", "deny", "blocked"].contains(&d.as_str()));
    c.push(Check {
        what: format!(
            "collector: records 1..={} all received ({} missing, {} duplicate(s)), {} checkpoints; \
             {} call records for {sent_calls} tools/call sent; decisions allow {}/{}, observe {}/{}, \
             deny {}/{}, blocked {}/{} (received/sent)",
            f.last_seq,
            f.missing.len(),
            f.duplicates,
            f.checkpoints_received,
            f.call_records,
            got("allow"),
            want("allow"),
            got("observe"),
            want("observe"),
            got("deny"),
            want("deny"),
            got("blocked"),
            want("blocked"),
        ),
        ok: f.last_seq > 0
            && f.missing.is_empty()
            && f.call_records == sent_calls
            && decisions_ok
            && f.flush["ok"] == true,
    });
    c.push(Check {
        what: format!(
            "audit verify: exit {:?}, intact {}, {} signed checkpoint(s), anchor at {}",
            f.verify_code,
            f.verify["intact"],
            f.verify["signed_checkpoints"],
            f.verify["anchor"]["seq"]
        ),
        ok: f.verify_code == Some(0)
            && f.verify["intact"] == true
            && f.verify["signed_checkpoints"].as_u64().unwrap_or(0) > 0,
    });
    let l = &out.serve_log;
    c.push(Check {
        what: format!(
            "serve's log: {} ERROR, {} WARN line(s){}; governance events (WARN, expected): {}",
            l.error,
            l.warn,
            if l.panicked { ", a panic" } else { "" },
            if l.events.is_empty() {
                "none".to_string()
            } else {
                l.events
                    .iter()
                    .map(|(e, n)| format!("{e} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        ok: l.error == 0 && !l.panicked,
    });
    c
}

/// Figures shown for reference, not judged.
fn notes(o: &Opts, out: &Outcome, end: f64, machine: &Value) -> Vec<String> {
    let samples = &out.shared.samples;
    let up = Growth::of(o, samples, |s| s.upstreams_rss_kib as f64, end);
    let threads = Growth::of(o, samples, |s| s.threads as f64, end);
    let mut v = vec![format!(
        "upstreams' RSS (server-everything and mcp-server-time together): mean {:.1} → {:.1} MiB ({:+.1} %)",
        up.first_mean / 1024.0,
        up.last_mean / 1024.0,
        up.mean_growth() * 100.0
    )];
    v.push(format!(
        "toolgate threads: max {:.0} → {:.0}; peak RSS (VmHWM) at the end {:.2} MiB",
        threads.first_max,
        threads.last_max,
        samples.last().map_or(0.0, |s| s.hwm_kib as f64 / 1024.0)
    ));
    let after: Vec<&AuditSample> = out
        .shared
        .audit
        .iter()
        .filter(|a| a.t >= o.warmup.as_secs_f64())
        .collect();
    if let (Some(a), Some(b)) = (after.first(), after.last()) {
        let mib = |b: u64| b as f64 / 1048576.0;
        v.push(format!(
            "state folder: {:.2} → {:.2} MiB (logs {:.2} → {:.2}, toolgate.db + WAL {:.2} → {:.2})",
            mib(a.state.total),
            mib(b.state.total),
            mib(a.state.logs),
            mib(b.state.logs),
            mib(a.state.store),
            mib(b.state.store)
        ));
        v.push(format!(
            "audit.db + WAL: {:.2} → {:.2} MiB from {:.0} s to {:.0} s ({} → {} records kept)",
            a.bytes as f64 / 1048576.0,
            b.bytes as f64 / 1048576.0,
            a.t,
            b.t,
            a.records,
            b.records
        ));
    }
    v.push(format!(
        "stdin closed → serve exited: {:.2} s",
        out.shutdown_s
    ));
    v.push(format!(
        "load average: {} at the start, {} at the end ({} CPUs)",
        machine["loadavg"].as_str().unwrap_or("?"),
        common::loadavg(),
        machine["nproc"]
    ));
    v
}

fn print_report(o: &Opts, out: &Outcome, r: &Report<'_>) {
    let Report {
        rows,
        checks,
        notes,
        leaks,
        ..
    } = *r;
    println!("# toolgate soak run\n");
    println!("- command: `{}`", o.command_line());
    println!(
        "- {} calls/s for {:.0} s (warm-up {:.0} s; windows of {:.0} s compared), {} tools listed",
        o.rate,
        o.duration.as_secs_f64(),
        o.warmup.as_secs_f64(),
        o.window().as_secs_f64(),
        out.tools
    );
    println!("- toolgate: `{}`", toolgate_bin().display());
    if o.quick {
        println!("- **quick run**: a smoke test, not the soak figure");
    }
    println!();
    println!(
        "| {} | calls | calls/s | refused | p50 ms | p99 ms | max ms | RSS MiB | fds | threads | spool waiting | errors |",
        if o.row.as_secs() == 60 {
            "minute"
        } else {
            "time"
        }
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            if r.warmup { " (warm-up)" } else { "" },
            r.calls,
            fmt(r.rate, 1),
            r.refused,
            fmt(r.p50, 3),
            fmt(r.p99, 3),
            fmt(r.max_ms, 1),
            fmt(r.rss_mib, 2),
            fmt(r.fds, 0),
            fmt(r.threads, 0),
            r.waiting.map_or("—".into(), |w| w.to_string()),
            r.errors
        );
    }
    println!();
    for c in checks {
        println!("- [{}] {}", if c.ok { "ok" } else { "FAIL" }, c.what);
    }
    println!(
        "- [{}] leftover processes: {}",
        if leaks.is_empty() { "ok" } else { "FAIL" },
        if leaks.is_empty() {
            "none".into()
        } else {
            leaks.join(", ")
        }
    );
    for n in notes {
        println!("- [info] {n}");
    }
    if !out.shared.errors.is_empty() {
        println!("\nFirst errors:\n");
        for (t, e) in out.shared.errors.iter().take(10) {
            println!("- {t:.1} s: {}", short(e));
        }
    }
    if !out.serve_log.first.is_empty() {
        println!("\nserve's first ERROR and WARN lines (other than governance events):\n");
        for l in &out.serve_log.first {
            println!("    {l}");
        }
    }
}

/// What is printed and written.
struct Report<'a> {
    rows: &'a [RowFigures],
    checks: &'a [Check],
    notes: &'a [String],
    leaks: &'a [String],
    pass: bool,
}

fn report_json(o: &Opts, out: &Outcome, r: &Report<'_>, machine: &Value) -> Value {
    let Report {
        rows,
        checks,
        notes,
        leaks,
        pass,
    } = *r;
    let s = &out.shared;
    let f = &out.final_;
    json!({
        "version": 1,
        "unix_time": common::unix_time(),
        "command": o.command_line(),
        "machine": machine,
        "loadavg_end": common::loadavg(),
        "toolgate": toolgate_bin(),
        "options": {
            "duration_s": o.duration.as_secs_f64(), "rate": o.rate,
            "warmup_s": o.warmup.as_secs_f64(), "window_s": o.window().as_secs_f64(),
            "row_s": o.row.as_secs_f64(), "quick": o.quick,
        },
        "mix": Kind::ALL.iter().map(|k| json!({"kind": k.name(), "per_100": k.share()})).collect::<Vec<_>>(),
        "sent": out.sent.iter().map(|(k, n)| (k.name().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "tools_listed": out.tools,
        "elapsed_s": out.elapsed,
        "shutdown_s": out.shutdown_s,
        "rows": rows.iter().map(|r| json!({
            "label": r.label, "from_s": r.from, "to_s": r.to, "warmup": r.warmup,
            "calls": r.calls, "calls_per_s": r.rate, "refused": r.refused,
            "p50_ms": r.p50, "p99_ms": r.p99, "max_ms": r.max_ms,
            "rss_mib_mean": r.rss_mib, "fds_max": r.fds, "threads_max": r.threads,
            "spool_waiting": r.waiting, "errors": r.errors,
        })).collect::<Vec<_>>(),
        "samples": {
            "fields": ["t_s", "vm_rss_kib", "vm_hwm_kib", "fds", "threads", "upstreams_rss_kib"],
            "rows": s.samples.iter().map(|x| json!([
                (x.t * 1000.0).round() / 1000.0, x.rss_kib, x.hwm_kib, x.fds, x.threads, x.upstreams_rss_kib
            ])).collect::<Vec<_>>(),
        },
        "audit_status": s.audit.iter().map(|a| json!({
            "t_s": a.t, "records": a.records, "bytes": a.bytes, "last_seq": a.last_seq,
            "waiting": a.waiting, "acked_seq": a.acked_seq, "failures": a.failures,
            "last_error": a.last_error, "receiver_lines": a.received_lines,
            "receiver_attempts": a.receiver_attempts, "receiver_refused": a.receiver_refused,
            "state_bytes": a.state.total, "logs_bytes": a.state.logs, "store_bytes": a.state.store,
        })).collect::<Vec<_>>(),
        "calls": {
            "fields": ["t_s", "kind", "ms", "ok"],
            "rows": s.calls.iter().map(|c| json!([
                (c.t * 1000.0).round() / 1000.0, c.kind.name(), (c.ms * 1000.0).round() / 1000.0, c.ok
            ])).collect::<Vec<_>>(),
        },
        "errors": { "count": s.error_count, "first": s.errors.iter().map(|(t, e)| json!({"t_s": t, "error": e})).collect::<Vec<_>>() },
        "end": {
            "flush": f.flush, "status": f.status, "verify": f.verify,
            "received_records": f.received, "distinct": f.distinct, "duplicates": f.duplicates,
            "missing": f.missing, "last_seq": f.last_seq, "checkpoints_received": f.checkpoints_received,
            "call_records": f.call_records, "decisions": f.decisions,
        },
        "serve_log": { "events": out.serve_log.events, "warn": out.serve_log.warn, "error": out.serve_log.error, "panicked": out.serve_log.panicked, "first": out.serve_log.first },
        "notes": notes,
        "checks": checks.iter().map(|c| json!({"check": c.what, "ok": c.ok})).collect::<Vec<_>>(),
        "leaked_processes": leaks,
        "pass": pass,
    })
}

// ---------------------------------------------------------------------------

async fn run(o: Opts) -> Result<bool> {
    let tb = Testbed::find()?;
    common::require_toolgate()?;
    let machine = machine_json();
    let out_dir = common::out_dir()?;
    let scratch = common::scratch(&out_dir, "tmp-soak-")?;
    let home = scratch.path().join("home");
    let mut groups = BTreeSet::new();
    let mut leaks = Vec::new();

    let mut receiver = Receiver::start(&tb.python, scratch.path())?;
    groups.insert(receiver.pid());
    eprintln!("[soak] receiver on 127.0.0.1:{}", receiver.port);
    write_config(&home, &tb, receiver.port)?;

    let outcome = soak(&o, &home, scratch.path(), &receiver, &mut groups).await;
    let rx_stderr = receiver.stderr();
    receiver.stop();
    check_no_leftovers(&groups, |_| false, "the run", &mut leaks).await;
    delete_device_key(&home);
    let mut out = match outcome {
        Ok(out) => out,
        Err(e) => {
            let kept = scratch.keep();
            eprintln!("scratch folder kept: {}", kept.display());
            return Err(e);
        }
    };
    // The receiver's stderr: anything there is a failed request.
    let rx_lines = rx_stderr.lines().filter(|l| !l.trim().is_empty()).count();
    out.receiver_stderr = rx_lines;
    if rx_lines > 0 {
        out.shared.error(
            out.elapsed,
            format!("the receiver wrote on stderr: {}", short(&rx_stderr)),
        );
    }

    let samples = &out.shared.samples;
    let end = out.elapsed.min(o.duration.as_secs_f64());
    let rss = Growth::of(&o, samples, |s| s.rss_kib as f64, end);
    let fds = Growth::of(&o, samples, |s| s.fds as f64, end);
    let rows = rows(&o, &out);
    let checks = checks(&o, &out, &rss, &fds);
    let pass = checks.iter().all(|c| c.ok) && leaks.is_empty();
    let notes = notes(&o, &out, end, &machine);
    let report = Report {
        rows: &rows,
        checks: &checks,
        notes: &notes,
        leaks: &leaks,
        pass,
    };
    print_report(&o, &out, &report);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.what.split(':').next().unwrap_or(""))
        .collect();
    println!(
        "\nverdict: {} — RSS {:+.1} % (mean), {:+.1} % (max); fds {:+.1} % (mean), {:+.0} (max); \
         {} unexpected error(s); {} records delivered{}",
        if pass { "PASS" } else { "FAIL" },
        rss.mean_growth() * 100.0,
        rss.max_growth() * 100.0,
        fds.mean_growth() * 100.0,
        fds.last_max - fds.first_max,
        out.shared.error_count,
        out.final_.last_seq,
        if pass {
            String::new()
        } else {
            format!(
                "; failed: {}{}",
                failed.join(", "),
                if leaks.is_empty() {
                    ""
                } else {
                    ", leftover processes"
                }
            )
        }
    );
    let json = report_json(&o, &out, &report, &machine);
    common::write_figures(&out_dir.join("soak.json"), &json, false)?;
    if !pass || o.keep {
        let kept = scratch.keep();
        eprintln!(
            "scratch folder kept (toolgate's home, serve's stderr, the receiver's records): {}",
            kept.display()
        );
    }
    if !leaks.is_empty() {
        eprintln!("error: processes outlived the run (see above)");
        return Ok(false);
    }
    Ok(pass || !o.strict)
}

fn main() {
    common::run_bench(Opts::parse, run);
}
