//! One HTTP/1.1 connection owned by one VU: the socket (plain or rustls), a reused read
//! buffer, and the VU's one timer. The VU's own task drives it: no connection task, no
//! channel. Timeouts are deadline checks: the timer is armed lazily and only re-armed when it
//! fires before the current request's deadline, so a run of fast requests registers the timer
//! about once per timeout period instead of once per request; and it is polled only when it
//! fired ([`Rare`]), not each time the socket is.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant as TInstant, Sleep};

use crate::clock::Tick;
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

    /// One read into `buf`, polled in place: no read future per call.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        let polled = match self {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, &mut rb),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, &mut rb),
        };
        polled.map_ok(|()| rb.filled().len())
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
    /// When the last read that returned bytes returned: the arrival of the pending bytes.
    pub read_at: Tick,
    /// The arrival of the current response's first byte ([`Conn::await_response`]).
    pub first_at: Tick,
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
            read_at: Tick::now(),
            first_at: Tick::NEVER,
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

    /// Starts timing a response to a request written at `written`: bytes already pending
    /// arrived with the read that brought them (not before the request left), else the next
    /// read brings its first byte.
    pub fn await_response(&mut self, written: Tick) {
        self.first_at =
            if self.start == self.end { Tick::NEVER } else { self.read_at.max(written) };
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
        let buf = &mut self.buf[self.end..];
        let (timer, armed, deadline) = (&mut self.timer, &mut self.armed, self.deadline);
        let n = poll_fn(|cx| match live.stream.poll_read(cx, buf) {
            Poll::Ready(r) => Poll::Ready(r.map_err(IoFail::Io)),
            Poll::Pending => deadline_passed(timer, armed, deadline, cx),
        })
        .await?;
        if n > 0 {
            let now = Tick::now();
            self.read_at = now;
            self.first_at = self.first_at.min(now);
        }
        self.end += n;
        Ok(n)
    }
}

/// Awaits `fut` unless `deadline` passes first; the timer is polled only while `fut` is
/// pending.
async fn guard<T>(
    timer: &mut Rare<Pin<Box<Sleep>>>,
    armed: &mut TInstant,
    deadline: TInstant,
    fut: impl Future<Output = T>,
) -> Result<T, IoFail> {
    let mut fut = pin!(fut);
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Ok(r)),
        Poll::Pending => deadline_passed(timer, armed, deadline, cx),
    })
    .await
}

/// For an I/O step that is pending: `Ready(Err(Deadline))` once `deadline` passed, else
/// `Pending` with the timer registered. A timer that fires before `deadline` (armed for an
/// earlier request) is re-armed, not a timeout.
fn deadline_passed<T>(
    timer: &mut Rare<Pin<Box<Sleep>>>,
    armed: &mut TInstant,
    deadline: TInstant,
    cx: &mut Context<'_>,
) -> Poll<Result<T, IoFail>> {
    while Pin::new(&mut *timer).poll(cx).is_ready() {
        if TInstant::now() >= deadline {
            return Poll::Ready(Err(IoFail::Deadline));
        }
        timer.rearm().as_mut().reset(deadline);
        *armed = deadline;
    }
    Poll::Pending
}
