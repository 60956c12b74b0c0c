//! Processes, from `/proc`: which of them this run started, the check that
//! none outlives its part of the run, and their memory.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Display,
    fs,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub state: char,
    pub comm: String,
}

/// Every process.
pub fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain spaces and ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let pgrp = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push(Proc {
            pid,
            ppid,
            pgrp,
            state,
            comm,
        });
    }
    out
}

/// pid → parent pid.
pub fn parents(procs: &[Proc]) -> BTreeMap<i32, i32> {
    procs.iter().map(|p| (p.pid, p.ppid)).collect()
}

/// Whether `pid` is `root` or descends from it.
pub fn descends(parent: &BTreeMap<i32, i32>, mut pid: i32, root: i32) -> bool {
    for _ in 0..=64 {
        if pid == root {
            return true;
        }
        match parent.get(&pid) {
            Some(&pp) if pp > 1 => pid = pp,
            _ => return false,
        }
    }
    false
}

/// The command line of `pid`, one string an argument.
pub fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Live processes this run started: descendants of this process, members of
/// the process groups of the children it spawned (which catches
/// grandchildren that were orphaned), and any process `also` claims.
/// Zombies do not count.
pub fn our_processes(groups: &BTreeSet<i32>, also: impl Fn(&Proc) -> bool) -> Vec<Proc> {
    let me = std::process::id() as i32;
    let procs = processes();
    let parent = parents(&procs);
    procs
        .into_iter()
        .filter(|p| p.pid != me && p.state != 'Z')
        .filter(|p| groups.contains(&p.pgrp) || descends(&parent, p.pid, me) || also(p))
        .collect()
}

/// Waits (up to 5 s) for every process of [`our_processes`] to be gone.
/// Whatever is left is reported as having outlived `outlived` ("its
/// scenario", ...), added to `leaks` and killed, by pid.
pub async fn check_no_leftovers(
    groups: &BTreeSet<i32>,
    also: impl Fn(&Proc) -> bool,
    outlived: &str,
    leaks: &mut Vec<String>,
) {
    await_gone(|| our_processes(groups, &also), outlived, leaks).await;
}

/// [`check_no_leftovers`] for the processes `left` finds.
pub async fn await_gone(
    mut left: impl FnMut() -> Vec<Proc>,
    outlived: &str,
    leaks: &mut Vec<String>,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = left();
        if procs.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for p in procs {
                eprintln!(
                    "LEAK: process {} ({}) outlived {outlived}; killing it",
                    p.pid, p.comm
                );
                leaks.push(format!("{} {}", p.pid, p.comm));
                signal(p.pid, libc::SIGKILL);
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a pid (or, negative, a process group) this harness
    // started; no memory is involved.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The processes of the trees under `roots` (which are included), less
/// those `prune` picks and their descendants; then the pruned ones.
/// Zombies are left out.
pub fn process_tree(roots: &[i32], prune: impl Fn(&Proc) -> bool) -> (Vec<Proc>, Vec<Proc>) {
    let procs = processes();
    let mut children: BTreeMap<i32, Vec<&Proc>> = BTreeMap::new();
    for p in &procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut kept = Vec::new();
    let mut pruned = Vec::new();
    let mut stack: Vec<&Proc> = procs.iter().filter(|p| roots.contains(&p.pid)).collect();
    let mut seen = BTreeSet::new();
    while let Some(p) = stack.pop() {
        if !seen.insert(p.pid) || p.state == 'Z' {
            continue;
        }
        if prune(p) {
            pruned.push(p.clone());
            continue;
        }
        kept.push(p.clone());
        if let Some(c) = children.get(&p.pid) {
            stack.extend(c.iter().copied());
        }
    }
    (kept, pruned)
}

/// The number of a `Field:   123 kB` line of a `/proc` status-like text.
pub fn status_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`, `RssAnon:`, ...).
pub fn status_kib(pid: impl Display, field: &str) -> Option<u64> {
    status_field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        field,
    )
}

/// `Pss` of `/proc/PID/smaps_rollup` (shared pages split between processes).
pub fn pss_kib(pid: impl Display) -> Option<u64> {
    status_field(
        &fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        "Pss:",
    )
}

/// Idle `VmRSS` of toolgate: read `wait` from now, then every 100 ms until
/// three readings in a row agree within 64 KiB (at most 3 s more); the last
/// reading.
pub async fn settled_rss_kib(pid: u32, wait: Duration) -> Result<u64> {
    tokio::time::sleep(wait).await;
    let start = Instant::now();
    let mut last: Vec<u64> = Vec::new();
    loop {
        let rss = status_kib(pid, "VmRSS:").context("read VmRSS of toolgate")?;
        last.push(rss);
        let n = last.len();
        let settled = n >= 3 && {
            let w = &last[n - 3..];
            w.iter().max().unwrap_or(&0) - w.iter().min().unwrap_or(&0) <= 64
        };
        if settled || start.elapsed() >= Duration::from_secs(3) {
            return Ok(rss);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
