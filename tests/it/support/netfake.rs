//! Small loopback servers that misbehave the way networks do: one that accepts and never answers,
//! one that answers 503 (or 429) a few times before passing the connection on to a real service,
//! one scripted HTTP server that records what it was sent, and a registry whose tag list pages
//! forever.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the scripted server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
    })
}

/// A listening socket on loopback, served by a thread until the test ends.
pub struct Server {
    pub addr: String,
    /// Connections (or requests, for the scripted server) seen.
    pub seen: Arc<AtomicUsize>,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Accepts every connection and never answers (nor closes) it.
    pub fn silent() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server::from_listener(&listener);
        let seen = server.seen.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                seen.fetch_add(1, Ordering::Relaxed);
                held.push(stream);
            }
        });
        server
    }

    /// Answers the first `failures` requests with `status` (and `Connection: close`), then passes
    /// every later connection through to `target` (`HOST:PORT`) byte for byte.
    pub fn failing_then_forwarding(failures: usize, status: u16, target: &str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server::from_listener(&listener);
        let (seen, target) = (server.seen.clone(), target.to_string());
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                if seen.load(Ordering::Relaxed) < failures {
                    if read_request(&mut stream).is_some() {
                        seen.fetch_add(1, Ordering::Relaxed);
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status} Try Again\r\nContent-Length: 0\r\nRetry-After: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    continue;
                };
                let (mut a, mut b) = (stream.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (mut c, mut d) = (upstream, stream);
                thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
                thread::spawn(move || {
                    let _ = std::io::copy(&mut c, &mut d);
                    let _ = d.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        server
    }

    /// Answers every request with what `script` returns (status, headers, body), recording it.
    pub fn scripted(
        script: impl Fn(&Request, &str) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server::from_listener(&listener);
        let (seen, requests, addr) = (
            server.seen.clone(),
            server.requests.clone(),
            server.addr.clone(),
        );
        let script = Arc::new(script);
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let (seen, requests, script, addr) =
                    (seen.clone(), requests.clone(), script.clone(), addr.clone());
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    // The head and the body are two writes: without this, each answer waits
                    // for the client's delayed ACK (40 ms).
                    let _ = stream.set_nodelay(true);
                    while let Some(req) = read_request(&mut stream) {
                        seen.fetch_add(1, Ordering::Relaxed);
                        requests.lock().unwrap().push(req.clone());
                        let (status, headers, body) = script(&req, &addr);
                        let mut head =
                            format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                        for (k, v) in headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        if stream.write_all(head.as_bytes()).is_err()
                            || (req.method != "HEAD" && stream.write_all(body.as_bytes()).is_err())
                        {
                            break;
                        }
                    }
                });
            }
        });
        server
    }

    /// A registry whose tags/list never ends: every page answers a tag and a `Link` to the next
    /// page, the same page again (`fresh` false) or a new one each time (`fresh` true), after
    /// `delay`. Everything else is a 404.
    pub fn endless_tags(fresh: bool, delay: Duration) -> Server {
        let pages = Arc::new(AtomicUsize::new(0));
        Server::scripted(move |req, _| {
            let Some((path, _)) = req.path.split_once("tags/list") else {
                return (404, vec![], String::new());
            };
            thread::sleep(delay);
            let n = pages.fetch_add(1, Ordering::Relaxed);
            let next = if fresh {
                format!("{path}tags/list?n=1000&last=t{n}")
            } else {
                req.path.clone()
            };
            (
                200,
                vec![
                    ("Link".into(), format!("<{next}>; rel=\"next\"")),
                    ("Content-Type".into(), "application/json".into()),
                ],
                format!(r#"{{"name":"team/api","tags":["t{n}"]}}"#),
            )
        })
    }

    fn from_listener(listener: &TcpListener) -> Server {
        Server {
            addr: listener.local_addr().unwrap().to_string(),
            seen: Arc::new(AtomicUsize::new(0)),
            requests: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Runs `cmd`, killing it if it is still running after `limit`: a command that hangs fails the
/// test instead of hanging it. Returns the run and how long it took.
pub fn run_within(
    mut cmd: std::process::Command,
    limit: Duration,
) -> (super::shipit::Run, Duration) {
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shipit runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -9;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let run = super::shipit::Run {
        code,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (run, elapsed)
}
