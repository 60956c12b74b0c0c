//! Outgoing HTTP honours `HTTP_PROXY` and `NO_PROXY`: a remote upstream is
//! reached through a recording forward proxy when one is set, and directly
//! when `NO_PROXY` names its host (tests/proxy/run.sh).

use std::process::Command;
use std::time::Duration;

use crate::support::{Testbed, repo, run_bounded, toolgate_bin};

#[test]
fn remote_upstreams_go_through_http_proxy_unless_no_proxy_says_otherwise() {
    let testbed = Testbed::load();
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("tests/proxy/run.sh"))
        .envs(testbed.vars())
        .env("TOOLGATE_BIN", toolgate_bin());
    let done = run_bounded(cmd, Duration::from_secs(90));
    assert!(done.status.success(), "{}", done.describe());
    let section = |name: &str| -> Vec<String> {
        done.stdout
            .split(&format!("== {name}\n"))
            .nth(1)
            .unwrap_or_default()
            .split("== ")
            .next()
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        section("via proxy"),
        ["Echo: proxied"],
        "{}",
        done.describe()
    );
    let proxied = section("proxy log");
    // Every exchange of the session went through the proxy: initialize,
    // initialized, the GET stream, tools/list, the call, and the DELETE.
    assert!(
        proxied
            .iter()
            .any(|l| l.starts_with("POST http://127.0.0.1:")),
        "{}",
        done.describe()
    );
    assert!(
        proxied.iter().any(|l| l.starts_with("DELETE ")),
        "{}",
        done.describe()
    );
    assert_eq!(section("no_proxy"), ["Echo: direct"], "{}", done.describe());
    assert!(
        section("proxy log after no_proxy").is_empty(),
        "{}",
        done.describe()
    );
}
