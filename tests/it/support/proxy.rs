//! A slow registry: a loopback TCP proxy that holds every chunk a client sends for a while before
//! passing it on, so that concurrent releases overlap the way they do against a distant registry.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

pub struct SlowProxy {
    /// `127.0.0.1:PORT`, to use instead of the upstream's address.
    pub addr: String,
}

impl SlowProxy {
    /// Proxies to `upstream` (`HOST:PORT`), delaying each client chunk by `delay`. The proxy lives
    /// as long as the test process.
    pub fn start(upstream: &str, delay: Duration) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                let Ok(outbound) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (i2, o2) = (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                std::thread::spawn(move || pipe(inbound, outbound, delay));
                std::thread::spawn(move || pipe(o2, i2, Duration::ZERO));
            }
        });
        SlowProxy { addr }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                std::thread::sleep(delay);
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Read);
                    return;
                }
            }
        }
    }
}
