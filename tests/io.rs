//! I/O inside knotwork children through the smol ecosystem (async-io,
//! async-net, async-channel, futures-lite), and the two bridges to tokio's
//! I/O; docs/io.md explains why each works (or panics).
//!
//! Every test runs under the watchdog of `tests/common`, on a pool of two
//! threads, and talks to 127.0.0.1 only.
mod common;

use async_io::{Async, Timer};
use common::{panic_text, pool, within};
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const LOCALHOST: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 0);

/// Echoes what the peer sends until it closes its side.
async fn echo(mut stream: Async<TcpStream>) -> io::Result<usize> {
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n;
    }
}

/// Connects, sends `msg`, and returns the reply (as many bytes as it sent).
async fn round_trip(addr: SocketAddr, msg: String) -> io::Result<String> {
    let mut stream = Async::<TcpStream>::connect(addr).await?;
    stream.write_all(msg.as_bytes()).await?;
    let mut reply = vec![0u8; msg.len()];
    stream.read_exact(&mut reply).await?;
    Ok(String::from_utf8(reply).expect("the echo of UTF-8 is UTF-8"))
}

/// (i) One scope holds a loopback echo server and 500 clients, each sending
/// a distinct message and checking its echo, under one deadline for the
/// whole fan-out; a straggler waits for a reply that never comes until its
/// `Task` is cancelled; the scope then returns with every child joined.
#[test]
fn loopback_echo_fan_out_of_500_clients_in_one_scope() {
    within(20, || {
        const CLIENTS: usize = 500;
        let pool = pool(2);
        let accepted = AtomicUsize::new(0);
        let echoed = AtomicUsize::new(0);
        let limit = knotwork::Limiter::new(64);
        let listener = Async::<TcpListener>::bind(LOCALHOST).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let (replies, straggler, server) = pool.scope(|s| {
            // The deadline for the whole fan-out: were anything to hang, the
            // scope is cancelled, every join below returns, and the asserts
            // say which child it was (instead of the watchdog firing).
            s.cancel_after(Duration::from_secs(10));
            let (accepted, echoed) = (&accepted, &echoed);
            // The server: accepts in one child and echoes each connection in
            // a child of its own, spawned into the same scope.
            let server = s.exec(async move {
                loop {
                    let (stream, _) = listener.accept().await.expect("accept");
                    accepted.fetch_add(1, Ordering::Relaxed);
                    s.exec(async move {
                        let n = echo(stream).await.expect("echo");
                        echoed.fetch_add(n, Ordering::Relaxed);
                    });
                }
            });
            // The straggler: connected, it waits for a reply to a request it
            // never sent. Nothing but a cancellation ends it.
            let straggler = s.exec(async move {
                let mut stream = Async::<TcpStream>::connect(addr).await.expect("connect");
                let mut byte = [0u8; 1];
                let n = stream.read(&mut byte).await;
                unreachable!("the straggler got a reply: {n:?}");
            });
            // At most 64 connections in flight: the listener's backlog is
            // 128 (std's), and a connect beyond a full backlog has its SYN
            // dropped and retried a second later (docs/io.md).
            let limit = &limit;
            let clients: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    s.exec(async move {
                        let _permit = limit.acquire().await;
                        round_trip(addr, format!("hello from client {i}\n")).await
                    })
                })
                .collect();
            let replies: Vec<_> = clients.into_iter().map(|t| t.join()).collect();
            // Once the server has the straggler's connection too, nothing
            // but a cancellation ends either side of it.
            assert!(common::eventually(5, || accepted.load(Ordering::Relaxed) == CLIENTS + 1));
            straggler.cancel();
            let straggler = straggler.join();
            // The accept loop runs until cancelled, too.
            server.cancel();
            (replies, straggler, server.join())
        });
        for (i, reply) in replies.into_iter().enumerate() {
            match reply {
                Ok(Ok(text)) => assert_eq!(text, format!("hello from client {i}\n")),
                Ok(Err(e)) => panic!("client {i}: I/O error {e}"),
                Err(e) => panic!("client {i}: {e} (cancelled: {}, the deadline passed?)", e.is_cancelled()),
            }
        }
        assert!(straggler.unwrap_err().is_cancelled(), "the straggler was cancelled");
        assert!(server.unwrap_err().is_cancelled(), "the accept loop was cancelled");
        // Every connection was accepted (the clients and the straggler) and
        // every echo child had finished when the scope returned: the
        // straggler's handler saw its peer go away with the cancellation.
        assert_eq!(accepted.load(Ordering::Relaxed), CLIENTS + 1);
        let sent: usize = (0..CLIENTS).map(|i| format!("hello from client {i}\n").len()).sum();
        assert_eq!(echoed.load(Ordering::Relaxed), sent);
        pool.shutdown().unwrap();
    });
}

/// A deadline cancels a straggler: `cancel_after` on a scope whose only
/// child waits for a server that never answers.
#[test]
fn a_deadline_cancels_a_client_waiting_for_a_reply_that_never_comes() {
    within(20, || {
        let pool = pool(2);
        // Accepted by the kernel (the backlog), never read nor answered.
        let silent = TcpListener::bind(LOCALHOST).unwrap();
        let addr = silent.local_addr().unwrap();
        let start = Instant::now();
        let err = pool.scope(|s| {
            s.cancel_after(Duration::from_millis(100));
            s.exec(async move {
                let mut stream = async_net::TcpStream::connect(addr).await?;
                stream.write_all(b"anyone there?\n").await?;
                let mut byte = [0u8; 1];
                stream.read(&mut byte).await
            })
            .join()
            .unwrap_err()
        });
        assert!(err.is_cancelled());
        assert!(start.elapsed() >= Duration::from_millis(100), "cancelled by the deadline, not before");
        drop(silent);
        pool.shutdown().unwrap();
    });
}

/// The same fan-out with async-net's types, in `scope_async` (children are
/// `'static` there, and share the server's counter through an `Arc`).
#[test]
fn async_net_echo_in_scope_async() {
    within(20, || {
        let pool = pool(2);
        let served = Arc::new(AtomicUsize::new(0));
        let served2 = served.clone();
        let ok = knotwork::block_on(pool.scope_async(async move |s| {
            let listener = async_net::TcpListener::bind(LOCALHOST).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let handle = s.clone();
            let server = s.exec(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let served = served2.clone();
                    handle.exec(async move {
                        let (reader, mut writer) = (stream.clone(), stream);
                        futures_lite::io::copy(reader, &mut writer).await.unwrap();
                        served.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
            let clients: Vec<_> = (0..50)
                .map(|i| {
                    s.exec(async move {
                        let mut stream = async_net::TcpStream::connect(addr).await.unwrap();
                        let msg = format!("#{i}");
                        stream.write_all(msg.as_bytes()).await.unwrap();
                        stream.shutdown(std::net::Shutdown::Write).unwrap();
                        let mut reply = String::new();
                        stream.read_to_string(&mut reply).await.unwrap();
                        reply == msg
                    })
                })
                .collect();
            let mut ok = 0;
            for c in clients {
                ok += usize::from(c.await.unwrap());
            }
            server.cancel();
            ok
        }));
        assert_eq!(ok, 50);
        assert_eq!(served.load(Ordering::Relaxed), 50);
        pool.shutdown().unwrap();
    });
}

/// UDP through `Async<UdpSocket>`: a ping-pong between two children.
#[test]
fn udp_ping_pong_between_two_children() {
    within(20, || {
        let pool = pool(2);
        let a = Async::<std::net::UdpSocket>::bind(LOCALHOST).unwrap();
        let b = Async::<std::net::UdpSocket>::bind(LOCALHOST).unwrap();
        let b_addr = b.get_ref().local_addr().unwrap();
        let last = pool.scope(|s| {
            s.exec(async move {
                let mut buf = [0u8; 8];
                for _ in 0..100 {
                    let (n, from) = b.recv_from(&mut buf).await.unwrap();
                    let v = u64::from_le_bytes(buf[..n].try_into().unwrap());
                    b.send_to(&(v + 1).to_le_bytes(), from).await.unwrap();
                }
            });
            s.exec(async move {
                let mut v = 0u64;
                let mut buf = [0u8; 8];
                for _ in 0..100 {
                    a.send_to(&v.to_le_bytes(), b_addr).await.unwrap();
                    let (n, from) = a.recv_from(&mut buf).await.unwrap();
                    assert_eq!(from, b_addr);
                    v = u64::from_le_bytes(buf[..n].try_into().unwrap());
                }
                v
            })
            .join()
            .unwrap()
        });
        assert_eq!(last, 100);
        pool.shutdown().unwrap();
    });
}

/// (ii) `async_io::Timer` and async-channel inside `exec` children: the
/// timer is fired by async-io's reactor on another thread, which wakes the
/// child through knotwork's waker; the child stays on its worker's loop.
#[test]
fn async_io_timer_and_async_channel_in_exec_children() {
    within(20, || {
        let pool = pool(2);
        let (tx, rx) = async_channel::bounded::<usize>(16);
        let (got, same_thread) = pool.scope(|s| {
            for i in 0..8 {
                let tx = tx.clone();
                s.exec(async move {
                    let before = std::thread::current().id();
                    Timer::after(Duration::from_millis(5 + i as u64)).await;
                    let after = std::thread::current().id();
                    assert_eq!(before, after, "an exec child stays on its worker");
                    tx.send(i).await.unwrap();
                });
            }
            // A blocking child feeds the same channel. There is room for
            // every message, so `send_blocking` never blocks its worker: a
            // wait that is not knotwork's would stall the async children
            // pinned there, the consumer among them (docs/io.md, Hazards).
            let tx2 = tx.clone();
            s.exec_blocking(move || tx2.send_blocking(100).unwrap());
            drop(tx);
            let consumer = s.exec(async move {
                let mut got = Vec::new();
                while let Ok(i) = rx.recv().await {
                    got.push(i);
                }
                got
            });
            // Timers, knotwork's and async-io's, and futures-lite combinators
            // mix in one child.
            let same_thread = s.exec(async {
                let (t0, here) = (Instant::now(), std::thread::current().id());
                let (a, b) = future::zip(
                    async {
                        Timer::after(Duration::from_millis(10)).await;
                        std::thread::current().id()
                    },
                    async {
                        knotwork::sleep(Duration::from_millis(10)).await;
                        std::thread::current().id()
                    },
                )
                .await;
                let raced = future::or(
                    async {
                        Timer::after(Duration::from_secs(60)).await;
                        "async-io timer"
                    },
                    async {
                        knotwork::sleep(Duration::from_millis(1)).await;
                        "knotwork sleep"
                    },
                )
                .await;
                assert_eq!(raced, "knotwork sleep");
                assert!(t0.elapsed() >= Duration::from_millis(10));
                a == here && b == here && std::thread::current().id() == here
            });
            (consumer.join().unwrap(), same_thread.join().unwrap())
        });
        let mut got = got;
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3, 4, 5, 6, 7, 100]);
        assert!(same_thread);
        pool.shutdown().unwrap();
    });
}

/// An async-io timer is cancelled like any other suspension point: the
/// scope's deadline drops the future, and with it the timer.
#[test]
fn a_cancelled_child_drops_its_async_io_timer() {
    within(20, || {
        struct Dropped<'a>(&'a AtomicBool);
        impl Drop for Dropped<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let pool = pool(2);
        let dropped = AtomicBool::new(false);
        let err = pool.scope(|s| {
            s.cancel_after(Duration::from_millis(20));
            let dropped = &dropped;
            s.exec(async move {
                let _guard = Dropped(dropped);
                Timer::after(Duration::from_secs(3600)).await;
            })
            .join()
            .unwrap_err()
        });
        assert!(err.is_cancelled());
        assert!(dropped.load(Ordering::SeqCst));
        pool.shutdown().unwrap();
    });
}

/// `knotwork::block_on` in a blocking child drives async-io futures too:
/// they are woken by async-io's reactor thread, not by knotwork's loop.
///
/// The server is a plain thread, not a sibling `exec` child: while a
/// blocking child's `block_on` runs on a worker, that worker's loop runs
/// only the child's own subtree, so a sibling pinned to the same worker
/// would not answer until the `block_on` returned, which it never would
/// (docs/io.md, "A blocking child waiting for a sibling").
#[test]
fn async_io_under_block_on_in_a_blocking_child() {
    within(20, || {
        let pool = pool(2);
        let listener = TcpListener::bind(LOCALHOST).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = stream.try_clone().unwrap();
            std::io::copy(&mut reader, &mut stream).unwrap();
        });
        let reply = pool.scope(|s| {
            s.exec_blocking(move || knotwork::block_on(round_trip(addr, "blocking child".into())))
                .join()
                .unwrap()
        });
        assert_eq!(reply.unwrap(), "blocking child");
        server.join().unwrap();
        pool.shutdown().unwrap();
    });
}

// ---- tokio ----------------------------------------------------------------

/// A multi-thread tokio runtime whose one worker drives tokio's I/O and
/// timer drivers while it is idle.
fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tokio-driver")
        .enable_io()
        .enable_time()
        .build()
        .unwrap()
}

/// Bridge (a): polls `fut` with `handle` entered, so tokio's `net` and
/// `time` find their driver; the runtime's own worker turns the driver and
/// its wakes reach the knotwork task from that thread.
struct InTokio<F> {
    handle: tokio::runtime::Handle,
    fut: Pin<Box<F>>,
}

fn in_tokio<F: Future>(handle: &tokio::runtime::Handle, fut: F) -> InTokio<F> {
    InTokio { handle: handle.clone(), fut: Box::pin(fut) }
}

impl<F: Future> Future for InTokio<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        this.fut.as_mut().poll(cx)
    }
}

/// A tokio echo server and its clients, each an `exec` child wrapped in
/// `in_tokio`; tokio's timer works there too.
#[test]
fn tokio_net_inside_exec_children_with_the_handle_entered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(20, || {
        let rt = tokio_runtime();
        let h = rt.handle();
        let pool = pool(2);
        let replies = pool.scope(|s| {
            let listener = knotwork::block_on(in_tokio(h, tokio::net::TcpListener::bind(LOCALHOST))).unwrap();
            let addr = listener.local_addr().unwrap();
            let server = s.exec(in_tokio(h, async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    s.exec(in_tokio(h, async move {
                        let (mut r, mut w) = stream.split();
                        tokio::io::copy(&mut r, &mut w).await.unwrap();
                    }));
                }
            }));
            let clients: Vec<_> = (0..20)
                .map(|i| {
                    s.exec(in_tokio(h, async move {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                        let msg = format!("tokio client {i}");
                        stream.write_all(msg.as_bytes()).await.unwrap();
                        stream.shutdown().await.unwrap();
                        let mut reply = String::new();
                        stream.read_to_string(&mut reply).await.unwrap();
                        reply == msg
                    }))
                })
                .collect();
            let ok = clients.into_iter().map(|t| t.join().unwrap()).filter(|&b| b).count();
            server.cancel();
            ok
        });
        assert_eq!(replies, 20);
        pool.shutdown().unwrap();
    });
}

/// Aborts the tokio task when dropped: a cancelled knotwork child then
/// cancels the tokio task it was waiting for (a dropped `JoinHandle` alone
/// only detaches it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Bridge (b): the tokio I/O runs as tokio tasks; `exec` children await
/// their `JoinHandle`s (woken from tokio's worker thread). Cancelling such
/// a child aborts its tokio task through `AbortOnDrop`.
#[test]
fn tokio_tasks_awaited_from_exec_children() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(20, || {
        let rt = tokio_runtime();
        let listener = rt.block_on(tokio::net::TcpListener::bind(LOCALHOST)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    tokio::io::copy(&mut r, &mut w).await.unwrap();
                });
            }
        });
        let pool = pool(2);
        let aborted = Arc::new(AtomicBool::new(false));
        let (ok, stuck) = pool.scope(|s| {
            let clients: Vec<_> = (0..20)
                .map(|i| {
                    let job = rt.spawn(async move {
                        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                        let msg = format!("tokio task {i}");
                        stream.write_all(msg.as_bytes()).await.unwrap();
                        stream.shutdown().await.unwrap();
                        let mut reply = String::new();
                        stream.read_to_string(&mut reply).await.unwrap();
                        reply == msg
                    });
                    s.exec(async move { job.await.expect("the tokio task finished") })
                })
                .collect();
            // A tokio task that would never finish, behind a child that is
            // cancelled: the abort reaches tokio.
            let flag = aborted.clone();
            let forever = AbortOnDrop(rt.spawn(async move {
                struct SetOnDrop(Arc<AtomicBool>);
                impl Drop for SetOnDrop {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let _set = SetOnDrop(flag);
                std::future::pending::<()>().await
            }));
            let stuck = s.exec(forever);
            let ok = clients.into_iter().map(|t| t.join().unwrap()).filter(|&b| b).count();
            stuck.cancel();
            (ok, stuck.join())
        });
        assert_eq!(ok, 20);
        assert!(stuck.unwrap_err().is_cancelled());
        assert!(common::eventually(5, || aborted.load(Ordering::SeqCst)), "the tokio task was aborted");
        server.abort();
        pool.shutdown().unwrap();
    });
}

/// (iv) Without a bridge, tokio's `net` and `time` panic inside an `exec`
/// child with tokio's own message; the panic is that child's failure.
#[test]
fn tokio_net_and_time_without_a_bridge_panic_with_tokios_message() {
    within(20, || {
        let pool = pool(2);
        let (net, time) = pool.scope(|s| {
            let net = s.exec(async { tokio::net::TcpListener::bind(LOCALHOST).await.map(|_| ()) });
            let time = s.exec(async { tokio::time::sleep(Duration::from_millis(1)).await });
            (net.join().unwrap_err(), time.join().unwrap_err())
        });
        for err in [net, time] {
            assert!(err.is_panic());
            let msg = panic_text(&*err.into_panic());
            assert!(
                msg.contains(
                    "there is no reactor running, must be called from the context of a Tokio 1.x runtime"
                ),
                "{msg}"
            );
        }
        pool.shutdown().unwrap();
    });
}

// ---- measured: knotwork against smol's executor ---------------------------

/// HTTP-like round trips over loopback, knotwork against async-executor
/// (smol's executor), each with async-io's types; the figures are in
/// docs/io.md. Not run by default (it measures, and asserts nothing about
/// speed):
///
/// ```sh
/// CARGO_TARGET_DIR=/tmp/kw-io-target cargo test --release --test io -- --ignored --nocapture
/// ```
#[test]
#[ignore = "a measurement; run with --ignored --nocapture (docs/io.md)"]
fn compare_http_round_trips_with_async_executor() {
    within(600, bench::run);
}

mod bench {
    use super::*;
    use std::sync::Arc;

    /// Where the headers of a request or response end.
    fn header_end(buf: &[u8]) -> Option<usize> {
        buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
    }

    /// Serves requests on one connection until the client closes it: each
    /// `GET <path>` is answered with `<path>` as its body.
    pub(super) async fn serve(mut stream: Async<TcpStream>) -> io::Result<()> {
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        loop {
            let end = loop {
                if let Some(end) = header_end(&buf) {
                    break end;
                }
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = std::str::from_utf8(&buf[..end]).expect("ASCII headers");
            let path = head.split(' ').nth(1).expect("GET <path> HTTP/1.1");
            let close = head.contains("Connection: close");
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{path}",
                path.len()
            );
            stream.write_all(response.as_bytes()).await?;
            buf.drain(..end);
            if close {
                return Ok(());
            }
        }
    }

    /// One request on `stream`; checks that the body echoes `path`.
    async fn get(
        stream: &mut Async<TcpStream>,
        path: &str,
        close: bool,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let connection = if close { "close" } else { "keep-alive" };
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        buf.clear();
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = header_end(buf) {
                let head = std::str::from_utf8(&buf[..end]).expect("ASCII headers");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("a Content-Length");
                if buf.len() >= end + len {
                    assert_eq!(&buf[end..end + len], path.as_bytes());
                    return Ok(());
                }
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// What one client does: `requests` round trips, on one kept-alive
    /// connection or on a new connection each.
    #[derive(Clone, Copy, Debug)]
    pub(super) enum Workload {
        KeepAlive { connections: usize, requests: usize },
        ConnectionPerRequest { clients: usize, requests: usize },
    }

    impl Workload {
        fn clients(self) -> usize {
            match self {
                Workload::KeepAlive { connections, .. } => connections,
                Workload::ConnectionPerRequest { clients, .. } => clients,
            }
        }

        fn round_trips(self) -> usize {
            match self {
                Workload::KeepAlive { connections: c, requests: r }
                | Workload::ConnectionPerRequest { clients: c, requests: r } => c * r,
            }
        }
    }

    pub(super) async fn client(addr: SocketAddr, id: usize, w: Workload) -> io::Result<()> {
        let mut buf = Vec::with_capacity(1024);
        match w {
            Workload::KeepAlive { requests, .. } => {
                let mut stream = Async::<TcpStream>::connect(addr).await?;
                for r in 0..requests {
                    get(&mut stream, &format!("/c{id}/r{r}"), false, &mut buf).await?;
                }
            }
            Workload::ConnectionPerRequest { requests, .. } => {
                for r in 0..requests {
                    let mut stream = Async::<TcpStream>::connect(addr).await?;
                    get(&mut stream, &format!("/c{id}/r{r}"), true, &mut buf).await?;
                }
            }
        }
        Ok(())
    }

    /// knotwork: the server and the clients are `exec` children of one scope.
    fn knotwork(pool: &knotwork::Pool, w: Workload) -> Duration {
        let listener = Async::<TcpListener>::bind(LOCALHOST).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        pool.scope(|s| {
            let start = Instant::now();
            let server = s.exec(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    s.exec(async move { serve(stream).await.unwrap() });
                }
            });
            let clients: Vec<_> = (0..w.clients()).map(|id| s.exec(client(addr, id, w))).collect();
            for c in clients {
                c.join().unwrap().unwrap();
            }
            let elapsed = start.elapsed();
            server.cancel();
            elapsed
        })
    }

    /// async-executor on `threads` threads, each in `async_io::block_on`
    /// (smol's own arrangement: an idle thread drives the reactor itself).
    fn async_executor(threads: usize, w: Workload) -> Duration {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        std::thread::scope(|ts| {
            for _ in 1..threads {
                let (ex, stopped) = (ex.clone(), stopped.clone());
                ts.spawn(move || async_io::block_on(ex.run(stopped.recv())));
            }
            let elapsed = async_io::block_on(ex.run(async {
                let listener = Async::<TcpListener>::bind(LOCALHOST).unwrap();
                let addr = listener.get_ref().local_addr().unwrap();
                let start = Instant::now();
                let server = ex.spawn({
                    let ex = ex.clone();
                    async move {
                        loop {
                            let (stream, _) = listener.accept().await.unwrap();
                            ex.spawn(async move { serve(stream).await.unwrap() }).detach();
                        }
                    }
                });
                let clients: Vec<_> = (0..w.clients()).map(|id| ex.spawn(client(addr, id, w))).collect();
                for c in clients {
                    c.await.unwrap();
                }
                let elapsed = start.elapsed();
                drop(server);
                elapsed
            }));
            drop(stop);
            elapsed
        })
    }

    /// async-executor's `LocalExecutor` on this thread alone.
    fn local_executor(w: Workload) -> Duration {
        let ex = std::rc::Rc::new(async_executor::LocalExecutor::new());
        async_io::block_on(ex.run(async {
            let listener = Async::<TcpListener>::bind(LOCALHOST).unwrap();
            let addr = listener.get_ref().local_addr().unwrap();
            let start = Instant::now();
            let server = ex.spawn({
                let ex = ex.clone();
                async move {
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        ex.spawn(async move { serve(stream).await.unwrap() }).detach();
                    }
                }
            });
            let clients: Vec<_> = (0..w.clients()).map(|id| ex.spawn(client(addr, id, w))).collect();
            for c in clients {
                c.await.unwrap();
            }
            let elapsed = start.elapsed();
            drop(server);
            elapsed
        }))
    }

    /// CPU time (user + system) from a /proc stat line (Linux; clock ticks
    /// of 10 ms), and the thread's name.
    fn stat_cpu(path: &str) -> Option<(String, Duration)> {
        let stat = std::fs::read_to_string(path).ok()?;
        let (head, rest) = stat.rsplit_once(") ")?;
        let name = head.split_once(" (")?.1.to_string();
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some((name, Duration::from_millis(ticks * 10)))
    }

    /// CPU time this process has used so far (all threads), and that of
    /// async-io's reactor thread ("async-io"), if /proc is there.
    fn cpu_time() -> Option<(Duration, Duration)> {
        let all = stat_cpu("/proc/self/stat")?.1;
        let reactor = std::fs::read_dir("/proc/self/task")
            .ok()?
            .filter_map(|t| stat_cpu(&format!("{}/stat", t.ok()?.path().display())))
            .filter(|(name, _)| name == "async-io")
            .map(|(_, cpu)| cpu)
            .sum();
        Some((all, reactor))
    }

    fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }

    pub(super) fn run() {
        const ROUNDS: usize = 7;
        let workloads = [
            (
                "keep-alive: 50 connections x 400 requests",
                Workload::KeepAlive { connections: 50, requests: 400 },
            ),
            (
                "connection per request: 50 clients x 20 connections",
                Workload::ConnectionPerRequest { clients: 50, requests: 20 },
            ),
        ];
        let pool1 = super::pool(1);
        let pool2 = super::pool(2);
        type Runner<'a> = Box<dyn Fn(Workload) -> Duration + 'a>;
        // Pairs: knotwork first, its async-executor peer second.
        let runners: Vec<(&str, Runner)> = vec![
            ("knotwork Pool, 2 threads", Box::new(|w| knotwork(&pool2, w))),
            ("async-executor Executor, 2 threads", Box::new(|w| async_executor(2, w))),
            ("knotwork Pool, 1 thread", Box::new(|w| knotwork(&pool1, w))),
            ("async-executor LocalExecutor, 1 thread", Box::new(local_executor)),
        ];
        println!();
        for (name, w) in workloads {
            for (_, r) in &runners {
                r(w); // warm-up
            }
            let mut wall = vec![Vec::new(); runners.len()];
            let mut cpu = vec![Vec::new(); runners.len()];
            for round in 0..ROUNDS {
                // Alternate the order from round to round, and pause between
                // contenders so that no one's spinning threads take the
                // cores from the next (as benches/core does).
                let order: Vec<usize> = if round % 2 == 0 {
                    (0..runners.len()).collect()
                } else {
                    (0..runners.len()).rev().collect()
                };
                for i in order {
                    std::thread::sleep(Duration::from_millis(20));
                    let cpu0 = cpu_time();
                    wall[i].push(runners[i].1(w));
                    if let (Some(a), Some(b)) = (cpu0, cpu_time()) {
                        cpu[i].push((b.0 - a.0, b.1 - a.1));
                    }
                }
            }
            println!("{name}: {} round trips; median of {ROUNDS} rounds", w.round_trips());
            for (i, (runner, _)) in runners.iter().enumerate() {
                let m = median(wall[i].clone());
                let (lo, hi) = (wall[i].iter().min().unwrap(), wall[i].iter().max().unwrap());
                let cpu = if cpu[i].is_empty() {
                    "n/a".to_string()
                } else {
                    let all = median(cpu[i].iter().map(|c| c.0).collect());
                    let reactor = median(cpu[i].iter().map(|c| c.1).collect());
                    format!(
                        "{:.0} ms, async-io thread {:.0} ms",
                        all.as_secs_f64() * 1e3,
                        reactor.as_secs_f64() * 1e3
                    )
                };
                println!(
                    "  {runner:<40} {:>7.1} ms (min {:>6.1}, max {:>6.1})  {:>7.0} round trips/s  CPU {cpu}",
                    m.as_secs_f64() * 1e3,
                    lo.as_secs_f64() * 1e3,
                    hi.as_secs_f64() * 1e3,
                    w.round_trips() as f64 / m.as_secs_f64()
                );
            }
            // The median of the per-round ratio: both sides from one round.
            let ratio = |a: usize, b: usize| {
                median((0..ROUNDS).map(|r| wall[a][r].as_secs_f64() / wall[b][r].as_secs_f64()).collect())
            };
            println!(
                "  knotwork / async-executor (wall time): 2 threads {:.2}x, 1 thread {:.2}x",
                ratio(0, 1),
                ratio(2, 3)
            );
        }
        pool1.shutdown().unwrap();
        pool2.shutdown().unwrap();
    }
}
