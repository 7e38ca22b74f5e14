//! Connection hygiene: how [`crate::serve`] accepts and drives HTTP/1.1 connections.
//!
//! * **Header-read timeout** (`server.header_read_timeout_seconds`): a new connection must
//!   deliver a complete request head within this time of being accepted; on a keep-alive
//!   connection, each later request head must be complete within this time of its first byte.
//!   Otherwise the connection is closed (a slowloris client dribbling a request line holds a
//!   connection for this long at most).
//! * **Keep-alive idle timeout** (`server.keep_alive_idle_seconds`): a connection with no
//!   request in flight and no byte of a next request is closed after this time.
//! * **Connection cap** (`server.max_connections`): at most this many connections are open;
//!   when the cap is reached the server stops accepting (new connections wait in the listen
//!   backlog) and logs `connection limit N reached (server.max_connections); new connections
//!   wait` at most once a second.
//! * **Per-IP cap** (`server.max_connections_per_ip`): a connection from a peer address that
//!   already holds this many is closed at once (logged at most once a second).
//!
//! A request in flight (its head read, its response not yet fully written) is never closed by
//! these timers: the request timeout (`server.request_timeout_seconds`) bounds the handler.
//! Every accepted socket gets `TCP_NODELAY`: a response written in more than one piece would
//! otherwise wait for the client's delayed ACK on a reused keep-alive connection.
//!
//! Graceful shutdown: the listener closes, idle connections close at once, and each busy one
//! after its response; [`serve_router`] returns when every connection has ended.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::settings::ServerConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// The largest request head (request line and headers), bytes: a larger one is answered with
/// 431 and the error envelope, and the connection closed ([`HeadScan`]).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The most header fields a request may have (hyper's own limit): more get the same 431.
pub const MAX_HEADERS: usize = 100;

/// hyper's own limit on a head, above [`MAX_HEADER_BYTES`] so that the enveloped answer comes
/// first; it still bounds a head this connection layer does not see whole (a pipelined one).
const HYPER_MAX_HEADER_BYTES: usize = MAX_HEADER_BYTES + 16 * 1024;

/// Watches the bytes of each request head as they arrive, before hyper parses them, to answer
/// a head over the limits with 431 *and the error envelope* (hyper's own answer has no body).
/// A head starts with the first byte read while no request is in flight and ends at its blank
/// line; bytes after that (a body, a pipelined request) are hyper's to bound.
#[derive(Debug, Default)]
struct HeadScan {
    bytes: usize,
    lines: usize,
    /// The last two bytes seen (to find `\n\n` or `\n\r\n`).
    last: [u8; 2],
    ended: bool,
}

impl HeadScan {
    /// Feeds `new` bytes of a head; the problem when the head is over a limit.
    fn feed(&mut self, new: &[u8]) -> Option<String> {
        for &b in new {
            if self.ended {
                return None;
            }
            self.bytes += 1;
            if b == b'\n' {
                self.lines += 1;
                if self.last[1] == b'\n' || self.last == *b"\n\r" {
                    self.ended = true;
                }
            }
            self.last = [self.last[1], b];
            // The request line and the blank line are not header fields.
            if self.lines > MAX_HEADERS + 1 && !self.ended {
                return Some(format!(
                    "the request has more than {MAX_HEADERS} header fields"
                ));
            }
            if self.bytes > MAX_HEADER_BYTES {
                return Some(format!(
                    "the request line and headers are larger than {} KiB",
                    MAX_HEADER_BYTES / 1024
                ));
            }
        }
        None
    }
}

/// The whole 431 response for `problem`, with the error envelope.
fn too_large_response(problem: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "error": {"code": "headers_too_large", "message": problem}
    })
    .to_string();
    format!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
/// The limits [`serve_router`] enforces on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time to deliver a complete request head.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    pub keep_alive_idle: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections per peer IP address at most.
    pub max_connections_per_ip: usize,
}

impl ConnLimits {
    /// The limits of a server configuration.
    pub fn from_config(c: &ServerConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(u64::from(c.header_read_timeout_seconds)),
            keep_alive_idle: Duration::from_secs(u64::from(c.keep_alive_idle_seconds)),
            max_connections: usize::try_from(c.max_connections.max(1)).unwrap_or(usize::MAX),
            max_connections_per_ip: usize::try_from(c.max_connections_per_ip.max(1))
                .unwrap_or(usize::MAX),
        }
    }
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self::from_config(&ServerConfig::default())
    }
}

/// Milliseconds since the first call in this process (a monotonic clock that fits an atomic).
fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    u64::try_from(BASE.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A log line allowed at most once a second.
#[derive(Default)]
struct Throttle {
    /// `now_ms() + 1` of the last line; 0 = never.
    last: AtomicU64,
}

impl Throttle {
    fn ready(&self) -> bool {
        let now = now_ms() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now < last.saturating_add(1000) {
            return false;
        }
        self.last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// What a connection is doing, for its timers.
struct Activity {
    /// Requests whose head was read and whose response is not fully written.
    in_flight: AtomicUsize,
    /// Requests finished on this connection.
    served: AtomicU64,
    /// When the connection was accepted or its last response finished.
    idle_since: AtomicU64,
    /// `now_ms() + 1` when the first byte of the next request head arrived; 0 = none yet.
    head_start: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(now_ms()),
            head_start: AtomicU64::new(0),
        }
    }

    /// Bytes arrived: the start of a request head if none is in flight.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_start.load(Ordering::Acquire) == 0
        {
            self.head_start.store(now_ms() + 1, Ordering::Release);
        }
    }

    /// A request's head was read; the returned guard ends it when dropped (with its response
    /// body).
    fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_start.store(0, Ordering::Release);
        InFlight(Arc::clone(self))
    }

    /// When (in [`now_ms`]) the connection is to be closed; `None` while a request is in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<u64> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let header = millis(limits.header_read_timeout);
        if self.served.load(Ordering::Acquire) == 0 {
            return Some(
                self.idle_since
                    .load(Ordering::Acquire)
                    .saturating_add(header),
            );
        }
        match self.head_start.load(Ordering::Acquire) {
            0 => Some(
                self.idle_since
                    .load(Ordering::Acquire)
                    .saturating_add(millis(limits.keep_alive_idle)),
            ),
            started => Some((started - 1).saturating_add(header)),
        }
    }

    /// Resolves when the connection is past its deadline.
    async fn expired(&self, limits: ConnLimits) {
        let busy = millis(limits.header_read_timeout.min(limits.keep_alive_idle)).max(1);
        loop {
            let now = now_ms();
            let wait = match self.deadline(&limits) {
                Some(d) if d <= now => return,
                Some(d) => d - now,
                None => busy,
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// A request in flight on a connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since.store(now_ms(), Ordering::Release);
        a.served.fetch_add(1, Ordering::AcqRel);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when bytes arrive.
struct Tracked {
    tcp: TcpStream,
    activity: Arc<Activity>,
    head: HeadScan,
    /// Requests served when [`Tracked::head`] started: a new request starts a new scan.
    head_after: u64,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let this = &mut *self;
            this.activity.on_read();
            let busy = this.activity.in_flight.load(Ordering::Acquire) > 0;
            let served = this.activity.served.load(Ordering::Acquire);
            if busy || served != this.head_after {
                // A body, or the first bytes after a response: the next head starts afresh.
                this.head = HeadScan::default();
                this.head_after = served;
            }
            if !busy && let Some(problem) = this.head.feed(&buf.filled()[before..]) {
                // Answer 431 with the envelope (best effort: the socket's send buffer is empty
                // between requests) and end the stream, so hyper closes the connection.
                let _ = this.tcp.try_write(&too_large_response(&problem));
                buf.set_filled(before);
                this.head = HeadScan {
                    ended: true,
                    ..HeadScan::default()
                };
                return Poll::Ready(Ok(()));
            }
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Open connections per peer IP address.
#[derive(Default)]
struct PerIp {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted in [`PerIp`]; uncounted when dropped.
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Whether an accept error concerns only the one connection (accept again at once).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves, then shuts down
/// gracefully (see the module documentation). Requests carry the peer address as
/// [`ConnectInfo<SocketAddr>`].
pub async fn serve_router(
    app: Router,
    listener: TcpListener,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let per_ip = Arc::new(PerIp::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (full_log, ip_log, accept_log) = (
        Throttle::default(),
        Throttle::default(),
        Throttle::default(),
    );
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true)
        .max_header_size(HYPER_MAX_HEADER_BYTES);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if full_log.ready() {
                    tracing::warn!(
                        "connection limit {max} reached (server.max_connections); new connections wait"
                    );
                }
                tokio::select! {
                    p = Arc::clone(&slots).acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    if accept_log.ready() {
                        tracing::error!(error = %e, "accepting a connection failed; retrying");
                    }
                    // Out of file descriptors or similar: give the open connections time to
                    // end instead of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(ip_slot) = per_ip.take(peer.ip(), limits.max_connections_per_ip) else {
            if ip_log.ready() {
                tracing::warn!(
                    peer = %peer.ip(),
                    "connection limit per IP address {} reached (server.max_connections_per_ip); connection closed",
                    limits.max_connections_per_ip
                );
            }
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY on an accepted socket");
        }
        let app = app.clone();
        let http = Arc::clone(&http);
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(&http, app, tcp, peer, limits, stop).await;
            drop(ip_slot);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Drives one connection until it ends, its timers expire or (after `stop`) it finished its
/// request in flight.
async fn connection(
    http: &hyper::server::conn::http1::Builder,
    app: Router,
    tcp: TcpStream,
    peer: SocketAddr,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let tower = TowerToHyperService::new(app);
    let act = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let guard = act.start();
        req.extensions_mut().insert(ConnectInfo(peer));
        let response = tower.call(req);
        async move {
            let response = response.await?;
            // A body of known size is written at once: the request ends here. A streamed one
            // (an SSE stream of `/mcp`) stays in flight until it is written (or dropped), so
            // the connection timers never cut it.
            if hyper::body::Body::size_hint(response.body())
                .exact()
                .is_some()
            {
                drop(guard);
                return Ok::<_, Infallible>(response);
            }
            Ok(response.map(move |body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &guard;
                    frame
                }))
            }))
        }
    });
    let io = TokioIo::new(Tracked {
        tcp,
        activity: Arc::clone(&activity),
        head: HeadScan::default(),
        head_after: 0,
    });
    let conn = http.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let stopping = async {
        if *stop.borrow_and_update() {
            return;
        }
        let _ = stop.changed().await;
    };
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            return;
        }
        () = activity.expired(limits) => {
            tracing::debug!(%peer, "closing a connection past its header-read or idle timeout");
            return;
        }
        () = stopping => conn.as_mut().graceful_shutdown(),
    }
    tokio::select! {
        _ = conn.as_mut() => {}
        () = activity.expired(limits) => {}
    }
}
