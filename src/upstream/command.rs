//! How a stdio upstream is started: which program, with what environment.
//!
//! IDEs launch MCP servers with a minimal environment (a desktop app started
//! from the dock has no shell profile, so `PATH` often lacks `npx`, `uvx`,
//! `node`). toolgate resolves a bare command name the way the user's shell
//! would, in this order, and says what it searched when it finds nothing:
//!
//! 1. toolgate's own `PATH`;
//! 2. the usual per-user and package-manager folders: `~/.local/bin`,
//!    `~/.cargo/bin`, `~/.volta/bin`, `~/.bun/bin`, `~/.deno/bin`,
//!    `~/.asdf/shims`, `~/.local/share/mise/shims`, `~/.pyenv/shims`, the
//!    newest `~/.nvm/versions/node/*/bin`, `/opt/homebrew/bin`,
//!    `/usr/local/bin`, `/usr/bin`, `/bin`, `/snap/bin`;
//! 3. the `PATH` of the user's login shell (`$SHELL -l -c 'printf %s "$PATH"'`,
//!    asked only when 1 and 2 fail).
//!
//! The environment of a stdio upstream is **not** toolgate's whole
//! environment (which may hold the IDE's secrets): it is the base set below,
//! where toolgate has them, plus the server's `inherit_env` names, plus its
//! `env` table (which wins). `PATH` is toolgate's `PATH` with the folder the
//! command was found in put first, so `npx` finds the `node` beside it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Variables passed from toolgate's environment to every stdio upstream.
#[cfg(unix)]
pub const BASE_ENV: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "TERM",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TZ",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
];

/// Variables passed from toolgate's environment to every stdio upstream.
#[cfg(windows)]
pub const BASE_ENV: &[&str] = &[
    "APPDATA",
    "HOMEDRIVE",
    "HOMEPATH",
    "LOCALAPPDATA",
    "PATH",
    "PATHEXT",
    "PROCESSOR_ARCHITECTURE",
    "PROGRAMFILES",
    "SYSTEMDRIVE",
    "SYSTEMROOT",
    "TEMP",
    "TMP",
    "USERNAME",
    "USERPROFILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
];

/// A command that could not be found, with everywhere that was searched.
#[derive(Debug)]
pub struct NotFound {
    pub command: String,
    pub searched: Vec<PathBuf>,
    pub login_shell: Option<String>,
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the command \"{}\" was not found; searched {}",
            self.command,
            self.searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        match &self.login_shell {
            Some(shell) => write!(f, ", and the PATH of your login shell ({shell})"),
            None => Ok(()),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

fn find_in(dirs: &[PathBuf], command: &str) -> Option<PathBuf> {
    for dir in dirs {
        let candidate = dir.join(command);
        if is_executable(&candidate) {
            return Some(candidate);
        }
        #[cfg(windows)]
        for ext in ["exe", "cmd", "bat"] {
            let c = candidate.with_extension(ext);
            if c.is_file() {
                return Some(c);
            }
        }
    }
    None
}

/// The usual folders of per-user installs, in search order.
pub fn fallback_dirs(home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = home {
        for sub in [
            ".local/bin",
            ".cargo/bin",
            ".volta/bin",
            ".bun/bin",
            ".deno/bin",
            ".asdf/shims",
            ".local/share/mise/shims",
            ".pyenv/shims",
        ] {
            dirs.push(home.join(sub));
        }
        if let Some(nvm) = newest_nvm_node(&home.join(".nvm/versions/node")) {
            dirs.push(nvm);
        }
    }
    for d in [
        "/opt/homebrew/bin",
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
        "/snap/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The `bin` folder of the newest node installed by nvm (`v20.1.0` < `v22.0.0`).
fn newest_nvm_node(root: &Path) -> Option<PathBuf> {
    let version = |name: &str| -> Option<Vec<u64>> {
        name.strip_prefix('v')?
            .split('.')
            .map(|p| p.parse().ok())
            .collect()
    };
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((version(&name)?, e.path().join("bin")))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, p)| p)
}

/// Asks the user's login shell for its `PATH`, once per process: a login
/// shell that loads nvm or conda can take seconds. A shell that has not
/// answered within 5 s is killed and counts as no answer.
fn login_shell_path() -> Option<(String, OsString)> {
    static ANSWER: std::sync::OnceLock<Option<(String, OsString)>> = std::sync::OnceLock::new();
    ANSWER.get_or_init(ask_login_shell).clone()
}

fn ask_login_shell() -> Option<(String, OsString)> {
    use std::io::Read;
    let shell = std::env::var("SHELL").ok().filter(|s| !s.is_empty())?;
    let mut child = std::process::Command::new(&shell)
        .args(["-l", "-c", "printf %s \"$PATH\""])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                // A blocking helper thread polls the child: not on the runtime.
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(
                    "the login shell {shell} did not answer within 5 s; not using its PATH"
                );
                return None;
            }
        }
    };
    let mut stdout = Vec::new();
    child.stdout.take()?.read_to_end(&mut stdout).ok()?;
    status.success().then(|| {
        #[cfg(unix)]
        let path = {
            use std::os::unix::ffi::OsStringExt;
            OsString::from_vec(stdout)
        };
        #[cfg(not(unix))]
        let path = OsString::from(String::from_utf8_lossy(&stdout).into_owned());
        (shell, path)
    })
}

/// Finds the program to run for `command`. May ask the login shell, which
/// blocks: call it off the runtime thread (`spawn_blocking`).
pub fn resolve(
    command: &str,
    path_env: Option<&OsStr>,
    home: Option<&Path>,
) -> Result<PathBuf, NotFound> {
    if command.contains('/') || (cfg!(windows) && command.contains('\\')) {
        return Ok(PathBuf::from(command));
    }
    let mut searched: Vec<PathBuf> = path_env
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    if let Some(found) = find_in(&searched, command) {
        return Ok(found);
    }
    let fallback: Vec<PathBuf> = fallback_dirs(home)
        .into_iter()
        .filter(|d| !searched.contains(d))
        .collect();
    if let Some(found) = find_in(&fallback, command) {
        return Ok(found);
    }
    searched.extend(fallback);
    let mut login_shell = None;
    if let Some((shell, path)) = login_shell_path() {
        let dirs: Vec<PathBuf> = std::env::split_paths(&path)
            .filter(|d| !searched.contains(d))
            .collect();
        if let Some(found) = find_in(&dirs, command) {
            return Ok(found);
        }
        login_shell = Some(shell);
    }
    Err(NotFound {
        command: command.to_owned(),
        searched,
        login_shell,
    })
}

/// The environment of a stdio upstream (see the module docs).
pub fn environment(
    program: &Path,
    inherit: &[String],
    env: &std::collections::BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = Vec::new();
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(inherit.iter().map(String::as_str))
    {
        if let Some(value) = std::env::var_os(name)
            && !out.iter().any(|(k, _)| k == name)
        {
            out.push((name.into(), value));
        }
    }
    // The command's own folder goes first on PATH, so scripts such as npx
    // find the interpreter installed beside them.
    if let Some(dir) = program.parent().filter(|d| !d.as_os_str().is_empty()) {
        let current = out
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut dirs: Vec<PathBuf> = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&current).filter(|d| d != dir));
        if let Ok(joined) = std::env::join_paths(dirs) {
            out.retain(|(k, _)| k != "PATH");
            out.push(("PATH".into(), joined));
        }
    }
    for (k, v) in env {
        out.retain(|(name, _)| name != k.as_str());
        out.push((k.into(), v.into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_commands_in_fallback_folders_and_reports_what_was_searched() {
        let home = tempfile::tempdir().unwrap();
        let bin = home.path().join(".local/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let tool = bin.join("toolgate-test-tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let found = resolve(
            "toolgate-test-tool",
            Some(OsStr::new("/nonexistent")),
            Some(home.path()),
        )
        .unwrap();
        assert_eq!(found, tool);
        let err = resolve(
            "toolgate-no-such-tool",
            Some(OsStr::new("/nonexistent")),
            Some(home.path()),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent"), "{text}");
        assert!(text.contains(".local/bin"), "{text}");
    }

    #[test]
    fn newest_nvm_node_wins() {
        let root = tempfile::tempdir().unwrap();
        for v in ["v9.0.0", "v20.11.1", "v20.2.0", "junk"] {
            std::fs::create_dir_all(root.path().join(v).join("bin")).unwrap();
        }
        assert_eq!(
            newest_nvm_node(root.path()).unwrap(),
            root.path().join("v20.11.1/bin")
        );
    }

    #[test]
    fn environment_is_the_base_set_plus_config() {
        let mut env = std::collections::BTreeMap::new();
        env.insert("FOO".to_owned(), "bar".to_owned());
        let vars = environment(Path::new("/opt/x/bin/npx"), &[], &env);
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("FOO").unwrap(), "bar");
        let path = get("PATH").unwrap();
        assert!(path.to_string_lossy().starts_with("/opt/x/bin"));
        for (k, _) in &vars {
            let k = k.to_string_lossy();
            assert!(BASE_ENV.contains(&k.as_ref()) || k == "FOO", "leaked {k}");
        }
    }
}
