//! What the benchmark binaries `proxy`, `peers`, `scaling` and `soak` share.
//! Each includes it with `#[allow(dead_code)] mod common;` (a bench at
//! `benches/X.rs` is a crate root, so `mod common;` is this file); not every
//! bench uses every item.
//!
//! - this file: the run's surroundings: the repository, the toolgate under
//!   test, the machine, the output folder, `main`, the leftover line of a
//!   report;
//! - [`args`]: the command line (cargo's `--bench` dropped, `--quick`,
//!   numbers, `--only`, `--help`) and the command line a report shows;
//! - [`client`]: the one rmcp client every path uses: connecting in a
//!   process group of its own, listing tools until complete, calling;
//! - [`procs`]: processes from `/proc`: the leftover check after a
//!   scenario, signals, RSS of a process and of a process tree;
//! - [`stats`]: percentiles, medians, summaries, number formatting;
//! - [`testbed`]: where the upstreams are, and how a stdio upstream and a
//!   toolgate are started.

pub mod args;
pub mod client;
pub mod procs;
pub mod stats;
pub mod testbed;

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Result, ensure};
use serde_json::{Value, json};

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The toolgate under test: the one cargo built for the bench (release
/// profile), unless `TOOLGATE_BENCH_BIN` names another build.
pub fn toolgate_bin() -> PathBuf {
    std::env::var_os("TOOLGATE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_toolgate")))
}

/// [`toolgate_bin`], or an error when it does not exist.
pub fn require_toolgate() -> Result<PathBuf> {
    let bin = toolgate_bin();
    ensure!(
        bin.exists(),
        "toolgate binary {} missing\nhint: cargo build --release",
        bin.display()
    );
    Ok(bin)
}

/// `target/bench`, made if need be: the raw figures and the scratch
/// folders (on the same disk as a real toolgate home, not a tmpfs `/tmp`).
pub fn out_dir() -> Result<PathBuf> {
    let dir = repo_dir().join("target/bench");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A scratch folder `PREFIX*` under `dir`, deleted when dropped.
pub fn scratch(dir: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new().prefix(prefix).tempdir_in(dir)?)
}

/// Writes the raw figures (`pretty`: indented) and says where.
pub fn write_figures(path: &Path, figures: &Value, pretty: bool) -> Result<()> {
    let text = if pretty {
        serde_json::to_string_pretty(figures)?
    } else {
        serde_json::to_string(figures)?
    };
    fs::write(path, text + "\n")?;
    eprintln!("raw figures: {}", path.display());
    Ok(())
}

/// A bench's raw figures: `version` 1, `unix_time`, `command`, `machine`
/// and `toolgate`, then the fields of `rest` (an object).
pub fn figures(command: String, machine: Value, rest: Value) -> Value {
    let mut out = json!({
        "version": 1,
        "unix_time": unix_time(),
        "command": command,
        "machine": machine,
        "toolgate": toolgate_bin(),
    });
    if let (Some(out), Value::Object(rest)) = (out.as_object_mut(), rest) {
        out.extend(rest);
    }
    out
}

/// Seconds since the Unix epoch.
pub fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub mem_total: String,
    pub kernel: String,
    /// The load average (1, 5, 15 minutes) when it was read.
    pub load: String,
}

pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mem_total = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .map(|l| l.trim_start_matches("MemTotal:").trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu,
        mem_total,
        kernel,
        load: loadavg(),
    }
}

impl Machine {
    /// `{nproc, cpu, mem_total, kernel}` for the raw figures.
    pub fn json(&self) -> Value {
        json!({
            "nproc": self.nproc, "cpu": self.cpu, "mem_total": self.mem_total, "kernel": self.kernel,
        })
    }
}

/// The load average now: "1-minute 5-minute 15-minute".
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The report's last line: the processes that outlived their part of the
/// run (`when`: "after each scenario", ...), joined with `sep`.
pub fn print_leftovers(when: &str, leaks: &[String], sep: &str) {
    if leaks.is_empty() {
        println!("Leftover processes {when}: none.");
    } else {
        println!(
            "**Leftover processes (killed by the harness): {}**",
            leaks.join(sep)
        );
    }
}

/// A bench's `main`: its options (exit status 2 when they are wrong), then
/// `run` on a current-thread tokio runtime; exit status 1 when it fails or
/// returns `false`.
pub fn run_bench<O, F>(parse: impl FnOnce() -> Result<O>, run: impl FnOnce(O) -> F)
where
    F: Future<Output = Result<bool>>,
{
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(o)) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
