//! The upstreams (the test bed's installed servers, `bash
//! tests/testbed/setup.sh`), and how an upstream and a toolgate are
//! started.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, ensure};
use tokio::process::Command;

use super::{repo_dir, toolgate_bin};

/// server-everything and mcp-server-time, in the test bed's folder.
pub const EVERYTHING: &str = "npm/node_modules/.bin/mcp-server-everything";
pub const TIME: &str = "venv/bin/mcp-server-time";

/// The test bed's folder: `$TOOLGATE_TESTBED`, else `target/testbed`.
pub fn dir() -> PathBuf {
    std::env::var_os("TOOLGATE_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("target/testbed"))
}

/// Absolute (against the working directory), so a child can run it from
/// any folder.
pub fn absolute(p: PathBuf) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// The mcp-server-everything binary (`$TESTBED_EVERYTHING`, else the test
/// bed's), or an error that says how to get it.
pub fn find_everything() -> Result<PathBuf> {
    let candidate = if let Some(p) = std::env::var_os("TESTBED_EVERYTHING") {
        let p = PathBuf::from(p);
        ensure!(
            p.exists(),
            "TESTBED_EVERYTHING is set to {}, which does not exist\n\
             hint: run `bash tests/testbed/setup.sh`, then `. target/testbed/env.sh`",
            p.display()
        );
        p
    } else {
        let p = dir().join(EVERYTHING);
        ensure!(
            p.exists(),
            "mcp-server-everything not found: TESTBED_EVERYTHING is not set and {} does not exist\n\
             hint: run `bash tests/testbed/setup.sh` (it installs \
             @modelcontextprotocol/server-everything@2026.8.31 under target/testbed)",
            p.display()
        );
        p
    };
    absolute(candidate)
}

/// The test bed's programs: the environment, else its `env.sh`.
pub struct Testbed {
    pub everything: PathBuf,
    pub time: PathBuf,
    pub python: PathBuf,
}

impl Testbed {
    pub fn find() -> Result<Self> {
        let dir = dir();
        let env_sh = fs::read_to_string(dir.join("env.sh")).unwrap_or_default();
        let from_file: BTreeMap<String, String> = env_sh
            .lines()
            .filter_map(|l| l.trim().strip_prefix("export "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        let get = |key: &str| -> Result<PathBuf> {
            let p = std::env::var_os(key)
                .map(PathBuf::from)
                .or_else(|| from_file.get(key).map(PathBuf::from))
                .with_context(|| {
                    format!(
                        "{key} is not set and {} does not name it\n\
                         hint: run `bash tests/testbed/setup.sh`",
                        dir.join("env.sh").display()
                    )
                })?;
            ensure!(
                p.exists(),
                "{key}={} does not exist\nhint: run `bash tests/testbed/setup.sh`",
                p.display()
            );
            absolute(p)
        };
        Ok(Self {
            everything: get("TESTBED_EVERYTHING")?,
            time: get("TESTBED_TIME")?,
            python: get("TESTBED_PYTHON")?,
        })
    }
}

/// Variables a direct upstream keeps from the harness's environment:
/// toolgate's base set for a stdio upstream (`src/upstream/command.rs`),
/// less `PATH`, which [`upstream_command`] sets.
pub const UPSTREAM_ENV: [&str; 10] = [
    "HOME", "LOGNAME", "USER", "SHELL", "TERM", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ",
];

/// `PATH` with these folders first, then the harness's.
pub fn path_with(first: impl IntoIterator<Item = PathBuf>) -> OsString {
    let mut dirs: Vec<PathBuf> = first.into_iter().collect();
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// An upstream started directly as toolgate starts a stdio upstream: a
/// cleared environment with the base variables (none of `NODE_OPTIONS` and
/// the like), and `path` as `PATH` (none when `None`).
pub fn upstream_command(program: &Path, path: Option<OsString>) -> Command {
    let mut c = Command::new(program);
    c.env_clear();
    for (k, v) in std::env::vars_os() {
        if UPSTREAM_ENV.iter().any(|u| k == *u) {
            c.env(k, v);
        }
    }
    if let Some(p) = path {
        c.env("PATH", p);
    }
    c
}

/// The toolgate under test with `home` as `TOOLGATE_HOME` (and no
/// `TOOLGATE_CONFIG` of the harness's); the arguments are the caller's.
pub fn toolgate_command(home: &Path) -> Command {
    let mut c = Command::new(toolgate_bin());
    c.env("TOOLGATE_HOME", home).env_remove("TOOLGATE_CONFIG");
    c
}

/// What `exe --version` prints (trimmed; empty when it does not run).
pub fn program_version(exe: &Path) -> String {
    std::process::Command::new(exe)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
