//! Argument constraints of one tool: a JSON Schema (2020-12) fragment the
//! arguments must satisfy, and simple per-argument rules.
//!
//! ```toml
//! [policy.tools."fetch/fetch"]
//! schema = { type = "object", required = ["url"] }
//! args.url = { allowed_hosts = ["docs.example.com", "*.example.org"] }
//! args.max_length = { max = 100000 }
//! args.query = { pattern = "^[a-z ]+$", deny_pattern = "password", max_length = 200 }
//! args.mode = { enum = ["fast", "full"] }
//! ```
//!
//! A violation names the argument and the rule, and shows the value only
//! redacted when its name says it is secret (`token`, `password`, `key`...).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `[policy.tools."server/tool"]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolPolicy {
    pub tier: Option<super::Tier>,
    /// A JSON Schema 2020-12 fragment for the whole arguments object.
    pub schema: Option<Value>,
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, ArgRule>,
}

/// Rules for one argument (a top-level name or a dotted path).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArgRule {
    pub pattern: Option<String>,
    pub deny_pattern: Option<String>,
    #[serde(rename = "enum")]
    pub one_of: Option<Vec<Value>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub max_length: Option<usize>,
    /// For URL-valued arguments: the hosts allowed (`*.example.com` allows
    /// subdomains).
    pub allowed_hosts: Option<Vec<String>>,
    /// The argument must be present.
    #[serde(default)]
    pub required: bool,
}

/// A broken constraint.
#[derive(Debug, Clone)]
pub struct Violation {
    pub arg: String,
    pub rule: String,
    /// The value as it may be shown (redacted where secret).
    pub shown: String,
    pub sentence: String,
}

struct CompiledArg {
    name: String,
    rule: ArgRule,
    pattern: Option<regex::Regex>,
    deny: Option<regex::Regex>,
}

/// One tool's constraints, compiled once.
pub struct Compiled {
    schemas: Vec<(Value, jsonschema::Validator)>,
    args: Vec<CompiledArg>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("schemas", &self.schemas.len())
            .field("args", &self.args.len())
            .finish()
    }
}

fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "key",
        "credential",
        "auth",
        "cookie",
    ]
    .iter()
    .any(|w| n.contains(w))
}

fn show(name: &str, v: &Value) -> String {
    if secret_name(name) {
        return "[REDACTED]".into();
    }
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

impl Compiled {
    pub fn new(tp: &ToolPolicy) -> Result<Self, String> {
        let mut schemas = Vec::new();
        if let Some(s) = &tp.schema {
            schemas.push((
                s.clone(),
                jsonschema::draft202012::new(s)
                    .map_err(|e| format!("the argument schema is invalid: {e}"))?,
            ));
        }
        let mut args = Vec::new();
        for (name, rule) in &tp.args {
            let re = |p: &Option<String>, what: &str| -> Result<Option<regex::Regex>, String> {
                p.as_deref()
                    .map(regex::Regex::new)
                    .transpose()
                    .map_err(|e| format!("args.{name}.{what} is not a valid regex: {e}"))
            };
            args.push(CompiledArg {
                name: name.clone(),
                pattern: re(&rule.pattern, "pattern")?,
                deny: re(&rule.deny_pattern, "deny_pattern")?,
                rule: rule.clone(),
            });
        }
        Ok(Self { schemas, args })
    }

    /// Adds another set (the user's, which can only add constraints).
    pub fn extend(&mut self, other: &Compiled) {
        for (raw, _) in &other.schemas {
            if let Ok(v) = jsonschema::draft202012::new(raw) {
                self.schemas.push((raw.clone(), v));
            }
        }
        for a in &other.args {
            self.args.push(CompiledArg {
                name: a.name.clone(),
                rule: a.rule.clone(),
                pattern: a.pattern.clone(),
                deny: a.deny.clone(),
            });
        }
    }

    /// Checks the arguments; the first violation found.
    pub fn check(&self, args: &Value) -> Result<(), Violation> {
        for (_, schema) in &self.schemas {
            if let Some(err) = schema.iter_errors(args).next() {
                let path = err.instance_path().to_string();
                let arg = path.trim_start_matches('/').replace('/', ".");
                return Err(Violation {
                    rule: "schema".into(),
                    shown: if secret_name(&arg) {
                        "[REDACTED]".into()
                    } else {
                        String::new()
                    },
                    sentence: format!(
                        "{} does not satisfy the argument schema{}",
                        if arg.is_empty() {
                            "the arguments".to_string()
                        } else {
                            format!("the argument {arg}")
                        },
                        if secret_name(&arg) {
                            String::new()
                        } else {
                            format!(" ({err})")
                        }
                    ),
                    arg,
                });
            }
        }
        for a in &self.args {
            let v = super::arg(args, &a.name);
            let fail = |rule: &str, why: String| Violation {
                arg: a.name.clone(),
                rule: rule.into(),
                shown: v.map(|v| show(&a.name, v)).unwrap_or_default(),
                sentence: format!("the argument {} {why}", a.name),
            };
            let Some(v) = v else {
                if a.rule.required {
                    return Err(fail("required", "is required".into()));
                }
                continue;
            };
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Some(re) = &a.pattern
                && !re.is_match(&text)
            {
                return Err(fail("pattern", format!("must match {}", re.as_str())));
            }
            if let Some(re) = &a.deny
                && re.is_match(&text)
            {
                return Err(fail(
                    "deny_pattern",
                    format!("must not match {}", re.as_str()),
                ));
            }
            if let Some(list) = &a.rule.one_of
                && !list.contains(v)
            {
                let allowed: Vec<String> = list.iter().map(Value::to_string).collect();
                return Err(fail(
                    "enum",
                    format!("must be one of {}", allowed.join(", ")),
                ));
            }
            if let Some(min) = a.rule.min
                && v.as_f64().is_none_or(|n| n < min)
            {
                return Err(fail("min", format!("must be a number of at least {min}")));
            }
            if let Some(max) = a.rule.max
                && v.as_f64().is_none_or(|n| n > max)
            {
                return Err(fail("max", format!("must be a number of at most {max}")));
            }
            if let Some(max) = a.rule.max_length
                && text.chars().count() > max
            {
                return Err(fail(
                    "max_length",
                    format!("must be at most {max} characters long"),
                ));
            }
            if let Some(hosts) = &a.rule.allowed_hosts {
                let host = reqwest::Url::parse(&text)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
                let ok = host.as_deref().is_some_and(|h| {
                    hosts.iter().any(|allowed| {
                        let allowed = allowed.to_ascii_lowercase();
                        match allowed.strip_prefix("*.") {
                            Some(base) => h == base || h.ends_with(&format!(".{base}")),
                            None => h == allowed,
                        }
                    })
                });
                if !ok {
                    return Err(fail(
                        "allowed_hosts",
                        format!("must be a URL on {}", hosts.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled(text: &str) -> Compiled {
        Compiled::new(&toml::from_str::<ToolPolicy>(text).unwrap()).unwrap()
    }

    #[test]
    fn simple_rules() {
        let c = compiled(
            r#"
            args.url = { allowed_hosts = ["docs.example.com", "*.example.org"] }
            args.n = { min = 1, max = 10 }
            args.q = { pattern = "^[a-z ]+$", deny_pattern = "password", max_length = 20 }
            args.mode = { enum = ["fast", "full"] }
            args.api_token = { max_length = 4 }
            "#,
        );
        assert!(
            c.check(
                &json!({"url": "https://docs.example.com/x", "n": 3, "q": "hello", "mode": "fast"})
            )
            .is_ok()
        );
        assert!(c.check(&json!({"url": "https://a.b.example.org/"})).is_ok());
        assert_eq!(
            c.check(&json!({"url": "https://evil.com/docs.example.com"}))
                .unwrap_err()
                .rule,
            "allowed_hosts"
        );
        assert_eq!(c.check(&json!({"n": 11})).unwrap_err().rule, "max");
        assert_eq!(c.check(&json!({"n": "3"})).unwrap_err().rule, "min");
        assert_eq!(c.check(&json!({"q": "Hello"})).unwrap_err().rule, "pattern");
        assert_eq!(
            c.check(&json!({"q": "my password"})).unwrap_err().rule,
            "deny_pattern"
        );
        assert_eq!(c.check(&json!({"mode": "slow"})).unwrap_err().rule, "enum");
        let v = c.check(&json!({"api_token": "canary-secret"})).unwrap_err();
        assert_eq!(v.shown, "[REDACTED]");
        assert!(!v.sentence.contains("canary"));
    }

    #[test]
    fn schema_fragment() {
        let c = compiled(
            r#"
            schema = { type = "object", required = ["path"], properties = { path = { type = "string", maxLength = 5 } } }
            "#,
        );
        assert!(c.check(&json!({"path": "/tmp"})).is_ok());
        assert_eq!(c.check(&json!({})).unwrap_err().rule, "schema");
        let v = c.check(&json!({"path": "/very/long"})).unwrap_err();
        assert_eq!(v.arg, "path");
    }
}
