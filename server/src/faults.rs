//! Fault injection: scripted and random faults, and the connection wrapper that lets a
//! handler drop its connection without answering.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::stats::FaultStats;

/// One fault applied to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status (and a `Retry-After` header if given) without processing
    /// the request. A code outside 100..=999 is answered as 500.
    Status {
        /// HTTP status code, e.g. 503.
        code: u16,
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// Process the request (and commit its effects), then close the connection without
    /// sending any response: the client sees a connection error.
    DropAfterApply,
    /// Wait this long, then process the request normally.
    Delay(Duration),
    /// Answer 200 with a body of this many bytes (JSON white space) without processing the
    /// request: a hostile or broken backend. With `declared_length` false the body is sent
    /// chunked, without a Content-Length.
    Oversized {
        /// Body size in bytes.
        bytes: usize,
        /// Whether the answer declares its length.
        declared_length: bool,
    },
    /// Answer with this status and JSON body without processing the request: a backend
    /// that says exactly what a test needs (a cursor going backwards, an error code).
    Answer {
        /// HTTP status code, e.g. 200 or 400.
        code: u16,
        /// The JSON body, sent with `Content-Type: application/json`.
        body: String,
    },
}

impl Fault {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Fault::Status { .. } => "status",
            Fault::DropAfterApply => "drop_after_apply",
            Fault::Delay(_) => "delay",
            Fault::Oversized { .. } => "oversized",
            Fault::Answer { .. } => "answer",
        }
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FaultTarget {
    /// Every request, whatever its path (including `/healthz`).
    #[default]
    Any,
    /// Requests whose path starts with this prefix, e.g. `/v1/telemetry/events`.
    PathPrefix(String),
}

impl FaultTarget {
    fn matches(&self, path: &str) -> bool {
        match self {
            FaultTarget::Any => true,
            FaultTarget::PathPrefix(p) => path.starts_with(p.as_str()),
        }
    }
}

/// Faults applied at random to a share of the matching requests that no scripted fault
/// claimed. Deterministic for a given seed and request order.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFaults {
    /// Fraction of matching requests that get a fault, 0.0 to 1.0.
    pub share: f64,
    /// Faults to choose from, uniformly. Empty: no random faults.
    pub faults: Vec<Fault>,
    /// Seed of the pseudo-random sequence.
    pub seed: u64,
    /// Requests eligible for a random fault.
    pub target: FaultTarget,
}

/// A plan of faults handed to [`ReferenceServer::inject`](crate::ReferenceServer::inject).
///
/// Scripted faults form a FIFO: each request takes the first queued fault whose target
/// matches its path, and that fault is used up. Injecting a plan appends its scripted
/// faults to those still queued and, if it has a random mode, replaces the random mode.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    /// Scripted faults, in order.
    pub scripted: Vec<(FaultTarget, Fault)>,
    /// Random mode, if any.
    pub random: Option<RandomFaults>,
}

impl FaultPlan {
    /// An empty plan.
    pub fn new() -> Self {
        FaultPlan::default()
    }

    /// Queues `fault` for the next request, whatever its path.
    pub fn then(mut self, fault: Fault) -> Self {
        self.scripted.push((FaultTarget::Any, fault));
        self
    }

    /// Queues `fault` for the next request whose path starts with `prefix`.
    pub fn then_on(mut self, prefix: impl Into<String>, fault: Fault) -> Self {
        self.scripted
            .push((FaultTarget::PathPrefix(prefix.into()), fault));
        self
    }

    /// Queues `fault` for each of the next `times` requests whose path starts with
    /// `prefix`.
    pub fn repeat_on(mut self, prefix: impl Into<String>, fault: Fault, times: usize) -> Self {
        let prefix = prefix.into();
        for _ in 0..times {
            self.scripted
                .push((FaultTarget::PathPrefix(prefix.clone()), fault.clone()));
        }
        self
    }

    /// Sets the random mode.
    pub fn random(mut self, random: RandomFaults) -> Self {
        self.random = Some(random);
        self
    }
}

/// Live fault state of a running server.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    queue: VecDeque<(FaultTarget, Fault)>,
    random: Option<RandomFaults>,
    rng: u64,
    pub(crate) stats: FaultStats,
}

impl FaultState {
    pub(crate) fn inject(&mut self, plan: FaultPlan) {
        self.queue.extend(plan.scripted);
        if let Some(r) = plan.random {
            self.rng = r.seed;
            self.random = Some(r);
        }
        self.stats.pending_scripted = self.queue.len();
    }

    /// Removes every queued fault and the random mode.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.random = None;
        self.stats.pending_scripted = 0;
    }

    /// The fault for a request to `path`, if any; counts it as injected.
    pub(crate) fn next_for(&mut self, path: &str) -> Option<Fault> {
        let fault = if let Some(i) = self.queue.iter().position(|(t, _)| t.matches(path)) {
            let (_, f) = self.queue.remove(i)?;
            self.stats.scripted += 1;
            Some(f)
        } else {
            let r = self.random.as_ref()?;
            if r.faults.is_empty() || !r.target.matches(path) {
                return None;
            }
            let (share, n) = (r.share, r.faults.len());
            let roll = (splitmix64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
            if roll >= share {
                return None;
            }
            let pick = (splitmix64(&mut self.rng) % n as u64) as usize;
            self.stats.random += 1;
            self.random.as_ref().map(|r| r.faults[pick].clone())
        }?;
        match fault {
            Fault::Status { .. } => self.stats.status += 1,
            Fault::DropAfterApply => self.stats.drop_after_apply += 1,
            Fault::Delay(_) => self.stats.delay += 1,
            Fault::Oversized { .. } => self.stats.oversized += 1,
            Fault::Answer { .. } => self.stats.answer += 1,
        }
        self.stats.pending_scripted = self.queue.len();
        Some(fault)
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Handle on one accepted connection, reachable from its requests (as connect info).
/// Poisoning it makes the connection fail its next write, so hyper closes it without
/// sending the response it was about to write.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnHandle(Arc<AtomicBool>);

impl ConnHandle {
    pub(crate) fn poison(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A TCP stream that stops working once its [`ConnHandle`] is poisoned: reads see end of
/// stream and writes fail, so hyper drops the connection and the socket is closed.
pub(crate) struct FaultIo {
    inner: TcpStream,
    pub(crate) handle: ConnHandle,
}

impl FaultIo {
    fn poisoned(&self) -> bool {
        self.handle.0.load(Ordering::SeqCst)
    }
}

fn dropped() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for FaultIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poisoned() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poisoned() {
            return Poll::Ready(Err(dropped()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poisoned() {
            return Poll::Ready(Err(dropped()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poisoned() {
            return Poll::Ready(Err(dropped()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The TCP listener of the server, handing out [`FaultIo`] connections.
pub(crate) struct FaultListener(pub(crate) TcpListener);

impl Listener for FaultListener {
    type Io = FaultIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FaultIo, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let io = FaultIo {
                        inner: stream,
                        handle: ConnHandle::default(),
                    };
                    return (io, addr);
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        stream.io().handle.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_faults_are_fifo_per_matching_path() {
        let mut s = FaultState::default();
        s.inject(
            FaultPlan::new()
                .then_on("/v1/telemetry/events", Fault::DropAfterApply)
                .then(Fault::Delay(Duration::from_millis(1)))
                .then_on(
                    "/v1/telemetry/events",
                    Fault::Status {
                        code: 503,
                        retry_after_secs: None,
                    },
                ),
        );
        assert_eq!(
            s.next_for("/v1/policy"),
            Some(Fault::Delay(Duration::from_millis(1)))
        );
        assert_eq!(s.next_for("/v1/policy"), None);
        assert_eq!(
            s.next_for("/v1/telemetry/events"),
            Some(Fault::DropAfterApply)
        );
        assert!(matches!(
            s.next_for("/v1/telemetry/events"),
            Some(Fault::Status { code: 503, .. })
        ));
        assert_eq!(s.next_for("/v1/telemetry/events"), None);
        assert_eq!((s.stats.scripted, s.stats.pending_scripted), (3, 0));
    }

    #[test]
    fn random_mode_hits_about_its_share_reproducibly() {
        let plan = FaultPlan::new().random(RandomFaults {
            share: 0.25,
            faults: vec![Fault::DropAfterApply, Fault::Delay(Duration::ZERO)],
            seed: 7,
            target: FaultTarget::PathPrefix("/v1/".into()),
        });
        let run = || {
            let mut s = FaultState::default();
            s.inject(plan.clone());
            let hits: Vec<bool> = (0..2000).map(|_| s.next_for("/v1/x").is_some()).collect();
            assert_eq!(s.next_for("/healthz"), None);
            (hits, s.stats)
        };
        let (a, stats) = run();
        assert_eq!(a, run().0);
        assert!((400..600).contains(&stats.random), "{}", stats.random);
        assert_eq!(stats.random, stats.drop_after_apply + stats.delay);
    }
}
