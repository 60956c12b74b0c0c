//! Codex's `config.toml`, edited with `toml_edit`: comments, key order and
//! formatting of everything else stay as they were. A new server is a
//! `[mcp_servers.NAME]` table, placed after the other servers.

use anyhow::Result;
use serde_json::{Map, Value};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike};

use super::{
    Client, Entries, Plan, ServerEntry, Want, split_bom, want_list, want_map, want_string,
};
use crate::clients::RemoteTransport;
use crate::error::UserError;

const KEY: &str = "mcp_servers";

fn parse(text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, column) = super::line_column(text, offset);
        super::syntax_error(Client::Codex, "TOML", e.message(), line, column)
    })
}

fn kind(item: &Item) -> &'static str {
    match item {
        Item::None => "empty",
        Item::Table(_) | Item::Value(toml_edit::Value::InlineTable(_)) => "a table",
        Item::ArrayOfTables(_) | Item::Value(toml_edit::Value::Array(_)) => "a list",
        Item::Value(toml_edit::Value::String(_)) => "a string",
        Item::Value(toml_edit::Value::Boolean(_)) => "a boolean",
        Item::Value(_) => "a number or date",
    }
}

fn not_a_table(what: &str, item: &Item) -> anyhow::Error {
    UserError::new(format!("{what} is {}, not a table", kind(item)))
        .hint("fix it in Codex's config.toml, then run the command again")
        .into()
}

pub(super) fn read(text: &str) -> Result<Entries> {
    let (_, body) = split_bom(text);
    let doc = parse(body)?;
    let Some(item) = doc.get(KEY) else {
        return Ok(vec![]);
    };
    let servers = item
        .as_table_like()
        .ok_or_else(|| not_a_table("\"mcp_servers\"", item))?;
    Ok(servers
        .iter()
        .map(|(name, item)| (name.to_string(), entry_from(name, item)))
        .collect())
}

fn entry_from(name: &str, item: &Item) -> Result<ServerEntry> {
    let what = format!("[mcp_servers.{name}]");
    let table = item
        .as_table_like()
        .ok_or_else(|| not_a_table(&what, item))?;
    let bad = |field: &str, expected: &str| -> anyhow::Error {
        UserError::new(format!("{what}: \"{field}\" is not {expected}"))
            .hint("fix it in Codex's config.toml, then run the command again")
            .into()
    };
    let string = |field: &str| -> Result<Option<String>> {
        match table.get(field) {
            None => Ok(None),
            Some(item) => item
                .as_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| bad(field, "a string")),
        }
    };
    let map = |field: &str| -> Result<std::collections::BTreeMap<String, String>> {
        let Some(item) = table.get(field) else {
            return Ok(Default::default());
        };
        let t = item
            .as_table_like()
            .ok_or_else(|| bad(field, "a table of strings"))?;
        t.iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.to_string(), s.to_string()))
                    .ok_or_else(|| bad(&format!("{field}.{k}"), "a string"))
            })
            .collect()
    };
    let args = match table.get("args") {
        None => vec![],
        Some(item) => item
            .as_array()
            .ok_or_else(|| bad("args", "a list of strings"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("args", "a list of strings"))
            })
            .collect::<Result<_>>()?,
    };
    let enabled = match table.get("enabled") {
        None => true,
        Some(item) => item
            .as_bool()
            .ok_or_else(|| bad("enabled", "true or false"))?,
    };
    let url = string("url")?;
    Ok(ServerEntry {
        command: string("command")?,
        args,
        env: map("env")?,
        cwd: string("cwd")?,
        transport: url.as_ref().map(|_| RemoteTransport::StreamableHttp),
        url,
        headers: map("http_headers")?,
        disabled: !enabled,
    })
}

/// The keys of Codex's entry. Codex refuses a table that mixes stdio and
/// HTTP keys, so the other kind's keys go.
fn plan(entry: &ServerEntry) -> Plan {
    let mut plan: Plan = Vec::new();
    if let Some(command) = &entry.command {
        plan.push(("command", Want::Set(Value::String(command.clone()))));
        plan.push(("args", want_list(&entry.args)));
        plan.push(("env", want_map(&entry.env)));
        plan.push(("cwd", want_string(entry.cwd.as_ref())));
        for key in [
            "url",
            "bearer_token",
            "bearer_token_env_var",
            "http_headers",
            "env_http_headers",
        ] {
            plan.push((key, Want::Absent));
        }
    } else if let Some(url) = &entry.url {
        plan.push(("url", Want::Set(Value::String(url.clone()))));
        plan.push(("http_headers", want_map(&entry.headers)));
        for key in ["command", "args", "env", "env_vars", "cwd"] {
            plan.push((key, Want::Absent));
        }
    }
    plan.push((
        "enabled",
        if entry.disabled {
            Want::Set(Value::Bool(false))
        } else {
            Want::Optional(Value::Bool(true))
        },
    ));
    plan
}

/// A TOML item as JSON, to compare with what a plan wants.
fn json(item: &Item) -> Option<Value> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(json_value(v)),
        Item::Table(t) => Some(json_table(t)),
        Item::ArrayOfTables(a) => Some(Value::Array(a.iter().map(|t| json_table(t)).collect())),
    }
}

fn json_table(t: &dyn TableLike) -> Value {
    Value::Object(
        t.iter()
            .filter_map(|(k, v)| json(v).map(|v| (k.to_string(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn json_value(v: &toml_edit::Value) -> Value {
    match v {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::from(*i.value()),
        toml_edit::Value::Float(f) => Value::from(*f.value()),
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Value::String(d.value().to_string()),
        toml_edit::Value::Array(a) => Value::Array(a.iter().map(json_value).collect()),
        toml_edit::Value::InlineTable(t) => json_table(t),
    }
}

/// JSON as a TOML value (objects become inline tables).
fn toml(v: &Value) -> toml_edit::Value {
    match v {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        Value::Array(items) => {
            let mut a = Array::new();
            for item in items {
                a.push(toml(item));
            }
            a.into()
        }
        Value::Object(map) => {
            let mut t = InlineTable::new();
            for (k, v) in map {
                t.insert(k, toml(v));
            }
            t.into()
        }
        Value::Null => "".into(),
    }
}

/// Sets a key, keeping the formatting around the old value (a comment
/// after it, an `[mcp_servers.NAME.env]` table kept as a table).
fn set(table: &mut dyn TableLike, key: &str, value: &Value) {
    match table.get_mut(key) {
        Some(item) => match (item, value) {
            (Item::Table(t), Value::Object(map)) => sync(t, map, false),
            (Item::Value(toml_edit::Value::InlineTable(t)), Value::Object(map)) => {
                sync(t, map, true)
            }
            (Item::Value(old), _) => {
                let decor = old.decor().clone();
                *old = toml(value);
                *old.decor_mut() = decor;
            }
            (item, _) => *item = Item::Value(toml(value)),
        },
        None => {
            table.insert(key, Item::Value(toml(value)));
        }
    }
}

/// Makes a table hold exactly `map`, key by key.
fn sync(table: &mut dyn TableLike, map: &Map<String, Value>, inline: bool) {
    let stale: Vec<String> = table
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| !map.contains_key(k))
        .collect();
    for k in stale {
        remove_key(table, &k, inline);
    }
    for (k, v) in map {
        if table.get(k).and_then(json).as_ref() != Some(v) {
            set(table, k, v);
        }
    }
}

/// Applies a plan to an existing entry (`inline`: written `{ ... }`).
fn apply(table: &mut dyn TableLike, plan: &Plan, inline: bool) -> bool {
    let mut changed = false;
    for (key, want) in plan {
        let current = table.get(key).and_then(json);
        match want {
            Want::Set(v) => {
                if current.as_ref() != Some(v) {
                    set(table, key, v);
                    changed = true;
                }
            }
            Want::Default(v) | Want::IfPresent(v) => {
                if current.is_some() && current.as_ref() != Some(v) {
                    set(table, key, v);
                    changed = true;
                }
            }
            Want::Optional(v) => {
                if current.is_some() && current.as_ref() != Some(v) {
                    remove_key(table, key, inline);
                    changed = true;
                }
            }
            Want::Absent => {
                if table.contains_key(key) {
                    remove_key(table, key, inline);
                    changed = true;
                }
            }
        }
    }
    changed
}

/// The keys a plan writes in a new entry.
fn written(plan: &Plan) -> impl Iterator<Item = (&'static str, toml_edit::Value)> + '_ {
    plan.iter().filter_map(|(key, want)| match want {
        Want::Set(v) | Want::Default(v) => Some((*key, toml(v))),
        _ => None,
    })
}

pub(super) fn upsert(text: &str, name: &str, entry: &ServerEntry) -> Result<String> {
    let (bom, body) = split_bom(text);
    let mut doc = parse(body)?;
    let plan = plan(entry);
    let root = doc.as_table_mut();
    let mut changed = false;
    if !root.contains_key(KEY) {
        let mut servers = Table::new();
        servers.set_implicit(true);
        root.insert(KEY, Item::Table(servers));
        changed = true;
    }
    let item = &mut root[KEY];
    let as_header_tables = item.is_table();
    let Some(servers) = item.as_table_like_mut() else {
        return Err(not_a_table("\"mcp_servers\"", item));
    };
    let inline_entry = servers.get(name).is_some_and(Item::is_inline_table);
    match servers.get_mut(name).and_then(Item::as_table_like_mut) {
        Some(existing) => changed |= apply(existing, &plan, inline_entry),
        None => {
            let new = if as_header_tables {
                let mut t = Table::new();
                for (k, v) in written(&plan) {
                    t.insert(k, Item::Value(v));
                }
                Item::Table(t)
            } else {
                let mut t = InlineTable::new();
                for (k, v) in written(&plan) {
                    t.insert(k, v);
                }
                Item::Value(t.into())
            };
            insert_last(servers, name, new, !as_header_tables);
            changed = true;
        }
    }
    if !changed {
        return Ok(text.to_string());
    }
    Ok(format!("{bom}{}", same_newlines(body, doc.to_string())))
}

/// Adds a key after the others. In an inline table, the space before the
/// closing brace belongs to the last value: it moves to the new one, so
/// `{ a = 1 }` becomes `{ a = 1, b = 2 }`.
fn insert_last(table: &mut dyn TableLike, key: &str, mut item: Item, inline: bool) {
    if !inline {
        table.insert(key, item);
        return;
    }
    let last_suffix = table.iter_mut().last().and_then(|(_, last)| {
        let value = last.as_value_mut()?;
        let suffix = value.decor().suffix()?.as_str()?.to_string();
        value.decor_mut().set_suffix("");
        Some(suffix)
    });
    if let (Some(suffix), Some(value)) = (last_suffix, item.as_value_mut()) {
        value.decor_mut().set_suffix(suffix);
    }
    table.insert(key, item);
}

/// Removes a key; in an inline table, the space before the closing brace
/// stays (it moves to the value that is now last).
fn remove_key(table: &mut dyn TableLike, key: &str, inline: bool) -> Option<Item> {
    let was_last = inline && table.iter().last().is_some_and(|(k, _)| k == key);
    let removed = table.remove(key)?;
    let suffix = removed
        .as_value()
        .and_then(|v| v.decor().suffix())
        .and_then(|s| s.as_str())
        .map(str::to_string);
    if let (true, Some(suffix)) = (was_last, suffix)
        && let Some(value) = table
            .iter_mut()
            .last()
            .and_then(|(_, last)| last.as_value_mut())
    {
        value.decor_mut().set_suffix(suffix);
    }
    Some(removed)
}

pub(super) fn remove(text: &str, name: &str) -> Result<String> {
    let (bom, body) = split_bom(text);
    let mut doc = parse(body)?;
    let inline = doc.get(KEY).is_some_and(Item::is_inline_table);
    let Some(servers) = doc.get_mut(KEY).and_then(Item::as_table_like_mut) else {
        return Ok(text.to_string());
    };
    let Some(removed) = remove_key(servers, name, inline) else {
        return Ok(text.to_string());
    };
    // Comments written above the removed `[mcp_servers.NAME]` header stay
    // where they were: before whatever now follows.
    if let Item::Table(table) = &removed {
        let prefix = table
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string();
        if prefix.contains('#') {
            keep_comments(&mut doc, table.position(), &prefix);
        }
    }
    Ok(format!("{bom}{}", same_newlines(body, doc.to_string())))
}

/// Puts `comments` before the first table after `position`, or at the end.
fn keep_comments(doc: &mut DocumentMut, position: Option<isize>, comments: &str) {
    fn tables(t: &Table, path: &mut Vec<String>, out: &mut Vec<(isize, Vec<String>)>) {
        for (k, item) in t.iter() {
            if let Item::Table(sub) = item {
                path.push(k.to_string());
                if let (Some(p), false) = (sub.position(), sub.is_implicit() || sub.is_dotted()) {
                    out.push((p, path.clone()));
                }
                tables(sub, path, out);
                path.pop();
            }
        }
    }
    let mut all = Vec::new();
    tables(doc.as_table(), &mut vec![], &mut all);
    let after = position.unwrap_or(isize::MAX);
    let next = all
        .into_iter()
        .filter(|(p, _)| *p > after)
        .min_by_key(|(p, _)| *p);
    let Some((_, path)) = next else {
        let trailing = doc.trailing().as_str().unwrap_or("").to_string();
        doc.set_trailing(format!("{comments}{trailing}"));
        return;
    };
    let mut table = doc.as_table_mut();
    for key in &path {
        match table.get_mut(key) {
            Some(Item::Table(sub)) => table = sub,
            _ => return,
        }
    }
    let rest = table
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .trim_start_matches(['\n', '\r'])
        .to_string();
    table.decor_mut().set_prefix(format!("{comments}{rest}"));
}

/// `toml_edit` writes what it adds with LF: a file written with CRLF only
/// stays so.
fn same_newlines(original: &str, out: String) -> String {
    let crlf = original.matches("\r\n").count();
    if crlf > 0 && crlf == original.matches('\n').count() {
        out.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        out
    }
}
