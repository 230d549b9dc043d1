//! One proxy: its API-visible configuration, its toxics, and (when enabled) the noxious runner
//! that does the actual proxying.
//!
//! Obligations kept here:
//! - `toxics` is the authoritative list. noxious gets it only when the proxy starts: a toxic change
//!   restarts the proxy (`reinstall`), closing its open connections; new connections get the new
//!   toxics. noxious 1.0.4's live re-linking is not used because it loses connections from its
//!   client table (a race in `create_links`), after which they keep their old toxics for good,
//!   and it drops bytes held inside toxics mid-stream. See docs/toxiproxy.md.
//! - A disabled proxy has no listener: connections to its port are refused, and disabling it closes
//!   every open connection (noxious's stop signal ends all links).
//! - `stop` waits (bounded) until noxious has dropped the listener, so the port can be re-bound at once.
//! - No connection outlives a stop. noxious 1.0.4 forks each new connection's stop signal from the
//!   proxy's *after* accepting it and connecting upstream; a stop sent in between is missed (a
//!   broadcast subscriber sees only later messages), and that connection would live on with the old
//!   toxics: a partition that leaks. So the stop is never sent from outside: `stop` raises a flag,
//!   and the proxy's own accept loop sends it from inside `accept` (see `Guarded`), where no connection
//!   is half set up; a connection whose upstream connect finishes after the flag is dropped.
//! - Every proxied socket has TCP_NODELAY, as in Toxiproxy (Go sets it on every TCP connection).
//!   noxious sets nothing, so a response written in two pieces (HTTP headers, then the body) waited
//!   for the peer's delayed ACK at each hop: about 40 ms per proxy. noxious keeps its sockets private,
//!   so `nodelay_all` sets the option on every socket of the process after each accept and connect.

use crate::error::ApiError;
use crate::toxic::ToxicSpec;
use bmrng::RequestSender;
use noxious::proxy::{ProxyConfig, ProxyRunner, Runner, Toxics};
use noxious::signal::{Close, Stop, Stopper};
use noxious::socket::{ReadStream, SocketListener, SocketStream, TcpListener, TcpStream, WriteStream};
use noxious::toxic::{StreamDirection, ToxicEvent, ToxicEventResult};
use serde_json::{json, Value};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long `stop` waits for noxious to close the listener. noxious connects to the upstream inside
/// its accept loop, so a stop can lag by one upstream connect attempt.
const STOP_WAIT: Duration = Duration::from_secs(10);
/// Depth of noxious's per-proxy toxic event channel (unused: toxics change by restart).
const EVENT_BUFFER: usize = 1;

/// What a client asks for when creating a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRequest {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
}

struct Running {
    guard: Arc<StopGuard>,
    close: Close,
    /// Kept so noxious's event task stays idle rather than seeing a closed channel.
    _events: RequestSender<ToxicEvent, ToxicEventResult>,
}

/// A proxy known to the API, enabled or not.
pub struct Proxy {
    pub name: String,
    /// The listen address as the client gave it (e.g. `127.0.0.1:0`), to recognise it in /populate.
    pub requested_listen: String,
    /// The concrete `ip:port` the proxy listens on (port 0 resolved to a free port).
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<ToxicSpec>,
    seed: Option<u64>,
    running: Option<Running>,
}

impl Proxy {
    /// A new, not yet started proxy. Resolves the listen address now so that it stays the same
    /// across disable/enable. Errors: 500 when the address cannot be resolved or no port is free.
    pub fn new(req: &ProxyRequest, seed: Option<u64>) -> Result<Proxy, ApiError> {
        Ok(Proxy {
            name: req.name.clone(),
            requested_listen: req.listen.clone(),
            listen: resolve_listen(&req.listen)?,
            upstream: req.upstream.clone(),
            enabled: false,
            toxics: Vec::new(),
            seed,
            running: None,
        })
    }

    /// Sets a new listen address (resolved at once); the caller stops the proxy first.
    pub fn set_listen(&mut self, listen: &str) -> Result<(), ApiError> {
        self.listen = resolve_listen(listen)?;
        self.requested_listen = listen.to_owned();
        Ok(())
    }

    /// Whether `listen` names this proxy's address (as requested or as resolved).
    pub fn listens_on(&self, listen: &str) -> bool {
        listen == self.listen || listen == self.requested_listen
    }

    /// Binds the listener and starts the noxious runner with the current toxics. No-op if running.
    /// Errors: 500 naming the address when it cannot be bound (the proxy stays disabled).
    pub async fn start(&mut self, root: &Stop) -> Result<(), ApiError> {
        if self.running.is_some() {
            return Ok(());
        }
        let config = ProxyConfig {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: true,
            rand_seed: self.seed,
        };
        let toxics = self.noxious_toxics();
        let (listener, info) = ProxyRunner::initialize_proxy::<Guarded<TcpListener>>(config, toxics)
            .await
            .map_err(|e| ApiError::listen_failed(&self.listen, e))?;
        let (stop, stopper) = root.fork();
        let guard = Arc::new(StopGuard { stopping: AtomicBool::new(false), wake: Notify::new(), stopper });
        let (close, closer) = Close::new();
        let (events, receiver) = bmrng::channel(EVENT_BUFFER);
        let name = self.name.clone();
        let run = ProxyRunner::run_proxy(listener, info, receiver, stop, closer);
        tokio::spawn(GUARD.scope(guard.clone(), async move {
            if let Err(err) = run.await {
                eprintln!("toxiproxy-server: proxy {name} stopped accepting: {err}");
            }
        }));
        self.running = Some(Running { guard, close, _events: events });
        self.enabled = true;
        Ok(())
    }

    /// Stops listening and closes every open connection of this proxy. Toxics are kept.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.guard.stopping.store(true, Ordering::SeqCst);
            running.guard.wake.notify_one();
            if tokio::time::timeout(STOP_WAIT, running.close.recv()).await.is_err() {
                eprintln!("toxiproxy-server: proxy {} did not close within {STOP_WAIT:?}", self.name);
            }
        }
        self.enabled = false;
    }

    /// Applies a change of `toxics`: a running proxy is restarted with them (its open connections
    /// are closed); a disabled one picks them up at its next start. Errors: 500 if the listen
    /// address cannot be bound again (the proxy is then left disabled).
    pub async fn reinstall(&mut self, root: &Stop) -> Result<(), ApiError> {
        if self.running.is_none() {
            return Ok(());
        }
        self.stop().await;
        self.start(root).await
    }

    pub fn find_toxic(&self, name: &str) -> Option<&ToxicSpec> {
        self.toxics.iter().find(|t| t.name == name)
    }

    /// Toxics in Toxiproxy's order: upstream chain first, then downstream.
    pub fn toxics_json(&self) -> Value {
        let ordered = [StreamDirection::Upstream, StreamDirection::Downstream]
            .into_iter()
            .flat_map(|dir| self.toxics.iter().filter(move |t| t.stream == dir))
            .map(ToxicSpec::to_json)
            .collect();
        Value::Array(ordered)
    }

    /// The Toxiproxy JSON for the proxy: name, listen, upstream, enabled, toxics.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics_json(),
        })
    }

    fn noxious_toxics(&self) -> Toxics {
        let pick = |dir| {
            self.toxics.iter().filter(|t| t.stream == dir).flat_map(ToxicSpec::to_noxious).collect()
        };
        Toxics { upstream: pick(StreamDirection::Upstream), downstream: pick(StreamDirection::Downstream) }
    }
}

/// Turns `host:port` into a concrete `ip:port`. Port 0 picks a free port now (Toxiproxy reports
/// the bound port too); an empty address means all interfaces, any port, as in Go.
fn resolve_listen(listen: &str) -> Result<String, ApiError> {
    let spec = if listen.is_empty() { "0.0.0.0:0" } else { listen };
    let addr = spec
        .to_socket_addrs()
        .map_err(|e| ApiError::listen_failed(spec, format!("{e}; use host:port, e.g. 0.0.0.0:20012")))?
        .next()
        .ok_or_else(|| ApiError::listen_failed(spec, "address resolved to nothing"))?;
    if addr.port() != 0 {
        return Ok(addr.to_string());
    }
    let probe = std::net::TcpListener::bind(addr).map_err(|e| ApiError::listen_failed(spec, e))?;
    let bound = probe.local_addr().map_err(|e| ApiError::listen_failed(spec, e))?;
    Ok(bound.to_string())
}

/// What `stop` shares with a running proxy's accept loop (see the module's obligations).
struct StopGuard {
    stopping: AtomicBool,
    wake: Notify,
    stopper: Stopper,
}

tokio::task_local! {
    /// The guard of the proxy whose accept loop runs in this task.
    static GUARD: Arc<StopGuard>;
}

fn guard() -> Option<Arc<StopGuard>> {
    GUARD.try_with(Arc::clone).ok()
}

/// noxious's TCP listener and stream, with the stop handshake: the accept loop sends the stop itself
/// once `stopping` is raised, and a connection set up across the raise is dropped, not linked.
struct Guarded<T>(T);

#[async_trait::async_trait]
impl SocketListener for Guarded<TcpListener> {
    type Stream = Guarded<TcpStream>;

    async fn bind(addr: &str) -> std::io::Result<Self> {
        Ok(Guarded(TcpListener::bind(addr).await?))
    }

    async fn accept(&self) -> std::io::Result<(Self::Stream, SocketAddr)> {
        let Some(guard) = guard() else {
            let (stream, addr) = self.0.accept().await?;
            nodelay_all();
            return Ok((Guarded(stream), addr));
        };
        loop {
            if guard.stopping.load(Ordering::SeqCst) {
                // Sent from here, between connections: every link set up so far has subscribed.
                guard.stopper.clone().stop();
                return std::future::pending().await;
            }
            tokio::select! {
                accepted = self.0.accept() => {
                    let (stream, addr) = accepted?;
                    nodelay_all();
                    if !guard.stopping.load(Ordering::SeqCst) {
                        return Ok((Guarded(stream), addr));
                    }
                    // accepted across the stop: dropped, so the client sees the close
                }
                _ = guard.wake.notified() => {}
            }
        }
    }
}

#[async_trait::async_trait]
impl SocketStream for Guarded<TcpStream> {
    async fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        nodelay_all();
        // Between this check and noxious linking the connection there is no await, and the stop is
        // only sent from `accept`, which cannot run in between: the link is sure to see the stop.
        if guard().is_some_and(|g| g.stopping.load(Ordering::SeqCst)) {
            return Err(std::io::Error::other("proxy stopping: connection dropped"));
        }
        Ok(Guarded(stream))
    }

    fn into_split(self) -> (ReadStream, WriteStream) {
        self.0.into_split()
    }
}

/// Sets TCP_NODELAY on every open socket of this process (see the module's obligations). Idempotent;
/// on a descriptor that is not a TCP socket (or was just closed) the call fails and is ignored.
fn nodelay_all() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    let on: libc::c_int = 1;
    for entry in dir.flatten() {
        if let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<libc::c_int>().ok()) {
            // SAFETY: setsockopt only reads `on`; a wrong kind of descriptor makes it fail, nothing else.
            unsafe {
                libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&on as *const libc::c_int).cast(),
                                 std::mem::size_of::<libc::c_int>() as libc::socklen_t);
            }
        }
    }
}
