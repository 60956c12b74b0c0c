//! The fault suite. Upstreams that misbehave (tests/fixtures/faulty.py):
//! cancellation, timeouts, crashes, garbage and torn frames on stdout,
//! answers that drip in, 10 MB and 100 MB messages (both ways), floods of
//! notifications; and the world around `serve` failing: the IDE vanishing
//! mid-call, SIGTERM and SIGKILL under load, a collector or a registry that
//! never answers or is down, the audit database or the local store locked
//! by another process. Expected every time: a clear error, no panic, no
//! wait beyond the configured timeouts, no lost audit record, no process
//! left behind. (A full disk: e2e::audit; collectors that refuse or are
//! slow: e2e::audit_upload; registries that lie: e2e::profile.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::registry::{Org, Registry};
use crate::support::serve::Vanishing;
use crate::support::{Home, Serve, Server, WAIT, assert_all_gone, assert_unknown_tool, py};

/// faulty behind toolgate (and server-everything, to show the other
/// upstream is not disturbed), with a per-request timeout.
fn faulty(timeout: &str) -> Home {
    let home = Home::new();
    home.config(&[
        Server::faulty(&home.tb, &home).timeout(timeout),
        Server::everything(&home.tb),
    ]);
    home
}

/// After the client is gone, so is every faulty process toolgate started.
fn no_orphans(home: &Home) {
    let pids = home.faulty_pids();
    assert!(!pids.is_empty(), "faulty never started");
    assert_all_gone(&pids, "after the client exited");
}

#[test]
fn a_cancelled_call_leaves_the_upstream_serving() {
    let home = faulty("30s");
    py(&home, "cancel_hang");
    no_orphans(&home);
}

/// notifications/cancelled sent raw: no response for the cancelled id ever,
/// the next call is answered, and the upstream was not restarted.
#[test]
fn a_cancelled_request_gets_no_response_and_the_next_one_does() {
    let home = faulty("30s");
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(serve.tool_names().contains(&"faulty__hang".to_owned()));
    serve.send(&json!({
        "jsonrpc": "2.0", "id": "hang-1", "method": "tools/call",
        "params": { "name": "faulty__hang", "arguments": {} },
    }));
    serve.notify(
        "notifications/cancelled",
        json!({ "requestId": "hang-1", "reason": "the user pressed stop" }),
    );
    let ok = serve.result(
        "tools/call",
        json!({ "name": "faulty__ok", "arguments": {} }),
    );
    assert_eq!(ok["content"][0]["text"], "ok", "{ok}");
    serve.result("ping", json!({}));
    assert!(
        serve.seen.iter().all(|m| m["id"] != "hang-1"),
        "the cancelled request was answered: {:#?}",
        serve.seen
    );
    assert_eq!(home.faulty_pids().len(), 1, "faulty was restarted");
    serve.finish();
    no_orphans(&home);
}

#[test]
fn a_hanging_call_times_out_with_kind_timeout() {
    let home = faulty("1s");
    py(&home, "timeout_hang");
    no_orphans(&home);
}

#[test]
fn a_crash_mid_call_is_reported_at_once_and_the_upstream_restarts() {
    let home = faulty("30s");
    py(&home, "crash_mid_call");
    no_orphans(&home);
}

#[test]
fn garbage_on_upstream_stdout_is_skipped() {
    let home = faulty("30s");
    py(&home, "garbage_on_stdout");
    no_orphans(&home);
}

/// An upstream answer over serve.max_message_size becomes a too_large
/// result, and the upstream keeps serving.
#[test]
fn an_oversized_upstream_answer_is_too_large() {
    let home = Home::new();
    home.write_config(
        "list_wait = \"30s\"\nmax_message_size = 4096",
        &[Server::faulty(&home.tb, &home)],
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    let r = serve.result(
        "tools/call",
        json!({ "name": "faulty__big", "arguments": { "size": 10000 } }),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(r["_meta"]["dev.toolgate/error"]["kind"], "too_large", "{r}");
    assert_eq!(r["_meta"]["dev.toolgate/error"]["server"], "faulty", "{r}");
    let small = serve.result(
        "tools/call",
        json!({ "name": "faulty__big", "arguments": { "size": 100 } }),
    );
    assert_eq!(small["content"][0]["text"], "x".repeat(100), "{small}");
    assert_eq!(home.faulty_pids().len(), 1, "faulty was restarted");
    serve.finish();
    no_orphans(&home);
}

/// A server that dies at every start is reported as unavailable (not a
/// hang), and the others keep serving.
#[test]
fn a_server_that_crashes_on_start_makes_its_tools_unavailable() {
    let home = Home::new();
    home.config(&[
        Server::faulty(&home.tb, &home).env("FAULTY_CRASH_ON_START", "1"),
        Server::time(&home.tb),
    ]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(
        names.contains(&"time__get_current_time".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("faulty__")),
        "{names:?}"
    );
    let r = serve.request(
        "tools/call",
        json!({ "name": "faulty__ok", "arguments": {} }),
    );
    assert_unknown_tool(&r, "faulty__ok");
    serve.finish();
    no_orphans(&home);
}

/// A restarted upstream is a new process that knows none of the IDE's
/// resource subscriptions: toolgate renews them.
#[test]
fn resource_subscriptions_are_renewed_after_a_restart() {
    let home = Home::new();
    let subs = home.path().join("subs");
    home.write_config(
        "list_wait = \"30s\"",
        &[Server::faulty(&home.tb, &home).env("FAULTY_SUBS_FILE", &subs.display().to_string())],
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    let listed = serve.result("resources/list", json!({}));
    assert_eq!(
        listed["resources"][0]["uri"], "faulty://watched",
        "{listed}"
    );
    serve.result("resources/subscribe", json!({ "uri": "faulty://watched" }));
    let crashed = serve.result(
        "tools/call",
        json!({ "name": "faulty__crash", "arguments": {} }),
    );
    assert_eq!(
        crashed["_meta"]["dev.toolgate/error"]["kind"], "upstream_closed",
        "{crashed}"
    );
    // Wait (bounded) for the new process's renewal to reach the file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let lines = loop {
        let text = std::fs::read_to_string(&subs).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= 2 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let pids = home.faulty_pids();
    assert_eq!(pids.len(), 2, "faulty was restarted once: {pids:?}");
    assert_eq!(
        lines,
        [
            format!("{} faulty://watched", pids[0]),
            format!("{} faulty://watched", pids[1]),
        ],
        "the second process got the subscription too"
    );
    serve.finish();
    no_orphans(&home);
}

// ---- The faults of the fault suite (see tests/fixtures/faulty.py) ---------

/// A tools/call of a faulty tool, raw: the response and how long it took.
fn call(serve: &mut Serve, tool: &str, args: Value) -> (Value, Duration) {
    let began = Instant::now();
    let r = serve.request(
        "tools/call",
        json!({ "name": format!("faulty__{tool}"), "arguments": args }),
    );
    (r, began.elapsed())
}

/// The text of a tool result that is not an error.
fn text(r: &Value) -> &str {
    assert!(r.get("error").is_none(), "{r}");
    assert_ne!(r["result"]["isError"], true, "{r}");
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {r}"))
}

/// The `_meta` detail of a result toolgate made itself.
fn kind(r: &Value) -> &Value {
    assert_eq!(r["result"]["isError"], true, "{r}");
    &r["result"]["_meta"]["dev.toolgate/error"]["kind"]
}

/// toolgate panicked in no thread.
fn no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "toolgate panicked:\n{stderr}");
}

/// An answer written in several pieces (cut inside UTF-8 characters) is
/// put back together; a torn frame followed by the whole one is skipped;
/// half a frame and then the end of the upstream is reported at once.
#[test]
fn partial_frames_on_upstream_stdout() {
    let home = faulty("30s");
    let mut serve = Serve::start(&home);
    serve.initialize();
    let (r, _) = call(&mut serve, "frames", json!({ "mode": "split" }));
    assert_eq!(text(&r), "framed é✓🎉");
    let (r, _) = call(&mut serve, "frames", json!({ "mode": "truncated" }));
    assert_eq!(text(&r), "framed é✓🎉");
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    assert_eq!(home.faulty_pids().len(), 1, "faulty was restarted");
    assert!(
        serve.stderr().contains("not JSON"),
        "the torn frame is named in the log:\n{}",
        serve.stderr()
    );
    // Half a frame, then the process is gone: not a 30 s wait.
    let (r, took) = call(&mut serve, "frames", json!({ "mode": "eof" }));
    assert_eq!(kind(&r), "upstream_closed", "{r}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // It is restarted and serves again.
    let deadline = Instant::now() + WAIT;
    loop {
        let (r, _) = call(&mut serve, "ok", json!({}));
        if r["result"]["isError"] != true {
            assert_eq!(text(&r), "ok");
            break;
        }
        assert!(Instant::now() < deadline, "faulty never came back: {r}");
        std::thread::sleep(Duration::from_millis(50)); // a bounded retry, not a sync
    }
    assert_eq!(home.faulty_pids().len(), 2);
    no_panic(&serve.stderr());
    serve.finish();
    no_orphans(&home);
}

/// An answer that drips in a few bytes at a time is answered when it is
/// complete within the timeout; one that takes longer times out cleanly,
/// its late rest is dropped, and the upstream serves on. A request the
/// IDE drips in is read whole too.
#[test]
fn a_slow_drip_is_answered_in_time_or_times_out_cleanly() {
    let home = faulty("1s");
    let mut serve = Serve::start(&home);
    serve.initialize();
    let (r, _) = call(&mut serve, "ok", json!({})); // started, and ready
    assert_eq!(text(&r), "ok");
    // ~130 bytes, 8 at a time, 10 ms apart: well within 1 s.
    let (r, took) = call(
        &mut serve,
        "drip",
        json!({ "chunk": 8, "delay": 0.01, "size": 100 }),
    );
    assert_eq!(text(&r), "d".repeat(100));
    assert!(took < Duration::from_secs(1), "{took:?}");
    // ~130 bytes, 2 at a time, 30 ms apart: about 2 s, so it times out.
    let (r, took) = call(
        &mut serve,
        "drip",
        json!({ "chunk": 2, "delay": 0.03, "size": 100 }),
    );
    assert_eq!(kind(&r), "timeout", "{r}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // The rest of the late answer arrives and is dropped; then faulty
    // answers as before, not restarted.
    crate::support::wait_until("the end of the late drip", WAIT, || {
        serve.stderr().matches("faulty: drip done").count() == 2
    });
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    assert_eq!(home.faulty_pids().len(), 1, "faulty was restarted");
    // The IDE side: a request written 3 bytes at a time.
    let request = json!({
        "jsonrpc": "2.0", "id": "dripped", "method": "tools/call",
        "params": { "name": "faulty__measure", "arguments": { "data": "é".repeat(20) } },
    });
    serve.send_in_pieces(&request.to_string(), 3, Duration::from_millis(5));
    let (r, _) = serve.until_response(&json!("dripped"));
    assert_eq!(text(&r), "20");
    no_panic(&serve.stderr());
    serve.finish();
    no_orphans(&home);
}

const MB: usize = 1024 * 1024;

/// A `tools/call` of faulty's `measure` with `size` bytes of data, written
/// out directly (serialising 100 MB with serde_json takes seconds in a
/// debug build).
fn measure_request(id: &str, size: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"faulty__measure","arguments":{{"data":"{}"}}}}}}"#,
        "a".repeat(size)
    )
}

/// At the default serve.max_message_size (64 MiB), 100 MB are refused in
/// both directions, each with a clear error and without holding the whole
/// message (toolgate's memory grows by at most about the limit, never by
/// the message), and serving goes on; 10 MB go through both ways.
#[test]
fn a_hundred_megabytes_are_refused_and_ten_pass_both_ways() {
    let home = faulty("60s");
    let mut serve = Serve::start(&home);
    serve.initialize();
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    crate::support::reset_peak_memory(serve.pid());
    let (before, _) = crate::support::memory_kib(serve.pid()).expect("toolgate runs");
    // Upstream -> IDE: 100 MB, refused as too large, at once (not at the
    // 60 s timeout).
    let (r, took) = call(&mut serve, "huge", json!({ "size": 100 * MB }));
    assert_eq!(kind(&r), "too_large", "{r}");
    let said = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(said.contains("max_message_size"), "{said}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    // IDE -> upstream: a 100 MB request is refused under its own id.
    serve.send_line(&measure_request("\"too-big\"", 100 * MB));
    let (r, _) = serve.until_response(&json!("too-big"));
    assert!(r["error"]["code"].as_i64().is_some(), "{r}");
    let said = r["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("max_message_size") && said.contains(&(64 * MB).to_string()),
        "{said}"
    );
    let (_, peak) = crate::support::memory_kib(serve.pid()).expect("toolgate runs");
    let grew = (peak.saturating_sub(before) as usize) * 1024;
    eprintln!(
        "toolgate's memory: {} MiB before, peak {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(
        grew < 90 * MB,
        "toolgate held a 100 MB message: it grew by {} MiB",
        grew / MB
    );
    // Serving goes on, with the same upstream; 10 MB pass both ways.
    serve.send_line(&measure_request("10", 10 * MB));
    let (r, _) = serve.until_response(&json!(10));
    assert_eq!(text(&r), (10 * MB).to_string());
    let (r, _) = call(&mut serve, "huge", json!({ "size": 10 * MB }));
    let t = text(&r);
    assert!(
        t.len() == 10 * MB && t.bytes().all(|b| b == b'x'),
        "{}",
        t.len()
    );
    assert_eq!(home.faulty_pids().len(), 1, "faulty was restarted");
    no_panic(&serve.stderr());
    serve.finish();
    no_orphans(&home);
}

/// Thousands of notifications a second from an upstream (progress of a
/// call, and log messages) while the IDE goes on calling: every call is
/// answered promptly, the progress reaches the IDE in order under its own
/// token, toolgate's memory stays bounded, and nothing panics.
#[test]
fn a_flood_of_notifications_does_not_stop_the_calls() {
    const COUNT: u64 = 50_000;
    let home = faulty("30s");
    let mut serve = Serve::start(&home);
    serve.initialize();
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    crate::support::reset_peak_memory(serve.pid());
    let (before, _) = crate::support::memory_kib(serve.pid()).expect("toolgate runs");
    let began = Instant::now();
    for (id, kind) in [("flood-progress", "progress"), ("flood-log", "log")] {
        serve.send(&json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {
                "name": "faulty__flood", "arguments": { "count": COUNT, "kind": kind },
                "_meta": { "progressToken": format!("{id}-token") },
            },
        }));
    }
    // Calls, to both upstreams, while the floods run.
    let mut slowest = Duration::ZERO;
    let mut done = std::collections::BTreeSet::new();
    let mut i = 0;
    while done.len() < 2 {
        i += 1;
        let (name, args) = if i % 2 == 0 {
            ("faulty__ok", json!({}))
        } else {
            ("everything__echo", json!({ "message": format!("m{i}") }))
        };
        let asked = Instant::now();
        let (r, before_it) =
            serve.request_with_notes("tools/call", json!({ "name": name, "arguments": args }));
        slowest = slowest.max(asked.elapsed());
        assert_ne!(r["result"]["isError"], true, "{r}");
        for m in before_it.iter().chain([&r]) {
            if let Some(id) = m["id"].as_str().filter(|id| id.starts_with("flood-")) {
                assert_eq!(
                    m["result"]["content"][0]["text"],
                    format!("flooded {COUNT}"),
                    "{m}"
                );
                done.insert(id.to_owned());
            }
        }
        assert!(
            began.elapsed() < WAIT,
            "the floods did not end within {WAIT:?}"
        );
    }
    let took = began.elapsed();
    let (_, peak) = crate::support::memory_kib(serve.pid()).expect("toolgate runs");
    eprintln!(
        "{} notifications in {took:.1?}; {i} calls meanwhile, the slowest {slowest:.1?}; memory {} MiB before, peak {} MiB",
        2 * COUNT,
        before / 1024,
        peak / 1024
    );
    assert!(slowest < Duration::from_secs(2), "a call took {slowest:?}");
    assert!(i >= 5, "only {i} calls were made during the floods");
    // The progress reached the IDE in order, under the IDE's token.
    let progress: Vec<u64> = serve
        .seen
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            assert_eq!(m["params"]["progressToken"], "flood-progress-token", "{m}");
            m["params"]["progress"].as_u64().unwrap()
        })
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] < w[1]),
        "progress out of order"
    );
    assert_eq!(progress.len() as u64, COUNT);
    // Log messages are relayed apart from the answers: some may still be
    // on their way.
    let logs = |serve: &Serve| -> Vec<String> {
        serve
            .seen
            .iter()
            .filter(|m| m["method"] == "notifications/message")
            .map(|m| m["params"]["data"].as_str().unwrap().to_owned())
            .collect()
    };
    let deadline = Instant::now() + WAIT;
    let mut have = logs(&serve).len() as u64;
    while have < COUNT {
        let left = deadline.saturating_duration_since(Instant::now());
        match serve.recv_within(left) {
            Some(m) if m["method"] == "notifications/message" => have += 1,
            Some(_) => {}
            None => break,
        }
    }
    let logs = logs(&serve);
    assert_eq!(logs.len() as u64, COUNT, "log messages were lost");
    assert!(
        logs.iter()
            .enumerate()
            .all(|(n, l)| *l == format!("flood {}", n + 1)),
        "log messages out of order"
    );
    assert!(
        (peak.saturating_sub(before) as usize) * 1024 < 32 * MB,
        "memory grew from {} to {} MiB",
        before / 1024,
        peak / 1024
    );
    no_panic(&serve.stderr());
    serve.finish();
    no_orphans(&home);
}

/// The same flood of log messages while the IDE reads nothing for a
/// while: toolgate does not queue the flood up in memory (it drops log
/// messages the IDE cannot take, and says so in its log); once the IDE
/// reads again, the call's answer is there and calls go on.
#[test]
fn a_flood_towards_an_ide_that_does_not_read_is_not_queued_in_memory() {
    const COUNT: u64 = 150_000;
    let home = faulty("30s");
    let mut ide = Vanishing::start(&home);
    ide.send(&json!({
        "jsonrpc": "2.0", "id": "init", "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "stalled", "version": "1" },
        },
    }));
    ide.until_response(&json!("init"));
    ide.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
    let ok = json!({
        "jsonrpc": "2.0", "id": "ok-1", "method": "tools/call",
        "params": { "name": "faulty__ok", "arguments": {} },
    });
    ide.send(&ok);
    ide.until_response(&json!("ok-1"));
    crate::support::reset_peak_memory(ide.pid());
    let (before, _) = crate::support::memory_kib(ide.pid()).expect("toolgate runs");
    ide.send(&json!({
        "jsonrpc": "2.0", "id": "flood", "method": "tools/call",
        "params": { "name": "faulty__flood", "arguments": { "count": COUNT, "kind": "log" } },
    }));
    // The IDE reads nothing until faulty has sent it all (~20 MB).
    crate::support::wait_until("the end of the flood", WAIT, || {
        ide.stderr().contains("faulty: flood done")
    });
    let (_, peak) = crate::support::memory_kib(ide.pid()).expect("toolgate runs");
    let grew = (peak.saturating_sub(before) as usize) * 1024;
    eprintln!("toolgate grew by {} KiB", grew / 1024);
    assert!(
        grew < 12 * MB,
        "toolgate queued the flood: it grew by {} MiB",
        grew / MB
    );
    // Reading again: the answer, then calls as before.
    let r = ide.until_response(&json!("flood"));
    assert_eq!(text(&r), format!("flooded {COUNT}"));
    let mut ok2 = ok.clone();
    ok2["id"] = json!("ok-2");
    ide.send(&ok2);
    let began = Instant::now();
    ide.until_response(&json!("ok-2"));
    assert!(began.elapsed() < Duration::from_secs(5));
    let stderr = ide.stderr();
    assert!(
        stderr.contains("not reading fast enough"),
        "the dropped messages are named in the log:\n{stderr}"
    );
    no_panic(&stderr);
    ide.vanish();
    assert!(ide.wait_exit(WAIT).success());
    no_orphans(&home);
}

/// faulty (with `timeout`) and server-everything behind toolgate, with the
/// audit trail on.
fn audited(timeout: &str) -> Home {
    let home = faulty(timeout);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n[audit]\nenabled = true\n"));
    home
}

/// Every record of the trail (`toolgate audit export`, which also takes
/// over the journals of processes that died).
fn export(home: &Home) -> Vec<Value> {
    let done = home.run_toolgate(&["audit", "export"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    done.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record per line"))
        .collect()
}

/// The call records by correlation (the IDE's request id, as JSON text).
fn call_records(home: &Home) -> std::collections::BTreeMap<String, Value> {
    export(home)
        .into_iter()
        .filter(|r| r["kind"] == "call")
        .map(|r| (r["correlation"].as_str().unwrap().to_owned(), r))
        .collect()
}

/// `toolgate audit verify` finds the chain intact: no problem but
/// unsigned checkpoints, which are all there is without a keychain (the
/// suite runs with one: tests/run.sh).
fn verified(home: &Home) {
    let done = home.run_toolgate(&["audit", "verify", "--json"]);
    let v: Value =
        serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.describe()));
    let problems = v["problems"].as_array().expect("a problems array");
    assert!(
        problems.iter().all(|p| p["code"] == "unsigned-checkpoint"),
        "{v:#}"
    );
}

/// Calls sent without waiting, to both upstreams: (id, tool, arguments).
fn load(n: usize) -> Vec<(Value, &'static str, Value)> {
    (0..n)
        .map(|i| match i % 3 {
            0 => (json!(i), "faulty__ok", json!({ "i": i })),
            1 => (
                json!(i),
                "everything__echo",
                json!({ "message": format!("m{i}") }),
            ),
            _ => (json!(i), "faulty__slow", json!({ "delay": 0.01 })),
        })
        .collect()
}

fn send_call(serve: &mut Serve, id: &Value, tool: &str, args: &Value) {
    serve.send(&json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": tool, "arguments": args },
    }));
}

/// SIGTERM while calls are in flight: toolgate exits 0 promptly, its
/// upstreams go with it, every answered call has its audit record, and so
/// does every call it had sent upstream and not yet answered.
#[test]
fn sigterm_under_load_exits_promptly_and_records_every_call() {
    let home = audited("30s");
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(serve.tool_names().contains(&"everything__echo".to_owned()));
    let upstreams = crate::support::descendants(serve.pid());
    assert!(upstreams.len() >= 2, "{upstreams:?}");
    // Two calls that will never be answered, then a stream of others.
    for id in ["hang-1", "hang-2"] {
        send_call(&mut serve, &json!(id), "faulty__hang", &json!({}));
    }
    let calls = load(60);
    for (id, tool, args) in &calls {
        send_call(&mut serve, id, tool, args);
    }
    // Half of them answered: the hangs (sent first) have reached faulty.
    let mut answered = Vec::new();
    while answered.len() < 30 {
        let m = serve.recv();
        if m.get("method").is_none() {
            assert_ne!(m["result"]["isError"], true, "{m}");
            answered.push(m["id"].to_string());
        }
    }
    let began = Instant::now();
    // SAFETY: kill(2) on our own child's PID, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(serve.pid(), libc::SIGTERM) }, 0);
    let status = serve.wait_exit(Duration::from_secs(8));
    assert!(status.success(), "{status:?}\n{}", serve.stderr());
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );
    // What came out before the exit was answered too.
    let sent: Vec<String> = calls.iter().map(|(id, ..)| id.to_string()).collect();
    for m in &serve.seen {
        let id = m["id"].to_string();
        if m.get("method").is_none() && sent.contains(&id) && !answered.contains(&id) {
            answered.push(id);
        }
    }
    assert_all_gone(&upstreams, "after SIGTERM");
    no_panic(&serve.stderr());
    let records = call_records(&home);
    for id in &answered {
        assert!(
            records.contains_key(id),
            "call {id} was answered but has no record"
        );
    }
    for id in ["\"hang-1\"", "\"hang-2\""] {
        let r = records
            .get(id)
            .unwrap_or_else(|| panic!("the call {id} in flight at SIGTERM has no record"));
        assert_eq!(r["decision"], "allow", "{r}");
        assert_eq!(r["outcome"]["error"], true, "{r}");
    }
    verified(&home);
}

/// SIGKILL while calls are in flight: every upstream dies with toolgate
/// (they get SIGKILL when their parent dies, PR_SET_PDEATHSIG), and the
/// next toolgate command recovers the records of every answered call from
/// the dead process's journal.
#[test]
fn sigkill_under_load_leaves_no_orphan_and_loses_no_answered_call() {
    let home = audited("30s");
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(serve.tool_names().contains(&"everything__echo".to_owned()));
    let upstreams = crate::support::descendants(serve.pid());
    assert!(upstreams.len() >= 2, "{upstreams:?}");
    send_call(&mut serve, &json!("hang"), "faulty__hang", &json!({}));
    let calls = load(90);
    for (id, tool, args) in &calls {
        send_call(&mut serve, id, tool, args);
    }
    let mut answered = Vec::new();
    while answered.len() < 45 {
        let m = serve.recv();
        if m.get("method").is_none() {
            assert_ne!(m["result"]["isError"], true, "{m}");
            answered.push(m["id"].to_string());
        }
    }
    // SAFETY: kill(2) on our own child's PID, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(serve.pid(), libc::SIGKILL) }, 0);
    assert!(crate::support::wait_gone(serve.pid(), WAIT));
    assert_all_gone(&upstreams, "after toolgate was killed");
    // Whatever else it had written before it died was answered too.
    while let Some(m) = serve.recv_within(Duration::from_millis(0)) {
        if m.get("method").is_none() && m["id"].is_number() {
            answered.push(m["id"].to_string());
        }
    }
    drop(serve);
    let records = call_records(&home);
    for id in &answered {
        assert!(
            records.contains_key(id),
            "call {id} was answered but has no record"
        );
    }
    verified(&home);
}

/// The IDE goes away (its stdin and stdout close) with calls in flight:
/// serve answers what it can (into a closed pipe), records every call,
/// exits, and its upstreams go too.
#[test]
fn an_ide_that_vanishes_mid_call_leaves_records_and_no_process() {
    let home = audited("1s");
    let mut ide = Vanishing::start(&home);
    ide.send(&json!({
        "jsonrpc": "2.0", "id": "init", "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "vanishing", "version": "1" },
        },
    }));
    ide.until_response(&json!("init"));
    ide.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
    let call = |id: &str, tool: &str, args: Value| {
        json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": tool, "arguments": args },
        })
    };
    ide.send(&call("first", "faulty__ok", json!({})));
    assert_eq!(text(&ide.until_response(&json!("first"))), "ok");
    let upstreams = crate::support::descendants(ide.pid());
    assert!(!upstreams.is_empty());
    // One answered late (after the IDE is gone), one never (it times out
    // after 1 s); both reached faulty before the IDE went.
    ide.send(&call("slow", "faulty__slow", json!({ "delay": 0.2 })));
    ide.send(&call("hang", "faulty__hang", json!({})));
    ide.send(&call("last", "faulty__ok", json!({})));
    assert_eq!(text(&ide.until_response(&json!("last"))), "ok");
    let began = Instant::now();
    ide.vanish();
    let status = ide.wait_exit(Duration::from_secs(8));
    eprintln!(
        "serve exited {status:?} {:.1?} after the IDE went",
        began.elapsed()
    );
    assert_all_gone(&upstreams, "after the IDE went");
    no_panic(&ide.stderr());
    let records = call_records(&home);
    for id in ["\"first\"", "\"slow\"", "\"hang\"", "\"last\""] {
        assert!(records.contains_key(id), "call {id} has no record");
    }
    assert_eq!(records["\"slow\""]["outcome"]["error"], false);
    assert_eq!(records["\"hang\""]["outcome"]["error"], true);
    verified(&home);
}

/// An audited home (with `settings` added to its `[audit]`) whose trail
/// exists, in WAL mode, from an earlier serve that recorded the call `id`;
/// then its audit database locked by another process.
fn locked_trail(settings: &str, id: &str) -> (Home, crate::support::DbLock) {
    let home = audited("30s");
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&config.replace(
        "[audit]\nenabled = true\n",
        &format!("[audit]\nenabled = true\n{settings}"),
    ));
    let mut serve = Serve::start(&home);
    serve.initialize();
    send_call(&mut serve, &json!(id), "faulty__ok", &json!({}));
    assert_eq!(text(&serve.until_response(&json!(id)).0), "ok");
    serve.finish();
    let lock = crate::support::DbLock::hold(&home, &home.path().join("state/audit.db"));
    (home, lock)
}

/// The audit database locked by another process (python3's sqlite3 in
/// `BEGIN EXCLUSIVE`), from before serve starts until after a number of
/// calls: serve starts and answers at once, calls go on (their records wait
/// in the journal; the org setting `on_failure = "deny"` denies none), and
/// once the lock is released every record reaches the database, chained.
#[test]
fn a_locked_audit_database_delays_no_call_and_loses_no_record() {
    let (home, lock) = locked_trail("on_failure = \"deny\"\n", "before");
    let began = Instant::now();
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "initialize took {:?}",
        began.elapsed()
    );
    let mut ids = Vec::new();
    for i in 0..20 {
        let (r, took) = call(&mut serve, "ok", json!({ "i": i }));
        assert_eq!(text(&r), "ok");
        // (The first call also waits for the upstream to start.)
        assert!(
            i == 0 || took < Duration::from_secs(3),
            "call {i} took {took:?}"
        );
        ids.push(serve.seen.last().unwrap()["id"].to_string());
    }
    lock.release();
    let (r, _) = call(&mut serve, "ok", json!({ "after": true }));
    assert_eq!(text(&r), "ok");
    ids.push(serve.seen.last().unwrap()["id"].to_string());
    no_panic(&serve.stderr());
    serve.finish();
    let records = call_records(&home);
    for id in &ids {
        assert!(records.contains_key(id), "call {id} has no record");
    }
    assert_eq!(records.len(), 22, "{:#?}", records.keys());
    assert!(records.contains_key("\"before\""));
    verified(&home);
}

/// A serve killed while the audit database was locked leaves records in
/// its journal; the next serve starts while the database is still locked
/// (and checkpoints every second): it answers at once, records every call
/// (none denied, none lost: `on_failure = "deny"`), stays responsive while
/// its periodic checkpoints cannot be written, exits promptly even though
/// its records cannot reach the database yet; once the lock is gone, the
/// next command has every record of both processes, chained.
#[test]
fn a_locked_audit_database_with_a_dead_journal_stops_nothing() {
    let (home, lock) = locked_trail(
        "on_failure = \"deny\"\ncheckpoint_interval = \"1s\"\n",
        "first",
    );
    // Killed with a record that could not reach the database.
    let mut serve = Serve::start(&home);
    serve.initialize();
    send_call(&mut serve, &json!("killed"), "faulty__ok", &json!({}));
    assert_eq!(text(&serve.until_response(&json!("killed")).0), "ok");
    // SAFETY: kill(2) on our own child's PID, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(serve.pid(), libc::SIGKILL) }, 0);
    drop(serve);
    // The next one, the lock still held.
    let began = Instant::now();
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "initialize took {:?}",
        began.elapsed()
    );
    // Calls for a few seconds (periodic checkpoints come due meanwhile).
    let mut ids = Vec::new();
    let mut slowest = Duration::ZERO;
    let calling = Instant::now();
    while calling.elapsed() < Duration::from_millis(1600) {
        let id = json!(format!("locked-{}", ids.len()));
        let asked = Instant::now();
        send_call(&mut serve, &id, "faulty__ok", &json!({}));
        let (r, _) = serve.until_response(&id);
        // The first call also waits for the upstream to start. A checkpoint
        // that waited for the lock on the serving thread held calls up for
        // the store's 5 s busy timeout and more.
        if !ids.is_empty() {
            slowest = slowest.max(asked.elapsed());
        }
        assert_eq!(text(&r), "ok");
        ids.push(id.to_string());
    }
    assert!(slowest < Duration::from_secs(3), "a call took {slowest:?}");
    let began = Instant::now();
    serve.finish();
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "serve took {:?} to exit",
        began.elapsed()
    );
    lock.release();
    let records = call_records(&home);
    for id in ["\"first\"", "\"killed\""]
        .iter()
        .map(|s| s.to_string())
        .chain(ids)
    {
        assert!(records.contains_key(&id), "call {id} has no record");
    }
    verified(&home);
}

/// The local store (state/toolgate.db, where rate limits are counted)
/// locked by another process: serve starts at once; a call under a rate
/// limit is refused (limits fail closed) within the store's busy timeout,
/// saying the limit cannot be counted and why (not that it is reached);
/// calls under no limit go on; once the lock is gone, counting resumes.
#[test]
fn a_locked_local_store_refuses_limited_calls_clearly_and_recovers() {
    let home = faulty("30s");
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{config}\n[[policy.limits]]\nid = \"ok-per-hour\"\nserver = \"faulty\"\ntool = \"ok\"\nmax = 1000\nper = \"hour\"\n"
    ));
    let mut serve = Serve::start(&home);
    serve.initialize();
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    serve.finish();
    let db = home.path().join("state/toolgate.db");
    let lock = crate::support::DbLock::hold(&home, &db);
    let began = Instant::now();
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    let (r, _) = call(&mut serve, "measure", json!({ "data": "no limit" }));
    assert_eq!(text(&r), "8");
    let (r, took) = call(&mut serve, "ok", json!({}));
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(kind(&r), "rate_limited", "{r}");
    let said = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        said.contains("cannot be counted") && said.contains("locked") && !said.contains("reached"),
        "{said}"
    );
    lock.release();
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    no_panic(&serve.stderr());
    serve.finish();
    no_orphans(&home);
}

/// The registry that is configured is slow (it accepts connections and
/// never answers) or down: serve answers initialize and tools/list at once
/// from the cached profile, calls work, a profile pulled meanwhile by
/// `toolgate profile pull` is put in force on SIGUSR1 (the hung pull does
/// not hold that up), and serve exits promptly.
#[test]
fn a_slow_or_down_registry_delays_nothing() {
    let home = Home::new();
    let org = Org::new(&home);
    let public = org.public.clone();
    // A profile with faulty, every tool pinned.
    let draft = org.dir.path().join("draft.toml");
    std::fs::write(
        &draft,
        format!(
            "org = \"Example Corp\"\nserial = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2099-01-01T00:00:00Z\"\n\n[servers.faulty]\ncommand = {}\nargs = [{}]\nenv = {{ FAULTY_PID_FILE = {} }}\n",
            crate::support::quote(home.tb.python()),
            crate::support::quote(&crate::support::fixture("faulty")),
            crate::support::quote(&home.pid_file().display().to_string()),
        ),
    )
    .unwrap();
    let done = home.run_toolgate(&["profile", "pin", draft.to_str().unwrap()]);
    assert!(done.status.success(), "{}", done.describe());
    let full = std::fs::read_to_string(&draft).unwrap();
    // Serial 1 leaves `big` unpinned (held for review); serial 2 pins it.
    let v1 = &full[..full
        .find("[servers.faulty.tools.big]")
        .expect("big is pinned")];
    let v2 = full.replace("serial = 1", "serial = 2");
    let registry = Registry::start(&home);
    let config = |url: &str| {
        home.write_raw_config(&format!(
            "[serve]\nlist_wait = \"30s\"\n\n[registry]\nurl = {}\nkeys = [{}]\n",
            crate::support::quote(url),
            crate::support::quote(&public)
        ));
    };
    let good = registry.profile_url();
    config(&good);
    registry.publish(&org.sign(&home, "v1.toml", v1), true);
    let done = home.run_toolgate(&["profile", "pull"]);
    assert!(done.status.success(), "{}", done.describe());
    let _ = std::fs::remove_file(home.pid_file());

    // Slow: a listener that never accepts (the kernel completes the
    // connection; nothing ever answers).
    let slow = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow_url = format!("http://{}/profile.toml", slow.local_addr().unwrap());
    config(&slow_url);
    let began = Instant::now();
    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert!(names.contains(&"faulty__ok".to_owned()), "{names:?}");
    assert!(!names.contains(&"faulty__big".to_owned()), "{names:?}");
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    // Serial 2, pulled from the good registry by the CLI, then SIGUSR1.
    registry.publish(&org.sign(&home, "v2.toml", &v2), true);
    config(&good);
    let done = home.run_toolgate(&["profile", "pull"]);
    assert!(done.status.success(), "{}", done.describe());
    config(&slow_url);
    // SAFETY: kill(2) on the PID of our own child process.
    assert_eq!(unsafe { libc::kill(serve.pid(), libc::SIGUSR1) }, 0);
    serve.until_notification("notifications/tools/list_changed");
    let names = serve.tool_names();
    assert!(names.contains(&"faulty__big".to_owned()), "{names:?}");
    let began = Instant::now();
    no_panic(&serve.stderr());
    serve.finish();
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );

    // Down: nothing listens there.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}/profile.toml", down.local_addr().unwrap());
    drop(down);
    config(&down_url);
    let began = Instant::now();
    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert!(names.contains(&"faulty__big".to_owned()), "{names:?}");
    let (r, _) = call(&mut serve, "big", json!({ "size": 3 }));
    assert_eq!(text(&r), "xxx");
    no_panic(&serve.stderr());
    serve.finish();
    no_orphans(&home);
    drop(slow);
}

/// A collector that accepts connections and never answers: calls are not
/// slowed (uploads run apart), serve exits promptly, `toolgate audit
/// flush` gives up after the sink's timeout naming the cause, and every
/// record is kept for a later upload.
#[test]
fn a_collector_that_never_answers_slows_nothing_and_keeps_every_record() {
    let home = audited("30s");
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{config}\n[audit.sinks.org]\ntype = \"otlp\"\nurl = \"http://{}/v1/logs\"\nbatch_records = 2\nbatch_interval = \"1ms\"\ntimeout = \"500ms\"\n",
        hung.local_addr().unwrap()
    ));
    let mut serve = Serve::start(&home);
    serve.initialize();
    // The first call also waits for the upstream to start: not counted.
    let (r, _) = call(&mut serve, "ok", json!({}));
    assert_eq!(text(&r), "ok");
    // Were a call held up by an upload, each would wait out the sink's
    // 500 ms timeout: 20 calls would take 10 s. Half that is the bound, far
    // from both (a loaded machine slows calls, not by seconds in all).
    let mut total = Duration::ZERO;
    for i in 0..20 {
        let (r, took) = call(&mut serve, "ok", json!({ "i": i }));
        assert_eq!(text(&r), "ok");
        total += took;
    }
    assert!(total < Duration::from_secs(5), "20 calls took {total:?}");
    let began = Instant::now();
    no_panic(&serve.stderr());
    serve.finish();
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );
    let began = Instant::now();
    let done = home.run_toolgate(&["audit", "flush", "--json"]);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    let flushed: Value = serde_json::from_str(&done.stdout).unwrap();
    let error = flushed["sinks"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("could not be reached"), "{flushed:#}");
    assert_eq!(call_records(&home).len(), 21); // the first call and 20 more
    let done = home.run_toolgate(&["audit", "status", "--json"]);
    let status: Value = serde_json::from_str(&done.stdout).unwrap();
    assert!(
        status["sinks"][0]["waiting"].as_u64().unwrap() >= 20,
        "{status:#}"
    );
    drop(hung);
}

/// The `sleep` the wrapper below leaves behind: killed when the test ends,
/// should it fail, so that a regression leaves no process for 1000 s.
struct Sleep(i32);

const SLEEP_CMDLINE: &[u8] = b"sleep\x001000\x00";

impl Drop for Sleep {
    fn drop(&mut self) {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.0)).unwrap_or_default();
        if cmdline == SLEEP_CMDLINE {
            // SAFETY: kill(2) of the sleep this test started (checked by its
            // command line just now).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// faulty started through `sh -c`, which first leaves a child of its own
/// behind in the upstream's process group: a `sleep` that ignores SIGHUP
/// and, in the background, reads nothing (what `npx` -> `node` or an `sh -c`
/// wrapper leaves when it is not stopped). Returns the home and a running
/// `serve` with faulty ready, the processes below `serve` (the `sleep`
/// among them) and the `sleep`.
fn serving_a_grandchild() -> (Home, Serve, Vec<i32>, Sleep) {
    let home = Home::new();
    let faulty = crate::support::fixture("faulty");
    home.config(&[Server::new("faulty", "/bin/sh")
        .arg("-c")
        .arg("trap '' HUP; sleep 1000 & exec \"$0\" \"$@\"")
        .arg(home.tb.python())
        .arg(&faulty)
        .env("FAULTY_PID_FILE", &home.pid_file().display().to_string())]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(serve.tool_names().contains(&"faulty__ok".to_owned()));
    let below = crate::support::descendants(serve.pid());
    let pids = home.faulty_pids();
    assert!(below.contains(&pids[0]), "{below:?} vs {pids:?}");
    let sleep = *below
        .iter()
        .find(|&&p| {
            std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default() == SLEEP_CMDLINE
        })
        .unwrap_or_else(|| panic!("no sleep below serve: {below:?}"));
    (home, serve, below, Sleep(sleep))
}

/// SIGKILL: faulty gets SIGKILL from the kernel (PR_SET_PDEATHSIG), its own
/// child does not; the reaper, which sees toolgate's end as the end of a
/// pipe, takes the rest of the group down, then exits itself.
#[test]
fn sigkill_leaves_no_grandchild_of_an_upstream_behind() {
    let (_home, serve, below, _sleep) = serving_a_grandchild();
    // SAFETY: kill(2) on our own child's PID, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(serve.pid(), libc::SIGKILL) }, 0);
    assert!(crate::support::wait_gone(serve.pid(), WAIT));
    assert_all_gone(&below, "after toolgate was killed");
    drop(serve);
}

/// A clean exit: faulty stops at the end of its stdin, and what is left of
/// its process group is killed once it is reaped (toolgate waited for it
/// before: the `sleep` holds faulty's stdout and stderr open).
#[test]
fn a_clean_exit_leaves_no_grandchild_of_an_upstream_behind() {
    let (_home, serve, below, _sleep) = serving_a_grandchild();
    serve.finish();
    assert_all_gone(&below, "after toolgate exited");
}

/// A crash the end of stdout does not show: faulty exits mid-call, but the
/// `sleep` it left holds its stdout open. The exit itself ends the
/// connection: the call fails with a sentence saying so, and faulty is
/// restarted.
#[test]
fn a_crash_is_seen_even_where_a_grandchild_holds_stdout_open() {
    let (home, mut serve, _below, _sleep) = serving_a_grandchild();
    let crashed = serve.result(
        "tools/call",
        json!({ "name": "faulty__crash", "arguments": {} }),
    );
    assert_eq!(
        crashed["_meta"]["dev.toolgate/error"]["kind"], "upstream_closed",
        "{crashed}"
    );
    let text = crashed["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("exited, while a process it started still held its stdout open"),
        "{text}"
    );
    // Restarted (after its back-off): its calls work again.
    crate::support::wait_until("faulty's restart", WAIT, || {
        let ok = serve.result(
            "tools/call",
            json!({ "name": "faulty__ok", "arguments": {} }),
        );
        ok["isError"] != true
    });
    assert_eq!(home.faulty_pids().len(), 2, "faulty was restarted once");
    serve.finish();
    no_orphans(&home);
}
