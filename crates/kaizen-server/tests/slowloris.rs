//! Connection hygiene against hostile clients, over real TCP on loopback against
//! `kaizen_server::serve`: slowloris clients (a request head dribbled a line at a time) are cut
//! off after `server.header_read_timeout_seconds` while real requests keep being served, idle
//! keep-alive connections close after `server.keep_alive_idle_seconds` (and not after the
//! shorter header timeout), the connection cap makes further connections wait, and the per-IP
//! cap closes extra connections from one address. Timeouts are configured to 1–2 s to keep the
//! tests fast.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, enabled};
use kaizen_server::settings::Settings;

fn config(header: u32, idle: u32, max: u32, per_ip: u32) -> Settings {
    let mut c = Settings::from(enabled());
    c.server.header_read_timeout_seconds = header;
    c.server.keep_alive_idle_seconds = idle;
    c.server.max_connections = max;
    c.server.max_connections_per_ip = per_ip;
    c
}

fn addr(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

/// What a read on a connection shows within `wait`.
#[derive(Debug, PartialEq)]
enum Seen {
    /// The server closed it (end of stream or reset).
    Closed,
    /// Nothing arrived: it is still open.
    Open,
    /// Bytes arrived.
    Data,
}

fn probe(c: &mut TcpStream, wait: Duration) -> Seen {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    match c.read(&mut buf) {
        Ok(0) => Seen::Closed,
        Ok(_) => Seen::Data,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Seen::Open,
        Err(_) => Seen::Closed,
    }
}

/// A complete `GET /healthz` on a new connection; the status line, or an error.
fn healthz(addr: &str, wait: Duration) -> Result<String, String> {
    let mut c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(wait)).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    c.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn slow_request_heads_are_cut_off_after_the_header_timeout_while_real_requests_succeed() {
    // A cap of 8 connections, 24 slowloris clients: without the header timeout they would hold
    // every slot forever; with it each is closed about a second after it is accepted.
    let s = Server::with_config(config(1, 30, 8, 64));
    let addr = addr(&s);
    let started = Instant::now();
    let slow: Vec<_> = (0..24)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(&addr).unwrap();
                let opened = Instant::now();
                let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
                // Dribble a header line every 200 ms, never the blank line that ends the head.
                c.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let mut buf = [0u8; 1024];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) => return (i, Some(opened.elapsed())),
                        Ok(_) => panic!("a response to an incomplete request head"),
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => return (i, Some(opened.elapsed())),
                    }
                    if opened.elapsed() > Duration::from_secs(15) {
                        return (i, None);
                    }
                    if c.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                        .is_err()
                    {
                        return (i, Some(opened.elapsed()));
                    }
                }
            })
        })
        .collect();
    // Let the slow clients take every slot, then make real requests meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let t = Instant::now();
        let status = healthz(&addr, Duration::from_secs(10));
        assert_eq!(
            status.as_deref(),
            Ok("HTTP/1.1 200 OK"),
            "a real request failed while slow clients held connections"
        );
        assert!(
            t.elapsed() < Duration::from_secs(6),
            "a real request waited {:?}",
            t.elapsed()
        );
    }
    for h in slow {
        let (i, closed_after) = h.join().unwrap();
        let after = closed_after
            .unwrap_or_else(|| panic!("slow client {i} was still connected after 15 s"));
        // Accepted when a slot freed (at most 24 / 8 = 3 rounds), closed 1 s after that.
        assert!(
            after < Duration::from_secs(8),
            "client {i} closed after {after:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    // The server still serves normally afterwards.
    assert_eq!(
        healthz(&addr, Duration::from_secs(5)).as_deref(),
        Ok("HTTP/1.1 200 OK")
    );
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let s = Server::with_config(config(1, 30, 64, 64));
    let mut c = TcpStream::connect(addr(&s)).unwrap();
    let t = Instant::now();
    assert_eq!(probe(&mut c, Duration::from_secs(5)), Seen::Closed);
    let after = t.elapsed();
    assert!(
        after >= Duration::from_millis(800) && after < Duration::from_secs(3),
        "closed after {after:?}"
    );
}

#[test]
fn an_idle_keep_alive_connection_closes_after_the_idle_timeout_not_the_header_timeout() {
    let s = Server::with_config(config(1, 2, 64, 64));
    let mut c = TcpStream::connect(addr(&s)).unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    c.write_all(request).unwrap();
    assert_eq!(probe(&mut c, Duration::from_secs(3)), Seen::Data);
    let idle = Instant::now();
    // Past the header timeout (1 s) but within the idle timeout (2 s): still open, and a second
    // request on it is served.
    assert_eq!(probe(&mut c, Duration::from_millis(1400)), Seen::Open);
    c.write_all(request).unwrap();
    assert_eq!(probe(&mut c, Duration::from_secs(3)), Seen::Data);
    let idle_again = Instant::now();
    assert!(idle.elapsed() > Duration::from_millis(1300));
    // Idle again: closed about 2 s later.
    assert_eq!(probe(&mut c, Duration::from_secs(5)), Seen::Closed);
    let after = idle_again.elapsed();
    assert!(
        after >= Duration::from_millis(1700) && after < Duration::from_secs(4),
        "closed after {after:?}"
    );
}

#[test]
fn the_connection_cap_makes_further_connections_wait_until_a_slot_frees() {
    // Long timeouts: only the cap decides here.
    let s = Server::with_config(config(30, 30, 4, 64));
    let addr = addr(&s);
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fifth connection completes its TCP handshake (the listen backlog) but is not served.
    let mut fifth = TcpStream::connect(&addr).unwrap();
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(
        probe(&mut fifth, Duration::from_millis(800)),
        Seen::Open,
        "a connection over server.max_connections was served"
    );
    // One slot frees: the fifth is accepted and answered.
    let mut held = held;
    held.pop();
    let t = Instant::now();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    fifth.read_to_end(&mut out).unwrap();
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn connections_over_the_per_ip_cap_are_closed_at_once() {
    let s = Server::with_config(config(30, 30, 64, 3));
    let addr = addr(&s);
    let mut held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(&addr).unwrap();
    let t = Instant::now();
    assert_eq!(
        probe(&mut extra, Duration::from_secs(3)),
        Seen::Closed,
        "a fourth connection from one address stayed open"
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // The held ones are still open; freeing one lets a new connection in.
    for c in &mut held {
        assert_eq!(probe(c, Duration::from_millis(50)), Seen::Open);
    }
    held.pop();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        healthz(&addr, Duration::from_secs(5)).as_deref(),
        Ok("HTTP/1.1 200 OK")
    );
}

#[test]
fn a_request_head_over_the_limits_is_431_with_the_envelope_and_the_connection_closed() {
    let s = Server::with_config(config(5, 30, 8, 8));
    let addr = addr(&s);
    let answer = |head: String| {
        let mut c = TcpStream::connect(&addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The server may close before it read everything it was sent.
        let _ = c.write_all(head.as_bytes());
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let padded = |extra: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(extra)
        )
    };
    let many = |n: usize| {
        let fields: String = (0..n).map(|i| format!("X-H{i}: v\r\n")).collect();
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{fields}\r\n")
    };
    assert!(answer(padded(60 * 1024)).starts_with("HTTP/1.1 200"));
    assert!(answer(many(90)).starts_with("HTTP/1.1 200"));
    for (what, head) in [
        ("a 200 KiB header", padded(200 * 1024)),
        ("150 header fields", many(150)),
    ] {
        let out = answer(head);
        assert!(out.starts_with("HTTP/1.1 431"), "{what}: {out}");
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {out}"));
        assert_eq!(v["error"]["code"], "headers_too_large", "{what}: {out}");
    }
    // Keep-alive: a second request on one connection is scanned afresh, and still served.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let one = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for _ in 0..3 {
        c.write_all(one.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    // The server still serves.
    assert_eq!(
        healthz(&addr, Duration::from_secs(5)).as_deref(),
        Ok("HTTP/1.1 200 OK")
    );
}
