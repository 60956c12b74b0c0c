//! Starting and stopping: toolgate exits promptly when the IDE goes away
//! (stdin closed, SIGTERM, even SIGKILL) and leaves no upstream process
//! behind; a server that cannot start delays nothing else.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Home, Serve, Server, assert_all_gone, descendants, server_row, wait_gone};

/// Enough for toolgate to stop its upstreams (stdin close, 2 s grace, TERM).
const PROMPTLY: Duration = Duration::from_secs(8);

/// toolgate serving faulty and server-everything, both ready; returns the
/// upstream processes.
fn serving_two(home: &Home) -> (Serve, Vec<i32>) {
    home.config(&[Server::faulty(&home.tb, home), Server::everything(&home.tb)]);
    let mut serve = Serve::start(home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(
        names.contains(&"faulty__ok".to_owned()) && names.contains(&"everything__echo".to_owned()),
        "{names:?}"
    );
    let upstreams = descendants(serve.pid());
    let faulty = home.faulty_pids();
    assert_eq!(faulty.len(), 1);
    assert!(
        upstreams.contains(&faulty[0]),
        "{upstreams:?} vs {faulty:?}"
    );
    assert!(
        upstreams.len() >= 2,
        "expected two upstream processes: {upstreams:?}"
    );
    (serve, upstreams)
}

#[test]
fn closing_stdin_exits_0_and_stops_every_upstream() {
    let home = Home::new();
    let (mut serve, upstreams) = serving_two(&home);
    let began = Instant::now();
    serve.close_stdin();
    let status = serve.wait_exit(PROMPTLY);
    assert!(status.success(), "{status:?}\n{}", serve.stderr());
    assert!(began.elapsed() < PROMPTLY, "{:?}", began.elapsed());
    assert_all_gone(&upstreams, "after stdin closed");
    // The log went to the state folder too.
    let logs: String = std::fs::read_dir(home.path().join("state/logs"))
        .expect("state/logs exists")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("client initialized"), "log files: {logs}");
}

#[test]
fn sigterm_exits_0_and_stops_every_upstream() {
    let home = Home::new();
    let (mut serve, upstreams) = serving_two(&home);
    // A call in flight does not hold the exit up.
    serve.send(&json!({
        "jsonrpc": "2.0", "id": "pending", "method": "tools/call",
        "params": { "name": "faulty__hang", "arguments": {} },
    }));
    let began = Instant::now();
    // SAFETY: kill(2) on our own child's PID, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(serve.pid(), libc::SIGTERM) }, 0);
    let status = serve.wait_exit(PROMPTLY);
    assert!(status.success(), "{status:?}\n{}", serve.stderr());
    assert!(began.elapsed() < PROMPTLY, "{:?}", began.elapsed());
    assert_all_gone(&upstreams, "after SIGTERM");
}

/// Even killed outright, toolgate takes its upstreams with it (they get
/// SIGKILL when their parent dies).
#[test]
fn sigkill_leaves_no_upstream_behind() {
    let home = Home::new();
    let (serve, upstreams) = serving_two(&home);
    // SAFETY: kill(2) on our own child's PID, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(serve.pid(), libc::SIGKILL) }, 0);
    assert!(wait_gone(serve.pid(), PROMPTLY));
    assert_all_gone(&upstreams, "after toolgate was killed");
    drop(serve);
}

#[test]
fn a_missing_command_delays_neither_initialize_nor_other_tools() {
    let home = Home::new();
    home.config(&[
        Server::new("missing", "no-such-mcp-server-xyz"),
        Server::time(&home.tb),
    ]);
    let mut serve = Serve::start(&home);
    let began = Instant::now();
    serve.initialize();
    let init_took = began.elapsed();
    // toolgate answers initialize itself, before any upstream starts; the
    // bound is loose for loaded machines, far below any upstream's start.
    assert!(
        init_took < Duration::from_secs(2),
        "initialize took {init_took:?}"
    );
    let names = serve.tool_names();
    assert!(
        names.contains(&"time__get_current_time".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("missing__")),
        "{names:?}"
    );
    let listed = began.elapsed();
    // list_wait is 30 s: the first list did not wait for the missing one.
    assert!(
        listed < Duration::from_secs(15),
        "tools/list took {listed:?}"
    );
    let r = serve.result(
        "tools/call",
        json!({ "name": "time__get_current_time", "arguments": { "timezone": "UTC" } }),
    );
    assert_eq!(r["isError"], false, "{r}");
    serve.finish();

    let done = home.run_toolgate(&["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("servers --json is not JSON ({e})\n{}", done.describe()));
    assert_eq!(
        done.status.code(),
        Some(1),
        "a failed server: {}",
        done.describe()
    );
    let missing = server_row(&report, "missing");
    assert_eq!(missing["state"], "failed", "{missing}");
    let error = missing["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no-such-mcp-server-xyz")
            && error.contains("searched")
            && error.contains('/'),
        "the error should name the command and where it was searched: {error}"
    );
    assert_eq!(server_row(&report, "time")["state"], "ready", "{report}");
    // What the serve process saw was recorded in the local store, and shown.
    let seen = &missing["serve"];
    assert_eq!(seen["state"], "failed", "{missing}");
    assert!(
        seen["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-mcp-server-xyz")),
        "{missing}"
    );
    assert_eq!(
        server_row(&report, "time")["serve"]["state"],
        "ready",
        "{report}"
    );
}

/// Kills, on drop, the processes whose PIDs a fake login shell wrote.
struct KillListed(std::path::PathBuf);

impl Drop for KillListed {
    fn drop(&mut self) {
        for pid in std::fs::read_to_string(&self.0)
            .unwrap_or_default()
            .split_whitespace()
        {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) on a PID our fake shell wrote; at worst ESRCH.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Looking for a command that is not installed ends with asking the user's
/// login shell for its PATH. That may take seconds (nvm in a profile); it
/// must not freeze the proxy meanwhile.
#[test]
fn a_slow_login_shell_does_not_freeze_the_proxy() {
    let home = Home::new();
    home.config(&[
        Server::new("missing", "no-such-mcp-server-xyz"),
        Server::time(&home.tb),
    ]);
    let pids = home.path().join("shell.pids");
    let _cleanup = KillListed(pids.clone());
    // A login shell that takes 8 s to answer (bounded even if left behind).
    let shell = home.path().join("slow-shell");
    std::fs::write(
        &shell,
        format!("#!/bin/sh\necho $$ >> '{}'\nexec sleep 8\n", pids.display()),
    )
    .unwrap();
    std::fs::set_permissions(&shell, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = home.toolgate(&["serve"]);
    cmd.env("SHELL", &shell);
    let mut serve = Serve::spawn(cmd);
    serve.initialize();
    // Every answer within a few seconds, while the shell is still asked.
    for _ in 0..3 {
        let began = Instant::now();
        serve.result("ping", json!({}));
        assert!(
            began.elapsed() < Duration::from_secs(3),
            "a ping took {:?}",
            began.elapsed()
        );
    }
    let began = Instant::now();
    let names = serve.tool_names();
    assert!(
        names.contains(&"time__get_current_time".to_owned()),
        "{names:?}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "tools/list took {:?}",
        began.elapsed()
    );
    drop(serve);
}

/// A script that pipes its requests and closes stdin at once still gets
/// every answer: toolgate answers what it received, then exits.
#[test]
fn requests_piped_before_stdin_closes_are_all_answered() {
    use std::io::{Read, Write};
    let home = Home::new();
    home.config(&[Server::time(&home.tb)]);
    let mut cmd = home.toolgate(&["serve"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("toolgate starts");
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "pipe", "version": "1" } } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "time__get_current_time", "arguments": { "timezone": "UTC" } } }),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let answers: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout carries only JSON-RPC"))
        .filter(|m: &Value| m.get("id").is_some())
        .collect();
    assert_eq!(answers.len(), 2, "{out}");
    assert_eq!(answers[1]["id"], 2, "{out}");
    assert!(
        answers[1]["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("UTC")),
        "{out}"
    );
}
