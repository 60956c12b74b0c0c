//! The policy pipeline: what an agent may do with each call.
//!
//! Policy lives in the signed org profile's `[policy]` (and, where the
//! profile allows it, the user's `config.toml` `[policy]`, which can only
//! make decisions stricter). Every `tools/call` passes the stages in order,
//! each a type behind [`Stage`], each testable alone:
//!
//! 1. [`Decide`]: rules give one of `allow`, `observe` (allowed, flagged in
//!    the audit record), `step-up` (held for a human; until the approval
//!    issue lands it is refused, saying approval is needed) or `deny`.
//! 2. [`Constrain`]: per-tool argument constraints (a JSON Schema 2020-12
//!    fragment, and simple rules: pattern, deny pattern, enum, min/max, max
//!    length, allowed hosts for URLs).
//!
//! ```toml
//! [policy]
//! default = "allow"                  # when no rule matches (default allow)
//! user_rules = "tighten"             # "tighten" (default) | "ignore": config.toml's [policy]
//!
//! [policy.tiers]                     # per-tier defaults
//! read = "allow"
//! write = "observe"
//! destructive = "step-up"
//!
//! [[policy.rules]]                   # server and tool are globs (* and ?)
//! id = "no-deletes"
//! server = "github"                  # the server's name in the profile, never a prefix
//! tool = "delete_*"                  # the upstream's own tool name, never the exposed one
//! decision = "deny"
//! reason = "deleting GitHub data needs a ticket"
//!
//! [[policy.rules]]
//! id = "etc-writes"
//! server = "filesystem"
//! tool = "write_file"
//! when = [{ arg = "path", pattern = "^/etc/" }]   # every condition must hold
//! decision = "step-up"
//!
//! [policy.tools."payments/refund"]   # "server/tool": tier and argument constraints
//! tier = "destructive"
//! schema = { type = "object", required = ["amount"] }
//! args.amount = { max = 1000 }
//! args.url = { allowed_hosts = ["api.example.com"] }
//! ```
//!
//! **Which rule wins.** The most specific: a rule with argument conditions
//! that hold, then a rule naming the exact tool, then the longest tool glob,
//! then a rule naming only the server, then the tier's default, then
//! `default`. Between rules equally specific, the stricter decision (deny >
//! step-up > observe > allow). The user's rules are weighed the same way,
//! and their decision counts only where it is stricter than the org's.
//! `toolgate policy explain TOOL --args JSON` shows the decision and every
//! rule that took part.
//!
//! **Tiers.** The org assigns them (`[policy.tools."s/t"] tier`); a
//! server's own annotations count only where the profile marks the server
//! `trusted` (`readOnlyHint` gives `read`, `destructiveHint` gives
//! `destructive`, otherwise `write`). A tool with no tier gets no tier
//! default.
//!
//! Decisions are computed per call from rules compiled once per profile:
//! the rules that can apply to a (server, tool) are found once and cached.

pub mod constrain;
pub mod guard;
pub mod limits;
pub mod protect;
pub mod scan;

#[cfg(test)]
mod props;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What may happen to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Allow,
    Observe,
    StepUp,
    Deny,
}

impl Decision {
    pub fn label(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Observe => "observe",
            Decision::StepUp => "step-up",
            Decision::Deny => "deny",
        }
    }

    /// Whether the call goes through.
    pub fn permits(self) -> bool {
        matches!(self, Decision::Allow | Decision::Observe)
    }
}

/// An org-assigned risk tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Read,
    Write,
    Destructive,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierDefaults {
    pub read: Option<Decision>,
    pub write: Option<Decision>,
    pub destructive: Option<Decision>,
}

/// One condition on an argument (all of a rule's must hold).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The argument: a top-level name, or a dotted path (`options.mode`).
    pub arg: String,
    /// A regular expression (Rust `regex` syntax) its text must match.
    pub pattern: Option<String>,
    pub equals: Option<Value>,
    pub one_of: Option<Vec<Value>>,
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    /// The argument is present.
    pub present: Option<bool>,
}

/// One rule.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Shown in answers, `explain` and audit records.
    pub id: Option<String>,
    /// Glob on the server's name (default: any).
    pub server: Option<String>,
    /// Glob on the upstream's own tool name (default: any).
    pub tool: Option<String>,
    /// Matches tools of this tier.
    pub tier: Option<Tier>,
    #[serde(default)]
    pub when: Vec<Condition>,
    pub decision: Decision,
    pub reason: Option<String>,
    /// For `step-up`: how long the call waits for a person (a duration,
    /// such as "5m"; default: `[policy.approvals] timeout`).
    pub timeout: Option<String>,
}

/// What config.toml's `[policy]` may do under a profile.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UserRules {
    /// The user's rules apply where they are stricter.
    #[default]
    Tighten,
    /// The user's rules are not read.
    Ignore,
}

/// `[policy]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub default: Option<Decision>,
    pub user_rules: Option<UserRules>,
    #[serde(default)]
    pub tiers: TierDefaults,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Per tool (`"server/tool"`): its tier and argument constraints.
    #[serde(default)]
    pub tools: BTreeMap<String, constrain::ToolPolicy>,
    /// Rate limits and budgets (see [`limits`]).
    #[serde(default)]
    pub limits: Vec<limits::Limit>,
    /// Guardrails on content (see [`guard`]).
    pub guardrails: Option<guard::GuardConfig>,
    /// Pins of tool definitions the poisoning scan must not quarantine
    /// (reviewed by the org).
    #[serde(default)]
    pub scan_exceptions: Vec<String>,
    /// Step-up approvals: timeout, IDE elicitation, scripts, notifications
    /// (see [`crate::approve::broker::Settings`]).
    pub approvals: Option<crate::approve::broker::Settings>,
}

/// Who a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Org,
    User,
}

/// Glob matching with `*` (any run) and `?` (one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// How specific a rule is, for "most specific wins" (higher wins).
fn specificity(rule: &Rule) -> (u8, usize) {
    let tool_exact = rule
        .tool
        .as_deref()
        .is_some_and(|t| !t.contains(['*', '?']));
    let level = if !rule.when.is_empty() {
        5
    } else if tool_exact {
        4
    } else if rule.tool.is_some() {
        3
    } else if rule.server.is_some() {
        2
    } else {
        1 // tier-only or catch-all rules
    };
    let glob_len = rule
        .tool
        .as_deref()
        .map_or(0, |t| t.chars().filter(|c| *c != '*' && *c != '?').count());
    (level, glob_len)
}

/// A rule compiled: its regexes built once.
#[derive(Debug)]
struct Compiled {
    rule: Rule,
    origin: Origin,
    index: usize,
    patterns: Vec<Option<regex::Regex>>,
}

/// One rule's part in a decision, for `explain` and answers.
#[derive(Debug, Clone, Serialize)]
pub struct Considered {
    pub id: String,
    pub origin: &'static str,
    pub decision: Decision,
    /// Whether its argument conditions held (rules without any: true).
    pub matched: bool,
    pub specificity: u8,
    pub reason: Option<String>,
}

/// The outcome of the decision stage.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    /// The rule (or default) that decided.
    pub by: String,
    pub reason: Option<String>,
    pub tier: Option<Tier>,
    pub considered: Vec<Considered>,
    /// For `step-up`: the deciding rule's own timeout.
    pub timeout: Option<String>,
    /// The decision is the user's own (a rule of theirs tightened it).
    pub by_user: bool,
}

impl Verdict {
    /// The deciding rule and its reason, for sentences: `rule: reason`.
    pub fn rule_words(&self) -> String {
        match &self.reason {
            Some(r) => format!("{}: {r}", self.by),
            None => self.by.clone(),
        }
    }
}

/// (server, tool).
type ToolKey = (String, String);

/// The winning rule of one origin so far: (specificity, decision, index).
type Best = Option<((u8, usize), Decision, usize)>;

/// The policy in force: org and user rules, compiled.
#[derive(Debug, Default)]
pub struct Policy {
    org: PolicyConfig,
    rules: Vec<Compiled>,
    /// (server, tool) -> indexes of the rules whose server/tool/tier can
    /// match: found once per tool.
    cache: Mutex<HashMap<ToolKey, Arc<Vec<usize>>>>,
    constraints: HashMap<ToolKey, constrain::Compiled>,
    /// Servers the profile marks `trusted` (their annotations count).
    trusted: Vec<String>,
    /// The org's limits and the user's (more limits only restrict more).
    limits: Vec<limits::Limit>,
    /// The org's guardrails (the user's, where there is no org policy).
    guard: Option<guard::Guard>,
}

impl Policy {
    /// Compiles the org's policy and, if it lets them in, the user's rules.
    pub fn new(
        org: PolicyConfig,
        user: Option<PolicyConfig>,
        trusted: Vec<String>,
    ) -> Result<Self, String> {
        let mut rules = Vec::new();
        let user_rules = match (&user, org.user_rules.unwrap_or_default()) {
            (Some(u), UserRules::Tighten) => u.rules.clone(),
            _ => Vec::new(),
        };
        if let Some(a) = &org.approvals {
            crate::util::parse_duration(&a.timeout)
                .map_err(|e| format!("policy.approvals.timeout: {e}"))?;
        }
        for (origin, list) in [(Origin::Org, org.rules.clone()), (Origin::User, user_rules)] {
            for rule in list {
                if let Some(t) = &rule.timeout {
                    crate::util::parse_duration(t).map_err(|e| {
                        format!(
                            "policy rule {}: timeout: {e}",
                            rule.id.as_deref().unwrap_or("(no id)")
                        )
                    })?;
                }
                let mut patterns = Vec::new();
                for c in &rule.when {
                    patterns.push(match &c.pattern {
                        Some(p) => Some(regex::Regex::new(p).map_err(|e| {
                            format!(
                                "policy rule {}: the pattern of {} is invalid: {e}",
                                rule.id.as_deref().unwrap_or("(no id)"),
                                c.arg
                            )
                        })?),
                        None => None,
                    });
                }
                let index = rules.len();
                rules.push(Compiled {
                    rule,
                    origin,
                    index,
                    patterns,
                });
            }
        }
        let mut constraints = HashMap::new();
        let user_tools = user
            .as_ref()
            .filter(|_| org.user_rules.unwrap_or_default() == UserRules::Tighten)
            .map(|u| u.tools.clone())
            .unwrap_or_default();
        for (key, tp) in org.tools.iter().chain(user_tools.iter()) {
            let (server, tool) = key
                .split_once('/')
                .ok_or_else(|| format!("policy.tools.\"{key}\": name tools as \"server/tool\""))?;
            let compiled =
                constrain::Compiled::new(tp).map_err(|e| format!("policy.tools.\"{key}\": {e}"))?;
            constraints
                .entry((server.to_string(), tool.to_string()))
                .and_modify(|c: &mut constrain::Compiled| c.extend(&compiled))
                .or_insert(compiled);
        }
        let mut all_limits = org.limits.clone();
        if let (Some(u), UserRules::Tighten) = (&user, org.user_rules.unwrap_or_default()) {
            all_limits.extend(u.limits.iter().cloned());
        }
        for l in &all_limits {
            l.validate()?;
        }
        let guard = match org
            .guardrails
            .as_ref()
            .or(user.as_ref().and_then(|u| u.guardrails.as_ref()))
        {
            Some(g) => Some(guard::Guard::new(g)?),
            None => None,
        };
        Ok(Self {
            org,
            rules,
            cache: Mutex::new(HashMap::new()),
            constraints,
            trusted,
            limits: all_limits,
            guard,
        })
    }

    /// The tier of a tool: the org's assignment, else (for a trusted
    /// server) its annotations.
    pub fn tier(&self, server: &str, tool: &str, definition: Option<&Value>) -> Option<Tier> {
        if let Some(t) = self
            .org
            .tools
            .get(&format!("{server}/{tool}"))
            .and_then(|t| t.tier)
        {
            return Some(t);
        }
        if !self.trusted.iter().any(|s| s == server) {
            return None;
        }
        let ann = definition?.get("annotations")?;
        if ann.get("readOnlyHint").and_then(Value::as_bool) == Some(true) {
            Some(Tier::Read)
        } else if ann.get("destructiveHint").and_then(Value::as_bool) == Some(true) {
            Some(Tier::Destructive)
        } else {
            Some(Tier::Write)
        }
    }

    fn candidates(&self, server: &str, tool: &str, tier: Option<Tier>) -> Arc<Vec<usize>> {
        let key = (server.to_string(), tool.to_string());
        if let Some(hit) = self.cache.lock().expect("policy cache").get(&key) {
            return hit.clone();
        }
        let list: Vec<usize> = self
            .rules
            .iter()
            .filter(|c| {
                let r = &c.rule;
                r.server.as_deref().is_none_or(|g| glob(g, server))
                    && r.tool.as_deref().is_none_or(|g| glob(g, tool))
                    && r.tier.is_none_or(|t| Some(t) == tier)
            })
            .map(|c| c.index)
            .collect();
        let list = Arc::new(list);
        self.cache
            .lock()
            .expect("policy cache")
            .insert(key, list.clone());
        list
    }

    /// The decision for a call: `server` as named in the profile, `tool` as
    /// the upstream names it, its arguments, and its definition (for tiers).
    pub fn decide(
        &self,
        server: &str,
        tool: &str,
        args: &Value,
        definition: Option<&Value>,
    ) -> Verdict {
        let tier = self.tier(server, tool, definition);
        let candidates = self.candidates(server, tool, tier);
        let mut considered = Vec::new();
        // The best (most specific, then strictest) per origin.
        let mut best: [Best; 2] = [None, None];
        for &i in candidates.iter() {
            let c = &self.rules[i];
            let matched = c
                .rule
                .when
                .iter()
                .zip(&c.patterns)
                .all(|(cond, re)| condition_holds(cond, re.as_ref(), args));
            let spec = specificity(&c.rule);
            considered.push(Considered {
                id: rule_id(c),
                origin: match c.origin {
                    Origin::Org => "org",
                    Origin::User => "user",
                },
                decision: c.rule.decision,
                matched,
                specificity: spec.0,
                reason: c.rule.reason.clone(),
            });
            if !matched {
                continue;
            }
            let slot = &mut best[c.origin as usize];
            let better = match slot {
                None => true,
                Some((s, d, _)) => spec > *s || (spec == *s && c.rule.decision > *d),
            };
            if better {
                *slot = Some((spec, c.rule.decision, i));
            }
        }
        let mut timeout = None;
        let (mut decision, mut by, mut reason) = match best[Origin::Org as usize] {
            Some((_, d, i)) => {
                timeout = self.rules[i].rule.timeout.clone();
                (
                    d,
                    rule_id(&self.rules[i]),
                    self.rules[i].rule.reason.clone(),
                )
            }
            None => {
                let tier_default = tier.and_then(|t| match t {
                    Tier::Read => self.org.tiers.read,
                    Tier::Write => self.org.tiers.write,
                    Tier::Destructive => self.org.tiers.destructive,
                });
                match tier_default {
                    Some(d) => (d, format!("tier default ({})", tier_label(tier)), None),
                    None => (
                        self.org.default.unwrap_or(Decision::Allow),
                        "policy default".to_string(),
                        None,
                    ),
                }
            }
        };
        let mut by_user = false;
        if let Some((_, d, i)) = best[Origin::User as usize]
            && d > decision
        {
            by_user = true;
            decision = d;
            by = rule_id(&self.rules[i]);
            reason = self.rules[i].rule.reason.clone();
            timeout = self.rules[i].rule.timeout.clone();
        }
        Verdict {
            decision,
            by,
            reason,
            tier,
            considered,
            timeout,
            by_user,
        }
    }

    /// The approval settings (`[policy.approvals]`).
    pub fn approvals(&self) -> Option<&crate::approve::broker::Settings> {
        self.org.approvals.as_ref()
    }

    /// The guardrails, when they act on this direction.
    pub fn guard(&self, dir: guard::Direction) -> Option<&guard::Guard> {
        self.guard.as_ref().filter(|g| g.active(dir))
    }

    /// Whether the org excepts this exact definition (by pin) from the
    /// poisoning scan's quarantine.
    pub fn scan_excepted(&self, pin: &str) -> bool {
        self.org.scan_exceptions.iter().any(|p| p == pin)
    }

    /// Whether a rate limit counts calls to this tool.
    pub fn limited(&self, server: &str, tool: &str) -> bool {
        self.limits.iter().any(|l| l.matches(server, tool))
    }

    /// Whether a server's own annotations count for its tools' tiers.
    pub fn trusts(&self, server: &str) -> bool {
        self.trusted.iter().any(|s| s == server)
    }

    /// The argument constraints of a tool, if it has any.
    pub fn constraints(&self, server: &str, tool: &str) -> Option<&constrain::Compiled> {
        self.constraints
            .get(&(server.to_string(), tool.to_string()))
    }

    /// Whether any rule or constraint looks at arguments of this tool (the
    /// caller may skip parsing them otherwise).
    pub fn reads_args(&self, server: &str, tool: &str, definition: Option<&Value>) -> bool {
        let tier = self.tier(server, tool, definition);
        self.constraints(server, tool).is_some()
            || self
                .candidates(server, tool, tier)
                .iter()
                .any(|&i| !self.rules[i].rule.when.is_empty())
    }
}

fn tier_label(t: Option<Tier>) -> &'static str {
    match t {
        Some(Tier::Read) => "read",
        Some(Tier::Write) => "write",
        Some(Tier::Destructive) => "destructive",
        None => "none",
    }
}

fn rule_id(c: &Compiled) -> String {
    match &c.rule.id {
        Some(id) => id.clone(),
        None => format!(
            "{} rule #{}",
            match c.origin {
                Origin::Org => "org",
                Origin::User => "user",
            },
            c.index + 1
        ),
    }
}

/// An argument by dotted path.
pub fn arg<'a>(args: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = args;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    Some(v)
}

fn condition_holds(c: &Condition, re: Option<&regex::Regex>, args: &Value) -> bool {
    let v = arg(args, &c.arg);
    if let Some(want) = c.present
        && want != v.is_some()
    {
        return false;
    }
    let needs_value = re.is_some()
        || c.equals.is_some()
        || c.one_of.is_some()
        || c.gt.is_some()
        || c.gte.is_some()
        || c.lt.is_some()
        || c.lte.is_some();
    let Some(v) = v else { return !needs_value };
    if let Some(re) = re {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !re.is_match(&text) {
            return false;
        }
    }
    if let Some(e) = &c.equals
        && e != v
    {
        return false;
    }
    if let Some(list) = &c.one_of
        && !list.contains(v)
    {
        return false;
    }
    let num = v.as_f64();
    for (bound, ok) in [
        (c.gt, num.zip(c.gt).is_some_and(|(n, b)| n > b)),
        (c.gte, num.zip(c.gte).is_some_and(|(n, b)| n >= b)),
        (c.lt, num.zip(c.lt).is_some_and(|(n, b)| n < b)),
        (c.lte, num.zip(c.lte).is_some_and(|(n, b)| n <= b)),
    ] {
        if bound.is_some() && !ok {
            return false;
        }
    }
    true
}

/// A stage of the pipeline: looks at a call, and either passes it on to
/// `next` or answers it itself.
pub trait Stage: Send + Sync {
    fn check(&self, call: &Call<'_>, next: &dyn Fn(&Call<'_>) -> Outcome) -> Outcome;
}

/// A call as the stages see it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub server: &'a str,
    pub tool: &'a str,
    pub args: &'a Value,
    pub definition: Option<&'a Value>,
}

/// What the pipeline says of a call.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Forward it (`observe`: and flag it in the audit record).
    Pass {
        observe: bool,
        verdict: Option<Box<Verdict>>,
    },
    /// Hold it for a person's approval (`step-up`); the rest of the
    /// pipeline passed.
    Hold { verdict: Box<Verdict> },
    /// Answer with a refusal: (kind, one sentence, what to do, detail).
    Refuse {
        kind: &'static str,
        message: String,
        hint: String,
        detail: Value,
    },
}

/// Stage 1: the rules' decision.
pub struct Decide<'p>(pub &'p Policy);

impl Stage for Decide<'_> {
    fn check(&self, call: &Call<'_>, next: &dyn Fn(&Call<'_>) -> Outcome) -> Outcome {
        let v = self
            .0
            .decide(call.server, call.tool, call.args, call.definition);
        match v.decision {
            Decision::Allow | Decision::Observe => match next(call) {
                Outcome::Pass { observe, .. } => Outcome::Pass {
                    observe: observe || v.decision == Decision::Observe,
                    verdict: Some(Box::new(v)),
                },
                refused => refused,
            },
            Decision::StepUp => match next(call) {
                Outcome::Pass { .. } | Outcome::Hold { .. } => Outcome::Hold {
                    verdict: Box::new(v),
                },
                refused => refused,
            },
            Decision::Deny => Outcome::Refuse {
                kind: "denied",
                message: format!(
                    "{} denies \"{}\" of \"{}\" (rule {})",
                    whose(v.by_user).0,
                    call.tool,
                    call.server,
                    v.rule_words()
                ),
                hint: format!(
                    "do not retry; choose another way, or {}",
                    whose(v.by_user).1
                ),
                detail: serde_json::json!({"decision": "deny", "rule": v.by, "reason": v.reason}),
            },
        }
    }
}

/// Whose policy decided, for sentences: the org's where a signed profile is
/// in force and the deciding rule is not the user's own, else the user's
/// config.toml. (policy, what to do about it)
fn whose(by_user: bool) -> (&'static str, &'static str) {
    if !by_user && crate::profile::govern::current().serial.is_some() {
        ("the org's policy", "ask your org's toolgate admins")
    } else {
        (
            "your policy (config.toml [policy])",
            "change the rule in config.toml (`toolgate policy explain` shows which)",
        )
    }
}

/// Stage 2: argument constraints.
pub struct Constrain<'p>(pub &'p Policy);

impl Stage for Constrain<'_> {
    fn check(&self, call: &Call<'_>, next: &dyn Fn(&Call<'_>) -> Outcome) -> Outcome {
        if let Some(c) = self.0.constraints(call.server, call.tool)
            && let Err(v) = c.check(call.args)
        {
            return Outcome::Refuse {
                kind: "invalid_arguments",
                message: format!(
                    "the arguments of \"{}\" of \"{}\" break {}: {}",
                    call.tool,
                    call.server,
                    whose(false).0,
                    v.sentence
                ),
                hint: "fix the argument and call again".into(),
                detail: serde_json::json!({"argument": v.arg, "rule": v.rule, "value": v.shown}),
            };
        }
        next(call)
    }
}

/// Stage 3: rate limits and budgets (only calls the rules let through
/// take from a bucket).
pub struct RateLimit<'p>(pub &'p Policy);

impl Stage for RateLimit<'_> {
    fn check(&self, call: &Call<'_>, next: &dyn Fn(&Call<'_>) -> Outcome) -> Outcome {
        if self.0.limits.is_empty() {
            return next(call);
        }
        let Some(buckets) = BUCKETS.get() else {
            return next(call);
        };
        match buckets.take(&self.0.limits, call.server, call.tool) {
            Ok(()) => next(call),
            // Not over the limit: it cannot be counted, so the call is
            // refused (limits fail closed), saying so.
            Err(e) if let Some(why) = e.unavailable.clone() => Outcome::Refuse {
                kind: "rate_limited",
                message: format!(
                    "the limit {} on \"{}\" of \"{}\" cannot be counted, so the call is refused: toolgate's local store cannot be used ({why})",
                    e.limit, call.tool, call.server
                ),
                hint: "retry in a moment; if this lasts, another process holds toolgate's local store (state/toolgate.db) locked or it is not writable".into(),
                detail: serde_json::json!({
                    "limit": e.limit,
                    "max": e.max,
                    "per": e.per.label(),
                    "unavailable": why,
                }),
            },
            Err(e) => Outcome::Refuse {
                kind: "rate_limited",
                message: format!(
                    "the limit {} ({} calls per {}) is reached for \"{}\" of \"{}\": {} used; a call is possible again in {} seconds",
                    e.limit,
                    e.max,
                    e.per.label(),
                    call.tool,
                    call.server,
                    e.used,
                    e.retry_after_secs
                ),
                hint: format!("wait {} seconds before calling again", e.retry_after_secs),
                detail: serde_json::json!({
                    "limit": e.limit,
                    "max": e.max,
                    "per": e.per.label(),
                    "count": e.used,
                    "retry_after_seconds": e.retry_after_secs,
                }),
            },
        }
    }
}

static BUCKETS: std::sync::OnceLock<limits::Buckets> = std::sync::OnceLock::new();

/// Where this process counts rate limits (the local store); set once.
pub fn set_buckets(db: std::path::PathBuf) {
    let _ = BUCKETS.set(limits::Buckets::new(db));
}

/// Runs the stages in order; the last passes.
pub fn run(stages: &[&dyn Stage], call: &Call<'_>) -> Outcome {
    fn go(stages: &[&dyn Stage], call: &Call<'_>) -> Outcome {
        match stages.split_first() {
            None => Outcome::Pass {
                observe: false,
                verdict: None,
            },
            Some((first, rest)) => first.check(call, &|c| go(rest, c)),
        }
    }
    go(stages, call)
}

impl Policy {
    /// The whole pipeline for one call.
    pub fn check_call(&self, call: &Call<'_>) -> Outcome {
        run(
            &[
                &protect::Protect,
                &Decide(self),
                &Constrain(self),
                &RateLimit(self),
            ],
            call,
        )
    }
}

/// The policy in force for this process (replaced with each new profile).
static CURRENT: std::sync::RwLock<Option<Arc<Policy>>> = std::sync::RwLock::new(None);

pub fn install(p: Policy) {
    *CURRENT.write().expect("policy lock") = Some(Arc::new(p));
}

/// Puts a policy in force that denies every call, saying why (a new
/// policy that does not compile: fail closed).
pub fn install_deny_all(why: String) {
    let cfg = PolicyConfig {
        default: Some(Decision::Deny),
        rules: vec![Rule {
            id: Some("invalid-policy".into()),
            server: None,
            tool: None,
            tier: None,
            when: Vec::new(),
            decision: Decision::Deny,
            reason: Some(why),
            timeout: None,
        }],
        ..Default::default()
    };
    if let Ok(p) = Policy::new(cfg, None, Vec::new()) {
        install(p);
    }
}

/// No policy in force.
pub fn clear() {
    *CURRENT.write().expect("policy lock") = None;
}

/// The policy in force, if any.
pub fn current() -> Option<Arc<Policy>> {
    CURRENT.read().expect("policy lock").clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(toml_text: &str) -> Policy {
        let cfg: PolicyConfig = toml::from_str(toml_text).unwrap();
        Policy::new(cfg, None, vec!["trusted".into()]).unwrap()
    }

    #[test]
    fn globs() {
        assert!(glob("delete_*", "delete_repo"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("delete_*", "undelete"));
        assert!(glob("*_file", "write_file"));
        assert!(glob("g*b", "github"));
    }

    #[test]
    fn most_specific_wins_then_stricter() {
        let p = policy(
            r#"
            default = "allow"
            [[rules]]
            id = "server"
            server = "github"
            decision = "observe"
            [[rules]]
            id = "glob"
            server = "github"
            tool = "delete_*"
            decision = "deny"
            [[rules]]
            id = "exact"
            server = "github"
            tool = "delete_branch"
            decision = "step-up"
            [[rules]]
            id = "args"
            server = "github"
            tool = "delete_*"
            when = [{ arg = "force", equals = false }]
            decision = "allow"
            "#,
        );
        let d = |tool: &str, args: Value| p.decide("github", tool, &args, None);
        assert_eq!(d("list_issues", json!({})).by, "server");
        assert_eq!(d("delete_repo", json!({})).decision, Decision::Deny);
        assert_eq!(d("delete_branch", json!({})).by, "exact");
        let v = d("delete_branch", json!({"force": false}));
        assert_eq!((v.decision, v.by.as_str()), (Decision::Allow, "args"));
        assert_eq!(v.considered.len(), 4);
        // Not the server: the default.
        assert_eq!(
            p.decide("gitlab", "delete_repo", &json!({}), None).by,
            "policy default"
        );
    }

    #[test]
    fn equals_prefer_the_stricter_and_users_only_tighten() {
        let org: PolicyConfig = toml::from_str(
            r#"
            [[rules]]
            id = "a"
            tool = "t"
            decision = "allow"
            [[rules]]
            id = "b"
            tool = "t"
            decision = "step-up"
            "#,
        )
        .unwrap();
        let user: PolicyConfig = toml::from_str(
            r#"
            [[rules]]
            id = "mine-looser"
            tool = "t"
            decision = "allow"
            [[rules]]
            id = "mine-stricter"
            tool = "u"
            decision = "deny"
            "#,
        )
        .unwrap();
        let p = Policy::new(org, Some(user), vec![]).unwrap();
        assert_eq!(p.decide("s", "t", &json!({}), None).by, "b");
        let v = p.decide("s", "u", &json!({}), None);
        assert_eq!(
            (v.decision, v.by.as_str()),
            (Decision::Deny, "mine-stricter")
        );
    }

    #[test]
    fn tiers_from_the_org_or_trusted_annotations() {
        let p = policy(
            r#"
            [tiers]
            destructive = "step-up"
            read = "allow"
            [tools."plain/drop"]
            tier = "destructive"
            "#,
        );
        let destructive = json!({"annotations": {"destructiveHint": true}});
        assert_eq!(
            p.decide("plain", "drop", &json!({}), None).decision,
            Decision::StepUp
        );
        // Annotations of an untrusted server do not count...
        assert_eq!(
            p.decide("plain", "rm", &json!({}), Some(&destructive))
                .decision,
            Decision::Allow
        );
        // ...of a trusted one they do.
        assert_eq!(
            p.decide("trusted", "rm", &json!({}), Some(&destructive))
                .decision,
            Decision::StepUp
        );
    }

    #[test]
    fn argument_conditions() {
        let p = policy(
            r#"
            [[rules]]
            tool = "write_file"
            when = [{ arg = "path", pattern = "^/etc/" }]
            decision = "step-up"
            [[rules]]
            tool = "pay"
            when = [{ arg = "amount", gt = 1000 }]
            decision = "deny"
            "#,
        );
        assert_eq!(
            p.decide("fs", "write_file", &json!({"path": "/etc/hosts"}), None)
                .decision,
            Decision::StepUp
        );
        assert_eq!(
            p.decide("fs", "write_file", &json!({"path": "/tmp/x"}), None)
                .decision,
            Decision::Allow
        );
        assert_eq!(
            p.decide("b", "pay", &json!({"amount": 5000}), None)
                .decision,
            Decision::Deny
        );
        assert_eq!(
            p.decide("b", "pay", &json!({"amount": 5}), None).decision,
            Decision::Allow
        );
        assert_eq!(
            p.decide("b", "pay", &json!({}), None).decision,
            Decision::Allow
        );
    }

    #[test]
    fn stages_compose_and_refuse_with_detail() {
        let p = policy(
            r#"
            [[rules]]
            id = "nope"
            tool = "rm"
            decision = "deny"
            [tools."s/echo".args.text]
            max_length = 3
            "#,
        );
        let call = |tool, args| Call {
            server: "s",
            tool,
            args,
            definition: None,
        };
        let a = json!({"text": "hi"});
        assert!(matches!(
            p.check_call(&call("echo", &a)),
            Outcome::Pass { .. }
        ));
        let b = json!({"text": "hello"});
        match p.check_call(&call("echo", &b)) {
            Outcome::Refuse { kind, detail, .. } => {
                assert_eq!(kind, "invalid_arguments");
                assert_eq!(detail["argument"], "text");
            }
            other => panic!("{other:?}"),
        }
        match p.check_call(&call("rm", &a)) {
            Outcome::Refuse { kind, message, .. } => {
                assert_eq!(kind, "denied");
                assert!(message.contains("rule nope"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // A stage alone, with a closure as the next stage.
        let passed = Decide(&p).check(&call("echo", &a), &|_| Outcome::Refuse {
            kind: "next",
            message: String::new(),
            hint: String::new(),
            detail: Value::Null,
        });
        assert!(matches!(passed, Outcome::Refuse { kind: "next", .. }));
    }
}
