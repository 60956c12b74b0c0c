//! `toolgate install`, `uninstall` and `import`, against fixture configs of
//! every client and against the real clients from npm (Claude Code, Codex,
//! Gemini CLI), whose own `mcp list` must show toolgate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Finished, Home, Server, run_bounded, sha256_hex, toolgate_bin};

/// A user's home folder for the clients: `HOME` and `XDG_CONFIG_HOME` point
/// into it, so every client's user-level file lands there.
struct ClientHome {
    dir: tempfile::TempDir,
}

impl ClientHome {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("toolgate-clients-")
            .tempdir()
            .expect("a temporary folder");
        // The real path (macOS /tmp is a link), as the clients see it.
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    fn apply(&self, cmd: &mut Command) {
        let home = self.path();
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env_remove("CODEX_HOME")
            .env_remove("APPDATA")
            .current_dir(&home);
    }

    /// toolgate with this home and `tg`'s TOOLGATE_HOME.
    fn toolgate(&self, tg: &Home, args: &[&str]) -> Finished {
        let mut cmd = tg.toolgate(args);
        self.apply(&mut cmd);
        run_bounded(cmd, Duration::from_secs(60))
    }

    /// A real client's command line (from the test bed's npm folder).
    fn client(&self, tg: &Home, bin: &str, args: &[&str]) -> Finished {
        let bin_dir = Path::new(tg.tb.get("TESTBED_NODE_MODULES")).join(".bin");
        let node22 = tg.tb.node();
        let node_dir = Path::new(&node22).parent().unwrap().to_path_buf();
        let mut cmd = Command::new(bin_dir.join(bin));
        cmd.args(args);
        tg.apply_env(&mut cmd);
        self.apply(&mut cmd);
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", node_dir.display()))
            .env("CI", "1")
            .env("NO_COLOR", "1")
            // No telemetry, no update checks: these runs are offline.
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("GEMINI_CLI_NO_RELAUNCH", "1");
        run_bounded(cmd, Duration::from_secs(120))
    }
}

fn json_of(done: &Finished) -> Value {
    serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", done.describe()))
}

/// The toolgate binary as install writes it (absolute, links resolved).
fn exe() -> String {
    std::fs::canonicalize(toolgate_bin())
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn real_clients_list_toolgate_after_install_and_not_after_uninstall() {
    let tg = Home::new();
    tg.config(&[Server::time(&tg.tb)]);
    let ch = ClientHome::new();
    // Gemini CLI starts no server in a folder the user has not trusted.
    std::fs::create_dir_all(ch.path().join(".gemini")).unwrap();
    std::fs::write(
        ch.path().join(".gemini/trustedFolders.json"),
        serde_json::json!({ ch.path().display().to_string(): "TRUST_FOLDER" }).to_string(),
    )
    .unwrap();

    let done = ch.toolgate(&tg, &["install", "claude-code", "codex", "gemini-cli"]);
    assert!(done.status.success(), "{}", done.describe());

    let claude = ch.client(&tg, "claude", &["mcp", "list"]);
    assert!(claude.status.success(), "{}", claude.describe());
    let line = claude
        .stdout
        .lines()
        .find(|l| l.starts_with("toolgate:"))
        .unwrap_or_else(|| panic!("claude mcp list has no toolgate\n{}", claude.describe()));
    assert!(
        line.contains(&exe()) && line.contains("Connected") && !line.contains("Failed"),
        "{line}\n{}",
        claude.describe()
    );

    let codex = ch.client(&tg, "codex", &["mcp", "list", "--json"]);
    assert!(codex.status.success(), "{}", codex.describe());
    let list: Value = serde_json::from_str(&codex.stdout)
        .unwrap_or_else(|e| panic!("codex mcp list --json: {e}\n{}", codex.describe()));
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "toolgate")
        .unwrap_or_else(|| panic!("codex has no toolgate: {list}"));
    assert_eq!(entry["enabled"], true, "{entry}");
    assert_eq!(entry["transport"]["command"], exe(), "{entry}");
    assert_eq!(
        entry["transport"]["args"],
        serde_json::json!(["serve"]),
        "{entry}"
    );

    let gemini = ch.client(&tg, "gemini", &["mcp", "list"]);
    assert!(gemini.status.success(), "{}", gemini.describe());
    // (Gemini CLI prints its list on stderr.)
    let said = format!("{}{}", gemini.stdout, gemini.stderr);
    let line = said
        .lines()
        .find(|l| l.contains("toolgate:"))
        .unwrap_or_else(|| panic!("gemini mcp list has no toolgate\n{}", gemini.describe()));
    assert!(line.contains("Connected"), "{line}\n{}", gemini.describe());

    // Installing again changes nothing, and writes no second backup.
    let backups_before = backups(&ch.path());
    let done = ch.toolgate(
        &tg,
        &["install", "claude-code", "codex", "gemini-cli", "--json"],
    );
    assert!(done.status.success(), "{}", done.describe());
    let doc = json_of(&done);
    for c in doc["clients"].as_array().unwrap() {
        assert_eq!(c["changed"], false, "{c}");
    }
    assert_eq!(backups(&ch.path()), backups_before);

    let done = ch.toolgate(&tg, &["uninstall", "claude-code", "codex", "gemini-cli"]);
    assert!(done.status.success(), "{}", done.describe());
    let claude = ch.client(&tg, "claude", &["mcp", "list"]);
    assert!(!claude.stdout.contains("toolgate"), "{}", claude.describe());
    let codex = ch.client(&tg, "codex", &["mcp", "list", "--json"]);
    assert!(!codex.stdout.contains("toolgate"), "{}", codex.describe());
    let gemini = ch.client(&tg, "gemini", &["mcp", "list"]);
    assert!(gemini.status.success(), "{}", gemini.describe());
    assert!(
        !gemini.stdout.contains("toolgate") && !gemini.stderr.contains("toolgate"),
        "{}",
        gemini.describe()
    );
}

/// Backup files anywhere under `dir`.
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if p.to_string_lossy().contains(".toolgate-backup-") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn import_moves_secrets_to_the_keychain_and_replace_points_the_client_at_toolgate() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test needs the Secret Service: run it through `bash tests/run.sh`"
    );
    let tg = Home::new();
    let ch = ClientHome::new();
    let canary = "canary-import-9b41e07d2c";
    let header_canary = "canary-header-31c7aa80f5";
    let proof = tg.path().join("proof.txt");
    let faulty = crate::support::fixture("faulty");
    // Cursor's user file: a stdio server with a secret in env, a remote one
    // with a bearer token, and a comment-free layout of Cursor's own.
    let cursor = serde_json::json!({
        "mcpServers": {
            "faulty": {
                "command": tg.tb.python(),
                "args": [faulty],
                "env": {
                    "MY_API_TOKEN": canary,
                    "FAULTY_SECRET_VAR": "MY_API_TOKEN",
                    "FAULTY_PROOF_FILE": proof.display().to_string(),
                }
            },
            "remote docs": {
                "url": "http://127.0.0.1:9/mcp",
                "headers": { "Authorization": format!("Bearer {header_canary}") }
            }
        }
    });
    let cursor_file = ch.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor_file.parent().unwrap()).unwrap();
    let original = serde_json::to_string_pretty(&cursor).unwrap();
    std::fs::write(&cursor_file, &original).unwrap();

    // A dry run says what it would do, and does nothing.
    let done = ch.toolgate(&tg, &["import", "cursor", "--dry-run", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let doc = json_of(&done);
    let rows = doc["clients"][0]["servers"].as_array().unwrap();
    assert_eq!(rows[0]["name"], "faulty");
    assert_eq!(
        rows[0]["secrets_moved"],
        serde_json::json!(["faulty/MY_API_TOKEN"])
    );
    assert_eq!(rows[1]["as"], "remote-docs");
    assert_eq!(
        rows[1]["secrets_moved"],
        serde_json::json!(["remote-docs/Authorization"])
    );
    assert!(!tg.config_file().exists(), "a dry run wrote the config");
    assert!(!done.stdout.contains(canary) && !done.stderr.contains(canary));

    let done = ch.toolgate(&tg, &["import", "cursor", "--replace"]);
    assert!(done.status.success(), "{}", done.describe());
    for text in [&done.stdout, &done.stderr] {
        assert!(
            !text.contains(canary) && !text.contains(header_canary),
            "{}",
            done.describe()
        );
    }
    // toolgate's config references the keychain, never the values.
    let config = std::fs::read_to_string(tg.config_file()).unwrap();
    assert!(
        config.contains("MY_API_TOKEN = \"${secret:MY_API_TOKEN}\""),
        "{config}"
    );
    assert!(
        config.contains("Authorization = \"Bearer ${secret:Authorization}\""),
        "{config}"
    );
    assert!(config.contains("[servers.remote-docs]"), "{config}");
    tg.assert_nowhere(canary);
    tg.assert_nowhere(header_canary);

    // The secret reaches the upstream from the keychain.
    let done = ch.toolgate(&tg, &["call", "faulty__ok", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    assert_eq!(
        std::fs::read_to_string(&proof).unwrap(),
        sha256_hex(canary.as_bytes())
    );
    std::fs::remove_file(&proof).unwrap();

    // Cursor now runs toolgate alone; the original is in the backup.
    let now: Value = serde_json::from_str(&std::fs::read_to_string(&cursor_file).unwrap()).unwrap();
    let servers = now["mcpServers"].as_object().unwrap();
    assert_eq!(servers.keys().collect::<Vec<_>>(), ["toolgate"], "{now}");
    assert_eq!(servers["toolgate"]["command"], exe());
    let found = backups(&ch.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(std::fs::read_to_string(&found[0]).unwrap(), original);

    // Importing again finds only toolgate there: nothing changes.
    let before = std::fs::read_to_string(tg.config_file()).unwrap();
    let done = ch.toolgate(&tg, &["import", "--all", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    assert_eq!(std::fs::read_to_string(tg.config_file()).unwrap(), before);
}

/// Where each client keeps its user-level file under a home folder (Linux).
const USER_FILES: [(&str, &str, &str); 8] = [
    ("cursor", ".cursor/mcp.json", "json"),
    (
        "claude-desktop",
        ".config/Claude/claude_desktop_config.json",
        "json",
    ),
    ("claude-code", ".claude.json", "json"),
    ("vscode", ".config/Code/User/mcp.json", "json"),
    ("windsurf", ".codeium/windsurf/mcp_config.json", "json"),
    ("codex", ".codex/config.toml", "toml"),
    ("gemini-cli", ".gemini/settings.json", "json"),
    ("zed", ".config/zed/settings.json", "json"),
];

/// toolgate with only this client home (no TOOLGATE_HOME, so the entry it
/// writes is exactly the fixtures' one, bar the binary's path).
fn bare_toolgate(ch: &ClientHome, args: &[&str]) -> Finished {
    let mut cmd = Command::new(toolgate_bin());
    cmd.args(args)
        .env_remove("TOOLGATE_HOME")
        .env_remove("TOOLGATE_CONFIG")
        .env("NO_COLOR", "1");
    ch.apply(&mut cmd);
    cmd.env("XDG_STATE_HOME", ch.path().join(".local/state"))
        .env("XDG_DATA_HOME", ch.path().join(".local/share"))
        .env("XDG_CACHE_HOME", ch.path().join(".cache"));
    run_bounded(cmd, Duration::from_secs(60))
}

/// Every file under `dir` and its bytes.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn install_and_uninstall_give_the_exact_fixture_for_every_client_and_touch_nothing_else() {
    let fixtures = crate::support::repo().join("tests/fixtures/clients");
    let bin = exe();
    for (client, rel, ext) in USER_FILES {
        let ch = ClientHome::new();
        let file = ch.path().join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let read = |name: &str| {
            std::fs::read_to_string(fixtures.join(client).join(format!("{name}.{ext}"))).unwrap()
        };
        let before = read("before");
        std::fs::write(&file, &before).unwrap();
        // A neighbour that must not be touched.
        std::fs::write(file.with_file_name("unrelated.txt"), "keep me").unwrap();
        let start = snapshot(&ch.path());

        // --dry-run: a diff on stdout, nothing written.
        let done = bare_toolgate(&ch, &["install", client, "--dry-run"]);
        assert!(done.status.success(), "{client}: {}", done.describe());
        assert!(
            done.stdout.contains("+++ ") && done.stdout.contains(&bin),
            "{client}: the diff names the binary\n{}",
            done.describe()
        );
        assert_eq!(
            snapshot(&ch.path()),
            start,
            "{client}: a dry run wrote something"
        );

        let done = bare_toolgate(&ch, &["install", client]);
        assert!(done.status.success(), "{client}: {}", done.describe());
        let want = read("after-install").replace("/opt/toolgate/bin/toolgate", &bin);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), want, "{client}");
        // Exactly two files changed: the config, and its new backup with
        // the original bytes.
        let now = snapshot(&ch.path());
        let added: Vec<&PathBuf> = now.keys().filter(|p| !start.contains_key(*p)).collect();
        assert_eq!(added.len(), 1, "{client}: {added:?}");
        assert!(
            added[0].to_string_lossy().contains(".toolgate-backup-"),
            "{added:?}"
        );
        assert_eq!(now[added[0]], before.as_bytes(), "{client}: the backup");
        for (p, bytes) in &start {
            if p != &file {
                assert_eq!(&now[p], bytes, "{client}: {} changed", p.display());
            }
        }

        // Again: no change, no second backup.
        let done = bare_toolgate(&ch, &["install", client, "--json"]);
        assert!(done.status.success(), "{client}: {}", done.describe());
        assert_eq!(json_of(&done)["clients"][0]["changed"], false, "{client}");
        assert_eq!(
            snapshot(&ch.path()),
            now,
            "{client}: a second install changed files"
        );

        let done = bare_toolgate(&ch, &["uninstall", client]);
        assert!(done.status.success(), "{client}: {}", done.describe());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            read("after-uninstall"),
            "{client}"
        );
    }
}

#[test]
fn project_level_install_writes_the_projects_file() {
    let ch = ClientHome::new();
    let project = ch.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let proj = project.display().to_string();
    let done = bare_toolgate(
        &ch,
        &[
            "install",
            "cursor",
            "claude-code",
            "vscode",
            "--project",
            &proj,
        ],
    );
    assert!(done.status.success(), "{}", done.describe());
    for (file, key) in [
        (".cursor/mcp.json", "mcpServers"),
        (".mcp.json", "mcpServers"),
        (".vscode/mcp.json", "servers"),
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(project.join(file)).unwrap()).unwrap();
        assert_eq!(doc[key]["toolgate"]["command"], exe(), "{file}: {doc}");
    }
    // Nothing at the user level.
    assert!(!ch.path().join(".cursor/mcp.json").exists());
    // A client without project files says so.
    let done = bare_toolgate(&ch, &["install", "windsurf", "--project", &proj]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("no project-level"),
        "{}",
        done.describe()
    );
    assert!(done.stderr.contains("hint:"), "{}", done.describe());
}

#[test]
fn a_broken_client_file_is_reported_and_left_alone() {
    let ch = ClientHome::new();
    let file = ch.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let broken = "{\n  \"mcpServers\": {\n    \"a\": { \"command\": \"x\" \n}\n";
    std::fs::write(&file, broken).unwrap();
    let done = bare_toolgate(&ch, &["install", "cursor"]);
    assert_ne!(done.status.code(), Some(0), "{}", done.describe());
    assert!(done.stderr.contains("mcp.json"), "{}", done.describe());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
    // doctor reports it as a failure with a hint, and exits 1.
    let done = bare_toolgate(&ch, &["doctor", "--json"]);
    let doc = json_of(&done);
    let check = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["area"] == "clients")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(check["status"], "fail", "{check}");
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
}

#[test]
fn doctor_says_whether_each_client_runs_this_toolgate() {
    let ch = ClientHome::new();
    // Cursor runs this toolgate plus one server beside it; Claude Code runs
    // a toolgate that no longer exists.
    let done = bare_toolgate(&ch, &["install", "cursor"]);
    assert!(done.status.success(), "{}", done.describe());
    let cursor = ch.path().join(".cursor/mcp.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    doc["mcpServers"]["other"] = serde_json::json!({"command": "npx", "args": ["x"]});
    std::fs::write(&cursor, doc.to_string()).unwrap();
    std::fs::write(
        ch.path().join(".claude.json"),
        r#"{"mcpServers": {"toolgate": {"type": "stdio", "command": "/gone/toolgate", "args": ["serve"]}}}"#,
    )
    .unwrap();
    let done = bare_toolgate(&ch, &["doctor", "--json"]);
    let doc = json_of(&done);
    let checks: Vec<&Value> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["area"] == "clients")
        .collect();
    let find = |name: &str| {
        *checks
            .iter()
            .find(|c| c["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} check: {checks:#?}"))
    };
    let c = find("Cursor");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("runs this toolgate"),
        "{c}"
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("bypass toolgate: other"),
        "{c}"
    );
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("import cursor --replace"),
        "{c}"
    );
    let c = find("Claude Code");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("does not exist"),
        "{c}"
    );
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("toolgate install claude-code"),
        "{c}"
    );
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
}
