//! Logging: to stderr and to a daily-rotated file in the state folder.
//!
//! stdout is never written by the logger. The filter is `TOOLGATE_LOG` in
//! tracing's `EnvFilter` syntax (`info`, `toolgate=debug`, ...); the default is
//! `info`. Files are `state/logs/toolgate.YYYY-MM-DD.log`, seven kept.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::Paths;
use crate::config::paths::ensure_private_dir;

/// Keeps the file writer flushing; drop it last.
pub struct Guard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env("TOOLGATE_LOG").unwrap_or_else(|_| EnvFilter::new(default))
}

/// Sets up logging. `file` adds the rotating log file (for `serve`);
/// `default` is the filter when `TOOLGATE_LOG` is unset.
pub fn init(paths: &Paths, file: bool, default: &str) -> Guard {
    // Colour only on a terminal that has it, and not under NO_COLOR (set
    // and not empty, as no-color.org says).
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    let stderr = fmt::layer()
        .with_writer(crate::progress::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .with_filter(filter(default));
    let mut guard = None;
    let file_layer = if file {
        let dir = paths.log_dir();
        match ensure_private_dir(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                tracing_appender::rolling::RollingFileAppender::builder()
                    .rotation(tracing_appender::rolling::Rotation::DAILY)
                    .filename_prefix("toolgate")
                    .filename_suffix("log")
                    .max_log_files(7)
                    .build(&dir)
                    .map_err(|e| e.to_string())
            }) {
            Ok(appender) => {
                // The writer's queue is allocated whole up front: 8,192
                // lines (256 KiB) rather than the default 128,000 (4 MiB of
                // an idle serve's memory). When it is full, lines are
                // dropped rather than the proxy slowed.
                let (writer, g) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .buffered_lines_limit(8192)
                    .lossy(true)
                    .finish(appender);
                guard = Some(g);
                Some(
                    fmt::layer()
                        .with_writer(writer)
                        .with_ansi(false)
                        .with_filter(filter(default)),
                )
            }
            Err(e) => {
                // Logging must never stop the proxy: say so once, on stderr.
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("toolgate: warning: no log file in {}: {e}\n", dir.display())
                        .as_bytes(),
                );
                None
            }
        }
    } else {
        None
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    Guard(guard)
}
