//! Guardrails on content, both ways: a tool call's arguments before they
//! reach the upstream, and its result before it reaches the IDE.
//!
//! A built-in, versioned ruleset ([`BUILTIN_VERSION`]) covers secrets
//! (cloud, VCS and LLM API keys, JWTs, PEM private keys, bearer tokens,
//! passwords in URLs), PII (email addresses, card numbers that pass the Luhn
//! check, IBANs that pass mod 97, phone numbers) and prompt-injection
//! indicators (instruction tags, "ignore previous instructions", hidden
//! Unicode, ANSI escapes). Each rule has an id; orgs add their own regex
//! rules and exceptions:
//!
//! ```toml
//! [policy.guardrails]
//! builtin = true                     # the built-in rules (default true)
//!
//! [policy.guardrails.actions]        # per rule id or group (secret, pii, injection)
//! secret = { arguments = "block", results = "redact" }
//! "pii.email" = { results = "warn" }
//!
//! [[policy.guardrails.rules]]        # the org's own (Rust regex syntax)
//! id = "acme.project-code"
//! pattern = "ACME-[0-9]{6}"
//! arguments = "warn"
//! results = "redact"
//!
//! [[policy.guardrails.exceptions]]   # never applied here
//! rule = "pii.email"
//! server = "crm"                     # globs
//! tool = "*"
//! ```
//!
//! Actions: `block` (the call is refused, or its result withheld), `redact`
//! (each match becomes `[REDACTED:rule-id]`), `warn` (a governance event
//! only), `off`. Defaults: secrets block in arguments and are redacted in
//! results; PII warns both ways; injection indicators are redacted in
//! results (hidden Unicode and ANSI escapes) or warned about (instruction
//! phrases). Structured content is walked, every string scanned, never
//! flattened: the output stays valid JSON, and a redaction always covers
//! the whole match.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of the built-in ruleset (reported in events).
pub const BUILTIN_VERSION: &str = "builtin-2026.11";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Off,
    Warn,
    Redact,
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Arguments,
    Results,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    pub arguments: Option<Action>,
    pub results: Option<Action>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    pub id: String,
    pub pattern: String,
    pub arguments: Option<Action>,
    pub results: Option<Action>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// A rule id or group.
    pub rule: String,
    pub server: Option<String>,
    pub tool: Option<String>,
}

/// `[policy.guardrails]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    #[serde(default = "yes")]
    pub builtin: bool,
    #[serde(default)]
    pub actions: BTreeMap<String, Actions>,
    #[serde(default)]
    pub rules: Vec<CustomRule>,
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

fn yes() -> bool {
    true
}

/// What a match must also pass to count (checksums).
#[derive(Debug, Clone, Copy)]
enum Check {
    None,
    Luhn,
    Iban,
}

struct RuleDef {
    id: &'static str,
    pattern: &'static str,
    check: Check,
    arguments: Action,
    results: Action,
}

const BUILTIN: &[RuleDef] = &[
    RuleDef {
        id: "secret.aws-access-key",
        pattern: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.github-token",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.gitlab-token",
        pattern: r"\bglpat-[A-Za-z0-9_-]{20,}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.slack-token",
        pattern: r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.anthropic-key",
        pattern: r"\bsk-ant-[A-Za-z0-9_-]{20,}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.openai-key",
        pattern: r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.google-api-key",
        pattern: r"\bAIza[0-9A-Za-z_-]{35,}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.stripe-key",
        pattern: r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.jwt",
        pattern: r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.private-key",
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.bearer",
        pattern: r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "secret.url-password",
        pattern: r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",
        check: Check::None,
        arguments: Action::Block,
        results: Action::Redact,
    },
    RuleDef {
        id: "pii.email",
        pattern: r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
        check: Check::None,
        arguments: Action::Warn,
        results: Action::Warn,
    },
    RuleDef {
        id: "pii.card",
        pattern: r"\b(?:\d[ -]?){12,18}\d\b",
        check: Check::Luhn,
        arguments: Action::Warn,
        results: Action::Warn,
    },
    RuleDef {
        id: "pii.iban",
        pattern: r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        check: Check::Iban,
        arguments: Action::Warn,
        results: Action::Warn,
    },
    RuleDef {
        id: "pii.phone",
        pattern: r"(?:\+\d{1,3}[ .-]?)?\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b",
        check: Check::None,
        arguments: Action::Warn,
        results: Action::Warn,
    },
    RuleDef {
        id: "injection.instruction-tag",
        pattern: r"(?i)</?(?:important|system|instructions?|admin)>",
        check: Check::None,
        arguments: Action::Off,
        results: Action::Warn,
    },
    RuleDef {
        id: "injection.ignore-previous",
        pattern: r"(?i)\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:the\s+)?(?:previous|prior|above)\s+(?:instructions|prompts?|rules)",
        check: Check::None,
        arguments: Action::Off,
        results: Action::Warn,
    },
    RuleDef {
        id: "injection.hidden-unicode",
        pattern: r"[\u{200B}-\u{200F}\u{202A}-\u{202E}\u{2060}-\u{2064}\u{2066}-\u{2069}\u{FEFF}\u{E0000}-\u{E007F}]+",
        check: Check::None,
        arguments: Action::Off,
        results: Action::Redact,
    },
    RuleDef {
        id: "injection.ansi-escape",
        pattern: r"\x1b\[[0-9;?]*[ -/]*[@-~]",
        check: Check::None,
        arguments: Action::Off,
        results: Action::Redact,
    },
];

fn luhn(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn iban(text: &str) -> bool {
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    // The rule's `\d` also matches other scripts' digits, which are no IBAN
    // (and several bytes long: the cut below must fall between ASCII ones).
    if !s.is_ascii() || !(15..=34).contains(&s.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &s[4..], &s[..4]);
    let mut rem: u64 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u64 - '0' as u64,
            'A'..='Z' => c as u64 - 'A' as u64 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

struct Compiled {
    id: String,
    re: Regex,
    check: Check,
    arguments: Action,
    results: Action,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub action: Action,
    /// Where, as a JSON pointer into the arguments or result.
    pub path: String,
}

/// The guardrails, compiled.
pub struct Guard {
    rules: Vec<Compiled>,
    exceptions: Vec<Exception>,
    /// A quick first pass: does any rule match this string at all?
    any: regex::RegexSet,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("rules", &self.rules.len())
            .finish()
    }
}

fn group(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

impl Guard {
    pub fn new(cfg: &GuardConfig) -> Result<Self, String> {
        let mut rules = Vec::new();
        let pick = |id: &str, dir: Direction, default: Action| -> Action {
            let by = |key: &str| {
                cfg.actions.get(key).and_then(|a| match dir {
                    Direction::Arguments => a.arguments,
                    Direction::Results => a.results,
                })
            };
            by(id).or_else(|| by(group(id))).unwrap_or(default)
        };
        if cfg.builtin {
            for r in BUILTIN {
                rules.push(Compiled {
                    id: r.id.to_string(),
                    re: Regex::new(r.pattern)
                        .map_err(|e| format!("built-in rule {}: {e}", r.id))?,
                    check: r.check,
                    arguments: pick(r.id, Direction::Arguments, r.arguments),
                    results: pick(r.id, Direction::Results, r.results),
                });
            }
        }
        for r in &cfg.rules {
            rules.push(Compiled {
                id: r.id.clone(),
                re: Regex::new(&r.pattern).map_err(|e| format!("guardrail rule {}: {e}", r.id))?,
                check: Check::None,
                arguments: pick(
                    &r.id,
                    Direction::Arguments,
                    r.arguments.unwrap_or(Action::Block),
                ),
                results: pick(
                    &r.id,
                    Direction::Results,
                    r.results.unwrap_or(Action::Redact),
                ),
            });
        }
        let any =
            regex::RegexSet::new(rules.iter().map(|r| r.re.as_str())).map_err(|e| e.to_string())?;
        Ok(Self {
            rules,
            exceptions: cfg.exceptions.clone(),
            any,
        })
    }

    /// Whether any rule acts on this direction (else nothing is scanned).
    pub fn active(&self, dir: Direction) -> bool {
        self.rules
            .iter()
            .any(|r| Self::action_of(r, dir) != Action::Off)
    }

    fn action_of(r: &Compiled, dir: Direction) -> Action {
        match dir {
            Direction::Arguments => r.arguments,
            Direction::Results => r.results,
        }
    }

    fn excepted(&self, rule: &str, server: &str, tool: &str) -> bool {
        self.exceptions.iter().any(|e| {
            (e.rule == rule || e.rule == group(rule))
                && e.server.as_deref().is_none_or(|g| super::glob(g, server))
                && e.tool.as_deref().is_none_or(|g| super::glob(g, tool))
        })
    }

    /// Scans a value in place: redacts what the rules redact, and returns
    /// every finding (a `block` one means the whole is refused).
    pub fn scan(
        &self,
        value: &mut Value,
        dir: Direction,
        server: &str,
        tool: &str,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        self.walk(value, dir, server, tool, &mut String::new(), &mut findings);
        findings
    }

    fn walk(
        &self,
        v: &mut Value,
        dir: Direction,
        server: &str,
        tool: &str,
        path: &mut String,
        out: &mut Vec<Finding>,
    ) {
        match v {
            Value::String(s) => {
                if let Some(new) = self.scan_text(s, dir, server, tool, path, out) {
                    *s = new;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    self.walk(item, dir, server, tool, path, out);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    self.walk(item, dir, server, tool, path, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn scan_text(
        &self,
        s: &str,
        dir: Direction,
        server: &str,
        tool: &str,
        path: &str,
        out: &mut Vec<Finding>,
    ) -> Option<String> {
        let hits = self.any.matches(s);
        if !hits.matched_any() {
            return None;
        }
        let mut text = s.to_string();
        let mut changed = false;
        for i in hits.iter() {
            let r = &self.rules[i];
            let action = Self::action_of(r, dir);
            if action == Action::Off || self.excepted(&r.id, server, tool) {
                continue;
            }
            let counts = |m: &str| match r.check {
                Check::None => true,
                Check::Luhn => luhn(m),
                Check::Iban => iban(m),
            };
            let found = r.re.find_iter(&text).any(|m| counts(m.as_str()));
            if !found {
                continue;
            }
            out.push(Finding {
                rule: r.id.clone(),
                action,
                path: path.to_string(),
            });
            if action == Action::Redact {
                let replacement = format!("[REDACTED:{}]", r.id);
                text =
                    r.re.replace_all(&text, |c: &regex::Captures<'_>| {
                        if counts(&c[0]) {
                            replacement.clone()
                        } else {
                            c[0].to_string()
                        }
                    })
                    .into_owned();
                changed = true;
            }
        }
        changed.then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn guard() -> Guard {
        Guard::new(&toml::from_str::<GuardConfig>("").unwrap()).unwrap()
    }

    #[test]
    fn recall_of_secrets_and_pii() {
        let g = guard();
        let cases = [
            ("secret.aws-access-key", "key AKIAIOSFODNN7EXAMPLE here"),
            (
                "secret.github-token",
                "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            ),
            ("secret.gitlab-token", "glpat-abcdefghij0123456789"),
            ("secret.slack-token", "xoxb-123456789012-abcdefghij"),
            (
                "secret.anthropic-key",
                "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
            ),
            (
                "secret.openai-key",
                "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            ),
            (
                "secret.google-api-key",
                "AIzaSyA-1234567890abcdefghijklmnopqrstu",
            ),
            (
                "secret.jwt",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
            ),
            (
                "secret.private-key",
                "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
            ),
            (
                "secret.bearer",
                "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123",
            ),
            (
                "secret.url-password",
                "postgres://admin:hunter2@db.internal/x",
            ),
            ("pii.email", "write to jane.doe@example.com"),
            ("pii.card", "card 4111 1111 1111 1111 exp"),
            ("pii.iban", "IBAN DE89 3704 0044 0532 0130 00"),
            ("pii.phone", "call (555) 123-4567"),
            (
                "injection.instruction-tag",
                "<IMPORTANT>do this</IMPORTANT>",
            ),
            (
                "injection.ignore-previous",
                "Ignore all previous instructions and",
            ),
            ("injection.hidden-unicode", "a\u{200B}b\u{E0041}"),
            ("injection.ansi-escape", "\u{1b}[31mred"),
        ];
        for (rule, text) in cases {
            let mut v = json!(text);
            let f = g.scan(&mut v, Direction::Results, "s", "t");
            assert!(
                f.iter().any(|f| f.rule == rule),
                "{rule} missed in {text:?}: {f:?}"
            );
        }
    }

    #[test]
    fn look_alikes_are_not_caught() {
        let g = guard();
        for text in [
            "550e8400-e29b-41d4-a716-446655440000",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "order 4111 1111 1111 1112",
            "version 2026.11.23 build 1234567",
        ] {
            let mut v = json!(text);
            let f = g.scan(&mut v, Direction::Results, "s", "t");
            assert!(f.is_empty(), "false positive on {text:?}: {f:?}");
        }
    }

    #[test]
    fn a_bad_iban_checksum_is_no_iban() {
        let g = guard();
        let mut v = json!("DE89 3704 0044 0532 0130 01");
        let f = g.scan(&mut v, Direction::Results, "s", "t");
        assert!(!f.iter().any(|f| f.rule == "pii.iban"), "{f:?}");
    }

    #[test]
    fn redaction_is_whole_and_json_stays_valid() {
        let g = guard();
        let mut v = json!({"content": [{"type": "text", "text": "token ghp_0123456789abcdefghijABCDEFGHIJ012345 ok"}], "structuredContent": {"k": ["AKIAIOSFODNN7EXAMPLE"]}});
        let f = g.scan(&mut v, Direction::Results, "s", "t");
        assert_eq!(f.len(), 2);
        let text = v.to_string();
        assert!(!text.contains("ghp_") && !text.contains("AKIA"), "{text}");
        assert!(text.contains("[REDACTED:secret.github-token]"), "{text}");
        assert_eq!(f[1].path, "/structuredContent/k/0");
        serde_json::from_str::<Value>(&text).unwrap();
        // Arguments: secrets block.
        let mut a = json!({"q": "AKIAIOSFODNN7EXAMPLE"});
        let f = g.scan(&mut a, Direction::Arguments, "s", "t");
        assert_eq!(f[0].action, Action::Block);
    }

    #[test]
    fn org_rules_actions_and_exceptions() {
        let g = Guard::new(
            &toml::from_str::<GuardConfig>(
                r#"
                [actions]
                pii = { results = "redact" }
                [[rules]]
                id = "acme.code"
                pattern = "ACME-[0-9]{6}"
                results = "redact"
                [[exceptions]]
                rule = "pii.email"
                server = "crm"
                "#,
            )
            .unwrap(),
        )
        .unwrap();
        let mut v = json!("ACME-123456 jane@example.com");
        g.scan(&mut v, Direction::Results, "other", "t");
        assert_eq!(v, json!("[REDACTED:acme.code] [REDACTED:pii.email]"));
        let mut v = json!("jane@example.com");
        assert!(g.scan(&mut v, Direction::Results, "crm", "t").is_empty());
    }

    #[test]
    fn checksums() {
        assert!(luhn("4111111111111111"));
        assert!(!luhn("4111111111111112"));
        assert!(iban("DE89370400440532013000"));
        assert!(!iban("DE89370400440532013001"));
    }

    /// Found by fuzzing (fuzz/fuzz_targets/redaction.rs): an IBAN look-alike
    /// with non-ASCII digits (`\d` is Unicode) was cut inside a character.
    #[test]
    fn an_iban_with_other_digits_is_no_iban_and_no_panic() {
        assert!(!iban("AB\u{967}\u{967}ABCDABCDABCD"));
        let g = guard();
        let mut v = json!("pay AB\u{967}\u{967} ABCD ABCD ABCD now");
        let f = g.scan(&mut v, Direction::Results, "s", "t");
        assert!(!f.iter().any(|f| f.rule == "pii.iban"), "{f:?}");
    }
}
