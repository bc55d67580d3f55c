//! A real HTTP listener on 127.0.0.1 that records every request it gets and answers as
//! told: 200, another status, or never (a provider that hangs). Plays the SMS provider
//! and the event webhook, over plain HTTP or over TLS (rustls) with a test CA's
//! certificate.

use serde_json::Value;
use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the sink answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 OK.
    Ok,
    /// This status.
    Status(u16),
    /// Reads the request and never answers (for 30 s).
    Hang,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body's bytes as they came.
    pub raw: Vec<u8>,
}

/// The running listener.
pub struct Sink {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Sink {
    pub fn start(mode: Mode) -> Sink {
        Sink::listen(mode, None)
    }

    /// A sink speaking HTTPS with `tls`'s certificate (a TLS handshake the client refuses
    /// records nothing).
    pub fn start_tls(mode: Mode, tls: Arc<rustls::ServerConfig>) -> Sink {
        Sink::listen(mode, Some(tls))
    }

    fn listen(mode: Mode, tls: Option<Arc<rustls::ServerConfig>>) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let mode = Arc::new(Mutex::new(mode));
        let (g, m) = (got.clone(), mode.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (g, m, tls) = (g.clone(), m.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => handle(stream, &g, &m),
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        handle(rustls::StreamOwned::new(conn, stream), &g, &m);
                    }
                });
            }
        });
        Sink { url, got, mode }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received (at most `secs`).
    pub fn wait_until(&self, secs: u64, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received();
            if done(&got) || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn handle(stream: impl Read + Write, got: &Mutex<Vec<Received>>, mode: &Mutex<Mode>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let (mut length, mut authorization, mut headers) = (0usize, None, Vec::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or_default();
        let value = value.trim().to_owned();
        headers.push((name.to_ascii_lowercase(), value.clone()));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "authorization" => authorization = Some(value),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let raw = body;
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    got.lock().unwrap().push(Received {
        path,
        authorization,
        body,
        headers,
        raw,
    });
    let mode = *mode.lock().unwrap();
    let status = match mode {
        Mode::Ok => 200,
        Mode::Status(s) => s,
        Mode::Hang => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
    };
    let stream = reader.get_mut();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.flush();
}
