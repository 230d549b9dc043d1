//! toxiproxy-server: a Toxiproxy-API-compatible server whose proxies and toxics are noxious's.
//!
//! This binary only serves the REST API (api.rs) and keeps the proxy collection (registry.rs);
//! all byte shuffling and every toxic is the noxious library's. See docs/toxiproxy.md.

mod api;
mod cli;
mod error;
mod proxy;
mod registry;
mod toxic;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use noxious::signal::Stop;
use registry::Registry;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match cli::parse(&argv) {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("toxiproxy-server: {msg}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        println!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("{}", api::VERSION);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("toxiproxy-server: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("toxiproxy-server: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: cli::Args) -> Result<(), String> {
    let (root, _root_stopper) = Stop::new();
    let registry = Arc::new(Registry::new(root, args.seed));
    if let Some(path) = &args.config {
        load_config(&registry, path).await?;
    }
    let addr = format!("{}:{}", args.host, args.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (choose another -host/-port)"))?;
    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    eprintln!("toxiproxy-server {} (noxious 1.0.4): API listening on {bound}", api::VERSION);
    tokio::select! {
        _ = serve(listener, registry.clone()) => {}
        _ = shutdown_signal() => eprintln!("toxiproxy-server: shutting down"),
    }
    registry.stop_all().await;
    Ok(())
}

async fn serve(listener: TcpListener, registry: Arc<Registry>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                // EMFILE and friends: back off briefly instead of spinning.
                eprintln!("toxiproxy-server: accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| api::handle(registry.clone(), req));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Creates the proxies listed in a -config file (a JSON array, as for POST /populate).
async fn load_config(registry: &Registry, path: &str) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| format!("-config {path}: cannot read: {e}"))?;
    let value = api::parse_json(&text).map_err(|e| format!("-config {path}: {}", e.message))?;
    let items = value
        .as_array()
        .ok_or_else(|| format!("-config {path}: expected a JSON array of proxies like [{{\"name\":..., \"listen\":..., \"upstream\":...}}]"))?;
    let mut reqs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        reqs.push(api::parse_proxy_request(item, Some(i + 1)).map_err(|e| format!("-config {path}: {}", e.message))?);
    }
    let (done, err) = registry.populate(&reqs).await;
    if let Some(err) = err {
        return Err(format!("-config {path}: {}", err.message));
    }
    eprintln!("toxiproxy-server: created {} proxies from {path}", done.len());
    Ok(())
}
