//! Tests of the clients module: the fixtures of every client (realistic
//! files with comments, unrelated servers and settings, odd formatting),
//! asserted byte for byte, and the edges of each format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

const TOOLGATE: &str = "/opt/toolgate/bin/toolgate";

fn toolgate() -> ServerEntry {
    ServerEntry {
        command: Some(TOOLGATE.into()),
        args: vec!["serve".into()],
        ..ServerEntry::default()
    }
}

fn stdio(command: &str, args: &[&str]) -> ServerEntry {
    ServerEntry {
        command: Some(command.into()),
        args: args.iter().map(|a| a.to_string()).collect(),
        ..ServerEntry::default()
    }
}

fn remote(url: &str, transport: Option<RemoteTransport>) -> ServerEntry {
    ServerEntry {
        url: Some(url.into()),
        transport,
        ..ServerEntry::default()
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fixture(client: Client, file: &str) -> String {
    let ext = if client == Client::Codex {
        "toml"
    } else {
        "json"
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/clients")
        .join(client.name())
        .join(format!("{file}.{ext}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn names(servers: &[(String, ServerEntry)]) -> Vec<&str> {
    servers.iter().map(|(n, _)| n.as_str()).collect()
}

/// The whole error chain and the hint this module gave.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err:#}");
    let hint = err
        .chain()
        .find_map(|e| e.downcast_ref::<UserError>())
        .and_then(|u| u.hint.as_deref());
    if let Some(hint) = hint {
        text.push_str(&format!("\nhint: {hint}"));
    }
    text
}

// ---------------------------------------------------------------- fixtures

#[test]
fn install_gives_the_exact_fixture_for_every_client() {
    for client in Client::ALL {
        let before = fixture(client, "before");
        let got = upsert_server(client, &before, "toolgate", &toolgate()).unwrap();
        assert_eq!(
            got,
            fixture(client, "after-install"),
            "{}: install",
            client.name()
        );
    }
}

#[test]
fn install_twice_is_install_once() {
    for client in Client::ALL {
        let once = fixture(client, "after-install");
        let twice = upsert_server(client, &once, "toolgate", &toolgate()).unwrap();
        assert_eq!(
            twice,
            once,
            "{}: second install changed the file",
            client.name()
        );
    }
}

#[test]
fn uninstall_gives_the_exact_fixture_for_every_client() {
    for client in Client::ALL {
        let installed = fixture(client, "after-install");
        let got = remove_server(client, &installed, "toolgate").unwrap();
        assert_eq!(
            got,
            fixture(client, "after-uninstall"),
            "{}: uninstall",
            client.name()
        );
    }
}

#[test]
fn uninstall_of_an_absent_entry_changes_nothing() {
    for client in Client::ALL {
        let text = fixture(client, "after-uninstall");
        assert_eq!(
            remove_server(client, &text, "toolgate").unwrap(),
            text,
            "{}",
            client.name()
        );
        assert_eq!(remove_server(client, "", "toolgate").unwrap(), "");
    }
}

/// Where toolgate was not there before, install then uninstall is the
/// identity (the fixtures of Claude Desktop and Windsurf start with a stale
/// toolgate entry, which install updates in place).
#[test]
fn install_then_uninstall_restores_files_without_toolgate() {
    for client in Client::ALL {
        let before = fixture(client, "before");
        if read_servers(client, &before)
            .unwrap()
            .iter()
            .any(|(n, _)| n == "toolgate")
        {
            continue;
        }
        let installed = upsert_server(client, &before, "toolgate", &toolgate()).unwrap();
        assert_eq!(
            remove_server(client, &installed, "toolgate").unwrap(),
            before,
            "{}",
            client.name()
        );
    }
}

#[test]
fn the_fixtures_have_the_odd_formatting_they_claim() {
    let cursor = fixture(Client::Cursor, "before");
    assert_eq!(
        cursor.matches("\r\n").count(),
        cursor.matches('\n').count(),
        "the Cursor fixture must use CRLF throughout (check git's autocrlf)"
    );
    assert!(fixture(Client::Cursor, "after-install").contains("\"toolgate\": {\r\n"));
    assert!(!fixture(Client::ClaudeDesktop, "before").ends_with('\n'));
    assert!(!fixture(Client::ClaudeDesktop, "after-uninstall").ends_with('\n'));
    assert!(fixture(Client::Vscode, "before").contains("\n\t\t\"fetch\""));
    assert!(fixture(Client::Zed, "before").contains("},\n  },\n  \"vim_mode\": true,\n}"));
}

#[test]
fn read_servers_of_cursor() {
    let servers = read_servers(Client::Cursor, &fixture(Client::Cursor, "before")).unwrap();
    assert_eq!(names(&servers), ["github", "linear", "sqlite"]);
    let mut github = stdio(
        "docker",
        &[
            "run",
            "-i",
            "--rm",
            "-e",
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "ghcr.io/github/github-mcp-server",
        ],
    );
    github.env = map(&[("GITHUB_PERSONAL_ACCESS_TOKEN", "${env:GITHUB_TOKEN}")]);
    assert_eq!(servers[0].1, github);
    let mut linear = remote("https://mcp.linear.app/mcp", None);
    linear.headers = map(&[("X-Team", "platform")]);
    assert_eq!(servers[1].1, linear);
    assert_eq!(
        servers[2].1,
        stdio(
            "uvx",
            &["mcp-server-sqlite", "--db-path", "/home/me/data/app.db"]
        )
    );
}

#[test]
fn read_servers_of_claude_desktop() {
    let servers = read_servers(
        Client::ClaudeDesktop,
        &fixture(Client::ClaudeDesktop, "before"),
    )
    .unwrap();
    assert_eq!(names(&servers), ["filesystem", "toolgate", "memory"]);
    assert_eq!(
        servers[0].1,
        stdio(
            "npx",
            &[
                "-y",
                "@modelcontextprotocol/server-filesystem",
                "/Users/me/Desktop",
                "/Users/me/Downloads"
            ]
        )
    );
    let mut old = stdio("/usr/local/bin/toolgate", &["serve"]);
    old.env = map(&[("TOOLGATE_HOME", "/tmp/toolgate-old")]);
    assert_eq!(servers[1].1, old);
    let mut memory = stdio("npx", &["-y", "@modelcontextprotocol/server-memory"]);
    memory.env = map(&[("MEMORY_FILE_PATH", "/Users/me/.memory.json")]);
    assert_eq!(servers[2].1, memory);
}

#[test]
fn read_servers_of_claude_code_user_and_local_scope() {
    let text = fixture(Client::ClaudeCode, "before");
    let servers = read_servers(Client::ClaudeCode, &text).unwrap();
    assert_eq!(names(&servers), ["playwright", "notion", "asana"]);
    assert_eq!(servers[0].1, stdio("npx", &["@playwright/mcp@latest"]));
    assert_eq!(
        servers[1].1,
        remote(
            "https://mcp.notion.com/mcp",
            Some(RemoteTransport::StreamableHttp)
        )
    );
    let mut asana = remote("https://mcp.asana.com/sse", Some(RemoteTransport::Sse));
    asana.headers = map(&[("X-Workspace", "1234")]);
    assert_eq!(servers[2].1, asana);

    let local = read_claude_code_local_servers(&text, Path::new("/home/me/work/app")).unwrap();
    assert_eq!(names(&local), ["toolgate"]);
    assert_eq!(
        local[0].1,
        stdio(
            "/home/me/.cargo/bin/toolgate",
            &["serve", "--config", "/home/me/work/app/toolgate.toml"]
        )
    );
    assert!(
        read_claude_code_local_servers(&text, Path::new("/elsewhere"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn read_servers_of_vscode() {
    let servers = read_servers(Client::Vscode, &fixture(Client::Vscode, "before")).unwrap();
    assert_eq!(names(&servers), ["github", "fetch", "legacy"]);
    let mut github = remote(
        "https://api.githubcopilot.com/mcp/",
        Some(RemoteTransport::StreamableHttp),
    );
    github.headers = map(&[("Authorization", "Bearer ${input:github_mcp_pat}")]);
    assert_eq!(servers[0].1, github);
    let mut fetch = stdio("uvx", &["mcp-server-fetch"]);
    fetch.cwd = Some("${workspaceFolder}".into());
    assert_eq!(servers[1].1, fetch);
    assert_eq!(
        servers[2].1,
        remote("http://localhost:3001/sse", Some(RemoteTransport::Sse))
    );
}

#[test]
fn read_servers_of_windsurf() {
    let servers = read_servers(Client::Windsurf, &fixture(Client::Windsurf, "before")).unwrap();
    assert_eq!(names(&servers), ["github", "zapier", "toolgate"]);
    let mut github = stdio("npx", &["-y", "@modelcontextprotocol/server-github"]);
    github.env = map(&[("GITHUB_PERSONAL_ACCESS_TOKEN", "${env:GITHUB_TOKEN}")]);
    github.disabled = true;
    assert_eq!(servers[0].1, github);
    let mut zapier = remote("https://actions.zapier.com/mcp/sse", None);
    zapier.headers = map(&[("Authorization", "Bearer ${env:ZAPIER_TOKEN}")]);
    assert_eq!(servers[1].1, zapier);
    assert_eq!(servers[2].1, stdio("/usr/local/bin/toolgate", &["serve"]));
}

#[test]
fn read_servers_of_codex() {
    let servers = read_servers(Client::Codex, &fixture(Client::Codex, "before")).unwrap();
    assert_eq!(names(&servers), ["context7", "figma", "docs"]);
    let mut context7 = stdio("npx", &["-y", "@upstash/context7-mcp"]);
    context7.env = map(&[("DEFAULT_MINIMUM_TOKENS", "10000")]);
    assert_eq!(servers[0].1, context7);
    let mut figma = remote(
        "https://mcp.figma.com/mcp",
        Some(RemoteTransport::StreamableHttp),
    );
    figma.headers = map(&[("X-Figma-Region", "us-east-1")]);
    assert_eq!(servers[1].1, figma);
    let mut docs = stdio("docs-server", &[]);
    docs.disabled = true;
    assert_eq!(servers[2].1, docs);
}

#[test]
fn read_servers_of_gemini_cli() {
    let servers = read_servers(Client::GeminiCli, &fixture(Client::GeminiCli, "before")).unwrap();
    assert_eq!(names(&servers), ["pythonTools", "github", "events"]);
    let mut python = stdio("python", &["-m", "my_mcp_server", "--port", "8080"]);
    python.cwd = Some("./mcp-servers/python".into());
    python.env = map(&[("DATABASE_URL", "$DB_CONNECTION_STRING")]);
    assert_eq!(servers[0].1, python);
    let mut github = remote(
        "https://api.githubcopilot.com/mcp/",
        Some(RemoteTransport::StreamableHttp),
    );
    github.headers = map(&[("Authorization", "Bearer $GITHUB_PAT")]);
    assert_eq!(servers[1].1, github);
    assert_eq!(
        servers[2].1,
        remote("http://localhost:8080/sse", Some(RemoteTransport::Sse))
    );
}

#[test]
fn read_servers_of_zed_all_shapes() {
    let servers = read_servers(Client::Zed, &fixture(Client::Zed, "before")).unwrap();
    assert_eq!(
        names(&servers),
        ["mcp-server-github", "hexdocs", "legacy-time", "remote-docs"]
    );
    // An extension's server: nothing toolgate could run.
    assert_eq!(servers[0].1, ServerEntry::default());
    assert_eq!(servers[1].1, stdio("npx", &["-y", "hexdocs-mcp@0.5.0"]));
    let mut legacy = stdio("uvx", &["mcp-server-time"]);
    legacy.env = map(&[("TZ", "Europe/Paris")]);
    assert_eq!(servers[2].1, legacy);
    let mut docs = remote("https://docs.example.com/mcp", None);
    docs.headers = map(&[("X-Team", "editor")]);
    docs.disabled = true;
    assert_eq!(servers[3].1, docs);
}

#[test]
fn read_servers_of_what_install_wrote() {
    for client in Client::ALL {
        let servers = read_servers(client, &fixture(client, "after-install")).unwrap();
        let found: Vec<_> = servers.iter().filter(|(n, _)| n == "toolgate").collect();
        assert_eq!(found.len(), 1, "{}", client.name());
        assert_eq!(found[0].1, toolgate(), "{}", client.name());
    }
}

// ----------------------------------------------------- missing or empty files

#[test]
fn install_into_a_missing_file() {
    let expected = [
        (
            Client::Cursor,
            "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n",
        ),
        (
            Client::ClaudeCode,
            "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"type\": \"stdio\",\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n",
        ),
        (
            Client::Vscode,
            "{\n  \"servers\": {\n    \"toolgate\": {\n      \"type\": \"stdio\",\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n",
        ),
        (
            Client::Zed,
            "{\n  \"context_servers\": {\n    \"toolgate\": {\n      \"source\": \"custom\",\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n",
        ),
        (
            Client::Codex,
            "[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\n",
        ),
    ];
    for (client, want) in expected {
        assert_eq!(
            upsert_server(client, "", "toolgate", &toolgate()).unwrap(),
            want,
            "{}",
            client.name()
        );
    }
    for client in [Client::ClaudeDesktop, Client::Windsurf, Client::GeminiCli] {
        assert_eq!(
            upsert_server(client, "", "toolgate", &toolgate()).unwrap(),
            upsert_server(Client::Cursor, "", "toolgate", &toolgate()).unwrap(),
            "{}",
            client.name()
        );
    }
}

#[test]
fn install_into_an_empty_object_or_a_file_without_servers() {
    assert_eq!(
        upsert_server(Client::Cursor, "{}", "toolgate", &toolgate()).unwrap(),
        "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}"
    );
    assert_eq!(
        upsert_server(
            Client::Cursor,
            "{\n  \"mcpServers\": {}\n}\n",
            "toolgate",
            &toolgate()
        )
        .unwrap(),
        "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n"
    );
    assert_eq!(
        upsert_server(
            Client::GeminiCli,
            "{\n    \"theme\": \"Dracula\", // dark\n    \"mcpServers\": null\n}\n",
            "toolgate",
            &toolgate()
        )
        .unwrap(),
        "{\n    \"theme\": \"Dracula\", // dark\n    \"mcpServers\": {\n        \"toolgate\": {\n            \"command\": \"/opt/toolgate/bin/toolgate\",\n            \"args\": [\"serve\"]\n        }\n    }\n}\n"
    );
    // Zed's own first settings file: comments only.
    assert_eq!(
        upsert_server(Client::Zed, "// Zed settings\n", "toolgate", &toolgate()).unwrap(),
        "// Zed settings\n{\n  \"context_servers\": {\n    \"toolgate\": {\n      \"source\": \"custom\",\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n"
    );
    assert_eq!(
        upsert_server(Client::Codex, "model = \"o3\"\n", "toolgate", &toolgate()).unwrap(),
        "model = \"o3\"\n\n[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\n"
    );
}

// ------------------------------------------------------------ broken files

#[test]
fn a_syntax_error_names_the_line_and_what_to_do() {
    let cursor = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"},\n  }\n}\n";
    let err = upsert_server(Client::Cursor, cursor, "toolgate", &toolgate()).unwrap_err();
    assert_eq!(
        error_text(&err),
        "error: it is not valid JSON: trailing commas are not allowed (line 3, column 26)\n\
         hint: Cursor reads this file as strict JSON (no comments, no trailing commas): fix line 3, then run the command again (toolgate has not changed the file)"
    );
    assert!(read_servers(Client::Cursor, cursor).is_err());
    assert!(remove_server(Client::Cursor, cursor, "a").is_err());

    let desktop = "{\n  // mine\n  \"mcpServers\": {}\n}\n";
    let err = upsert_server(Client::ClaudeDesktop, desktop, "toolgate", &toolgate()).unwrap_err();
    assert!(
        error_text(&err).contains("comments are not allowed (line 2, column 3)"),
        "{}",
        error_text(&err)
    );

    let vscode = "{\n\t\"servers\": {\n\t\t\"a\" {}\n\t}\n}\n";
    let err = upsert_server(Client::Vscode, vscode, "toolgate", &toolgate()).unwrap_err();
    assert_eq!(
        error_text(&err),
        "error: it is not valid JSON with comments: expected colon after the string or word in object property (line 3, column 7)\n\
         hint: VS Code reads this file: fix line 3, then run the command again (toolgate has not changed the file)"
    );

    let gemini = "{\n  // comments are fine\n  \"mcpServers\": {},\n}\n";
    let err = upsert_server(Client::GeminiCli, gemini, "toolgate", &toolgate()).unwrap_err();
    assert_eq!(
        error_text(&err),
        "error: it is not valid JSON with comments: trailing commas are not allowed (line 3, column 19)\n\
         hint: Gemini CLI reads this file as JSON with comments (no trailing commas): fix line 3, then run the command again (toolgate has not changed the file)"
    );

    let codex = "model = \"o3\"\n\n[mcp_servers.a]\ncommand = \n";
    let err = upsert_server(Client::Codex, codex, "toolgate", &toolgate()).unwrap_err();
    let text = error_text(&err);
    assert!(
        text.starts_with("error: it is not valid TOML: ") && text.contains("(line 4, column "),
        "{text}"
    );
    assert!(text.ends_with("hint: Codex reads this file: fix line 4, then run the command again (toolgate has not changed the file)"), "{text}");
}

#[test]
fn a_file_of_the_wrong_shape_is_an_error() {
    let err = upsert_server(Client::Cursor, "[]", "toolgate", &toolgate()).unwrap_err();
    assert!(
        error_text(&err).starts_with("error: its top level is a list, not an object"),
        "{}",
        error_text(&err)
    );
    let err = upsert_server(
        Client::Cursor,
        "{\"mcpServers\": [\"a\"]}",
        "toolgate",
        &toolgate(),
    )
    .unwrap_err();
    assert!(
        error_text(&err).starts_with("error: \"mcpServers\" is a list, not an object of servers")
    );
    let err = read_servers(
        Client::Cursor,
        "{\"mcpServers\": {\"a\": {\"args\": \"x\"}}}",
    )
    .unwrap_err();
    assert!(
        error_text(&err)
            .starts_with("error: server \"a\" in \"mcpServers\": \"args\" is a string, not a list"),
        "{}",
        error_text(&err)
    );
    let err =
        upsert_server(Client::Codex, "mcp_servers = 3\n", "toolgate", &toolgate()).unwrap_err();
    assert!(
        error_text(&err).starts_with("error: \"mcp_servers\" is a number or date, not a table")
    );
}

// ------------------------------------------------------- editing in place

#[test]
fn an_existing_entry_is_updated_key_by_key_keeping_other_keys_and_comments() {
    let text = "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"command\": \"/old/toolgate\", // mine\n      \"args\": [ \"serve\" ],\n      \"timeout\": 30000,\n      \"trust\": true\n    }\n  }\n}\n";
    assert_eq!(
        upsert_server(Client::GeminiCli, text, "toolgate", &toolgate()).unwrap(),
        "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"command\": \"/opt/toolgate/bin/toolgate\", // mine\n      \"args\": [ \"serve\" ],\n      \"timeout\": 30000,\n      \"trust\": true\n    }\n  }\n}\n"
    );
}

#[test]
fn an_entry_the_client_already_reads_as_asked_for_is_left_alone() {
    // Claude Code and VS Code take a missing "type" as stdio.
    let text = "{\"mcpServers\": {\"toolgate\": {\"command\": \"/opt/toolgate/bin/toolgate\", \"args\": [\"serve\"], \"env\": {}}}}";
    for client in [Client::ClaudeCode, Client::Cursor, Client::GeminiCli] {
        assert_eq!(
            upsert_server(client, text, "toolgate", &toolgate()).unwrap(),
            text,
            "{}",
            client.name()
        );
    }
    let windsurf = "{\"mcpServers\": {\"toolgate\": {\"command\": \"/opt/toolgate/bin/toolgate\", \"args\": [\"serve\"], \"disabled\": false}}}";
    assert_eq!(
        upsert_server(Client::Windsurf, windsurf, "toolgate", &toolgate()).unwrap(),
        windsurf
    );
    let zed = "{\"context_servers\": {\"toolgate\": {\"command\": \"/opt/toolgate/bin/toolgate\", \"args\": [\"serve\"], \"enabled\": true}}}";
    assert_eq!(
        upsert_server(Client::Zed, zed, "toolgate", &toolgate()).unwrap(),
        zed
    );
    let codex = "[mcp_servers.toolgate]\nargs = [ \"serve\" ]\ncommand = '/opt/toolgate/bin/toolgate'\nenabled = true\n";
    assert_eq!(
        upsert_server(Client::Codex, codex, "toolgate", &toolgate()).unwrap(),
        codex
    );
}

#[test]
fn an_odd_unrelated_entry_does_not_block_an_edit() {
    let text = "{\"mcpServers\": {\"odd\": {\"command\": 3}}}";
    assert!(read_servers(Client::Cursor, text).is_err());
    let installed = upsert_server(Client::Cursor, text, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        remove_server(Client::Cursor, &installed, "toolgate").unwrap(),
        // (A one-line servers object was opened onto lines by the install.)
        "{\"mcpServers\": {\n    \"odd\": {\"command\": 3}\n  }}"
    );
    let toml = "[mcp_servers.odd]\ncommand = 3\n";
    let installed = upsert_server(Client::Codex, toml, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        remove_server(Client::Codex, &installed, "toolgate").unwrap(),
        toml
    );
}

#[test]
fn an_entry_that_is_not_an_object_is_replaced() {
    assert_eq!(
        upsert_server(
            Client::Cursor,
            "{\n  \"mcpServers\": {\n    \"toolgate\": null\n  }\n}\n",
            "toolgate",
            &toolgate()
        )
        .unwrap(),
        "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"]\n    }\n  }\n}\n"
    );
    assert!(read_servers(Client::Cursor, "{\"mcpServers\": {\"toolgate\": null}}").is_err());
}

#[test]
fn changing_kind_removes_the_other_kinds_keys() {
    let text = "{\n  \"mcpServers\": {\n    \"docs\": {\n      \"type\": \"stdio\",\n      \"command\": \"docs\",\n      \"args\": [\"--x\"],\n      \"env\": {\"A\": \"1\"}\n    }\n  }\n}\n";
    let got = upsert_server(
        Client::ClaudeCode,
        text,
        "docs",
        &remote("https://docs.example.com/sse", Some(RemoteTransport::Sse)),
    )
    .unwrap();
    assert_eq!(
        got,
        "{\n  \"mcpServers\": {\n    \"docs\": {\n      \"type\": \"sse\",\n      \"url\": \"https://docs.example.com/sse\"\n    }\n  }\n}\n"
    );
    // Back to stdio.
    let back = upsert_server(Client::ClaudeCode, &got, "docs", &stdio("docs", &[])).unwrap();
    assert_eq!(
        back,
        "{\n  \"mcpServers\": {\n    \"docs\": {\n      \"type\": \"stdio\",\n      \"command\": \"docs\"\n    }\n  }\n}\n"
    );

    let toml = "[mcp_servers.docs]\nurl = \"https://docs.example.com/mcp\"\nbearer_token_env_var = \"DOCS_TOKEN\"\nstartup_timeout_sec = 20 # slow\n";
    assert_eq!(
        upsert_server(Client::Codex, toml, "docs", &stdio("docs", &["--stdio"])).unwrap(),
        "[mcp_servers.docs]\nstartup_timeout_sec = 20 # slow\ncommand = \"docs\"\nargs = [\"--stdio\"]\n"
    );
}

#[test]
fn remote_entries_use_each_clients_keys() {
    let mut entry = remote("https://example.com/mcp", None);
    entry.headers = map(&[("X-Team", "a")]);
    let cases = [
        (
            Client::Cursor,
            "{\n  \"mcpServers\": {\n    \"r\": {\n      \"url\": \"https://example.com/mcp\",\n      \"headers\": {\n        \"X-Team\": \"a\"\n      }\n    }\n  }\n}\n",
        ),
        (
            Client::Vscode,
            "{\n  \"servers\": {\n    \"r\": {\n      \"type\": \"http\",\n      \"url\": \"https://example.com/mcp\",\n      \"headers\": {\n        \"X-Team\": \"a\"\n      }\n    }\n  }\n}\n",
        ),
        (
            Client::Windsurf,
            "{\n  \"mcpServers\": {\n    \"r\": {\n      \"serverUrl\": \"https://example.com/mcp\",\n      \"headers\": {\n        \"X-Team\": \"a\"\n      }\n    }\n  }\n}\n",
        ),
        (
            Client::GeminiCli,
            "{\n  \"mcpServers\": {\n    \"r\": {\n      \"httpUrl\": \"https://example.com/mcp\",\n      \"headers\": {\n        \"X-Team\": \"a\"\n      }\n    }\n  }\n}\n",
        ),
        (
            Client::Zed,
            "{\n  \"context_servers\": {\n    \"r\": {\n      \"url\": \"https://example.com/mcp\",\n      \"headers\": {\n        \"X-Team\": \"a\"\n      }\n    }\n  }\n}\n",
        ),
        (
            Client::Codex,
            "[mcp_servers.r]\nurl = \"https://example.com/mcp\"\nhttp_headers = { X-Team = \"a\" }\n",
        ),
    ];
    for (client, want) in cases {
        let got = upsert_server(client, "", "r", &entry).unwrap();
        assert_eq!(got, want, "{}", client.name());
    }
    // An existing remote keeps its transport unless one is asked for.
    let sse = "{\"mcpServers\": {\"r\": {\"url\": \"https://old.example.com/sse\"}}}";
    assert_eq!(
        upsert_server(
            Client::GeminiCli,
            sse,
            "r",
            &remote("https://new.example.com/sse", None)
        )
        .unwrap(),
        "{\"mcpServers\": {\"r\": {\"url\": \"https://new.example.com/sse\"}}}"
    );
    assert_eq!(
        upsert_server(
            Client::GeminiCli,
            sse,
            "r",
            &remote(
                "https://new.example.com/mcp",
                Some(RemoteTransport::StreamableHttp)
            )
        )
        .unwrap(),
        // A one-line entry is opened onto several lines when a key is added.
        "{\"mcpServers\": {\"r\": {\n      \"httpUrl\": \"https://new.example.com/mcp\"\n    }}}"
    );
}

#[test]
fn gemini_type_follows_the_url_key() {
    let text =
        "{\"mcpServers\": {\"r\": {\"type\": \"http\", \"url\": \"https://a.example.com/mcp\"}}}";
    let servers = read_servers(Client::GeminiCli, text).unwrap();
    assert_eq!(
        servers[0].1.transport,
        Some(RemoteTransport::StreamableHttp)
    );
    let sse = upsert_server(
        Client::GeminiCli,
        text,
        "r",
        &remote("https://a.example.com/sse", Some(RemoteTransport::Sse)),
    )
    .unwrap();
    assert_eq!(
        sse,
        "{\"mcpServers\": {\"r\": {\"type\": \"sse\", \"url\": \"https://a.example.com/sse\"}}}"
    );
}

#[test]
fn the_flag_that_turns_a_server_off() {
    let mut off = toolgate();
    off.disabled = true;
    assert_eq!(
        upsert_server(Client::Windsurf, "", "toolgate", &off).unwrap(),
        "{\n  \"mcpServers\": {\n    \"toolgate\": {\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"args\": [\"serve\"],\n      \"disabled\": true\n    }\n  }\n}\n"
    );
    let zed = upsert_server(Client::Zed, "", "toolgate", &off).unwrap();
    assert!(
        zed.contains("\"args\": [\"serve\"],\n      \"enabled\": false\n"),
        "{zed}"
    );
    // Turned back on: the flag goes.
    assert_eq!(
        upsert_server(Client::Zed, &zed, "toolgate", &toolgate()).unwrap(),
        upsert_server(Client::Zed, "", "toolgate", &toolgate()).unwrap()
    );
    let codex = upsert_server(Client::Codex, "", "toolgate", &off).unwrap();
    assert_eq!(
        codex,
        "[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\nenabled = false\n"
    );
    let err = upsert_server(Client::Cursor, "", "toolgate", &off).unwrap_err();
    assert_eq!(
        error_text(&err),
        "error: Cursor has no setting to turn an MCP server off"
    );
}

#[test]
fn entries_a_client_cannot_express_are_refused() {
    let err = upsert_server(
        Client::ClaudeDesktop,
        "",
        "r",
        &remote("https://example.com/mcp", None),
    )
    .unwrap_err();
    assert!(error_text(&err).starts_with(
        "error: Claude Desktop does not read remote MCP servers from its configuration file\nhint: "
    ));
    let mut cwd = toolgate();
    cwd.cwd = Some("/srv".into());
    assert!(upsert_server(Client::Cursor, "", "toolgate", &cwd).is_err());
    assert!(upsert_server(Client::Vscode, "", "toolgate", &cwd).is_ok());
    assert!(
        upsert_server(
            Client::Codex,
            "",
            "r",
            &remote("https://example.com/sse", Some(RemoteTransport::Sse))
        )
        .is_err()
    );
    assert!(upsert_server(Client::Cursor, "", "x", &ServerEntry::default()).is_err());
    assert!(upsert_server(Client::Cursor, "", "", &toolgate()).is_err());
}

#[test]
fn zed_older_command_shape_is_replaced_by_the_current_one() {
    let text = "{\n  \"context_servers\": {\n    \"toolgate\": {\n      \"command\": {\n        \"path\": \"/old/toolgate\",\n        \"args\": [\"serve\"],\n      },\n      \"settings\": {},\n    },\n  },\n}\n";
    assert_eq!(
        upsert_server(Client::Zed, text, "toolgate", &toolgate()).unwrap(),
        "{\n  \"context_servers\": {\n    \"toolgate\": {\n      \"command\": \"/opt/toolgate/bin/toolgate\",\n      \"settings\": {},\n      \"args\": [\"serve\"],\n    },\n  },\n}\n"
    );
}

#[test]
fn duplicate_entries_are_collapsed_and_all_removed() {
    let text = "{\n  \"mcpServers\": {\n    \"toolgate\": {\"command\": \"a\"},\n    \"x\": {\"command\": \"x\"},\n    \"toolgate\": {\"command\": \"b\"}\n  }\n}\n";
    // Like the clients' parsers, the last one counts.
    assert_eq!(
        read_servers(Client::Cursor, text).unwrap()[0].1,
        stdio("b", &[])
    );
    assert_eq!(
        remove_server(Client::Cursor, text, "toolgate").unwrap(),
        "{\n  \"mcpServers\": {\n    \"x\": {\"command\": \"x\"}\n  }\n}\n"
    );
    let once = upsert_server(Client::Cursor, text, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        read_servers(Client::Cursor, &once)
            .unwrap()
            .iter()
            .filter(|(n, _)| n == "toolgate")
            .count(),
        1
    );
}

#[test]
fn a_byte_order_mark_stays() {
    let text = "\u{feff}{\n  \"mcpServers\": {}\n}\n";
    let got = upsert_server(Client::ClaudeDesktop, text, "toolgate", &toolgate()).unwrap();
    assert!(
        got.starts_with("\u{feff}{\n  \"mcpServers\": {\n    \"toolgate\""),
        "{got:?}"
    );
    assert_eq!(
        remove_server(Client::ClaudeDesktop, &got, "toolgate").unwrap(),
        text
    );
    let toml = "\u{feff}model = \"o3\"\n";
    let got = upsert_server(Client::Codex, toml, "toolgate", &toolgate()).unwrap();
    assert!(got.starts_with("\u{feff}model"));
    assert_eq!(
        remove_server(Client::Codex, &got, "toolgate").unwrap(),
        toml
    );
}

#[test]
fn special_characters_are_escaped() {
    let entry = stdio(
        "C:\\Program Files\\toolgate \"x\".exe",
        &["serve", "line\nbreak"],
    );
    for client in [Client::Cursor, Client::Vscode, Client::Codex] {
        let text = upsert_server(client, "", "tg", &entry).unwrap();
        assert_eq!(
            read_servers(client, &text).unwrap(),
            [("tg".into(), entry.clone())]
        );
    }
}

// ------------------------------------------------------------------ TOML

#[test]
fn codex_comments_above_a_removed_table_stay() {
    let text = "model = \"o3\"\n\n[mcp_servers.a]\ncommand = \"a\"\n# args = [\"--old\"]\n\n[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\n\n[mcp_servers.toolgate.env]\nTOOLGATE_HOME = \"/srv/tg\"\n\n[mcp_servers.b]\ncommand = \"b\"\n";
    assert_eq!(
        remove_server(Client::Codex, text, "toolgate").unwrap(),
        "model = \"o3\"\n\n[mcp_servers.a]\ncommand = \"a\"\n# args = [\"--old\"]\n\n[mcp_servers.b]\ncommand = \"b\"\n"
    );
    // The last table: its comments stay at the end.
    let last = "[mcp_servers.a]\ncommand = \"a\"\n\n# the gateway\n[mcp_servers.toolgate]\ncommand = \"t\"\n";
    assert_eq!(
        remove_server(Client::Codex, last, "toolgate").unwrap(),
        "[mcp_servers.a]\ncommand = \"a\"\n\n# the gateway\n"
    );
}

#[test]
fn codex_env_sub_table_and_inline_servers_are_edited_in_place() {
    let text = "[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\n\n# where toolgate keeps its files\n[mcp_servers.toolgate.env]\nTOOLGATE_HOME = \"/srv/old\"\nOTHER = \"x\"\n";
    let mut entry = toolgate();
    entry.env = map(&[("TOOLGATE_HOME", "/srv/new")]);
    assert_eq!(
        upsert_server(Client::Codex, text, "toolgate", &entry).unwrap(),
        "[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\n\n# where toolgate keeps its files\n[mcp_servers.toolgate.env]\nTOOLGATE_HOME = \"/srv/new\"\n"
    );
    // Servers as inline tables of an [mcp_servers] table: a new one gets
    // its own table, as `codex mcp add` writes it.
    let inline = "[mcp_servers]\na = { command = \"a\" }\n";
    let got = upsert_server(Client::Codex, inline, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        got,
        "[mcp_servers]\na = { command = \"a\" }\n\n[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\n"
    );
    assert_eq!(
        remove_server(Client::Codex, &got, "toolgate").unwrap(),
        inline
    );
    // An inline table of servers stays one.
    let inline = "mcp_servers = { a = { command = \"a\" } }\n";
    let got = upsert_server(Client::Codex, inline, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        got,
        "mcp_servers = { a = { command = \"a\" }, toolgate = { command = \"/opt/toolgate/bin/toolgate\", args = [\"serve\"] } }\n"
    );
    assert_eq!(
        remove_server(Client::Codex, &got, "toolgate").unwrap(),
        inline
    );
    // A comment after the last server stays with it.
    let commented =
        "[mcp_servers]\na = { command = \"a\" } # mine\ntoolgate = { command = \"t\" } # gateway\n";
    assert_eq!(
        remove_server(Client::Codex, commented, "toolgate").unwrap(),
        "[mcp_servers]\na = { command = \"a\" } # mine\n"
    );
    let commented = "[mcp_servers]\na = { command = \"a\" } # mine\n";
    assert_eq!(
        upsert_server(Client::Codex, commented, "toolgate", &toolgate()).unwrap(),
        "[mcp_servers]\na = { command = \"a\" } # mine\n\n[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\n"
    );
    // An existing inline entry is edited in place.
    let existing =
        "[mcp_servers]\ntoolgate = { command = \"/old\", args = [\"serve\"] } # gateway\n";
    assert_eq!(
        upsert_server(Client::Codex, existing, "toolgate", &toolgate()).unwrap(),
        "[mcp_servers]\ntoolgate = { command = \"/opt/toolgate/bin/toolgate\", args = [\"serve\"] } # gateway\n"
    );
}

#[test]
fn codex_servers_written_with_dotted_keys() {
    let text = "model = \"o3\"\nmcp_servers.a.command = \"a\"\n\n[profiles.p]\nmodel = \"o4\"\n";
    let got = upsert_server(Client::Codex, text, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        names(&read_servers(Client::Codex, &got).unwrap()),
        ["a", "toolgate"]
    );
    assert_eq!(
        got,
        "model = \"o3\"\nmcp_servers.a.command = \"a\"\n\n[mcp_servers.toolgate]\ncommand = \"/opt/toolgate/bin/toolgate\"\nargs = [\"serve\"]\n\n[profiles.p]\nmodel = \"o4\"\n"
    );
    assert_eq!(
        remove_server(Client::Codex, &got, "toolgate").unwrap(),
        text
    );
    assert_eq!(
        remove_server(Client::Codex, text, "a").unwrap(),
        "model = \"o3\"\n\n[profiles.p]\nmodel = \"o4\"\n"
    );
}

#[test]
fn codex_crlf_stays_crlf() {
    let text = "model = \"o3\"\r\n\r\n[mcp_servers.a]\r\ncommand = \"a\"\r\n";
    let got = upsert_server(Client::Codex, text, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        got,
        "model = \"o3\"\r\n\r\n[mcp_servers.a]\r\ncommand = \"a\"\r\n\r\n[mcp_servers.toolgate]\r\ncommand = \"/opt/toolgate/bin/toolgate\"\r\nargs = [\"serve\"]\r\n"
    );
    assert_eq!(
        remove_server(Client::Codex, &got, "toolgate").unwrap(),
        text
    );
}

// ------------------------------------------------------------------ paths

#[test]
fn client_names_round_trip() {
    for client in Client::ALL {
        assert_eq!(Client::parse(client.name()), Some(client));
    }
    assert_eq!(Client::parse("Cursor"), None);
    assert_eq!(Client::parse("claude"), None);
    assert_eq!(Client::ClaudeDesktop.display_name(), "Claude Desktop");
    assert_eq!(Client::GeminiCli.display_name(), "Gemini CLI");
}

#[test]
fn project_paths() {
    let root = Path::new("/work/app");
    let expected = [
        (Client::Cursor, "/work/app/.cursor/mcp.json"),
        (Client::ClaudeCode, "/work/app/.mcp.json"),
        (Client::Vscode, "/work/app/.vscode/mcp.json"),
        (Client::Codex, "/work/app/.codex/config.toml"),
        (Client::GeminiCli, "/work/app/.gemini/settings.json"),
        (Client::Zed, "/work/app/.zed/settings.json"),
    ];
    for (client, path) in expected {
        assert!(client.has_project_scope());
        assert_eq!(client.config_path(Some(root)).unwrap(), PathBuf::from(path));
    }
    for client in [Client::ClaudeDesktop, Client::Windsurf] {
        assert!(!client.has_project_scope());
        let err = client.config_path(Some(root)).unwrap_err();
        assert!(
            error_text(&err).contains("has no project-level MCP configuration"),
            "{}",
            error_text(&err)
        );
    }
}

#[test]
fn user_paths_follow_home_and_the_clients_variables() {
    let home = Path::new("/h");
    let config = Path::new("/h/.config");
    let none = |_: &str| None;
    let user = |c: Client| c.user_path(home, config, &none);
    assert_eq!(user(Client::Cursor), Path::new("/h/.cursor/mcp.json"));
    assert_eq!(
        user(Client::ClaudeDesktop),
        Path::new("/h/.config/Claude/claude_desktop_config.json")
    );
    assert_eq!(user(Client::ClaudeCode), Path::new("/h/.claude.json"));
    assert_eq!(
        user(Client::Vscode),
        Path::new("/h/.config/Code/User/mcp.json")
    );
    assert_eq!(
        user(Client::Windsurf),
        Path::new("/h/.codeium/windsurf/mcp_config.json")
    );
    assert_eq!(user(Client::Codex), Path::new("/h/.codex/config.toml"));
    assert_eq!(
        user(Client::GeminiCli),
        Path::new("/h/.gemini/settings.json")
    );
    if cfg!(any(target_os = "linux", target_os = "freebsd")) {
        assert_eq!(user(Client::Zed), Path::new("/h/.config/zed/settings.json"));
    }

    let vars = |name: &str| match name {
        "CODEX_HOME" => Some("/c".into()),
        "CLAUDE_CONFIG_DIR" => Some("/h/.claude".into()),
        "FLATPAK_XDG_CONFIG_HOME" => Some("".into()),
        _ => None,
    };
    assert_eq!(
        Client::Codex.user_path(home, config, &vars),
        Path::new("/c/config.toml")
    );
    assert_eq!(
        Client::ClaudeCode.user_path(home, config, &vars),
        Path::new("/h/.claude/.claude.json")
    );
    // An empty variable counts as unset.
    if cfg!(any(target_os = "linux", target_os = "freebsd")) {
        assert_eq!(
            Client::Zed.user_path(home, config, &vars),
            Path::new("/h/.config/zed/settings.json")
        );
    }
}

/// The real resolution follows `HOME` (what the CLI tests set).
#[cfg(target_os = "linux")]
#[test]
fn user_paths_come_from_the_home_folder() {
    let home = directories::BaseDirs::new()
        .unwrap()
        .home_dir()
        .to_path_buf();
    assert_eq!(
        Client::Cursor.config_path(None).unwrap(),
        home.join(".cursor/mcp.json")
    );
    if std::env::var_os("XDG_CONFIG_HOME").is_none() {
        assert_eq!(
            Client::Vscode.config_path(None).unwrap(),
            home.join(".config/Code/User/mcp.json")
        );
    }
}

// ------------------------------------------------------------ diff, write

#[test]
fn diff_is_a_unified_diff_labelled_with_the_path() {
    let path = Path::new("/h/.cursor/mcp.json");
    let old = "{\n  \"mcpServers\": {}\n}\n";
    let new = upsert_server(Client::Cursor, old, "toolgate", &toolgate()).unwrap();
    assert_eq!(
        diff(path, old, &new),
        "--- /h/.cursor/mcp.json\n+++ /h/.cursor/mcp.json\n@@ -1,3 +1,8 @@\n {\n-  \"mcpServers\": {}\n+  \"mcpServers\": {\n+    \"toolgate\": {\n+      \"command\": \"/opt/toolgate/bin/toolgate\",\n+      \"args\": [\"serve\"]\n+    }\n+  }\n }\n"
    );
    assert_eq!(diff(path, old, old), "");
    assert!(diff(path, "", "{}\n").starts_with("--- /dev/null\n+++ /h/.cursor/mcp.json\n"));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
#[test]
fn write_with_backup_backs_up_first_and_keeps_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcp.json");
    let old = "{\n  \"mcpServers\": {}\n}\n";
    std::fs::write(&path, old).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let new = upsert_server(Client::Cursor, old, "toolgate", &toolgate()).unwrap();

    let backup = write_with_backup(&path, Some(old), &new).unwrap().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), new);
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), old);
    assert_eq!(mode(&path), 0o640);
    assert_eq!(mode(&backup), 0o640);
    let name = backup.file_name().unwrap().to_str().unwrap();
    let stamp = name.strip_prefix("mcp.json.toolgate-backup-").unwrap();
    assert_eq!(stamp.len(), "20261123T010203Z".len(), "{name}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T',
        "{name}"
    );
    assert_eq!(backup.parent(), Some(dir.path()));

    // Unchanged: nothing written, no backup.
    assert_eq!(write_with_backup(&path, Some(&new), &new).unwrap(), None);
    // A second write in the same second gets its own backup.
    let again = write_with_backup(&path, Some(&new), old).unwrap().unwrap();
    assert_ne!(again, backup);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), new);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
    // No temporary file is left behind.
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
}

#[cfg(unix)]
#[test]
fn write_with_backup_creates_a_missing_file_privately() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/settings.json");
    assert_eq!(write_with_backup(&path, None, "{}\n").unwrap(), None);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    // Nothing to write for a missing file that stays empty.
    let other = dir.path().join("none.json");
    assert_eq!(write_with_backup(&other, None, "").unwrap(), None);
    assert!(!other.exists());
}

#[cfg(unix)]
#[test]
fn write_with_backup_refuses_a_file_changed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".claude.json");
    std::fs::write(&path, "{\"numStartups\": 2}").unwrap();
    let err = write_with_backup(&path, Some("{\"numStartups\": 1}"), "{}").unwrap_err();
    assert!(
        error_text(&err).contains("changed while toolgate was editing it"),
        "{}",
        error_text(&err)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"numStartups\": 2}"
    );
    // Created meanwhile.
    let fresh = dir.path().join("new.json");
    std::fs::write(&fresh, "{}").unwrap();
    assert!(write_with_backup(&fresh, None, "{\"a\": 1}").is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[cfg(unix)]
#[test]
fn write_with_backup_keeps_a_symbolic_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("dotfiles-settings.json");
    let link = dir.path().join("settings.json");
    std::fs::write(&real, "{}\n").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let backup = write_with_backup(&link, Some("{}\n"), "{\"a\": 1}\n")
        .unwrap()
        .unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "{\"a\": 1}\n");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "{}\n");
}
