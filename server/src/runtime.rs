//! [`ReferenceServer`]: the server on its own thread with its own tokio runtime.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::api::{self, Shared};
use crate::config::{Limits, ServerConfig, TlsConfig};
use crate::error::{Result, ServerError};
use crate::faults::{ConnHandle, FaultListener, FaultPlan};
use crate::stats::ServerStats;
use crate::store::{Store, StoredEvent};
use crate::sync::ServerRecord;
use crate::tls::TlsListener;

/// A running reference server.
///
/// It runs on a thread of its own with a single-threaded tokio runtime, so synchronous
/// tests can use it without a runtime and async tests can use it from any runtime. All
/// methods are synchronous and cheap. Dropping the server shuts it down like
/// [`shutdown`](ReferenceServer::shutdown).
pub struct ReferenceServer {
    addr: SocketAddr,
    scheme: &'static str,
    data_dir: PathBuf,
    owns_data_dir: bool,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ReferenceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceServer")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl ReferenceServer {
    /// Opens the store, binds `config.bind` and starts serving; returns once the socket is
    /// listening.
    pub fn start(config: ServerConfig) -> Result<ReferenceServer> {
        let (data_dir, owns_data_dir) = match config.data_dir {
            Some(dir) => (dir, false),
            None => (
                std::env::temp_dir().join(format!("aparking-server-{}", uuid::Uuid::new_v4())),
                true,
            ),
        };
        std::fs::create_dir_all(&data_dir)?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let started = Self::spawn(
            &data_dir,
            config.bind,
            config.policy,
            config.limits,
            config.shutdown_grace,
            config.tls.as_ref(),
            config.policy_signing_key_pkcs8.as_deref(),
        );
        match started {
            Ok((addr, shared, stop, thread)) => Ok(ReferenceServer {
                addr,
                scheme,
                data_dir,
                owns_data_dir,
                shared,
                stop,
                thread: Some(thread),
            }),
            Err(e) => {
                if owns_data_dir {
                    let _ = std::fs::remove_dir_all(&data_dir);
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn spawn(
        data_dir: &Path,
        bind: SocketAddr,
        policy: Option<serde_json::Value>,
        limits: Limits,
        grace: std::time::Duration,
        tls: Option<&TlsConfig>,
        signing_key: Option<&[u8]>,
    ) -> Result<(SocketAddr, Arc<Shared>, watch::Sender<bool>, JoinHandle<()>)> {
        let signer = crate::policy::PolicySigner::new(signing_key)?;
        let store = Store::open(data_dir)?;
        let cursor_key = crate::sync::open(&store)?;
        let listener = std::net::TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            log::warn!("listening on {addr}, which is not a loopback address");
        }
        let shared = Arc::new(Shared::new(store, cursor_key, policy, limits, signer));
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<()>>();
        let app = api::router(shared.clone());
        let acceptor = tls.map(crate::tls::acceptor).transpose()?;

        let thread = std::thread::Builder::new()
            .name(format!("aparking-server-{}", addr.port()))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let listener = FaultListener(listener);
                    match acceptor {
                        None => serve(listener, app, stop_rx, grace).await,
                        Some(acceptor) => {
                            let listener = TlsListener {
                                inner: listener,
                                acceptor,
                            };
                            serve(listener, app, stop_rx, grace).await
                        }
                    }
                });
                rt.shutdown_timeout(std::time::Duration::from_secs(1));
            })?;

        match ready_rx.recv() {
            Ok(Ok(())) => Ok((addr, shared, stop, thread)),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(ServerError::Io(e))
            }
            Err(_) => {
                let _ = thread.join();
                Err(ServerError::Config(
                    "the server thread exited during start".into(),
                ))
            }
        }
    }

    /// `http://IP:PORT` (or `https://` with TLS) of the server, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding the SQLite file.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A snapshot of the counters since start. Counters of a request are updated before
    /// its response is sent.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Every event stored now, in the order it was stored.
    pub fn stored_events(&self) -> Vec<StoredEvent> {
        self.shared.store.stored_events().unwrap_or_else(|e| {
            log::error!("reading stored events failed: {e}");
            Vec::new()
        })
    }

    /// Creates an account reached with the bearer token `token` and returns its new id (a
    /// UUID). If `token` was registered already, it now reaches the new account. Only the
    /// token's SHA-256 is stored.
    ///
    /// # Panics
    /// If the store cannot be written (a test hook: there is nothing sensible to return).
    pub fn add_account(&self, token: &str) -> String {
        self.shared
            .store
            .add_account(token)
            .unwrap_or_else(|e| panic!("add_account: storage error: {e}"))
    }

    /// Makes the bearer token `token` reach the account `account_id` (created, empty, if
    /// it does not exist yet). An account may have several tokens; a token reaches one
    /// account, so a token registered before is moved.
    ///
    /// # Panics
    /// If the store cannot be written.
    pub fn add_token(&self, account_id: &str, token: &str) {
        self.shared
            .store
            .add_token(account_id, token)
            .unwrap_or_else(|e| panic!("add_token: storage error: {e}"))
    }

    /// Forgets the bearer token `token`: requests bearing it get 401 from now on. The
    /// account and its other tokens stay. Returns whether the token was registered.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.shared.store.revoke_token(token).unwrap_or_else(|e| {
            log::error!("revoking a token failed: {e}");
            false
        })
    }

    /// The account the bearer token `token` reaches, if it is registered.
    pub fn account_for_token(&self, token: &str) -> Option<String> {
        self.shared
            .store
            .account_for_token(token)
            .unwrap_or_else(|e| {
                log::error!("looking up a token failed: {e}");
                None
            })
    }

    /// Makes every pull cursor issued so far to the account answer 410
    /// `{"error": "cursor_expired"}`, as after a compaction or restore of its change log.
    /// Records are kept; a pull without a cursor returns all of them.
    pub fn expire_cursors(&self, account_id: &str) {
        if let Err(e) = self.shared.store.expire_cursors(account_id) {
            log::error!("expiring cursors failed: {e}");
        }
    }

    /// Declares the data restored from a backup: a new dataset generation id, which pull
    /// answers carry, so that every client reconciles. Returns the new id.
    pub fn start_new_generation(&self) -> String {
        self.shared
            .store
            .start_new_generation()
            .unwrap_or_else(|e| {
                log::error!("a new generation could not be saved: {e}");
                String::new()
            })
    }

    /// Every record and tombstone of the account, in the order of their latest change
    /// (empty for an unknown account).
    pub fn records(&self, account_id: &str) -> Vec<ServerRecord> {
        self.shared.store.records(account_id).unwrap_or_else(|e| {
            log::error!("reading records failed: {e}");
            Vec::new()
        })
    }

    /// Publishes `manifest` on `GET /v1/policy` (`None`: 404). Not validated, so tests
    /// can publish malformed manifests; see [`validate_policy_manifest`](crate::validate_policy_manifest).
    pub fn set_policy(&self, manifest: Option<serde_json::Value>) {
        *self
            .shared
            .policy
            .write()
            .unwrap_or_else(|e| e.into_inner()) = manifest;
    }

    /// The Ed25519 public key that signs the served policy manifest, base64 of its 32
    /// bytes: what the app puts in `SyncConfig.policy_public_keys`.
    pub fn policy_public_key(&self) -> String {
        self.shared.signer.public_key()
    }

    /// How the served manifest is signed from now on (tests break it on purpose).
    pub fn set_policy_signing(&self, signing: crate::policy::PolicySigning) {
        *self
            .shared
            .signer
            .mode
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = signing;
    }

    /// Appends the plan's scripted faults to the queue and, if it has one, replaces the
    /// random mode. See [`FaultPlan`].
    pub fn inject(&self, plan: FaultPlan) {
        self.shared.faults().inject(plan);
    }

    /// Removes every queued fault and the random mode (counters are kept).
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Stops accepting connections, lets requests in flight finish (up to
    /// `ServerConfig::shutdown_grace`), stops the thread and, if the data directory was a
    /// temporary one, removes it.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let _ = self.stop.send(true);
        if thread.join().is_err() {
            log::error!("the server thread panicked");
        }
        if self.owns_data_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Serves `app` on `listener` until `stop` turns true, then waits up to `grace` for the
/// requests in flight.
async fn serve<L>(
    listener: L,
    app: axum::Router,
    stop: watch::Receiver<bool>,
    grace: std::time::Duration,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
    ConnHandle: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let mut graceful_rx = stop.clone();
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnHandle>(),
    )
    .with_graceful_shutdown(async move {
        // A dropped sender also means stop.
        let _ = graceful_rx.wait_for(|stop| *stop).await;
    });
    let mut task = tokio::spawn(serve.into_future());
    let mut stop = stop;
    tokio::select! {
        _ = &mut task => {}
        _ = stop.wait_for(|stop| *stop) => {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                log::warn!("requests still in flight after {grace:?}; cutting them");
                task.abort();
            }
        }
    }
}
