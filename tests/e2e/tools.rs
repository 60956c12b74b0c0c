//! Tools through toolgate: listing, calling, structured output, metadata
//! kept as the upstream listed it, and list changes.

use serde_json::{Value, json};

use crate::support::{Home, Peer, Serve, Server, py};

/// server-everything and mcp-server-time behind one toolgate.
fn everything_and_time() -> Home {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb), Server::time(&home.tb)]);
    home
}

#[test]
fn lists_and_calls_tools_of_two_real_upstreams() {
    py(&everything_and_time(), "tools_list_and_call");
}

#[test]
fn structured_output_keeps_structured_content_and_output_schema() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    py(&home, "tools_structured_output");
}

#[test]
fn listed_tools_equal_what_the_upstream_lists_but_for_the_name() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    py(&home, "tools_metadata_matches_direct");
}

/// The same comparison on the raw JSON, member for member and in order:
/// the SDK's models would hide unknown members and key order.
#[test]
fn listed_tool_json_is_the_upstream_json_with_only_the_name_changed() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    let mut direct = Peer::direct(home.tb.everything(), &[], &home);
    direct.initialize();
    let want = direct.result("tools/list", json!({}));
    drop(direct);

    let mut serve = Serve::start(&home);
    serve.initialize();
    let got = serve.result("tools/list", json!({}));
    serve.finish();

    let want = want["tools"].as_array().unwrap();
    let got = got["tools"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{got:#?}\n{want:#?}");
    for (g, w) in got.iter().zip(want) {
        let mut g = g.clone();
        let name = w["name"].as_str().unwrap();
        assert_eq!(g["name"], json!(format!("everything__{name}")));
        g["name"] = json!(name);
        // serde_json keeps member order (preserve_order): compare the text.
        assert_eq!(g.to_string(), w.to_string());
    }
    assert!(
        want.iter().any(|t| t.get("annotations").is_some()),
        "no annotated tool to compare"
    );
}

#[test]
fn tools_list_changed_is_relayed_and_the_list_follows() {
    let home = Home::new();
    home.config(&[Server::fixture(&home.tb, "dynamic")]);
    py(&home, "tools_list_changed");
}

/// An unprefixed server's tools keep their own names.
#[test]
fn an_empty_prefix_exposes_tools_unprefixed() {
    let home = Home::new();
    home.config(&[
        Server::time(&home.tb).set("prefix", "\"\""),
        Server::fixture(&home.tb, "faulty"),
    ]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(names.contains(&"get_current_time".to_owned()), "{names:?}");
    assert!(names.contains(&"faulty__ok".to_owned()), "{names:?}");
    let result = serve.result(
        "tools/call",
        json!({ "name": "get_current_time", "arguments": { "timezone": "UTC" } }),
    );
    let text = result["content"][0]["text"].as_str().unwrap();
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["timezone"], "UTC");
    serve.finish();
}

const LIST_CHANGED: &str = "notifications/tools/list_changed";

/// Lists the tools until `done` holds for the names, waiting for a
/// list_changed between tries (one may be queued from earlier changes).
fn list_until(serve: &mut Serve, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    for _ in 0..10 {
        let names = serve.tool_names();
        if done(&names) {
            return names;
        }
        serve.until_notification(LIST_CHANGED);
    }
    panic!("{what}: not listed after 10 list_changed notifications");
}

/// With a short list_wait the first tools/list does not wait for a slow
/// upstream; when it is ready, toolgate says so with list_changed.
#[test]
fn an_upstream_ready_after_the_first_list_is_announced() {
    let home = Home::new();
    home.write_config(
        "list_wait = \"10ms\"",
        &[Server::fixture(&home.tb, "faulty")],
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    let first = serve.tool_names();
    if first.contains(&"faulty__ok".to_owned()) {
        // Only on a machine where Python starts in 10 ms: nothing to see.
        eprintln!("faulty was ready for the first list already");
    } else {
        serve.until_notification(LIST_CHANGED);
        let names = serve.tool_names();
        assert!(names.contains(&"faulty__ok".to_owned()), "{names:?}");
    }
    serve.finish();
}

/// Names clients would refuse (dots, non-ASCII, too long) are exposed in a
/// portable form that still leads to the upstream's tool.
#[test]
fn odd_tool_names_get_portable_names_that_lead_back() {
    let home = Home::new();
    home.config(&[Server::fixture(&home.tb, "dynamic")]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    let mut known = serve.tool_names();
    let long = "x".repeat(80);
    for original in ["read.file", "größe", long.as_str()] {
        let r = serve.result(
            "tools/call",
            json!({ "name": "dynamic__control", "arguments": { "action": "add", "name": original } }),
        );
        assert_eq!(r["isError"], false, "{r}");
        let names = list_until(&mut serve, original, |n| n.len() > known.len());
        let new: Vec<&String> = names.iter().filter(|n| !known.contains(n)).collect();
        assert_eq!(new.len(), 1, "{new:?}");
        let exposed = new[0].clone();
        assert!(
            exposed.starts_with("dynamic__")
                && exposed.len() <= 48
                && exposed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{original} exposed as {exposed}"
        );
        let r = serve.result(
            "tools/call",
            json!({ "name": exposed, "arguments": { "k": 1 } }),
        );
        assert_eq!(
            r["content"][0]["text"],
            format!("{original}: {{\"k\": 1}}"),
            "{r}"
        );
        known = names;
    }
    serve.finish();
}
