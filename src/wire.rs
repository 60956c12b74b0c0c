//! Byte streams that carry JSON-RPC lines: the IDE's stdio and each stdio
//! upstream's pipes.
//!
//! [`Outbound`] serialises writers: every message is one `write_all` of a
//! complete line under an async lock, so lines from different tasks never
//! interleave and each message costs one syscall in the common case.
//!
//! toolgate's own stdin and stdout are used through the reactor when they are
//! pipes or sockets (what IDEs give), instead of tokio's blocking-thread stdio,
//! which would add a thread hop to every message.

use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// A shared writer of whole lines.
pub struct Outbound {
    writer: Mutex<Option<BoxWrite>>,
}

impl Outbound {
    pub fn new(writer: BoxWrite) -> Self {
        Self {
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Writes one complete line (which must end in `\n`).
    pub async fn send(&self, line: &[u8]) -> io::Result<()> {
        let mut guard = self.writer.lock().await;
        let Some(w) = guard.as_mut() else {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "stream closed"));
        };
        w.write_all(line).await?;
        w.flush().await
    }

    /// Flushes and closes the stream (an upstream's stdin: its cue to exit).
    pub async fn close(&self) {
        if let Some(mut w) = self.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
    }
}

/// toolgate's stdin and stdout, through the reactor where possible.
pub fn stdio() -> io::Result<(BoxRead, BoxWrite)> {
    #[cfg(unix)]
    {
        Ok((unix::stdin()?, unix::stdout()?))
    }
    #[cfg(not(unix))]
    {
        Ok((Box::pin(tokio::io::stdin()), Box::pin(tokio::io::stdout())))
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;

    use tokio::net::unix::pipe;

    use super::{BoxRead, BoxWrite};

    enum Kind {
        Fifo,
        Socket,
        Other,
    }

    fn kind(fd: BorrowedFd<'_>) -> Kind {
        let Ok(dup) = fd.try_clone_to_owned() else {
            return Kind::Other;
        };
        match File::from(dup).metadata().map(|m| m.file_type()) {
            Ok(t) if t.is_fifo() => Kind::Fifo,
            Ok(t) if t.is_socket() => Kind::Socket,
            _ => Kind::Other,
        }
    }

    /// Takes ownership of a standard descriptor by duplicating it, so the
    /// original number stays open (nothing else can land on it and receive
    /// stray writes).
    fn dup(fd: i32) -> io::Result<OwnedFd> {
        // SAFETY: 0 and 1 are open for the life of the process; we only borrow
        // them to duplicate.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        borrowed.try_clone_to_owned()
    }

    pub fn stdin() -> io::Result<BoxRead> {
        let fd = dup(0)?;
        match kind(fd.as_fd()) {
            Kind::Fifo => Ok(Box::pin(pipe::Receiver::from_owned_fd(fd)?)),
            Kind::Socket => {
                let std = std::os::unix::net::UnixStream::from(fd);
                std.set_nonblocking(true)?;
                Ok(Box::pin(tokio::net::UnixStream::from_std(std)?))
            }
            Kind::Other => Ok(Box::pin(tokio::io::stdin())),
        }
    }

    pub fn stdout() -> io::Result<BoxWrite> {
        let fd = dup(1)?;
        match kind(fd.as_fd()) {
            Kind::Fifo => Ok(Box::pin(pipe::Sender::from_owned_fd(fd)?)),
            Kind::Socket => {
                let std = std::os::unix::net::UnixStream::from(fd);
                std.set_nonblocking(true)?;
                Ok(Box::pin(tokio::net::UnixStream::from_std(std)?))
            }
            Kind::Other => {
                // SAFETY: fd is a freshly duplicated descriptor we own.
                let file = unsafe { File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
                Ok(Box::pin(tokio::fs::File::from_std(file)))
            }
        }
    }
}
