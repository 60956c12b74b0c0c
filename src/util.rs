//! Small shared helpers: durations in config, hashing.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

/// Parses `"500ms"`, `"30s"`, `"2m"`, `"1h"`, `"1d"`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("\"{text}\" is not a duration (examples: \"500ms\", \"30s\", \"2m\", \"1h\")")
    })?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => {
            return Err(format!(
                "\"{other}\" is not a unit of time (use ms, s, m, h or d)"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 10.0 * 365.0 * 86400.0 {
        return Err(format!("\"{text}\" is too long a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Writes a duration the way config files spell it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

/// A duration in config: a string such as `"30s"` or a bare integer of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Self(Duration::from_secs(s))),
            Raw::Text(t) => parse_duration(&t)
                .map(Self)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl serde::Serialize for ConfigDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// Lowercase hex of SHA-256.
/// Unix seconds as RFC 3339 UTC (`2026-11-23T01:02:03Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// The OS user running toolgate (the name, else the uid).
pub fn os_user() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid cannot fail; getpwuid_r writes into the buffers
        // given and its result is read only when it reports success.
        unsafe {
            let uid = libc::getuid();
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut buf = vec![0 as libc::c_char; 4096];
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) == 0
                && !result.is_null()
                && !pwd.pw_name.is_null()
            {
                return std::ffi::CStr::from_ptr(pwd.pw_name)
                    .to_string_lossy()
                    .into_owned();
            }
            format!("uid {uid}")
        }
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME").unwrap_or_else(|_| "unknown".into())
    }
}

/// Keeps the resident size of a long-running process to the code it runs:
/// asks the kernel not to map the executable's pages around each one it
/// faults in (`MADV_RANDOM` turns off fault-around and read-ahead on those
/// mappings). A process that runs a small part of a large binary then
/// holds only that part in memory. Linux only; harmless where it fails.
pub fn map_code_on_demand() {
    exe_pages(false);
}

/// Gives back what an idle long-running process holds and no longer uses:
/// the executable's pages (its code with `MADV_DONTNEED`, which leaves them
/// in the page cache to come back one by one as minor faults, even where a
/// second process of the same binary maps them too; its data with
/// `MADV_PAGEOUT`) and the allocator's free memory (`malloc_trim`). Linux
/// only; harmless where it fails.
pub fn trim_idle() {
    exe_pages(true);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn exe_pages(give_back: bool) {
    #[cfg(target_os = "linux")]
    {
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
            return;
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        let exe = exe.to_string_lossy();
        for line in maps.lines() {
            // start-end perms offset dev inode path
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            if fields.nth(3).is_none_or(|path| path != exe) {
                continue;
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            let (addr, len) = (start as *mut libc::c_void, end - start);
            // SAFETY: the range is a mapping of this process's own
            // executable, as the kernel lists it; MADV_RANDOM changes only
            // how the kernel pages it in, never its contents.
            unsafe {
                libc::madvise(addr, len, libc::MADV_RANDOM);
            }
            if !give_back {
                continue;
            }
            if perms == "r-xp" {
                // The code: dropped from this process's page tables. The
                // pages stay in the page cache (the kernel reclaims them
                // under pressure), so they come back as minor faults, and a
                // second `serve` of the same binary keeps using them
                // (MADV_PAGEOUT leaves pages alone that another process
                // maps).
                // SAFETY: a private, read-only, executable mapping of our own
                // executable is never written (no private copies): its pages
                // hold the file's contents, which MADV_DONTNEED reloads on
                // the next access. Writable or relocated (RELRO) mappings
                // never come here.
                unsafe {
                    libc::madvise(addr, len, libc::MADV_DONTNEED);
                }
            } else {
                // SAFETY: as above: MADV_PAGEOUT changes only where the
                // pages are, never their contents.
                unsafe {
                    libc::madvise(addr, len, libc::MADV_PAGEOUT);
                }
            }
        }
    }
}

/// Lowers the calling thread's CPU priority (nice 19), for background work
/// that must not slow calls: the audit writer and uploader. It still runs
/// whenever a core is free.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on our own thread id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

/// A cross-process lock (`flock` on `run/locks/NAME.lock`), held until
/// dropped.
pub struct FileLock {
    file: std::fs::File,
}

impl FileLock {
    fn open(
        paths: &crate::config::paths::Paths,
        name: &str,
    ) -> Result<(std::fs::File, std::path::PathBuf), String> {
        let dir = paths.runtime_dir.join("locks");
        crate::config::paths::ensure_private_dir(&dir).map_err(|e| format!("{e:#}"))?;
        let path = dir.join(format!("{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("could not open the lock {}: {e}", path.display()))?;
        Ok((file, path))
    }

    /// Takes the lock, waiting for another process to release it (blocking:
    /// call it off the async runtime).
    pub fn acquire(paths: &crate::config::paths::Paths, name: &str) -> Result<Self, String> {
        let (file, path) = Self::open(paths, name)?;
        match flock(&file, false) {
            Ok(_) => Ok(Self { file }),
            Err(e) => Err(format!("could not lock {}: {e}", path.display())),
        }
    }

    /// Takes the lock if nobody holds it.
    pub fn try_acquire(
        paths: &crate::config::paths::Paths,
        name: &str,
    ) -> Result<Option<Self>, String> {
        let (file, path) = Self::open(paths, name)?;
        match flock(&file, true) {
            Ok(true) => Ok(Some(Self { file })),
            Ok(false) => Ok(None),
            Err(e) => Err(format!("could not lock {}: {e}", path.display())),
        }
    }
}

/// An exclusive `flock` on `file`, held until the file is closed (or a
/// [`FileLock`] is dropped); `Ok(false)`: held elsewhere (only when
/// `nonblocking`).
#[cfg(unix)]
pub fn flock(file: &std::fs::File, nonblocking: bool) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let op = if nonblocking {
        libc::LOCK_EX | libc::LOCK_NB
    } else {
        libc::LOCK_EX
    };
    loop {
        // SAFETY: flock(2) on a file descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => return Ok(false),
            _ => return Err(err),
        }
    }
}

#[cfg(not(unix))]
pub fn flock(_file: &std::fs::File, _nonblocking: bool) -> std::io::Result<bool> {
    Ok(true)
}

impl Drop for FileLock {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock(2) on our own descriptor.
            unsafe {
                libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
            }
        }
    }
}

/// Bytes from lowercase or uppercase hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
    }

    #[test]
    fn hashes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_395_723), "2026-11-23T01:02:03Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
