//! Would an io_uring backend make volley cheaper per request? Issue 10 asks for one only if it
//! cuts CPU per request by 15% or more. This probe answers before anyone writes it: the same
//! minimal keep-alive client twice, once on epoll (through `mio`, as tokio does) and once on
//! io_uring (a linked send + recv per request, all connections' submissions in one
//! `io_uring_enter`), with no parsing, no timing and no recording. What separates them is then
//! only the kernel interface, and each one's CPU per request is the floor for a client built on
//! it.
//!
//! Usage: `uring-probe epoll|uring CONNECTIONS REQUESTS [ADDR]`, ADDR a loopback address (by
//! default 127.0.0.1:18090, the bench's nginx). Every response must have the length of the
//! first (nginx's `return 200` does: its `Date` has a fixed width).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: uring-probe\r\n\r\n";

/// The length of one whole response, from a first request on a connection of its own.
fn response_len(addr: SocketAddr) -> usize {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(REQ).expect("write");
    let mut buf = vec![0u8; 65536];
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..]).expect("read");
        assert!(n > 0, "the server closed before a whole response");
        have += n;
        let Some(h) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
        let body: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Content-Length");
        if have >= h + 4 + body {
            return h + 4 + body;
        }
    }
}

/// User and system CPU seconds of this process so far.
fn cpu() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("TCP_NODELAY");
    s
}

/// Edge-triggered epoll: a write per request, reads until the response is whole.
fn epoll(addr: SocketAddr, conns: usize, n: u64, len: usize) -> u64 {
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new().expect("epoll");
    let mut socks: Vec<mio::net::TcpStream> = (0..conns)
        .map(|i| {
            let s = connect(addr);
            s.set_nonblocking(true).expect("non-blocking");
            let mut s = mio::net::TcpStream::from_std(s);
            poll.registry().register(&mut s, Token(i), Interest::READABLE).expect("register");
            s
        })
        .collect();
    let (mut have, mut buf) = (vec![0usize; conns], vec![0u8; 65536]);
    let (mut sent, mut done) = (0u64, 0u64);
    for s in socks.iter_mut().take(n as usize) {
        s.write_all(REQ).expect("write");
        sent += 1;
    }
    let mut events = Events::with_capacity(1024);
    while done < n {
        poll.poll(&mut events, None).expect("poll");
        for ev in events.iter() {
            let i = ev.token().0;
            loop {
                match socks[i].read(&mut buf) {
                    Ok(0) => panic!("the server closed a connection"),
                    Ok(k) => {
                        have[i] += k;
                        if have[i] >= len {
                            have[i] -= len;
                            done += 1;
                            if sent < n {
                                socks[i].write_all(REQ).expect("write");
                                sent += 1;
                            }
                            // One request in flight: nothing more to read until it is answered.
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
    }
    done
}

/// io_uring: a send linked to a recv per request (its success posts no completion), a further
/// recv for a partial response; one `io_uring_enter` submits everything queued and waits.
fn uring(addr: SocketAddr, conns: usize, n: u64, len: usize) -> u64 {
    use io_uring::{IoUring, opcode, squeue, types};
    use std::os::fd::AsRawFd;
    let mut ring: IoUring = IoUring::builder().setup_coop_taskrun().build(4096).expect("io_uring");
    let socks: Vec<TcpStream> = (0..conns).map(|_| connect(addr)).collect();
    let fds: Vec<i32> = socks.iter().map(|s| s.as_raw_fd()).collect();
    let mut bufs: Vec<Vec<u8>> = (0..conns).map(|_| vec![0u8; 65536]).collect();
    let mut have = vec![0usize; conns];
    let (mut sent, mut done) = (0u64, 0u64);
    let queue = |ring: &mut IoUring, i: usize, send: bool, buf: &mut Vec<u8>| {
        let fd = types::Fd(fds[i]);
        let recv = opcode::Recv::new(fd, buf.as_mut_ptr(), buf.len() as u32).build();
        let recv = recv.user_data(((i as u64) << 1) | 1);
        let send_entry = opcode::Send::new(fd, REQ.as_ptr(), REQ.len() as u32)
            .build()
            .flags(squeue::Flags::IO_LINK | squeue::Flags::SKIP_SUCCESS)
            .user_data((i as u64) << 1);
        let entries = [send_entry, recv];
        let entries = if send { &entries[..] } else { &entries[1..] };
        // SAFETY: REQ is static, and each connection's buffer lives (unmoved) until the loop
        // ends, after its last recv completed.
        unsafe { ring.submission().push_multiple(entries).expect("submission queue full") };
    };
    for (i, buf) in bufs.iter_mut().enumerate().take(n as usize) {
        queue(&mut ring, i, true, buf);
        sent += 1;
    }
    let mut completions: Vec<(u64, i32)> = Vec::with_capacity(8192);
    while done < n {
        ring.submit_and_wait(1).expect("io_uring_enter");
        completions.clear();
        completions.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for &(data, res) in &completions {
            let i = (data >> 1) as usize;
            assert!(
                res > 0,
                "connection {i}: {} failed: {res}",
                ["send", "recv"][(data & 1) as usize]
            );
            if data & 1 == 0 {
                continue;
            }
            have[i] += res as usize;
            let whole = have[i] >= len;
            if whole {
                have[i] -= len;
                done += 1;
            }
            if !whole || sent < n {
                queue(&mut ring, i, whole, &mut bufs[i]);
                sent += u64::from(whole);
            }
        }
    }
    done
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: uring-probe epoll|uring CONNECTIONS REQUESTS [ADDR]";
    let (Some(mode), Some(conns), Some(n)) = (
        args.get(1).filter(|m| *m == "epoll" || *m == "uring"),
        args.get(2).and_then(|c| c.parse::<usize>().ok()).filter(|c| *c > 0),
        args.get(3).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let addr = args.get(4).map_or("127.0.0.1:18090", |a| a.as_str());
    let addr = match addr.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_loopback() => a,
        _ => {
            eprintln!("ADDR must be a loopback address and port, e.g. 127.0.0.1:18090");
            std::process::exit(2);
        }
    };
    let len = response_len(addr);
    let (u0, s0) = cpu();
    let t0 = Instant::now();
    let done =
        if mode == "epoll" { epoll(addr, conns, n, len) } else { uring(addr, conns, n, len) };
    let wall = t0.elapsed().as_secs_f64();
    let (u1, s1) = cpu();
    let us = |s: f64| s / done as f64 * 1e6;
    println!(
        "{mode} -c {conns}: {done} requests in {wall:.2} s; CPU {:.2} µs/req (user {:.2}, sys {:.2})",
        us(u1 - u0 + s1 - s0),
        us(u1 - u0),
        us(s1 - s0)
    );
}
