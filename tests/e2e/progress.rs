//! Progress notifications: relayed with the client's own token, all before
//! the result.

use serde_json::{Value, json};

use crate::support::{Home, Serve, Server, py};

#[test]
fn progress_from_server_everything_reaches_the_python_client() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    py(&home, "progress_everything");
}

#[test]
fn progress_from_a_python_upstream_reaches_the_python_client() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    py(&home, "progress_faulty");
}

/// On the wire: each notification carries exactly the token the client chose
/// (a string here, where the upstream saw toolgate's own), every one comes
/// before the result, and none after it.
#[test]
fn progress_carries_the_clients_token_and_precedes_the_result() {
    let home = Home::new();
    home.config(&[
        Server::faulty(&home.tb, &home),
        Server::everything(&home.tb),
    ]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    for (tool, args, steps) in [
        ("faulty__slow", json!({ "delay": 0.02 }), 3),
        (
            "everything__trigger-long-running-operation",
            json!({ "duration": 0.3, "steps": 3 }),
            3,
        ),
    ] {
        let token = format!("tok-{tool}");
        let (result, before) = serve.request_with_notes(
            "tools/call",
            json!({ "name": tool, "arguments": args, "_meta": { "progressToken": token } }),
        );
        assert!(result.get("result").is_some(), "{tool}: {result}");
        let progress: Vec<&Value> = before
            .iter()
            .filter(|m| m["method"] == "notifications/progress")
            .collect();
        assert_eq!(progress.len(), steps, "{tool}: {before:#?}");
        for (i, p) in progress.iter().enumerate() {
            assert_eq!(p["params"]["progressToken"], json!(token), "{p}");
            // Numbers as the upstream wrote them (1 or 1.0): compare values.
            assert_eq!(
                p["params"]["progress"].as_f64(),
                Some(i as f64 + 1.0),
                "{p}"
            );
            assert_eq!(p["params"]["total"].as_f64(), Some(steps as f64), "{p}");
        }
        // Nothing for this token after the result: a ping's answer comes
        // after anything toolgate had still queued.
        let (_, after) = serve.request_with_notes("ping", json!({}));
        assert!(
            after
                .iter()
                .all(|m| m["params"]["progressToken"] != json!(token)),
            "progress after the result: {after:#?}"
        );
    }
    serve.finish();
}

/// Without a progress token the upstream sends none, and toolgate adds none.
#[test]
fn no_token_no_progress() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    let (result, before) = serve.request_with_notes(
        "tools/call",
        json!({ "name": "faulty__slow", "arguments": { "delay": 0.01 } }),
    );
    assert_eq!(result["result"]["content"][0]["text"], "done", "{result}");
    assert!(
        before
            .iter()
            .all(|m| m["method"] != "notifications/progress"),
        "{before:#?}"
    );
    serve.finish();
}
