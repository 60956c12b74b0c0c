//! What a policy decision costs per call.
//!
//! A policy of 1,000 rules (server and tool globs, exact tools, tier rules,
//! argument conditions with regexes and bounds) decides calls to tools that
//! several rules match, with arguments to check, as `serve` does on every
//! call: median and p99 of 20,000 decisions, once the per-tool rule cache is
//! warm (the first call to each tool finds its rules; shown separately).
//!
//! ```sh
//! cargo bench --bench policy
//! ```

use std::time::Instant;

use serde_json::json;
use toolgate::policy::{Call, Policy, PolicyConfig};

fn main() {
    let mut text = String::from("default = \"allow\"\n[tiers]\ndestructive = \"step-up\"\n\n");
    for i in 0..1000 {
        let (server, tool, extra) = match i % 5 {
            0 => (format!("srv{}", i % 50), format!("tool_{i}"), String::new()),
            1 => (format!("srv{}", i % 50), format!("delete_{}*", i % 7), String::new()),
            2 => ("srv*".to_string(), format!("write_{i}"), "when = [{ arg = \"path\", pattern = \"^/etc/\" }]\n".to_string()),
            3 => ("srv*".to_string(), "*".to_string(), String::new()),
            _ => (format!("srv{}", i % 50), format!("pay_{i}"), "when = [{ arg = \"amount\", gt = 1000 }, { arg = \"currency\", one_of = [\"EUR\", \"USD\"] }]\n".to_string()),
        };
        let decision = ["allow", "observe", "deny", "step-up"][i % 4];
        text.push_str(&format!(
            "[[rules]]\nid = \"r{i}\"\nserver = \"{server}\"\ntool = \"{tool}\"\n{extra}decision = \"{decision}\"\n\n"
        ));
    }
    text.push_str(
        "[tools.\"srv7/write_7\".args.path]\nmax_length = 200\ndeny_pattern = \"\\\\.\\\\.\"\n",
    );
    let cfg: PolicyConfig = toml::from_str(&text).expect("bench policy parses");
    let policy = Policy::new(cfg, None, vec![]).expect("bench policy compiles");
    let calls = [
        (
            "srv7",
            "write_7",
            json!({"path": "/etc/hosts", "content": "x"}),
        ),
        ("srv9", "pay_9", json!({"amount": 5000, "currency": "EUR"})),
        ("srv3", "delete_3abc", json!({"id": 1})),
        ("srv44", "list", json!({})),
    ];
    let mut first = Vec::new();
    for (s, t, a) in &calls {
        let began = Instant::now();
        std::hint::black_box(policy.check_call(&Call {
            server: s,
            tool: t,
            args: a,
            definition: None,
        }));
        first.push(began.elapsed().as_secs_f64() * 1e6);
    }
    let mut times = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let (s, t, a) = &calls[i % calls.len()];
        let began = Instant::now();
        std::hint::black_box(policy.check_call(&Call {
            server: s,
            tool: t,
            args: a,
            definition: None,
        }));
        times.push(began.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let p = |q: f64| times[((q / 100.0) * times.len() as f64) as usize - 1];
    let matched = calls
        .iter()
        .map(|(s, t, a)| policy.decide(s, t, a, None).considered.len())
        .max()
        .unwrap_or(0);
    println!("# toolgate policy benchmark\n");
    println!("- command: `cargo bench --bench policy`");
    println!(
        "- policy: 1,000 rules; the calls match up to {matched} rules each, with argument conditions\n"
    );
    println!("| figure | µs | target |");
    println!("|---|---:|---|");
    println!(
        "| decision + argument constraints, median | {:.2} | ≤ 20 µs |",
        p(50.0)
    );
    println!("| p99 | {:.2} | |", p(99.0));
    // Guardrails: the built-in ruleset over a 1 MB tool result (prose and
    // records, a few secrets and addresses in it), walked as JSON.
    let guard = toolgate::policy::guard::Guard::new(&toml::from_str("").unwrap()).unwrap();
    let mut lines = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < 1_000_000 {
        let line = match i % 50 {
            7 => format!(
                "record {i}: owner jane{i}@example.com, note: rotate key AKIAIOSFODNN7EXAMPL{}",
                i % 10
            ),
            _ => format!(
                "record {i}: the quarterly report lists 42 items, status ok, updated 2026-11-23, id 550e8400-e29b-41d4-a716-{i:012}"
            ),
        };
        size += line.len() + 1;
        lines.push(line);
        i += 1;
    }
    let result = json!({"content": [{"type": "text", "text": lines.join("\n")}], "structuredContent": {"rows": lines.len()}});
    let mut scans = Vec::new();
    let mut findings = 0;
    for _ in 0..20 {
        let mut v = result.clone();
        let began = Instant::now();
        findings = guard
            .scan(
                &mut v,
                toolgate::policy::guard::Direction::Results,
                "s",
                "t",
            )
            .len();
        scans.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    scans.sort_by(f64::total_cmp);
    println!(
        "| guardrail scan of a 1 MB result (built-in rules; {findings} rules matched), median, **ms** | {:.2} | ≤ 5 ms |",
        scans[scans.len() / 2]
    );
    println!(
        "| first call to a tool (finds its rules among 1,000), median of 4 | {:.2} | |",
        {
            first.sort_by(f64::total_cmp);
            first[first.len() / 2]
        }
    );
}
