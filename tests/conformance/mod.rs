//! The official MCP conformance suite (npm `@modelcontextprotocol/conformance`).
//!
//! Server side: the suite's server scenarios run against server-everything
//! over streamable HTTP, once directly and once through `toolgate serve
//! --listen`; every scenario must pass at least as many checks through
//! toolgate as directly.
//!
//! Client side: the suite's non-auth client scenarios run with toolgate's
//! upstream client under test (tests/conformance/client.py plays the IDE),
//! and its auth scenarios with toolgate as the OAuth client
//! (tests/conformance/auth_client.sh).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::support::{Testbed, repo, run_bounded, toolgate_bin};

/// `✓ name: 1 passed, 0 failed` lines of the suite's summary.
fn passed_by_scenario(output: &str) -> BTreeMap<String, u32> {
    output
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches(['✓', '✗', ' ']);
            let (name, rest) = l.split_once(": ")?;
            let passed = rest.split_once(" passed")?.0.trim().parse().ok()?;
            Some((name.to_owned(), passed))
        })
        .collect()
}

/// A command with the test bed's variables and the toolgate under test.
fn command(testbed: &Testbed, program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.envs(testbed.vars()).env("TOOLGATE_BIN", toolgate_bin());
    cmd
}

fn run_server_suite(testbed: &Testbed, mode: &str, out: &std::path::Path) -> BTreeMap<String, u32> {
    let mut cmd = command(testbed, "bash");
    cmd.arg(repo().join("tests/conformance/server.sh"))
        .arg(mode)
        .arg(out);
    let done = run_bounded(cmd, Duration::from_secs(240));
    assert!(
        done.stdout.contains("Total:"),
        "the conformance suite ({mode}) did not finish: {}",
        done.describe()
    );
    passed_by_scenario(&done.stdout)
}

#[test]
fn server_scenarios_pass_through_toolgate_as_they_do_directly() {
    let testbed = Testbed::load();
    let dir = tempfile::tempdir().unwrap();
    let direct = run_server_suite(&testbed, "direct", &dir.path().join("direct"));
    let via = run_server_suite(&testbed, "via", &dir.path().join("via"));
    assert!(direct.len() >= 30, "too few scenarios parsed: {direct:?}");
    let mut worse = Vec::new();
    for (scenario, n) in &direct {
        let through = via.get(scenario).copied().unwrap_or(0);
        if through < *n {
            worse.push(format!(
                "{scenario}: {n} directly, {through} through toolgate"
            ));
        }
    }
    assert!(
        worse.is_empty(),
        "scenarios that lost checks through toolgate:\n{}",
        worse.join("\n")
    );
    let total: u32 = via.values().sum();
    assert!(
        total >= 13,
        "only {total} checks passed through toolgate: {via:?}"
    );
}

#[test]
fn client_scenarios_pass_with_toolgates_upstream_client() {
    let testbed = Testbed::load();
    let client = repo().join("tests/conformance/client.py");
    let client_command = format!("{} {}", testbed.python(), client.display());
    for scenario in [
        "initialize",
        "tools_call",
        "elicitation-sep1034-client-defaults",
        "sse-retry",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = command(&testbed, testbed.get("TESTBED_CONFORMANCE"));
        cmd.args([
            "client",
            "--command",
            &client_command,
            "--scenario",
            scenario,
            "-o",
        ])
        .arg(dir.path());
        let done = run_bounded(cmd, Duration::from_secs(120));
        // The suite prints its summary on stderr.
        let all = format!("{}\n{}", done.stdout, done.stderr);
        let summary = all.lines().find(|l| l.starts_with("Passed:")).unwrap_or("");
        assert!(
            done.status.success()
                && summary.contains(" 0 failed")
                && !summary.starts_with("Passed: 0/"),
            "client scenario {scenario}: {summary}\n{}",
            done.describe()
        );
    }
}

/// The suite's OAuth client scenarios (`--suite auth`: discovery variants,
/// client ID metadata documents, scope selection and step-up, the retry
/// limit, token endpoint authentication, pre-registration) and the draft
/// ones (resource mismatch, offline_access), with toolgate as the client
/// (tests/conformance/auth_client.sh), its tokens in the real Secret
/// Service. Every check must pass, with no warnings.
#[test]
fn auth_client_scenarios_pass() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "the auth scenarios keep tokens in the Secret Service: run them through `bash tests/run.sh`"
    );
    let testbed = Testbed::load();
    let script = repo().join("tests/conformance/auth_client.sh");
    for suite in ["auth", "draft"] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = command(&testbed, testbed.get("TESTBED_CONFORMANCE"));
        cmd.args([
            "client",
            "--command",
            &format!("bash {}", script.display()),
            "--suite",
            suite,
            "-o",
        ])
        .arg(dir.path());
        let done = run_bounded(cmd, Duration::from_secs(240));
        let mut scenarios = passed_by_scenario(&done.stdout);
        scenarios.retain(|name, _| name.starts_with("auth/"));
        let total = done
            .stdout
            .lines()
            .find(|l| l.starts_with("Total:"))
            .unwrap_or("");
        assert!(
            done.status.success() && total.contains(" 0 failed, 0 warnings"),
            "conformance --suite {suite}: {total}\n{}",
            done.describe()
        );
        let want = if suite == "auth" { 14 } else { 3 };
        assert_eq!(scenarios.len(), want, "{scenarios:?}\n{}", done.describe());
        assert!(scenarios.values().all(|n| *n > 0), "{scenarios:?}");
    }
}
