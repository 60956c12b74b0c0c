//! The policy: compiling `[policy]` from TOML (rules, globs, regex
//! conditions, per-tool JSON Schema and argument constraints, limits,
//! guardrails) and deciding calls against it.
//!
//! Input: NUL-separated parts: the org's `[policy]` TOML, the user's
//! `[policy]` TOML, a server name, a tool name, the call's arguments
//! (JSON; other text is taken as a JSON string). Missing parts are empty.
//!
//! Checked: nothing panics; a decision is the same from the rule cache as
//! the first time; the user's rules only ever tighten the org's decision;
//! a tool refused by its constraints is never simply passed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use toolgate::policy::guard::Direction;
use toolgate::policy::{Call, Outcome, Policy, PolicyConfig};

fn protect_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Self-protection on, for made-up places (nothing is read or written).
        let paths = toolgate::config::Paths::under(std::path::Path::new("/home/dev/.toolgate"));
        toolgate::policy::protect::set(&paths, "toolgate-fuzz");
    });
}

fn config(text: &str) -> Option<PolicyConfig> {
    toml::from_str(text).ok()
}

fuzz_target!(|data: &[u8]| {
    protect_once();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let org = parts.next().unwrap_or("");
    let user = parts.next().unwrap_or("");
    let server = parts.next().unwrap_or("s");
    let tool = parts.next().unwrap_or("t");
    let raw_args = parts.next().unwrap_or("{}");
    let args: Value =
        serde_json::from_str(raw_args).unwrap_or_else(|_| Value::String(raw_args.into()));
    let definition = serde_json::json!({
        "name": tool,
        "annotations": {"destructiveHint": raw_args.len() % 2 == 0, "readOnlyHint": raw_args.len() % 3 == 0},
    });

    let _ = toolgate::policy::glob(server, tool);
    let _ = toolgate::policy::arg(&args, tool);
    let _ = toolgate::policy::protect::suspect(raw_args);

    let Some(org_cfg) = config(org) else {
        return;
    };
    let user_cfg = config(user);
    let trusted = vec![server.to_owned()];
    let Ok(alone) = Policy::new(org_cfg.clone(), None, trusted.clone()) else {
        return;
    };
    let call = Call {
        server,
        tool,
        args: &args,
        definition: Some(&definition),
    };
    let first = alone.decide(server, tool, &args, Some(&definition));
    let again = alone.decide(server, tool, &args, Some(&definition));
    assert_eq!(
        (first.decision, &first.by),
        (again.decision, &again.by),
        "a cached decision differs from the first"
    );
    let _ = first.rule_words();
    let _ = alone.reads_args(server, tool, Some(&definition));
    let _ = alone.limited(server, tool);
    let _ = alone.tier(server, tool, None);
    let outcome = alone.check_call(&call);
    if let Some(c) = alone.constraints(server, tool)
        && c.check(&args).is_err()
    {
        assert!(
            !matches!(outcome, Outcome::Pass { .. } | Outcome::Hold { .. }),
            "arguments that break the constraints passed: {outcome:?}"
        );
    }
    for dir in [Direction::Arguments, Direction::Results] {
        if let Some(g) = alone.guard(dir) {
            let mut v = args.clone();
            let _ = g.scan(&mut v, dir, server, tool);
        }
    }

    if let Some(user_cfg) = user_cfg
        && let Ok(both) = Policy::new(org_cfg, Some(user_cfg), trusted)
    {
        let tightened = both.decide(server, tool, &args, Some(&definition));
        assert!(
            tightened.decision >= first.decision,
            "the user's rules loosened {:?} to {:?}",
            first.decision,
            tightened.decision
        );
        let _ = both.check_call(&call);
    }
});
