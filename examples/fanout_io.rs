//! A loopback echo server and a fan-out of 200 clients in one nursery
//! scope, with a deadline for the lot; I/O through async-io (docs/io.md).
//!
//! ```sh
//! cargo run --release --example fanout_io
//! ```

use async_io::Async;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = knotwork::Pool::builder().threads(2).build()?;
    let listener = Async::<TcpListener>::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.get_ref().local_addr()?;
    // At most 64 connections in flight: std's listen backlog is 128.
    let limit = knotwork::Limiter::new(64);
    let start = Instant::now();

    let (echoed, late) = pool.scope(|s| {
        // The deadline for the whole fan-out: past it, every child still
        // running is cancelled, and the scope returns all the same.
        s.cancel_after(Duration::from_secs(2));

        // The server: one child accepts, and each connection is echoed in a
        // child of its own, spawned into the same scope.
        let server = s.exec(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                s.exec(async move {
                    let mut buf = [0u8; 256];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });

        // The fan-out: 200 clients, each checking its own echo.
        let limit = &limit;
        let clients: Vec<_> = (0..200)
            .map(|i| {
                s.exec(async move {
                    let _permit = limit.acquire().await;
                    let msg = format!("hello from client {i}");
                    let mut stream = Async::<TcpStream>::connect(addr).await?;
                    stream.write_all(msg.as_bytes()).await?;
                    let mut reply = vec![0u8; msg.len()];
                    stream.read_exact(&mut reply).await?;
                    Ok::<_, std::io::Error>(reply == msg.as_bytes())
                })
            })
            .collect();

        // A straggler waits for a reply to a request it never sent: only the
        // deadline would end it; here it is cancelled once the others are done.
        let straggler = s.exec(async move {
            let mut stream = Async::<TcpStream>::connect(addr).await?;
            stream.read(&mut [0u8; 1]).await
        });

        let echoed = clients.into_iter().map(|c| c.join()).filter(|r| matches!(r, Ok(Ok(true)))).count();
        straggler.cancel();
        server.cancel();
        (echoed, straggler.join().is_err_and(|e| e.is_cancelled()))
    });

    println!("{echoed}/200 clients got their echo in {:.1?}", start.elapsed());
    println!("straggler cancelled: {late}; every child joined before the scope returned");
    pool.shutdown()?;
    Ok(())
}
