//! Property tests for rule matching and redaction (proptest): the glob
//! matcher agrees with a regular-expression reference, "most specific wins"
//! picks a rule the documented order allows, a user's rules never loosen
//! the org's decision, and redaction leaves no part of a secret visible
//! while the JSON stays valid.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::guard::{Direction, Guard, GuardConfig};
use super::{Decision, Policy, PolicyConfig, Rule, glob};

/// Glob patterns and names over a small alphabet, so matches are common.
fn pattern() -> impl Strategy<Value = String> {
    "[ab_*?]{0,8}"
}

fn name() -> impl Strategy<Value = String> {
    "[ab_]{0,8}"
}

fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        Just(Decision::Allow),
        Just(Decision::Observe),
        Just(Decision::StepUp),
        Just(Decision::Deny),
    ]
}

/// A rule on server `s*`-ish names and tools, sometimes with an argument
/// condition.
fn rule() -> impl Strategy<Value = Rule> {
    (
        prop::option::of(prop_oneof![
            Just("s".to_string()),
            Just("s*".to_string()),
            Just("t".to_string())
        ]),
        prop::option::of(pattern()),
        prop::option::of(0i64..3),
        decision(),
        0u32..1000,
    )
        .prop_map(|(server, tool, when, decision, id)| Rule {
            id: Some(format!("r{id}")),
            server,
            tool,
            tier: None,
            when: when
                .map(|n| {
                    vec![super::Condition {
                        arg: "n".into(),
                        equals: Some(json!(n)),
                        ..Default::default()
                    }]
                })
                .unwrap_or_default(),
            decision,
            reason: None,
            timeout: None,
        })
}

/// Rules with ids unique in the list (the winner is found by its id).
fn rules(max: usize) -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(rule(), 0..max).prop_map(|mut rules| {
        for (i, r) in rules.iter_mut().enumerate() {
            r.id = Some(format!("r{i}"));
        }
        rules
    })
}

fn config(rules: Vec<Rule>, default: Decision) -> PolicyConfig {
    PolicyConfig {
        default: Some(default),
        rules,
        ..Default::default()
    }
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Realistic secrets of the documented formats the built-in rules cover.
const SECRETS: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
    "glpat-abcdefghij0123456789",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
];

/// Plants secrets into the strings of a JSON value, with arbitrary text
/// around them; returns the secrets planted.
fn plant(
    v: &mut Value,
    picks: &mut impl Iterator<Item = (usize, String)>,
    used: &mut Vec<&'static str>,
) {
    match v {
        Value::String(s) => {
            if let Some((i, around)) = picks.next() {
                let secret = SECRETS[i % SECRETS.len()];
                used.push(secret);
                let cut = around
                    .char_indices()
                    .nth(around.chars().count() / 2)
                    .map_or(around.len(), |(i, _)| i);
                *s = format!("{}{} {secret} {}", s, &around[..cut], &around[cut..]);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| plant(i, picks, used)),
        Value::Object(map) => map.values_mut().for_each(|i| plant(i, picks, used)),
        _ => {}
    }
}

/// The built-in rules with secrets redacted in results, compiled once.
fn redactor() -> &'static Guard {
    static G: std::sync::OnceLock<Guard> = std::sync::OnceLock::new();
    G.get_or_init(|| {
        let cfg: GuardConfig =
            toml::from_str(r#"actions = { secret = { results = "redact" } }"#).unwrap();
        Guard::new(&cfg).unwrap()
    })
}

proptest! {
    // A fixed seed: the same cases on every run (tests are deterministic);
    // change the seed to explore new ones.
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x746f_6f6c_6761_7465),
        ..ProptestConfig::default()
    })]

    #[test]
    fn glob_agrees_with_a_regex_reference(p in pattern(), t in name()) {
        let mut re = String::from("^");
        for c in p.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        let reference = regex::Regex::new(&re).unwrap().is_match(&t);
        prop_assert_eq!(glob(&p, &t), reference, "glob {:?} on {:?}", p, t);
        // A name is always its own pattern.
        prop_assert!(glob(&t, &t));
    }

    #[test]
    fn the_winner_is_a_matching_rule_no_other_beats(
        rules in rules(12),
        default in decision(),
        tool in name(),
        n in 0i64..3,
    ) {
        let p = Policy::new(config(rules.clone(), default), None, vec![]).unwrap();
        let args = json!({"n": n});
        let v = p.decide("s", &tool, &args, None);
        let applies = |r: &Rule| {
            r.server.as_deref().is_none_or(|g| glob(g, "s"))
                && r.tool.as_deref().is_none_or(|g| glob(g, &tool))
                && r.when.iter().all(|c| args.get(&c.arg) == c.equals.as_ref())
        };
        let matching: Vec<&Rule> = rules.iter().filter(|r| applies(r)).collect();
        if matching.is_empty() {
            prop_assert_eq!(v.decision, default);
            prop_assert_eq!(v.by.as_str(), "policy default");
        } else {
            let winner = matching.iter().find(|r| r.id.as_deref() == Some(v.by.as_str()));
            prop_assert!(winner.is_some(), "{} is not a matching rule", v.by);
            let w = winner.unwrap();
            prop_assert_eq!(w.decision, v.decision);
            let ws = super::specificity(w);
            for r in &matching {
                let rs = super::specificity(r);
                // None more specific; none as specific and stricter.
                prop_assert!(rs <= ws, "{:?} is more specific than the winner {:?}", r, w);
                if rs == ws {
                    prop_assert!(r.decision <= w.decision, "{:?} is stricter than {:?}", r, w);
                }
            }
        }
    }

    #[test]
    fn user_rules_only_tighten(
        org in rules(8),
        user in rules(8),
        default in decision(),
        tool in name(),
        n in 0i64..3,
    ) {
        let args = json!({"n": n});
        let alone = Policy::new(config(org.clone(), default), None, vec![]).unwrap();
        let both = Policy::new(config(org, default), Some(config(user, Decision::Allow)), vec![]).unwrap();
        let a = alone.decide("s", &tool, &args, None).decision;
        let b = both.decide("s", &tool, &args, None).decision;
        prop_assert!(b >= a, "the user's rules loosened {:?} to {:?}", a, b);
    }

    #[test]
    fn redaction_leaves_no_piece_of_a_secret_and_valid_json(
        mut doc in json_value(),
        picks in prop::collection::vec((0usize..SECRETS.len(), "\\PC{0,6}"), 1..6),
    ) {
        let g = redactor();
        let mut used = Vec::new();
        // A bare string root still gets its secret.
        if !matches!(doc, Value::String(_)) {
            doc = json!({"text": "", "doc": doc});
        }
        plant(&mut doc, &mut picks.into_iter(), &mut used);
        g.scan(&mut doc, Direction::Results, "s", "t");
        let out = serde_json::to_string(&doc).unwrap();
        prop_assert!(serde_json::from_str::<Value>(&out).is_ok());
        for s in used {
            for w in s.as_bytes().windows(12) {
                let piece = std::str::from_utf8(w).unwrap();
                prop_assert!(!out.contains(piece), "{:?} of {} left in {}", piece, s, out);
            }
        }
    }
}
