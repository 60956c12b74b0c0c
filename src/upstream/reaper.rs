//! The reaper: a watchdog process that takes the stdio upstreams' process
//! groups down when toolgate dies without stopping them (SIGKILL, a crash,
//! the OOM killer).
//!
//! `PR_SET_PDEATHSIG` only reaches an upstream's own process: its children
//! (`npx` -> `node`, `uvx` -> python, the command of an `sh -c` wrapper)
//! would be left running, reparented to init, whenever they do not stop at
//! the end of their stdin. So the first stdio upstream a process spawns also
//! starts the reaper: the toolgate binary itself, re-executed as
//! `toolgate __reaper` (intercepted in `main` before the command line is
//! parsed: no runtime, no logging, no config), in a process group of its own
//! (a signal to toolgate's group does not reach it), with a pipe from
//! toolgate as its stdin and `/dev/null` as its stdout and stderr.
//!
//! toolgate writes one line to the pipe per event: `+PGID` when it has
//! spawned an upstream (a group leader: its PID is the group's ID), `-PGID`
//! once it has stopped and reaped that upstream and killed what was left of
//! its group (so the reaper never signals an ID the system has since given
//! to someone else). When the pipe reaches end of file, toolgate is gone,
//! however it went: the reaper sends `SIGTERM` to every group still
//! registered, waits up to [`GRACE`] for them to empty, sends `SIGKILL` to
//! the rest, and exits. After a clean exit nothing is registered any more
//! and it exits at once.
//!
//! The write end of the pipe is close-on-exec (as every descriptor Rust
//! opens), so no upstream holds it open past toolgate's end, and
//! non-blocking, so that a reaper that stopped reading never stalls the
//! runtime. The reaper closes every descriptor but its stdin, stdout and
//! stderr when it starts, in case toolgate itself inherited some that are
//! not close-on-exec (the IDE's pipes, say).
//!
//! If the reaper cannot be started (or dies), toolgate logs one warning and
//! carries on: `PR_SET_PDEATHSIG` still takes the upstreams themselves down
//! with it, on Linux.
//!
//! Limit: a process that leaves its group (`setsid`, `setpgid`: daemons,
//! some process managers) escapes both toolgate's own shutdown and the
//! reaper; only a cgroup (systemd's scopes) could follow it.

use std::process::ExitCode;
use std::time::Duration;

/// The first argument that runs the reaper instead of the command line.
pub const ARG: &str = "__reaper";

/// How long the groups get between `SIGTERM` and `SIGKILL`.
pub const GRACE: Duration = Duration::from_secs(2);

/// The toolgate side: the reaper and the write end of its pipe, once
/// started.
#[cfg(unix)]
enum Side {
    NotStarted,
    Running {
        child: std::process::Child,
        pipe: std::process::ChildStdin,
    },
    /// Could not be started, or stopped reading: warned about once.
    Unavailable,
}

#[cfg(unix)]
static SIDE: std::sync::Mutex<Side> = std::sync::Mutex::new(Side::NotStarted);

/// Registers the process group of an upstream just spawned (starting the
/// reaper, the first time).
pub fn register(pgid: u32) {
    send('+', pgid);
}

/// Forgets a process group toolgate has stopped and reaped itself.
pub fn unregister(pgid: u32) {
    send('-', pgid);
}

#[cfg(not(unix))]
fn send(_op: char, _pgid: u32) {}

#[cfg(unix)]
fn send(op: char, pgid: u32) {
    use std::io::Write;
    if pgid <= 1 || pgid > i32::MAX as u32 {
        return;
    }
    let mut side = SIDE.lock().unwrap_or_else(|e| e.into_inner());
    if matches!(*side, Side::NotStarted) {
        if op == '-' {
            return;
        }
        let began = std::time::Instant::now();
        *side = match start() {
            Ok((child, pipe)) => {
                tracing::debug!(
                    "reaper process {} started in {:.1?}",
                    child.id(),
                    began.elapsed()
                );
                Side::Running { child, pipe }
            }
            Err(e) => {
                tracing::warn!(
                    "could not start the reaper process ({e}): if toolgate is killed, \
                     the children of its upstream servers may outlive it"
                );
                Side::Unavailable
            }
        };
    }
    let Side::Running { child, pipe } = &mut *side else {
        return;
    };
    // One write of a short line: atomic on a pipe (under PIPE_BUF), and
    // never blocks (the pipe is non-blocking).
    if let Err(e) = pipe.write_all(format!("{op}{pgid}\n").as_bytes()) {
        let why = match child.try_wait() {
            Ok(Some(status)) => format!("it exited, {status}"),
            _ => e.to_string(),
        };
        tracing::warn!(
            "the reaper process stopped listening ({why}): if toolgate is killed, \
             the children of its upstream servers may outlive it"
        );
        // A reaper that missed a line could signal a group that is no
        // longer ours: it goes, before its pipe closes.
        let _ = child.kill();
        let _ = child.wait();
        *side = Side::Unavailable;
    }
}

#[cfg(unix)]
fn start() -> std::io::Result<(std::process::Child, std::process::ChildStdin)> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    // This very binary: its path, or, where that is gone (replaced by an
    // upgrade while serve runs), the kernel's link to it.
    let mut programs: Vec<std::path::PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        programs.push(exe);
    }
    if cfg!(target_os = "linux") {
        programs.push("/proc/self/exe".into());
    }
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no path to toolgate");
    for program in programs {
        let mut cmd = Command::new(&program);
        cmd.arg0("toolgate")
            .arg(ARG)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        match cmd.spawn() {
            Ok(mut child) => {
                let pipe = child.stdin.take().expect("stdin was piped");
                let fd = std::os::fd::AsRawFd::as_raw_fd(&pipe);
                // SAFETY: fcntl(2) on a descriptor we own.
                unsafe {
                    let flags = libc::fcntl(fd, libc::F_GETFL);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                    }
                }
                return Ok((child, pipe));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The reaper process (`toolgate __reaper`): reads registrations until end
/// of file, then stops every group still registered. Writes nothing.
#[cfg(unix)]
pub fn main() -> ExitCode {
    use std::io::BufRead;
    use std::time::Instant;
    // SAFETY: signal(2) with SIG_IGN, before any thread exists.
    unsafe {
        // A terminal's hangup or Ctrl-C is for toolgate; the reaper acts
        // when toolgate is gone.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    close_inherited_fds();
    let mut groups: Vec<i32> = Vec::new();
    for line in std::io::stdin().lock().split(b'\n') {
        let Ok(line) = line else { break };
        let Some((&op, digits)) = line.split_first() else {
            continue;
        };
        let Some(pgid) = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<i32>().ok())
            .filter(|&p| p > 1)
        else {
            continue;
        };
        match op {
            b'+' if !groups.contains(&pgid) => groups.push(pgid),
            b'-' => groups.retain(|&g| g != pgid),
            _ => {}
        }
    }
    if groups.is_empty() {
        return ExitCode::SUCCESS;
    }
    signal(&groups, libc::SIGTERM);
    let deadline = Instant::now() + GRACE;
    loop {
        // SAFETY: kill(2) with signal 0 only checks that the group exists.
        groups.retain(|&g| unsafe { libc::kill(-g, 0) } == 0);
        if groups.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&groups, libc::SIGKILL);
    ExitCode::SUCCESS
}

#[cfg(not(unix))]
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}

#[cfg(unix)]
fn signal(groups: &[i32], sig: i32) {
    for &g in groups {
        // SAFETY: kill(2) of a process group (g > 1: never -1, "every
        // process").
        unsafe {
            libc::kill(-g, sig);
        }
    }
}

/// Closes every descriptor above stderr.
#[cfg(unix)]
fn close_inherited_fds() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range(2) on descriptors this process does not use.
        if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } == 0 {
            return;
        }
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd").or_else(|_| std::fs::read_dir("/dev/fd"))
    else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: close(2) of an inherited descriptor nothing here uses (the
        // directory's own descriptor is closed already, or fails harmlessly).
        unsafe {
            libc::close(fd);
        }
    }
}
