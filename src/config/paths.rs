//! Where toolgate keeps things.
//!
//! Without `TOOLGATE_HOME`, paths come from the platform's conventions (the
//! `directories` crate: XDG on Linux, Application Support on macOS, AppData on
//! Windows). With `TOOLGATE_HOME=DIR`, everything lives under one folder:
//!
//! ```text
//! DIR/config.toml     the user config
//! DIR/state/          toolgate.db (the local store), logs/
//! DIR/cache/          caches that can be deleted at any time
//! DIR/run/            runtime files (sockets, locks)
//! ```
//!
//! Folders are created on demand with mode 0700; files toolgate writes are 0600.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::UserError;

/// Resolved locations of toolgate's files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The user config file (`--config` overrides it).
    pub config_file: PathBuf,
    /// Durable state: the store and logs.
    pub state_dir: PathBuf,
    /// Disposable caches.
    pub cache_dir: PathBuf,
    /// Runtime files.
    pub runtime_dir: PathBuf,
    /// `TOOLGATE_HOME`, when everything lives under it (it also namespaces
    /// keychain entries).
    pub home: Option<PathBuf>,
}

impl Paths {
    /// Resolves paths from the environment, with an optional explicit config file.
    pub fn resolve(config_override: Option<&Path>) -> Result<Self> {
        let mut paths = match std::env::var_os("TOOLGATE_HOME").filter(|v| !v.is_empty()) {
            Some(home) => Self::under(Path::new(&home)),
            None => Self::platform()?,
        };
        if let Some(file) = config_override {
            paths.config_file = file.to_path_buf();
        }
        Ok(paths)
    }

    /// Every path under one folder (what `TOOLGATE_HOME` does).
    pub fn under(home: &Path) -> Self {
        Self {
            config_file: home.join("config.toml"),
            state_dir: home.join("state"),
            cache_dir: home.join("cache"),
            runtime_dir: home.join("run"),
            home: Some(home.to_path_buf()),
        }
    }

    fn platform() -> Result<Self> {
        let dirs =
            directories::ProjectDirs::from("dev", "toolgate", "toolgate").ok_or_else(|| {
                UserError::new("could not find your home folder to keep toolgate's files in")
                    .hint("set TOOLGATE_HOME to a folder toolgate may use")
            })?;
        let state_dir = dirs
            .state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.data_local_dir().to_path_buf());
        let runtime_dir = dirs
            .runtime_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| state_dir.join("run"));
        Ok(Self {
            config_file: dirs.config_dir().join("config.toml"),
            state_dir,
            cache_dir: dirs.cache_dir().to_path_buf(),
            runtime_dir,
            home: None,
        })
    }

    /// The local store.
    pub fn db_file(&self) -> PathBuf {
        self.state_dir.join("toolgate.db")
    }

    /// The folder of the rotating log files.
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

/// Creates a folder (and its parents) private to the user.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    let created: std::io::Result<()> = {
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
        }
        #[cfg(not(unix))]
        {
            std::fs::create_dir_all(dir)
        }
    };
    created.with_context(|| format!("could not create the folder {}", dir.display()))
}

/// Writes a file atomically (temporary file, fsync, rename) with mode 0600.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("could not write {}", path.display()))
}
