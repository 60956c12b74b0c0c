//! Writing a client's file: the diff shown by `--dry-run`, and the write
//! itself (backup first, then an atomic replace that keeps the file's
//! permissions).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::UserError;

/// A unified diff (for --dry-run) of old -> new, labelled with the path.
/// Empty when nothing changes. An empty `old` is a new file.
pub fn diff(path: &Path, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let label = path.display().to_string();
    let before = if old.is_empty() { "/dev/null" } else { &label };
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(before, &label)
        .to_string()
}

/// Writes `new` to `path`: when the file exists and differs, first copies it to a backup
/// (`PATH.toolgate-backup-YYYYMMDDTHHMMSSZ`, keep the file mode), then writes atomically
/// (temp file in the same folder + rename, same permissions), creating parent folders
/// (0700 for new ones). Returns the backup path, if one was made. No-op when unchanged.
///
/// `old` is the text the edit was made from (`None`: the file did not
/// exist). When the file on disk is no longer that (the client rewrote it
/// meanwhile), nothing is written: the edit would undo the client's change.
/// A symbolic link (a dotfiles manager's) stays a link: the file it points
/// to is replaced, and backed up beside it. A new file is created 0600.
pub fn write_with_backup(path: &Path, old: Option<&str>, new: &str) -> Result<Option<PathBuf>> {
    if old == Some(new) || (old.is_none() && new.is_empty()) {
        return Ok(None);
    }
    let target = resolve_link(path)?;
    let current = match fs::read(&target) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(
                UserError::problem(format!("could not read {}: {e}", target.display()))
                    .hint("check the file's permissions")
                    .into(),
            );
        }
    };
    if current.as_deref() != old.map(str::as_bytes) {
        return Err(UserError::problem(format!(
            "{} changed while toolgate was editing it (the client may have rewritten it)",
            path.display()
        ))
        .hint("run the command again; toolgate has not changed the file")
        .into());
    }
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (permissions, backup) = match &current {
        Some(bytes) => {
            let permissions = fs::metadata(&target)
                .with_context(|| format!("could not read the permissions of {}", target.display()))?
                .permissions();
            let backup = backup(&target, bytes, &permissions)?;
            (Some(permissions), Some(backup))
        }
        None => {
            crate::config::paths::ensure_private_dir(&dir)?;
            (None, None)
        }
    };
    replace(&target, &dir, new.as_bytes(), permissions.as_ref())?;
    Ok(backup)
}

/// The file a path names, following symbolic links.
fn resolve_link(path: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path).map_err(|e| {
            UserError::problem(format!(
                "{} is a symbolic link to a file that cannot be reached: {e}",
                path.display()
            ))
            .hint("fix the link, or remove it, then run the command again")
            .into()
        }),
        _ => Ok(path.to_path_buf()),
    }
}

/// `PATH.toolgate-backup-YYYYMMDDTHHMMSSZ` (with `-2`, `-3`... when that
/// name is taken), with the file's permissions.
fn backup(target: &Path, bytes: &[u8], permissions: &fs::Permissions) -> Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let stamp: String = crate::util::rfc3339(secs)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    for n in 1.. {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = target.with_file_name(format!("{name}.toolgate-backup-{stamp}{suffix}"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = match options.open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("could not write the backup {}", path.display())));
            }
        };
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::set_permissions(&path, permissions.clone()));
        if let Err(e) = written {
            let _ = fs::remove_file(&path);
            return Err(anyhow::Error::new(e)
                .context(format!("could not write the backup {}", path.display())));
        }
        return Ok(path);
    }
    unreachable!("an unbounded range always yields")
}

/// Replaces `target` atomically: a temporary file in the same folder, with
/// the old file's permissions (0600 for a new file), synced, renamed over.
fn replace(
    target: &Path,
    dir: &Path,
    bytes: &[u8],
    permissions: Option<&fs::Permissions>,
) -> Result<()> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let tmp = dir.join(format!(".{name}.toolgate-{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        if let Some(p) = permissions {
            fs::set_permissions(&tmp, p.clone())?;
        }
        file.sync_all()?;
        fs::rename(&tmp, target)?;
        #[cfg(unix)]
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(
            UserError::problem(format!("could not write {}: {e}", target.display()))
                .hint("check the folder's permissions and free space")
                .into(),
        );
    }
    Ok(())
}
