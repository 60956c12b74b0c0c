//! Upstreams that misbehave (tests/fixtures/faulty.py): cancellation,
//! timeouts, crashes, garbage on stdout, oversized answers. toolgate answers
//! each with a clear result and keeps serving.

use serde_json::json;

use crate::support::{Home, Serve, Server, assert_all_gone, assert_unknown_tool, py};

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
