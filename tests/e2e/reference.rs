//! The configuration reference: `src/config/config.schema.json` and
//! `profiles/profile.schema.json` agree with toolgate's own parsers, and the
//! README's reference section is what `packaging/reference.py` makes of them.
//!
//! - Every ```` ```toml ```` example of README.md that is a `config.toml`
//!   example, and a config that sets every key the schema has, validate
//!   against the schema and are accepted by `toolgate servers --json`.
//! - Mistakes (unknown keys, wrong enum values, wrong types, values
//!   toolgate checks) are refused by both.
//! - The same for profiles, from `profiles/examples/example-corp.toml`.
//!
//! **Which README examples are profile examples.** The README's TOML
//! blocks carry no marker; a block is an org profile's when it uses a key
//! that the profile schema has and the config schema does not at the same
//! place (`org`, `serial`, `[settings]`, a server's `owner` or `tools`,
//! `[audit] required`...), found by walking both schemas. Every other block
//! is a `config.toml` example (a `[policy]` block is valid in both: the two
//! schemas share its definition, which a test checks).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Finished, Home, repo};

const CONFIG_SCHEMA: &str = "src/config/config.schema.json";
const PROFILE_SCHEMA: &str = "profiles/profile.schema.json";

/// A schema document, with the few lookups the tests need (local `$ref`s
/// only, as both schemas use).
struct Schema {
    doc: Value,
    validator: jsonschema::Validator,
    file: &'static str,
}

impl Schema {
    fn load(file: &'static str) -> Self {
        let text =
            std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
        if let Err(e) = jsonschema::meta::validate(&doc) {
            panic!("{file} is not a valid JSON Schema: {e}");
        }
        let validator = jsonschema::draft202012::new(&doc)
            .unwrap_or_else(|e| panic!("{file} does not compile: {e}"));
        Self {
            doc,
            validator,
            file,
        }
    }

    fn config() -> Self {
        Self::load(CONFIG_SCHEMA)
    }

    fn profile() -> Self {
        Self::load(PROFILE_SCHEMA)
    }

    /// What the schema says is wrong with `instance` (empty: valid).
    fn errors(&self, instance: &Value) -> Vec<String> {
        self.validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        while let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r
                .strip_prefix("#/$defs/")
                .unwrap_or_else(|| panic!("{}: only local $refs: {r}", self.file));
            node = &self.doc["$defs"][name];
            assert!(!node.is_null(), "{}: {r} names no definition", self.file);
        }
        node
    }

    /// The schema of `key` in the object `node` describes: a named
    /// property, or the value of a map.
    fn property<'a>(&'a self, node: &'a Value, key: &str) -> Option<&'a Value> {
        let node = self.resolve(node);
        if let Some(p) = node.get("properties").and_then(|p| p.get(key)) {
            return Some(p);
        }
        // Maps: our schemas have at most one name pattern per map.
        if let Some(p) = node
            .get("patternProperties")
            .and_then(Value::as_object)
            .and_then(|m| m.values().next())
        {
            return Some(p);
        }
        node.get("additionalProperties").filter(|v| v.is_object())
    }

    fn items<'a>(&'a self, node: &'a Value) -> Option<&'a Value> {
        self.resolve(node).get("items")
    }

    /// Every key path the schema describes (`servers.*.oauth.client_id`,
    /// `policy.rules[].when[].gt`).
    fn key_paths(&self, node: &Value, path: &str, out: &mut BTreeSet<String>) {
        let node = self.resolve(node);
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                let here = format!("{path}{k}");
                out.insert(here.clone());
                self.key_paths(p, &format!("{here}."), out);
                if let Some(items) = self.items(p) {
                    self.key_paths(items, &format!("{here}[]."), out);
                }
                if let Some(values) = map_values(self.resolve(p)) {
                    self.key_paths(values, &format!("{here}.*."), out);
                }
            }
        }
    }

    /// The key paths (as [`Schema::key_paths`] spells them) that `value`
    /// sets.
    fn set_paths(&self, node: &Value, value: &Value, path: &str, out: &mut BTreeSet<String>) {
        let node = self.resolve(node);
        let Some(map) = value.as_object() else { return };
        let props = node.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            if let Some(p) = props.and_then(|p| p.get(k)) {
                let here = format!("{path}{k}");
                out.insert(here.clone());
                self.set_paths(p, v, &format!("{here}."), out);
                if let (Some(items), Some(list)) = (self.items(p), v.as_array()) {
                    for item in list {
                        self.set_paths(items, item, &format!("{here}[]."), out);
                    }
                }
                if let (Some(values), Some(entries)) = (map_values(self.resolve(p)), v.as_object())
                {
                    for entry in entries.values() {
                        self.set_paths(values, entry, &format!("{here}.*."), out);
                    }
                }
            }
        }
    }

    /// Every property, its description (its own or its definition's).
    fn undescribed(&self, node: &Value, path: &str, out: &mut Vec<String>) {
        let resolved = self.resolve(node);
        if let Some(props) = resolved.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                let here = format!("{path}{k}");
                let described = p.get("description").or(self.resolve(p).get("description"));
                if described.and_then(Value::as_str).is_none_or(str::is_empty) {
                    out.push(here.clone());
                }
                self.undescribed(p, &format!("{here}."), out);
                if let Some(items) = self.items(p) {
                    self.undescribed(items, &format!("{here}[]."), out);
                }
                if let Some(values) = map_values(self.resolve(p)) {
                    self.undescribed(values, &format!("{here}.*."), out);
                }
            }
        }
    }
}

/// The value schema of a map (an object keyed by any name).
fn map_values(node: &Value) -> Option<&Value> {
    if node.get("properties").is_some() {
        return None;
    }
    node.get("patternProperties")
        .and_then(Value::as_object)
        .and_then(|m| m.values().next())
        .or(node.get("additionalProperties").filter(|v| v.is_object()))
}

/// TOML text as the JSON the schemas describe.
fn json_of(toml_text: &str) -> Value {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("not TOML: {e}\n{toml_text}"))
}

/// The first key of `value` (a path) that the profile schema has and the
/// config schema does not at the same place: such a value is a profile's.
fn profile_only_key(
    profile: &Schema,
    p: &Value,
    config: &Schema,
    c: Option<&Value>,
    value: &Value,
    path: &str,
) -> Option<String> {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let Some(pp) = profile.property(p, k) else {
                    continue;
                };
                let here = format!("{path}{k}");
                match c.and_then(|c| config.property(c, k)) {
                    None => return Some(here),
                    Some(cp) => {
                        if let Some(found) =
                            profile_only_key(profile, pp, config, Some(cp), v, &format!("{here}."))
                        {
                            return Some(found);
                        }
                    }
                }
            }
            None
        }
        Value::Array(items) => {
            let pi = profile.items(p)?;
            let ci = c.and_then(|c| config.items(c));
            items
                .iter()
                .find_map(|item| profile_only_key(profile, pi, config, ci, item, path))
        }
        _ => None,
    }
}

/// The ```` ```toml ```` blocks of README.md: (line of the fence, text).
fn readme_toml_blocks() -> Vec<(usize, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```toml" => current = Some((i + 1, String::new())),
            Some(_) if line.trim_start().starts_with("```") => {
                blocks.push(current.take().unwrap());
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(
        current.is_none(),
        "README.md: a ```toml block is not closed"
    );
    blocks
}

/// `text` with every server disabled (`enabled = false`), so that
/// `toolgate servers` checks the config without starting anything (a
/// README example's `npx` would download a package).
fn with_servers_disabled(text: &str) -> String {
    let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
    if let Some(servers) = doc
        .get_mut("servers")
        .and_then(toml_edit::Item::as_table_like_mut)
    {
        for (_, server) in servers.iter_mut() {
            if let Some(t) = server.as_table_like_mut() {
                t.insert("enabled", toml_edit::value(false));
            }
        }
    }
    doc.to_string()
}

/// Runs `toolgate servers --json` on `text` as config.toml.
fn servers_json(home: &Home, text: &str) -> Finished {
    home.write_raw_config(text);
    home.run_toolgate(&["servers", "--json"])
}

/// Checks that the schema and toolgate (its parser, and the binary, which
/// also compiles `[policy]`) accept a config.
fn assert_config_accepted(schema: &Schema, home: &Home, what: &str, text: &str) {
    let errors = schema.errors(&json_of(text));
    assert!(
        errors.is_empty(),
        "{what} does not validate against {CONFIG_SCHEMA}: {errors:#?}\n{text}"
    );
    if let Err(e) = toolgate::config::Config::parse(text, Path::new("config.toml")) {
        panic!("toolgate's parser refuses {what}: {e:#}\n{text}");
    }
    let disabled = with_servers_disabled(text);
    let done = servers_json(home, &disabled);
    assert_eq!(
        done.status.code(),
        Some(0),
        "toolgate servers --json refuses {what}:\n{disabled}\n{}",
        done.describe()
    );
    let listing: Value = serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("servers --json: {e}\n{}", done.describe()));
    let configured = json_of(text)
        .get("servers")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    assert_eq!(
        listing["servers"].as_array().map(Vec::len),
        Some(configured),
        "{what}: {listing:#}"
    );
}

/// A config that sets every key the schema describes (a test checks that
/// it does), with the spellings toolgate accepts for durations.
const EVERYTHING: &str = r#"
[serve]
max_name_length = 64
list_wait = "1.5s"
max_message_size = 4096

[servers.everything]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-everything"]
env = { LOG_LEVEL = "info", API_KEY = "${secret:API_KEY}", OTHER = "$${not-a-ref}" }
inherit_env = ["AWS_PROFILE"]
cwd = "/tmp"
timeout = 90
startup_timeout = "1 min"
prefix = "ev"
enabled = true
headers = {}

[servers.docs]
url = "https://example.com/mcp"
headers = { X-Team = "platform", Authorization = "Bearer ${secret:DOCS_TOKEN}" }
transport = "streamable-http"
enabled = false
timeout = "500ms"
startup_timeout = ".5m"
prefix = ""
args = []

[servers.docs.oauth]
client_id = "Iv1.0123456789"
client_secret = "${secret:OAUTH_CLIENT_SECRET}"
scopes = ["repo", "read:org"]
client_metadata_url = "https://example.com/toolgate-client.json"
redirect_uri = "http://127.0.0.1:33418/callback"
auto_login = false

[servers.a-32-character-name_is_allowed00]
url = "http://localhost:8080/sse"
transport = "sse"

[keychain]
backend = "secret-service"

[registry]
url = "https://example.com/toolgate/profile.toml"
keys = ["RWTkI9X7fEgvo1/+3SbixlmVJPf7Xsq3Df1pySi/lnBqPe5Xg3fjQYzJ"]
required = false
refresh = "2h"
warn_before = "14d"

[policy]
default = "observe"
user_rules = "ignore"
scan_exceptions = ["sha256:5f0c6e1d9a3b7c2e4f8a1b6d0c9e7f3a2b5d8c1e4f7a0b3c6d9e2f5a8b1c4d7e"]

[policy.tiers]
read = "allow"
write = "observe"
destructive = "step-up"

[[policy.rules]]
id = "everything"
server = "ev*"
tool = "?cho"
tier = "write"
decision = "step-up"
reason = "every condition"
timeout = "5m"
when = [
  { arg = "path", pattern = "^/etc/" },
  { arg = "mode", equals = "fast" },
  { arg = "options.level", one_of = [1, "two", true] },
  { arg = "n", gt = 1, gte = 2, lt = 10.5, lte = 10 },
  { arg = "force", present = false },
]

[[policy.rules]]
tier = "destructive"
decision = "deny"

[policy.tools."everything/echo"]
tier = "read"
schema = { type = "object", required = ["message"] }
args.message = { pattern = "^[a-z ]+$", deny_pattern = "(?i)password", max_length = 200, required = true }
args.n = { min = 0, max = 100, enum = [1, 2, 3] }
args.url = { allowed_hosts = ["docs.example.com", "*.example.org"] }

[policy.tools."docs/search"]
schema = true

[[policy.limits]]
id = "echo-budget"
server = "everything"
tool = "echo"
max = 30
per = "hour"
burst = 5
scope = "tool"

[[policy.limits]]
id = "all"
max = 1000
per = "day"

[policy.guardrails]
builtin = false

[policy.guardrails.actions]
secret = { arguments = "block", results = "redact" }
"pii.email" = { arguments = "off", results = "warn" }

[[policy.guardrails.rules]]
id = "acme.project-code"
pattern = "ACME-[0-9]{6}"
arguments = "warn"
results = "redact"

[[policy.guardrails.exceptions]]
rule = "pii.email"
server = "crm"
tool = "*"

[policy.approvals]
timeout = "90s"
elicitation = true
cli = true
notify = true

[audit]
enabled = false
on_failure = "deny"
durability = "fsync"
checkpoint_every = 0
checkpoint_interval = "10m"
results = "redacted"

[audit.sinks.security]
type = "otlp"
url = "https://collector.example.com/v1/logs"
encoding = "json"
headers = { Authorization = "Bearer ${secret:collector-token}" }
gzip = false
batch_records = 100
batch_interval = 2
timeout = "1m"

[audit.sinks.hook]
type = "webhook"
url = "http://127.0.0.1:9/hook"

[audit.spool]
max_bytes = 1048576
max_age = "7d"
when_full = "drop-oldest"
"#;

#[test]
fn readme_config_examples_validate_and_are_accepted() {
    let config = Schema::config();
    let profile = Schema::profile();
    let home = Home::new();
    let mut checked = 0;
    for (line, text) in readme_toml_blocks() {
        let value = json_of(&text);
        let what = format!("the README's ```toml example at line {line}");
        match profile_only_key(
            &profile,
            &profile.doc,
            &config,
            Some(&config.doc),
            &value,
            "",
        ) {
            Some(key) => {
                // A profile example (it sets `key`): a fragment, completed
                // with the keys every profile has.
                let mut value = value;
                let header = json!({"org": "Example", "serial": 1,
                    "issued": "2026-01-01T00:00:00Z", "expires": "2027-01-01T00:00:00Z"});
                for (k, v) in header.as_object().unwrap() {
                    value
                        .as_object_mut()
                        .unwrap()
                        .entry(k.clone())
                        .or_insert(v.clone());
                }
                let errors = profile.errors(&value);
                assert!(
                    errors.is_empty(),
                    "{what} (a profile example: it sets {key}) does not validate against {PROFILE_SCHEMA}: {errors:#?}\n{text}"
                );
            }
            None => {
                assert_config_accepted(&config, &home, &what, &text);
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 8,
        "only {checked} config examples found in README.md"
    );
}

#[test]
fn a_config_setting_every_key_validates_and_is_accepted() {
    let config = Schema::config();
    let mut all = BTreeSet::new();
    config.key_paths(&config.doc, "", &mut all);
    let mut set = BTreeSet::new();
    config.set_paths(&config.doc, &json_of(EVERYTHING), "", &mut set);
    let missing: Vec<&String> = all.difference(&set).collect();
    assert!(
        missing.is_empty(),
        "EVERYTHING does not set {missing:?}: add them, so that every key is tested"
    );
    assert!(all.len() > 100, "{all:?}");
    let home = Home::new();
    assert_config_accepted(&config, &home, "EVERYTHING", EVERYTHING);
    // The embedded default (no file) is an empty config.
    assert_config_accepted(&config, &home, "an empty config", "");
}

/// Spellings toolgate accepts that the schema must accept too.
#[test]
fn the_schema_is_not_stricter_than_toolgate() {
    let config = Schema::config();
    let home = Home::new();
    for text in [
        "[serve]\nlist_wait = 0\n",
        "[serve]\nlist_wait = \"0s\"\n",
        "[serve]\nlist_wait = \" 2 mins \"\n",
        "[serve]\nlist_wait = \"1.\"\n",
        "[serve]\nlist_wait = \"250ms\"\n",
        "[serve]\nlist_wait = \"3sec\"\n",
        "[serve]\nmax_name_length = 8\n",
        "[registry]\nrefresh = \"1d\"\nwarn_before = 3600\n",
        "[servers.a]\ncommand = \"x\"\ntimeout = \"0.5s\"\n",
        "[servers._]\ncommand = \"x\"\n",
        "[servers.a_b-c]\ncommand = \"x\"\nprefix = \"A-_\"\n",
        "[servers.a]\ncommand = \"x\"\nenabled = false\nprefix = \"p\"\n[servers.b]\ncommand = \"y\"\nprefix = \"p\"\nenabled = false\n",
        "servers = { a = { url = \"http://[::1]:3000/mcp\", oauth = { redirect_uri = \"http://[::1]/cb\" } } }\n",
        "[servers.a]\nurl = \"https://x\"\n[servers.a.oauth]\nclient_id = \"c\"\nclient_secret = \"${secret:audit/S}${secret:T}\"\n",
        "[[policy.rules]]\ndecision = \"allow\"\n[policy.tools.\"/x\"]\n",
        "[policy]\n[policy.guardrails]\n[policy.approvals]\n",
        "[audit.sinks.x]\ntype = \"webhook\"\nurl = \"not even a URL\"\n",
    ] {
        assert_config_accepted(&config, &home, &format!("{text:?}"), text);
    }
}

/// One mistake: `good` is accepted; with `from` replaced by `to` it is
/// refused by the schema and by `toolgate servers`, whose error says `says`.
struct Mistake {
    good: &'static str,
    from: &'static str,
    to: &'static str,
    says: &'static str,
}

const fn m(
    good: &'static str,
    from: &'static str,
    to: &'static str,
    says: &'static str,
) -> Mistake {
    Mistake {
        good,
        from,
        to,
        says,
    }
}

const STDIO: &str = "[servers.a]\ncommand = \"x\"\n";
const REMOTE: &str = "[servers.a]\nurl = \"https://example.com/mcp\"\n";
const OAUTH: &str = "[servers.a]\nurl = \"https://example.com/mcp\"\n[servers.a.oauth]\nclient_id = \"c\"\nclient_secret = \"${secret:S}\"\nclient_metadata_url = \"https://example.com/c.json\"\nredirect_uri = \"http://127.0.0.1:1/cb\"\n";
const SINK: &str = "[audit.sinks.s]\ntype = \"webhook\"\nurl = \"https://example.com/hook\"\n";
const RULE: &str = "[[policy.rules]]\nid = \"r\"\ndecision = \"deny\"\ntimeout = \"5m\"\nwhen = [{ arg = \"a\", pattern = \"x\" }]\n";
const LIMIT: &str = "[[policy.limits]]\nid = \"l\"\nmax = 5\nper = \"hour\"\nburst = 2\n";

#[rustfmt::skip]
const MISTAKES: &[Mistake] = &[
    // Unknown keys, everywhere.
    m("[serve]\n", "[serve]\n", "colour = \"blue\"\n[serve]\n", "unknown field `colour`"),
    m("[serve]\nlist_wait = \"2s\"\n", "list_wait", "listwait", "unknown field `listwait`"),
    m(STDIO, "command = \"x\"\n", "command = \"x\"\ncomand = \"y\"\n", "unknown field `comand`"),
    m("[audit]\nenabled = false\n", "enabled", "enable", "unknown field `enable`"),
    m("[keychain]\nbackend = \"auto\"\n", "backend", "store", "unknown field `store`"),
    m("[registry]\nrequired = false\n", "required", "require", "unknown field `require`"),
    m(OAUTH, "client_id", "client", "unknown field `client`"),
    m(SINK, "url =", "endpoint =", "unknown field `endpoint`"),
    m("[audit.spool]\nmax_age = \"7d\"\n", "max_age", "max_days", "unknown field `max_days`"),
    m(RULE, "decision = \"deny\"\n", "decision = \"deny\"\nservers = \"x\"\n", "unknown field `servers`"),
    m(RULE, "arg = \"a\"", "argument = \"a\"", "unknown field `argument`"),
    m("[policy]\ndefault = \"allow\"\n", "default", "defaults", "unknown field `defaults`"),
    m("[policy.tools.\"s/t\"]\nargs.a = { max = 1 }\n", "max", "maximum", "unknown field `maximum`"),
    m(LIMIT, "burst", "bursts", "unknown field `bursts`"),
    m("[policy.guardrails]\nbuiltin = true\n", "builtin", "built_in", "unknown field `built_in`"),
    m("[policy.approvals]\ncli = false\n", "cli", "script", "unknown field `script`"),
    // Wrong enum values (toolgate's spellings are exact).
    m("[servers.a]\nurl = \"https://x\"\ntransport = \"sse\"\n", "\"sse\"", "\"http\"", "unknown variant `http`"),
    m("[keychain]\nbackend = \"secret-service\"\n", "secret-service", "secret_service", "unknown variant `secret_service`"),
    m("[audit]\non_failure = \"deny\"\n", "deny", "block", "unknown variant `block`"),
    m("[audit]\ndurability = \"fsync\"\n", "fsync", "full", "unknown variant `full`"),
    m("[audit]\nresults = \"redacted\"\n", "redacted", "full", "unknown variant `full`"),
    m("[audit.spool]\nwhen_full = \"drop-oldest\"\n", "drop-oldest", "drop_oldest", "unknown variant `drop_oldest`"),
    m(SINK, "webhook", "http", "unknown variant `http`"),
    m("[policy]\ndefault = \"step-up\"\n", "step-up", "step_up", "unknown variant `step_up`"),
    m("[policy]\nuser_rules = \"ignore\"\n", "ignore", "loosen", "unknown variant `loosen`"),
    m("[policy.tiers]\nread = \"allow\"\n", "allow", "permit", "unknown variant `permit`"),
    m(LIMIT, "\"hour\"", "\"week\"", "unknown variant `week`"),
    m("[policy.guardrails.actions]\nsecret = { results = \"redact\" }\n", "redact", "mask", "unknown variant `mask`"),
    m("[policy.tools.\"s/t\"]\ntier = \"read\"\n", "read", "admin", "unknown variant `admin`"),
    // Wrong types.
    m("[serve]\nmax_name_length = 48\n", "48", "\"48\"", "invalid type"),
    m(STDIO, "command = \"x\"\n", "command = \"x\"\nargs = \"-y\"\n", "invalid type"),
    m(STDIO, "command = \"x\"\n", "command = [\"x\"]\n", "invalid type"),
    m("[audit]\nenabled = false\n", "false", "\"no\"", "invalid type"),
    m("servers = {}\n", "{}", "[\"a\"]", "invalid type"),
    m("[serve]\nlist_wait = 2\n", "2", "2.5", "did not match any variant"),
    m("[serve]\nlist_wait = 2\n", "2", "-2", "did not match any variant"),
    m("[serve]\nlist_wait = \"2s\"\n", "2s", "2 weeks", "is not a unit of time"),
    m("[audit]\ncheckpoint_interval = \"60s\"\n", "60s", "1h30m", "is not a unit of time"),
    m("[policy.approvals]\ntimeout = \"120\"\n", "\"120\"", "120", "invalid type"),
    m(LIMIT, "max = 5", "max = \"5\"", "invalid type"),
    // What toolgate checks beyond types.
    m("[serve]\nmax_name_length = 64\n", "64", "65", "between 8 and 64"),
    m("[serve]\nmax_message_size = 4096\n", "4096", "4095", "at least 4096"),
    m(STDIO, "servers.a]", "servers.a__b]", "not a valid server name"),
    m(STDIO, "servers.a]", "servers.\"a b\"]", "not a valid server name"),
    m(STDIO, "servers.a]", "servers.abcdefghijklmnopqrstuvwxyz0123456]", "not a valid server name"),
    m(STDIO, "command = \"x\"\n", "command = \"x\"\nurl = \"https://x\"\n", "sets both command and url"),
    m(STDIO, "command = \"x\"\n", "args = [\"x\"]\n", "sets neither command nor url"),
    m(STDIO, "\"x\"", "\"  \"", "command is empty"),
    m(REMOTE, "https://", "ftp://", "must start with http:// or https://"),
    m(REMOTE, "/mcp\"\n", "/mcp\"\nargs = [\"x\"]\n", "do not apply"),
    m(REMOTE, "/mcp\"\n", "/mcp\"\nenv = { A = \"1\" }\n", "do not apply"),
    m(REMOTE, "/mcp\"\n", "/mcp\"\ncwd = \"/tmp\"\n", "do not apply"),
    m(STDIO, "\"x\"\n", "\"x\"\ntransport = \"sse\"\n", "do not apply"),
    m(STDIO, "\"x\"\n", "\"x\"\nheaders = { A = \"b\" }\n", "do not apply"),
    m(STDIO, "\"x\"\n", "\"x\"\n[servers.a.oauth]\n", "OAuth applies to remote servers"),
    m(OAUTH, "\"${secret:S}\"", "\"hunter2hunter2\"", "must be a ${secret:NAME} reference"),
    m(OAUTH, "\"${secret:S}\"", "\"Basic ${secret:S}\"", "must be a ${secret:NAME} reference"),
    m(OAUTH, "client_id = \"c\"\n", "", "without client_id"),
    m(OAUTH, "https://example.com/c.json", "http://example.com/c.json", "must be an https:// URL"),
    m(OAUTH, "http://127.0.0.1:1/cb", "https://example.com/cb", "loopback"),
    m(STDIO, "\"x\"\n", "\"x\"\nprefix = \"p__q\"\n", "prefix"),
    m(STDIO, "\"x\"\n", "\"x\"\ntimeout = \"0s\"\n", "a timeout of zero"),
    m(STDIO, "\"x\"\n", "\"x\"\nstartup_timeout = 0\n", "a timeout of zero"),
    m(RULE, "decision = \"deny\"\n", "", "missing field `decision`"),
    m(RULE, "arg = \"a\", ", "", "missing field `arg`"),
    m(RULE, "\"5m\"", "\"soon\"", "policy rule r: timeout"),
    m(RULE, "\"5m\"", "300", "invalid type"),
    m(LIMIT, "per = \"hour\"\n", "", "missing field `per`"),
    m(LIMIT, "max = 5", "max = 0", "max must be at least 1"),
    m(LIMIT, "burst = 2", "burst = 0", "burst must be at least 1"),
    m(LIMIT, "max = 5", "max = -5", "invalid value"),
    m(SINK, "url = \"https://example.com/hook\"\n", "", "missing field `url`"),
    m("[policy.tools.\"s/t\"]\ntier = \"read\"\n", "\"s/t\"", "refund", "name tools as \"server/tool\""),
    m("[policy.approvals]\ntimeout = \"2m\"\n", "2m", "2 fortnights", "policy.approvals.timeout"),
    m("[[policy.guardrails.rules]]\nid = \"x\"\npattern = \"y\"\n", "pattern = \"y\"\n", "", "missing field `pattern`"),
];

#[test]
fn config_mistakes_are_refused_by_the_schema_and_by_toolgate() {
    let config = Schema::config();
    let home = Home::new();
    for (i, mistake) in MISTAKES.iter().enumerate() {
        let Mistake {
            good,
            from,
            to,
            says,
        } = mistake;
        let errors = config.errors(&json_of(good));
        assert!(
            errors.is_empty(),
            "mistake {i}: the good version is refused by the schema: {errors:#?}\n{good}"
        );
        if let Err(e) = toolgate::config::Config::parse(good, Path::new("config.toml")) {
            panic!("mistake {i}: the good version is refused by toolgate: {e:#}\n{good}");
        }
        assert!(
            good.contains(from),
            "mistake {i}: {from:?} is not in {good:?}"
        );
        let bad = good.replacen(from, to, 1);
        let errors = config.errors(&json_of(&bad));
        assert!(
            !errors.is_empty(),
            "mistake {i}: the schema accepts what toolgate refuses:\n{bad}"
        );
        let done = servers_json(&home, &bad);
        assert_eq!(
            done.status.code(),
            Some(2),
            "mistake {i}: toolgate accepts what the schema refuses ({errors:?}):\n{bad}\n{}",
            done.describe()
        );
        assert!(
            done.stderr.contains(says),
            "mistake {i}: toolgate's error does not say {says:?}:\n{bad}\n{}",
            done.describe()
        );
    }
}

/// Profile mistakes: each is a change to the example profile (valid for
/// both) that both the schema and toolgate's profile parser refuse: (text
/// replaced, by what, what toolgate's error says); an empty text replaced
/// appends.
#[rustfmt::skip]
const PROFILE_MISTAKES: &[(&str, &str, &str)] = &[
    ("grace = \"72h\"\n", "grace = \"72h\"\ncolour = \"blue\"\n", "unknown field `colour`"),
    ("unpinned_tools = \"hide\"", "unpinned_tool = \"hide\"", "unknown field `unpinned_tool`"),
    ("unpinned_tools = \"hide\"", "unpinned_tools = \"show\"", "unknown variant `show`"),
    ("personal_servers = \"deny\"", "personal_servers = false", "wanted string"),
    ("serial = 1\n", "serial = \"1\"\n", "invalid type"),
    ("serial = 1\n", "serial = -1\n", "invalid value"),
    ("grace = \"72h\"", "grace = \"3 days\"", "is not a unit of time"),
    ("expires = \"2036-11-23T00:00:00Z\"", "expires = \"2036-11-23\"", "not a UTC time"),
    ("[policy]\ndefault = \"allow\"", "[policy]\ndefaults = \"allow\"", "unknown field `defaults`"),
    ("decision = \"observe\"", "decision = \"maybe\"", "unknown variant `maybe`"),
    ("per = \"hour\"", "per = \"week\"", "unknown variant `week`"),
    ("max = 600", "max = 0", "max must be at least 1"),
    ("timeout = \"2m\"", "timeout = 120", "invalid type"),
    ("timeout = \"5m\"", "timeout = \"soon\"", "timeout"),
    ("notify = true", "notify = true\nsound = true", "unknown field `sound`"),
    ("results = \"redact\"\n\n[[", "results = \"mask\"\n\n[[", "unknown variant `mask`"),
    ("trusted = true\n", "trusted = true\nenabled = false\n", "unknown field `enabled`"),
    ("trusted = true\n", "trusted = true\nurl = \"https://x\"\n", "exactly one of command and url"),
    ("", "\n[servers.\"a b\"]\ncommand = \"x\"\n", "not a valid server name"),
    ("pin = \"sha256:67c5", "pin = \"sha256:X7c5", "not a pin"),
    ("owner = ", "owners = ", "unknown field `owners`"),
    ("", "\n[audit.sinks.s]\ntype = \"otlp\"\nurl = \"https://x\"\nretries = 1\n", "unknown field `retries`"),
    ("", "\n[audit]\nrequired = \"yes\"\n", "invalid type"),
    ("", "\n[audit.spool]\nwhen_full = \"drop_oldest\"\n", "unknown variant `drop_oldest`"),
];

#[test]
fn profile_mistakes_are_refused_by_the_schema_and_by_toolgate() {
    let profile = Schema::profile();
    let example =
        std::fs::read_to_string(repo().join("profiles/examples/example-corp.toml")).unwrap();
    // The baseline. (That the example validates, is signed and truly
    // pinned is e2e::profile's test; here it is where mistakes start.)
    let errors = profile.errors(&json_of(&example));
    assert!(errors.is_empty(), "the example profile: {errors:#?}");
    toolgate::profile::Profile::parse(&example).expect("the example profile parses");
    for (i, (from, to, says)) in PROFILE_MISTAKES.iter().enumerate() {
        let bad = if from.is_empty() {
            format!("{example}{to}")
        } else {
            assert!(
                example.contains(from),
                "profile mistake {i}: {from:?} is not in the example"
            );
            example.replacen(from, to, 1)
        };
        let errors = profile.errors(&json_of(&bad));
        assert!(
            !errors.is_empty(),
            "profile mistake {i}: the schema accepts {to:?}"
        );
        match toolgate::profile::Profile::parse(&bad) {
            Ok(_) => panic!("profile mistake {i}: toolgate accepts {to:?} (schema: {errors:?})"),
            Err(e) => assert!(
                e.contains(says),
                "profile mistake {i} ({to:?}): toolgate's error does not say {says:?}: {e}"
            ),
        }
    }
}

/// The definitions both schemas have (the policy, audit sinks and spool,
/// durations) are the same, so that the reference can say so and an
/// editor checks a profile's `[policy]` as it checks config.toml's.
#[test]
fn shared_definitions_are_identical() {
    let config = Schema::config();
    let profile = Schema::profile();
    let config_defs = config.doc["$defs"].as_object().unwrap();
    let profile_defs = profile.doc["$defs"].as_object().unwrap();
    let mut shared = Vec::new();
    for (name, def) in profile_defs {
        // Different on purpose: a profile's server has ownership and pins,
        // config.toml's has enabled, cwd, inherit_env and oauth.
        if name == "server" {
            continue;
        }
        if let Some(other) = config_defs.get(name) {
            assert!(
                def == other,
                "$defs/{name} differs between {PROFILE_SCHEMA} and {CONFIG_SCHEMA}: make them the same"
            );
            shared.push(name.as_str());
        }
    }
    for name in ["policy", "sink", "spool", "duration"] {
        assert!(
            shared.contains(&name),
            "$defs/{name} is not shared: {shared:?}"
        );
    }
    assert_eq!(
        profile.doc["properties"]["policy"]["$ref"],
        "#/$defs/policy"
    );
}

/// The reference is generated from descriptions: every key has one.
#[test]
fn every_key_is_described() {
    for schema in [Schema::config(), Schema::profile()] {
        let mut missing = Vec::new();
        schema.undescribed(&schema.doc, "", &mut missing);
        assert!(
            missing.is_empty(),
            "{}: no description for {missing:?}",
            schema.file
        );
    }
}

/// README.md's reference section is exactly what packaging/reference.py
/// prints.
#[test]
fn the_readme_reference_is_fresh() {
    let out = std::process::Command::new("python3")
        .arg(repo().join("packaging/reference.py"))
        .current_dir(repo())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "packaging/reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(generated.contains("#### `[servers.NAME]`"), "{generated}");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = "<!-- reference:start -->\n";
    let end = "<!-- reference:end -->";
    let from = readme
        .find(start)
        .expect("README.md has the <!-- reference:start --> marker")
        + start.len();
    let to = from
        + readme[from..]
            .find(end)
            .expect("README.md has the <!-- reference:end --> marker");
    let section = &readme[from..to];
    if section != generated {
        let first = section
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or("a line added or removed at the end".to_string(), |i| {
                format!(
                    "line {} of the section:\n  README: {}\n  now:    {}",
                    i + 1,
                    section.lines().nth(i).unwrap_or(""),
                    generated.lines().nth(i).unwrap_or("")
                )
            });
        panic!(
            "stale: run bash packaging/regen.sh (the README's reference section differs from packaging/reference.py's output at {first})"
        );
    }
}

/// How README examples are told apart (see the module's documentation).
#[test]
fn profile_examples_are_told_from_config_examples() {
    let config = Schema::config();
    let profile = Schema::profile();
    let kind = |text: &str| {
        profile_only_key(
            &profile,
            &profile.doc,
            &config,
            Some(&config.doc),
            &json_of(text),
            "",
        )
    };
    for (text, key) in [
        ("org = \"Example\"\n", "org"),
        ("[settings]\npersonal_servers = \"allow\"\n", "settings"),
        (
            "[servers.t]\ncommand = \"x\"\nowner = \"me\"\n",
            "servers.t.owner",
        ),
        (
            "[servers.t.tools.echo]\npin = \"sha256:0\"\n",
            "servers.t.tools",
        ),
        ("[audit]\nrequired = true\n", "audit.required"),
    ] {
        assert_eq!(kind(text).as_deref(), Some(key), "{text}");
    }
    for text in [
        "[servers.t]\ncommand = \"x\"\nenabled = false\n",
        "[policy]\ndefault = \"deny\"\n[[policy.rules]]\ndecision = \"allow\"\n",
        "[audit.sinks.s]\ntype = \"otlp\"\nurl = \"https://x\"\n",
        "[registry]\nrequired = true\n",
    ] {
        assert_eq!(kind(text), None, "{text}");
    }
}
