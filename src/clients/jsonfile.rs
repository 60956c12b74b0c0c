//! JSON and JSONC client files, edited on `jsonc-parser`'s concrete syntax
//! tree: every byte the edit does not replace (comments, whitespace, key
//! order, CRLF, trailing commas) is written back as it was read, and new
//! properties take the indentation, newline kind and trailing-comma style
//! of their siblings.

use std::path::Path;

use anyhow::Result;
use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstNode, CstObject, CstObjectProp, CstRootNode};
use serde_json::{Map, Value};

use super::{
    Client, Entries, Format, Plan, RemoteTransport, ServerEntry, Want, remote_type, split_bom,
    string_list, want_list, want_map, want_string,
};
use crate::error::UserError;

/// The syntax the client itself accepts: strict JSON, or JSON with
/// comments (and trailing commas, for some). Never JSON5 extras (single
/// quotes, bare keys).
fn options(client: Client) -> ParseOptions {
    ParseOptions {
        allow_comments: client.format() == Format::Jsonc,
        allow_trailing_commas: client.trailing_commas(),
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

fn parse(client: Client, text: &str) -> Result<CstRootNode> {
    let options = options(client);
    let error = |e: jsonc_parser::errors::ParseError| {
        let what = match client.format() {
            Format::Json => "JSON",
            _ => "JSON with comments",
        };
        super::syntax_error(
            client,
            what,
            &e.kind().to_string(),
            e.line_display(),
            e.column_display(),
        )
    };
    // The CST parser keeps comments as tokens and then lets them through
    // even when they are not allowed (jsonc-parser 0.34): strict JSON is
    // checked by the AST parser first.
    if !options.allow_comments || !options.allow_trailing_commas {
        jsonc_parser::parse_to_ast(text, &Default::default(), &options).map_err(error)?;
    }
    CstRootNode::parse(text, &options).map_err(error)
}

/// The top-level object; `None` when the file has no value (empty, or
/// comments only) and `create` is false.
fn root_object(client: Client, root: &CstRootNode, create: bool) -> Result<Option<CstObject>> {
    match root.value() {
        None if create => Ok(Some(root.object_value_or_set())),
        None => Ok(None),
        Some(value) => match value.as_object() {
            Some(object) => Ok(Some(object)),
            None => Err(UserError::new(format!(
                "its top level is {}, not an object",
                kind(&value)
            ))
            .hint(format!(
                "{} expects an object with a \"{}\" key; fix the file, then run the command again",
                client.display_name(),
                client.servers_key()
            ))
            .into()),
        },
    }
}

/// The properties named `name` (JSON allows duplicates; the last one wins,
/// as in every client's parser).
fn props(object: &CstObject, name: &str) -> Vec<CstObjectProp> {
    object
        .properties()
        .into_iter()
        .filter(|p| p.decoded_name().as_deref() == Some(name))
        .collect()
}

fn kind(node: &CstNode) -> &'static str {
    if node.as_object().is_some() {
        "an object"
    } else if node.as_array().is_some() {
        "a list"
    } else if node.as_string_lit().is_some() {
        "a string"
    } else if node.as_number_lit().is_some() {
        "a number"
    } else if node.as_boolean_lit().is_some() {
        "a boolean"
    } else if node.as_null_keyword().is_some() {
        "null"
    } else {
        "a value of another kind"
    }
}

fn not_an_object(client: Client, key: &str, what: &str) -> anyhow::Error {
    UserError::new(format!("\"{key}\" is {what}, not an object of servers"))
        .hint(format!(
            "{} expects \"{key}\": {{ \"NAME\": {{...}} }}; fix the file, then run the command again",
            client.display_name()
        ))
        .into()
}

/// The file's top-level object as a value (None: an empty file or no
/// object).
fn root_value(client: Client, text: &str) -> Result<Option<Value>> {
    let (_, body) = split_bom(text);
    if body.trim().is_empty() {
        return Ok(None);
    }
    let root = parse(client, body)?;
    let Some(object) = root_object(client, &root, false)? else {
        return Ok(None);
    };
    Ok(Some(object.to_serde_value().unwrap_or(Value::Null)))
}

pub(super) fn read(client: Client, text: &str) -> Result<Entries> {
    match root_value(client, text)? {
        Some(value) => servers_in(client, &value),
        None => Ok(vec![]),
    }
}

pub(super) fn read_claude_code_local(text: &str, project: &Path) -> Result<Entries> {
    let client = Client::ClaudeCode;
    let Some(value) = root_value(client, text)? else {
        return Ok(vec![]);
    };
    let key = project.to_string_lossy();
    match value.get("projects").and_then(|p| p.get(key.as_ref())) {
        Some(project) => servers_in(client, project),
        None => Ok(vec![]),
    }
}

/// The servers under the client's key of an object.
fn servers_in(client: Client, object: &Value) -> Result<Entries> {
    let key = client.servers_key();
    match object.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Object(servers)) => Ok(servers
            .iter()
            .map(|(name, v)| (name.clone(), entry_from(client, key, name, v)))
            .collect()),
        Some(other) => Err(not_an_object(client, key, json_kind(other))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One entry, as the client reads it.
fn entry_from(client: Client, key: &str, name: &str, v: &Value) -> Result<ServerEntry> {
    let bad = |what: String| -> anyhow::Error {
        UserError::new(format!("server \"{name}\" in \"{key}\": {what}"))
            .hint(format!(
                "fix it in {}'s configuration, then run the command again",
                client.display_name()
            ))
            .into()
    };
    let Some(obj) = v.as_object() else {
        return Err(bad(format!("it is {}, not an object", json_kind(v))));
    };
    let string = |field: &str| -> Result<Option<String>> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!(
                "\"{field}\" is {}, not a string",
                json_kind(other)
            ))),
        }
    };
    let list = |field: &str, value: Option<&Value>| -> Result<Vec<String>> {
        match value {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(bad(format!(
                        "\"{field}\" holds {}, not strings",
                        json_kind(other)
                    ))),
                })
                .collect(),
            Some(other) => Err(bad(format!(
                "\"{field}\" is {}, not a list",
                json_kind(other)
            ))),
        }
    };
    // Values may be numbers or booleans (VS Code allows them); null unsets
    // a variable, so it is left out.
    let map = |field: &str,
               value: Option<&Value>|
     -> Result<std::collections::BTreeMap<String, String>> {
        match value {
            None | Some(Value::Null) => Ok(Default::default()),
            Some(Value::Object(m)) => {
                let mut out = std::collections::BTreeMap::new();
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        Value::Number(n) => {
                            out.insert(k.clone(), n.to_string());
                        }
                        Value::Bool(b) => {
                            out.insert(k.clone(), b.to_string());
                        }
                        Value::Null => {}
                        other => {
                            return Err(bad(format!(
                                "\"{field}.{k}\" is {}, not a string",
                                json_kind(other)
                            )));
                        }
                    }
                }
                Ok(out)
            }
            Some(other) => Err(bad(format!(
                "\"{field}\" is {}, not an object",
                json_kind(other)
            ))),
        }
    };

    let mut entry = ServerEntry::default();
    match obj.get("command") {
        // Zed before mid-2025: "command": {"path", "args", "env"}.
        Some(Value::Object(old)) if client == Client::Zed => {
            entry.command = match old.get("path") {
                Some(Value::String(p)) => Some(p.clone()),
                _ => return Err(bad("\"command.path\" is not a string".into())),
            };
            entry.args = list("command.args", old.get("args"))?;
            entry.env = map("command.env", old.get("env"))?;
        }
        _ => entry.command = string("command")?,
    }
    if obj.contains_key("args") || entry.args.is_empty() {
        entry.args = list("args", obj.get("args"))?;
    }
    if obj.contains_key("env") || entry.env.is_empty() {
        entry.env = map("env", obj.get("env"))?;
    }
    if matches!(client, Client::Vscode | Client::GeminiCli) {
        entry.cwd = string("cwd")?;
    }
    let url_keys: &[&str] = match client {
        Client::Windsurf => &["serverUrl", "url"],
        Client::GeminiCli => &["httpUrl", "url"],
        _ => &["url"],
    };
    for key in url_keys {
        if let Some(url) = string(key)? {
            entry.url = Some(url);
            if client == Client::GeminiCli {
                entry.transport = Some(match (*key, obj.get("type").and_then(Value::as_str)) {
                    ("httpUrl", _) | (_, Some("http")) => RemoteTransport::StreamableHttp,
                    _ => RemoteTransport::Sse,
                });
            }
            break;
        }
    }
    entry.headers = map("headers", obj.get("headers"))?;
    entry.disabled = match client {
        Client::Windsurf => obj.get("disabled") == Some(&Value::Bool(true)),
        Client::Zed => obj.get("enabled") == Some(&Value::Bool(false)),
        _ => false,
    };
    if entry.url.is_some() && matches!(client, Client::ClaudeCode | Client::Vscode | Client::Cursor)
    {
        entry.transport = match obj.get("type").and_then(Value::as_str) {
            Some("sse") => Some(RemoteTransport::Sse),
            Some("http" | "streamable-http" | "streamableHttp") => {
                Some(RemoteTransport::StreamableHttp)
            }
            _ => None,
        };
    }
    Ok(entry)
}

/// The keys of the client's entry for `entry`, given the existing entry.
fn plan(client: Client, entry: &ServerEntry, existing: Option<&Map<String, Value>>) -> Plan {
    let has = |key: &str| existing.is_some_and(|e| e.contains_key(key));
    let existing_type = existing.and_then(|e| e.get("type"));
    let mut plan: Plan = Vec::new();
    let disabled_key = |plan: &mut Plan| match client {
        Client::Windsurf => plan.push((
            "disabled",
            if entry.disabled {
                Want::Set(Value::Bool(true))
            } else {
                Want::Optional(Value::Bool(false))
            },
        )),
        Client::Zed => plan.push((
            "enabled",
            if entry.disabled {
                Want::Set(Value::Bool(false))
            } else {
                Want::Optional(Value::Bool(true))
            },
        )),
        _ => {}
    };
    if let Some(command) = &entry.command {
        match client {
            Client::ClaudeCode | Client::Vscode => {
                plan.push(("type", Want::Default(Value::String("stdio".into()))))
            }
            Client::Cursor => plan.push(("type", Want::IfPresent(Value::String("stdio".into())))),
            Client::Zed => plan.push(("source", Want::Default(Value::String("custom".into())))),
            _ => {}
        }
        plan.push(("command", Want::Set(Value::String(command.clone()))));
        plan.push((
            "args",
            if client == Client::Zed {
                Want::Set(string_list(&entry.args))
            } else {
                want_list(&entry.args)
            },
        ));
        plan.push(("env", want_map(&entry.env)));
        if matches!(client, Client::Vscode | Client::GeminiCli) {
            plan.push(("cwd", want_string(entry.cwd.as_ref())));
        }
        for key in ["url", "serverUrl", "httpUrl", "headers"] {
            plan.push((key, Want::Absent));
        }
    } else if let Some(url) = &entry.url {
        let url = Value::String(url.clone());
        match client {
            Client::ClaudeCode | Client::Vscode => plan.push((
                "type",
                Want::Set(remote_type(entry.transport, existing_type).into()),
            )),
            Client::Cursor => plan.push((
                "type",
                Want::IfPresent(remote_type(entry.transport, existing_type).into()),
            )),
            Client::Zed => plan.push(("source", Want::Optional(Value::String("custom".into())))),
            _ => {}
        }
        // The url key: Windsurf keeps `url` where it is used, else
        // `serverUrl`; Gemini says the transport with the key.
        let (url_key, other): (&'static str, &[&'static str]) = match client {
            Client::Windsurf if has("url") && !has("serverUrl") => ("url", &["serverUrl"]),
            Client::Windsurf => ("serverUrl", &["url"]),
            Client::GeminiCli => {
                let sse = match entry.transport {
                    Some(RemoteTransport::Sse) => true,
                    Some(RemoteTransport::StreamableHttp) => false,
                    Some(RemoteTransport::Auto) | None => has("url") && !has("httpUrl"),
                };
                if sse {
                    ("url", &["httpUrl"])
                } else {
                    ("httpUrl", &["url"])
                }
            }
            _ => ("url", &[]),
        };
        if client == Client::GeminiCli {
            // Newer Gemini CLI also reads a `type` beside `url`.
            let kind = if url_key == "url" { "sse" } else { "http" };
            plan.push(("type", Want::IfPresent(kind.into())));
        }
        plan.push((url_key, Want::Set(url)));
        for key in other {
            plan.push((*key, Want::Absent));
        }
        plan.push(("headers", want_map(&entry.headers)));
        for key in ["command", "args", "env", "envFile", "cwd"] {
            plan.push((key, Want::Absent));
        }
    }
    disabled_key(&mut plan);
    plan
}

fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

/// A new entry: the keys the plan writes, in its order.
fn new_entry(plan: &Plan) -> CstInputValue {
    CstInputValue::Object(
        plan.iter()
            .filter_map(|(key, want)| match want {
                Want::Set(v) | Want::Default(v) => Some((key.to_string(), input(v))),
                _ => None,
            })
            .collect(),
    )
}

/// Applies a plan to an existing entry, key by key; returns whether
/// anything changed.
fn apply(object: &CstObject, plan: &Plan) -> bool {
    let mut changed = false;
    for (key, want) in plan {
        let found = props(object, key);
        let current = found
            .last()
            .and_then(CstObjectProp::value)
            .and_then(|v| v.to_serde_value());
        let set = |value: &Value| {
            let mut found = found.clone();
            match found.pop() {
                Some(last) => {
                    for duplicate in found {
                        duplicate.remove();
                    }
                    last.set_value(input(value));
                }
                None => {
                    object.append(key, input(value));
                }
            }
        };
        match want {
            Want::Set(v) => {
                if current.as_ref() != Some(v) || found.len() > 1 {
                    set(v);
                    changed = true;
                }
            }
            Want::Default(v) | Want::IfPresent(v) => {
                if !found.is_empty() && (current.as_ref() != Some(v) || found.len() > 1) {
                    set(v);
                    changed = true;
                }
            }
            Want::Optional(v) => {
                if !found.is_empty() && current.as_ref() != Some(v) {
                    found.into_iter().for_each(CstObjectProp::remove);
                    changed = true;
                }
            }
            Want::Absent => {
                if !found.is_empty() {
                    found.into_iter().for_each(CstObjectProp::remove);
                    changed = true;
                }
            }
        }
    }
    changed
}

pub(super) fn upsert(
    client: Client,
    text: &str,
    name: &str,
    entry: &ServerEntry,
) -> Result<String> {
    let (bom, body) = split_bom(text);
    let root = parse(client, body)?;
    let object = root_object(client, &root, true)?
        .ok_or_else(|| anyhow::anyhow!("internal error: no top-level object was created"))?;
    let key = client.servers_key();
    let mut changed = false;
    let mut found = props(&object, key);
    let servers_prop = match found.pop() {
        Some(prop) => prop,
        None => {
            changed = true;
            object.append(key, CstInputValue::Object(vec![]))
        }
    };
    let servers = match servers_prop.value() {
        Some(v) => match v.as_object() {
            Some(servers) => servers,
            // `"mcpServers": null` counts as none.
            None if v.as_null_keyword().is_some() => {
                changed = true;
                servers_prop.object_value_or_set()
            }
            None => return Err(not_an_object(client, key, kind(&v))),
        },
        None => {
            changed = true;
            servers_prop.object_value_or_set()
        }
    };
    let mut existing = props(&servers, name);
    let last = existing.pop();
    for duplicate in existing {
        duplicate.remove();
        changed = true;
    }
    match last {
        Some(prop) => match prop.object_value() {
            Some(current) => {
                let value = current.to_serde_value();
                let plan = plan(client, entry, value.as_ref().and_then(Value::as_object));
                changed |= apply(&current, &plan);
            }
            None => {
                prop.set_value(new_entry(&plan(client, entry, None)));
                changed = true;
            }
        },
        None => {
            servers.append(name, new_entry(&plan(client, entry, None)));
            changed = true;
        }
    }
    if !changed {
        return Ok(text.to_string());
    }
    Ok(format!("{bom}{root}"))
}

pub(super) fn remove(client: Client, text: &str, name: &str) -> Result<String> {
    let (bom, body) = split_bom(text);
    if body.trim().is_empty() {
        return Ok(text.to_string());
    }
    let root = parse(client, body)?;
    let Some(object) = root_object(client, &root, false)? else {
        return Ok(text.to_string());
    };
    let Some(servers) = props(&object, client.servers_key())
        .pop()
        .and_then(|p| p.object_value())
    else {
        return Ok(text.to_string());
    };
    let found = props(&servers, name);
    if found.is_empty() {
        return Ok(text.to_string());
    }
    found.into_iter().for_each(CstObjectProp::remove);
    Ok(format!("{bom}{root}"))
}
