//! One HTTP/1.1 connection owned by one VU: the socket (plain or rustls), a reused read
//! buffer, and the VU's one timer. The VU's own task drives it: no connection task, no
//! channel. Timeouts are deadline checks: the timer is armed lazily and only re-armed when it
//! fires before the current request's deadline, so a run of fast requests registers the timer
//! about once per timeout period instead of once per request; and it is polled only when it
//! fired ([`Rare`]), not each time the socket is.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant as TInstant, Sleep};

use crate::rare::Rare;
use crate::transport::{ConnGauge, Origin};

/// Read buffer per connection: holds the head of typical responses; larger bodies take more
/// reads, not more memory (memory per connection at -c 10000).
pub const READ_BUF: usize = 4096;
/// The largest response head accepted; the buffer grows to it only for a head that needs it.
pub const MAX_HEAD: usize = 64 * 1024;

/// The socket of a live connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }
}

/// A connection that is open, with the gauge it counts in.
struct Live {
    stream: Stream,
    origin: Origin,
    gauge: Rc<ConnGauge>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.gauge.open.set(self.gauge.open.get().saturating_sub(1));
    }
}

/// Why an I/O step did not complete.
#[derive(Debug)]
pub enum IoFail {
    Io(io::Error),
    Deadline,
}

/// A VU's connection slot: at most one live connection, its buffered bytes and the timer.
pub struct Conn {
    live: Option<Live>,
    buf: Vec<u8>,
    /// Unconsumed received bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    timer: Rare<Pin<Box<Sleep>>>,
    armed: TInstant,
    deadline: TInstant,
    /// The VU's place among the VUs sharing an HTTP/2 connection, once it sent by HTTP/2.
    pub lane: Option<crate::http2::Lane>,
    /// The last head read on this slot, recalled when the next one is byte-identical.
    pub memo: super::response::Memo,
}

impl Conn {
    /// A slot with no connection; `deadline` is the first request's.
    pub fn new(deadline: TInstant) -> Conn {
        Conn {
            live: None,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            timer: Rare::new(Box::pin(tokio::time::sleep_until(deadline))),
            armed: deadline,
            deadline,
            lane: None,
            memo: Default::default(),
        }
    }

    /// Sets the deadline of the request about to start. Re-arms the timer only if it would
    /// fire after this deadline.
    pub fn set_deadline(&mut self, deadline: TInstant) {
        self.deadline = deadline;
        if self.armed > deadline {
            self.timer.rearm().as_mut().reset(deadline);
            self.armed = deadline;
        }
    }

    /// True when a live connection goes to `origin`.
    pub fn is_open_to(&self, origin: &Origin) -> bool {
        self.live.as_ref().is_some_and(|l| l.origin == *origin)
    }

    /// Drops the live connection (and whatever it had buffered).
    pub fn close(&mut self) {
        self.live = None;
        self.start = 0;
        self.end = 0;
    }

    /// Takes `stream` as the live connection to `origin`, counted in `gauge`.
    pub fn attach(&mut self, stream: Stream, origin: &Origin, gauge: &Rc<ConnGauge>) {
        self.close();
        gauge.opened();
        self.live = Some(Live { stream, origin: origin.clone(), gauge: gauge.clone() });
    }

    /// Runs `fut` unless the deadline passes first.
    pub async fn guarded<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, IoFail> {
        guard(&mut self.timer, &mut self.armed, self.deadline, fut).await
    }

    /// Writes all of `bytes` to the live connection.
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), IoFail> {
        let Some(live) = self.live.as_mut() else {
            return Err(IoFail::Io(io::ErrorKind::NotConnected.into()));
        };
        let mut rest = bytes;
        // A request fits the socket's send buffer nearly always: one direct `send`, without
        // the future, the cooperative budget and the timer's select of the general path.
        if let Stream::Plain(s) = &live.stream {
            match s.try_write(rest) {
                Ok(n) if n == rest.len() => return Ok(()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(IoFail::Io(e)),
            }
        }
        guard(&mut self.timer, &mut self.armed, self.deadline, live.stream.write_all(rest))
            .await?
            .map_err(IoFail::Io)
    }

    /// The received bytes not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Remembers the first `n` pending bytes as a head that parsed to `head`.
    pub fn remember_head(&mut self, n: usize, expect_body: bool, head: super::response::Head) {
        self.memo.remember(&self.buf[self.start..self.start + n], expect_body, head);
    }

    /// Marks `n` pending bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes after the pending ones; `Ok(0)` is the peer's close. Fails with
    /// `InvalidData` when the pending bytes already fill [`MAX_HEAD`] (a head too large).
    pub async fn read_more(&mut self) -> Result<usize, IoFail> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD {
                let len = (self.buf.len() * 2).min(MAX_HEAD);
                self.buf.resize(len, 0);
            } else {
                return Err(IoFail::Io(io::ErrorKind::InvalidData.into()));
            }
        }
        let Some(live) = self.live.as_mut() else {
            return Err(IoFail::Io(io::ErrorKind::NotConnected.into()));
        };
        let read = live.stream.read(&mut self.buf[self.end..]);
        let n = guard(&mut self.timer, &mut self.armed, self.deadline, read)
            .await?
            .map_err(IoFail::Io)?;
        self.end += n;
        Ok(n)
    }
}

/// Awaits `fut`, polling the timer only while `fut` is pending; a timer that fires before
/// `deadline` (armed for an earlier request) is re-armed, not a timeout.
async fn guard<T>(
    timer: &mut Rare<Pin<Box<Sleep>>>,
    armed: &mut TInstant,
    deadline: TInstant,
    fut: impl Future<Output = T>,
) -> Result<T, IoFail> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            biased;
            r = &mut fut => return Ok(r),
            _ = &mut *timer => {
                if TInstant::now() >= deadline {
                    return Err(IoFail::Deadline);
                }
                timer.rearm().as_mut().reset(deadline);
                *armed = deadline;
            }
        }
    }
}
