//! Helpers of the end-to-end tests: the installed peers ([`Testbed`]), a
//! private toolgate home with its config ([`Home`], [`Server`]), real MCP
//! client scripts ([`run_client`]), a raw JSON-RPC driver of `toolgate serve`
//! ([`Serve`]) and process checks ([`wait_gone`], [`descendants`]).
//!
//! Every wait here is bounded and fires only on failure: a test that hangs
//! fails with what the processes said, never blocks the suite.

pub mod registry;
pub mod serve;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use serve::{Peer, Serve, assert_unknown_tool};

/// Bound of a whole client script run (each scenario takes a few seconds).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound of one wait on a process or a message.
pub const WAIT: Duration = Duration::from_secs(30);

/// The repository root.
/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The toolgate binary under test.
pub fn toolgate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_toolgate")
}

/// The absolute path of a fixture server, `tests/fixtures/NAME.py`.
pub fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures")
        .join(format!("{name}.py"))
        .display()
        .to_string()
}

/// The peers installed by `tests/testbed/setup.sh`: the `TESTBED_*`
/// variables of `target/testbed/env.sh`, or of the process environment.
#[derive(Debug, Clone)]
pub struct Testbed {
    vars: BTreeMap<String, String>,
}

const NOT_INSTALLED: &str =
    "the test bed is not installed: run bash tests/testbed/setup.sh (then re-run the tests)";

impl Testbed {
    pub fn load() -> Self {
        let mut vars: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("TESTBED_") || k == "TOOLGATE_TESTBED")
            .collect();
        if !vars.contains_key("TESTBED_PYTHON") {
            let dir = std::env::var("TOOLGATE_TESTBED")
                .map(PathBuf::from)
                .unwrap_or_else(|_| repo().join("target/testbed"));
            let text = std::fs::read_to_string(dir.join("env.sh"))
                .unwrap_or_else(|e| panic!("{NOT_INSTALLED} ({}: {e})", dir.display()));
            vars.extend(parse_env_sh(&text));
        }
        let tb = Self { vars };
        for key in ["TESTBED_PYTHON", "TESTBED_EVERYTHING", "TESTBED_TIME"] {
            let path = tb.get(key);
            assert!(
                Path::new(path).exists(),
                "{NOT_INSTALLED} ({key}={path} does not exist)"
            );
        }
        tb
    }

    pub fn get(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{NOT_INSTALLED} ({key} is not set)"))
    }

    pub fn python(&self) -> &str {
        self.get("TESTBED_PYTHON")
    }

    pub fn everything(&self) -> &str {
        self.get("TESTBED_EVERYTHING")
    }

    pub fn time(&self) -> &str {
        self.get("TESTBED_TIME")
    }

    /// Node 22 from the test bed, else the system's `node`.
    pub fn node(&self) -> String {
        self.vars
            .get("TESTBED_NODE22")
            .filter(|p| Path::new(p).exists())
            .cloned()
            .unwrap_or_else(|| "node".into())
    }

    pub fn vars(&self) -> impl Iterator<Item = (&String, &String)> {
        self.vars.iter()
    }
}

/// The `export K=V` lines of env.sh (values quoted by bash's `printf %q`).
fn parse_env_sh(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), unquote(v)))
        .collect()
}

fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// One `[servers.NAME]` entry of config.toml.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    extra: Vec<(String, String)>,
}

impl Server {
    pub fn new(name: &str, command: &str) -> Self {
        Self {
            name: name.into(),
            command: command.into(),
            args: Vec::new(),
            env: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// npm `@modelcontextprotocol/server-everything`, as `everything`.
    pub fn everything(tb: &Testbed) -> Self {
        Self::new("everything", tb.everything())
    }

    /// PyPI `mcp-server-time`, as `time`.
    pub fn time(tb: &Testbed) -> Self {
        Self::new("time", tb.time())
    }

    /// A fixture of tests/fixtures, named after it.
    pub fn fixture(tb: &Testbed, name: &str) -> Self {
        let mut s = Self::new(name, tb.python());
        s.args.push(fixture(name));
        s
    }

    /// The faulty fixture, appending its PIDs to `home`'s PID file.
    pub fn faulty(tb: &Testbed, home: &Home) -> Self {
        Self::fixture(tb, "faulty").env("FAULTY_PID_FILE", &home.pid_file().display().to_string())
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Any other key, its value given as TOML (`timeout`, "\"1s\"").
    pub fn set(mut self, key: &str, toml_value: &str) -> Self {
        self.extra.push((key.into(), toml_value.into()));
        self
    }

    pub fn timeout(self, t: &str) -> Self {
        self.set("timeout", &quote(t))
    }

    fn toml(&self) -> String {
        let mut out = format!(
            "[servers.{}]\ncommand = {}\n",
            self.name,
            quote(&self.command)
        );
        if !self.args.is_empty() {
            let args: Vec<_> = self.args.iter().map(|a| quote(a)).collect();
            out.push_str(&format!("args = [{}]\n", args.join(", ")));
        }
        if !self.env.is_empty() {
            let env: Vec<_> = self
                .env
                .iter()
                .map(|(k, v)| format!("{k} = {}", quote(v)))
                .collect();
            out.push_str(&format!("env = {{ {} }}\n", env.join(", ")));
        }
        for (k, v) in &self.extra {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out
    }
}

/// A TOML basic string (JSON's escapes are valid TOML).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// A private TOOLGATE_HOME in a temporary folder, removed on drop.
pub struct Home {
    dir: tempfile::TempDir,
    pub tb: Testbed,
}

impl Home {
    pub fn new() -> Self {
        let tb = Testbed::load();
        let dir = tempfile::Builder::new()
            .prefix("toolgate-e2e-")
            .tempdir()
            .expect("a temporary folder");
        Self { dir, tb }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_file(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    /// Where the faulty fixture writes its PIDs.
    pub fn pid_file(&self) -> PathBuf {
        self.path().join("faulty.pids")
    }

    /// The PIDs faulty wrote so far, oldest first.
    pub fn faulty_pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.pid_file())
            .unwrap_or_default()
            .split_whitespace()
            .map(|p| p.parse().expect("a PID"))
            .collect()
    }

    /// Writes config.toml: `serve` is the body of `[serve]` (tests mostly want
    /// `list_wait = "30s"`, so that every upstream is in the first tools/list),
    /// then the servers.
    pub fn write_config(&self, serve: &str, servers: &[Server]) {
        let mut text = format!("[serve]\n{serve}\n");
        for s in servers {
            text.push('\n');
            text.push_str(&s.toml());
        }
        self.write_raw_config(&text);
    }

    /// The usual config: every upstream waited for in the first list.
    pub fn config(&self, servers: &[Server]) {
        self.write_config("list_wait = \"30s\"", servers);
    }

    pub fn write_raw_config(&self, text: &str) {
        std::fs::write(self.config_file(), text).expect("write config.toml");
    }

    /// A command running toolgate in this home.
    pub fn toolgate(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(toolgate_bin());
        cmd.args(args);
        self.apply_env(&mut cmd);
        cmd
    }

    /// The environment every process of a test gets: this home, the test bed,
    /// and toolgate's debug log (shown when a test fails).
    pub fn apply_env(&self, cmd: &mut Command) {
        cmd.env("TOOLGATE_HOME", self.path())
            .env("TOOLGATE_BIN", toolgate_bin())
            .env("TOOLGATE_LOG", "debug")
            .env("FAULTY_PID_FILE", self.pid_file())
            .env("NO_COLOR", "1")
            // Org-managed settings only where a test writes them, never the
            // machine's own /etc/toolgate/managed.toml.
            .env("TOOLGATE_MANAGED_CONFIG", self.path().join("managed.toml"))
            // The test clock (absent: real time); see Home::advance_clock.
            .env("TOOLGATE_TEST_CLOCK_FILE", self.path().join("clock"))
            .env_remove("TOOLGATE_CONFIG");
        for (k, v) in self.tb.vars() {
            cmd.env(k, v);
        }
    }

    /// Moves the test clock of every process of this home forward.
    pub fn advance_clock(&self, secs: i64) {
        let path = self.path().join("clock");
        let now: i64 = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let tmp = self.path().join("clock.tmp");
        std::fs::write(&tmp, (now + secs).to_string()).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    /// Runs a toolgate command to its end (bounded).
    pub fn run_toolgate(&self, args: &[&str]) -> Finished {
        run_bounded(self.toolgate(args), CLIENT_TIMEOUT)
    }

    /// Runs a toolgate command with `input` on its stdin.
    pub fn run_toolgate_input(&self, args: &[&str], input: &str) -> Finished {
        run_bounded_input(self.toolgate(args), CLIENT_TIMEOUT, Some(input.as_bytes()))
    }

    /// Every file under this home, as (path, bytes): what toolgate wrote.
    pub fn all_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if let Ok(bytes) = std::fs::read(&p) {
                    out.push((p, bytes));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), &mut out);
        out
    }

    /// Fails the test if `needle` appears in any file under this home.
    pub fn assert_nowhere(&self, needle: &str) {
        let files = self.all_files();
        assert!(
            !files.is_empty(),
            "no files under {}",
            self.path().display()
        );
        for (path, bytes) in files {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds the canary {needle:?}",
                path.display()
            );
        }
    }
}

/// How a process ended, and what it wrote.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Finished {
    /// Both outputs, for an assertion message (the tail of a long stderr).
    pub fn describe(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(300)..].join("\n");
        format!(
            "status {:?} after {:.1?}\n---- stdout ----\n{}\n---- stderr (last 300 lines) ----\n{}\n----",
            self.status, self.took, self.stdout, tail
        )
    }
}

/// Asserts that a command succeeded, showing its output otherwise.
pub fn ok(done: &Finished) {
    assert!(done.status.success(), "{}", done.describe());
}

/// Runs `program ARGS` in `dir`, for at most a minute.
pub fn cmd(program: &str, args: &[&str], dir: &std::path::Path) -> Finished {
    let mut c = Command::new(program);
    c.args(args).current_dir(dir);
    run_bounded(c, Duration::from_secs(60))
}

/// Runs a command to its end, killing it (and failing) after `limit`.
pub fn run_bounded(cmd: Command, limit: Duration) -> Finished {
    run_bounded_input(cmd, limit, None)
}

/// As [`run_bounded`], writing `input` to the command's stdin (then closing
/// it).
pub fn run_bounded_input(mut cmd: Command, limit: Duration, input: Option<&[u8]>) -> Finished {
    let began = Instant::now();
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin was piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let pid = child.id() as i32;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let _ = tx.send((s, child.wait()));
    });
    match rx.recv_timeout(limit) {
        Ok((stdout, status)) => Finished {
            status: status.expect("wait for the process"),
            stdout,
            stderr: err_reader.join().unwrap_or_default(),
            took: began.elapsed(),
        },
        Err(_) => {
            // SAFETY: kill(2) on the PID of our own child, which is not yet
            // reaped (the waiting thread has not returned).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let (stdout, status) = rx.recv().expect("the killed process ends");
            let f = Finished {
                status: status.expect("wait"),
                stdout,
                stderr: err_reader.join().unwrap_or_default(),
                took: began.elapsed(),
            };
            panic!("{cmd:?} did not finish within {limit:?}\n{}", f.describe());
        }
    }
}

/// The real MCP clients of tests/clients/.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    /// `py_client.py` on the Python `mcp` SDK.
    Python,
    /// `node_client.cjs` on the npm `@modelcontextprotocol/sdk`.
    Node,
}

/// Runs one scenario of a client script against `toolgate serve` in `home`,
/// and fails the test (showing everything the client and toolgate said)
/// unless it passed.
pub fn run_client(home: &Home, client: Client, scenario: &str) -> Finished {
    let clients = repo().join("tests/clients");
    let mut cmd = match client {
        Client::Python => {
            let mut c = Command::new(home.tb.python());
            c.arg(clients.join("py_client.py"))
                .env("PYTHONUNBUFFERED", "1");
            c
        }
        Client::Node => {
            let mut c = Command::new(home.tb.node());
            c.arg(clients.join("node_client.cjs"))
                .env("NODE_PATH", home.tb.get("TESTBED_NODE_MODULES"));
            c
        }
    };
    cmd.arg(scenario).current_dir(repo());
    home.apply_env(&mut cmd);
    let done = run_bounded(cmd, CLIENT_TIMEOUT);
    assert!(
        done.status.success() && done.stdout.contains(&format!("ok {scenario}")),
        "{client:?} client scenario {scenario} failed\n{}",
        done.describe()
    );
    done
}

/// Shorthand: a Python scenario.
pub fn py(home: &Home, scenario: &str) -> Finished {
    run_client(home, Client::Python, scenario)
}

/// The entry of server `name` in `toolgate servers --json` output.
pub fn server_row<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["servers"]
        .as_array()
        .expect("a servers array")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no server {name} in {report}"))
}

/// Whether a process runs (a zombie has ended: it only waits to be reaped).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until a process has ended, or `limit` passes; true if it ended.
/// Event-driven: a pidfd becomes readable when the process terminates.
pub fn wait_gone(pid: i32, limit: Duration) -> bool {
    // SAFETY: plain syscalls on integers and a pollfd we own.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if fd < 0 {
            return !alive(pid); // ESRCH: already reaped
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = limit.as_millis().min(i32::MAX as u128) as i32;
        let mut ready = libc::poll(&mut pfd, 1, ms);
        while ready < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            ready = libc::poll(&mut pfd, 1, ms);
        }
        libc::close(fd);
        ready > 0 || !alive(pid)
    }
}

/// Fails unless every process in `pids` ends within [`WAIT`].
pub fn assert_all_gone(pids: &[i32], what: &str) {
    for &pid in pids {
        assert!(
            wait_gone(pid, WAIT),
            "{what}: process {pid} is still running: {}",
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .replace('\0', " ")
        );
    }
}

/// Every live process below `pid` (children, their children...).
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
        {
            parent_of.push((p, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(child, parent) in &parent_of {
            if parent == p && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out.retain(|&p| alive(p));
    out
}

/// Polls `f` until it holds, failing the test after `limit`: for effects
/// of another process that has no way to tell us (a file, a database).
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process's resident memory now and at its peak (`VmRSS`, `VmHWM` of
/// /proc/PID/status), in KiB; `None` once it has ended.
pub fn memory_kib(pid: i32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets a process's peak resident memory (`VmHWM`) to what it uses now,
/// so that [`memory_kib`] then shows the peak from here on.
pub fn reset_peak_memory(pid: i32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .unwrap_or_else(|e| panic!("could not reset the peak memory of {pid}: {e}"));
}

/// An SQLite database held locked by another process: python3's `sqlite3`
/// in `BEGIN EXCLUSIVE`, until [`DbLock::release`] (or drop). In WAL mode
/// other connections can still read; nobody else can write.
pub struct DbLock {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

const HOLD_LOCK: &str = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
c.execute("COMMIT")
print("released", flush=True)
"#;

impl DbLock {
    /// Locks `db` (which must exist) and returns once the lock is held.
    pub fn hold(home: &Home, db: &Path) -> Self {
        assert!(db.exists(), "{} does not exist", db.display());
        let mut child = Command::new(home.tb.python())
            .args(["-c", HOLD_LOCK])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 to lock the database");
        let stdout = child.stdout.take().expect("stdout was piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let lock = Self {
            child,
            stdin,
            lines,
        };
        assert_eq!(
            lock.lines.recv_timeout(WAIT).as_deref(),
            Ok("locked"),
            "the lock on {} was not taken",
            db.display()
        );
        lock
    }

    /// Commits (nothing) and lets go; returns once the lock is released.
    pub fn release(mut self) {
        self.stdin.take();
        assert_eq!(
            self.lines.recv_timeout(WAIT).as_deref(),
            Ok("released"),
            "the lock was not released"
        );
    }
}

impl Drop for DbLock {
    fn drop(&mut self) {
        self.stdin.take();
        if !wait_gone(self.child.id() as i32, WAIT) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
