//! Resources, resource templates, prompts and completions through toolgate,
//! and pagination across upstreams.

use serde_json::json;

use crate::support::{Home, Serve, Server, py};

fn everything() -> Home {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    home
}

#[test]
fn resources_list_read_and_templates() {
    py(&everything(), "resources_list_read_templates");
}

#[test]
fn resources_subscribe_relays_updates_and_unsubscribes() {
    py(&everything(), "resources_subscribe");
}

#[test]
fn prompts_list_get_and_complete() {
    py(&everything(), "prompts_list_get_complete");
}

/// paged.py lists 25 tools, 25 resources and 12 prompts in pages, next to
/// server-everything: following every cursor gives exactly the union.
#[test]
fn pages_of_every_upstream_give_exactly_the_union() {
    let home = Home::new();
    home.config(&[
        Server::everything(&home.tb),
        Server::fixture(&home.tb, "paged"),
    ]);
    py(&home, "pagination_union");
}

/// More tools than one page of toolgate's own (500): every upstream page is
/// read when the upstream starts, and the IDE gets them in toolgate's pages,
/// each tool exactly once.
#[test]
fn more_tools_than_a_page_come_in_pages_each_once() {
    let home = Home::new();
    home.write_config(
        "list_wait = \"30s\"",
        &[Server::fixture(&home.tb, "paged").env("PAGED_TOOLS", "1234")],
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    let first = serve.result("tools/list", json!({}));
    assert_eq!(
        first["tools"].as_array().map(Vec::len),
        Some(500),
        "the first page"
    );
    assert!(first["nextCursor"].is_string(), "{}", first["nextCursor"]);
    let names = serve.tool_names();
    assert_eq!(names.len(), 1234);
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), 1234, "a tool listed twice");
    assert!(
        names.contains(&"paged__t0000".to_owned()) && names.contains(&"paged__t1233".to_owned())
    );
    serve.finish();
}

/// A cursor toolgate did not issue is refused, not passed to an upstream.
#[test]
fn a_forged_cursor_is_invalid_params() {
    let home = Home::new();
    home.config(&[Server::fixture(&home.tb, "paged")]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    for method in ["tools/list", "resources/list", "prompts/list"] {
        let r = serve.request(method, json!({ "cursor": "not-a-toolgate-cursor" }));
        assert_eq!(r["error"]["code"], -32602, "{method}: {r}");
    }
    // A resources/list cursor is not a prompts/list cursor.
    let first = serve.result("resources/list", json!({}));
    let cursor = first["nextCursor"].clone();
    assert!(cursor.is_string(), "paged.py has more pages: {first}");
    let r = serve.request("prompts/list", json!({ "cursor": cursor }));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    serve.finish();
}
