//! `toolgate add NAME [options] -- COMMAND [ARGS...]` or `--url URL`.

use anyhow::Result;
use toml_edit::{Array, InlineTable, Item, Table, value};

use crate::cli::AddArgs;
use crate::config::{self, Paths, valid_server_name};
use crate::error::{UserError, exit};
use crate::util::parse_duration;

pub fn run(paths: &Paths, args: AddArgs) -> Result<u8> {
    if !valid_server_name(&args.name) {
        return Err(UserError::new(format!(
            "\"{}\" is not a valid server name: use up to 32 letters, digits, '-' or '_', without \"__\"",
            args.name
        ))
        .into());
    }
    if args.url.is_none() && args.command.is_empty() {
        return Err(UserError::new("add needs a command after `--`, or --url")
            .hint(format!(
                "toolgate add {} -- npx -y @modelcontextprotocol/server-everything",
                args.name
            ))
            .into());
    }
    if let Some(t) = &args.timeout {
        parse_duration(t).map_err(|e| UserError::new(format!("--timeout: {e}")))?;
    }
    let mut table = Table::new();
    if let Some(url) = &args.url {
        table.insert("url", value(url.as_str()));
        let mut headers = std::collections::BTreeMap::new();
        for h in &args.headers {
            let (k, v) = h.split_once(':').ok_or_else(|| {
                UserError::new(format!("--header \"{h}\" is not of the form 'Name: value'"))
            })?;
            headers.insert(k.trim().to_string(), v.trim().to_string());
        }
        insert_map(&mut table, "headers", &headers);
    } else {
        table.insert("command", value(args.command[0].as_str()));
        let mut list = Array::new();
        for a in &args.command[1..] {
            list.push(a.as_str());
        }
        table.insert("args", value(list));
    }
    let mut env = std::collections::BTreeMap::new();
    for e in &args.env {
        let (k, v) = e.split_once('=').ok_or_else(|| {
            UserError::new(format!("--env \"{e}\" is not of the form NAME=VALUE"))
        })?;
        env.insert(k.to_string(), v.to_string());
    }
    insert_map(&mut table, "env", &env);
    if let Some(cwd) = &args.cwd {
        table.insert("cwd", value(cwd.display().to_string()));
    }
    if let Some(prefix) = &args.prefix {
        table.insert("prefix", value(prefix.as_str()));
    }
    if let Some(t) = &args.timeout {
        table.insert("timeout", value(t.as_str()));
    }
    if args.disabled {
        table.insert("enabled", value(false));
    }
    let path = &paths.config_file;
    let mut replaced = false;
    config::edit(path, |doc| {
        let servers = config::servers_table(doc, path)?;
        if servers.contains_key(&args.name) {
            if !args.force {
                return Err(UserError::new(format!(
                    "a server named \"{}\" is already configured in {}",
                    args.name,
                    path.display()
                ))
                .hint("pick another name, or add --force to replace it")
                .into());
            }
            replaced = true;
        }
        servers.insert(&args.name, Item::Table(table));
        Ok(())
    })?;
    super::say(&format!(
        "{} server \"{}\" in {}",
        if replaced { "Replaced" } else { "Added" },
        args.name,
        path.display()
    ));
    super::say(
        "Running `toolgate serve` processes pick it up when restarted; `toolgate tools` lists its tools now.",
    );
    Ok(exit::OK)
}

/// Sets `key` to an inline table of `map` (nothing when it is empty).
pub fn insert_map(table: &mut Table, key: &str, map: &std::collections::BTreeMap<String, String>) {
    if map.is_empty() {
        return;
    }
    let mut inline = InlineTable::new();
    for (k, v) in map {
        inline.insert(k, v.as_str().into());
    }
    table.insert(key, value(inline));
}
