//! The collection of proxies behind the API: every operation the REST endpoints offer.
//!
//! One async mutex serializes all changes (API calls are rare and short), so the API never sees a
//! half-applied change; it is held across the awaits that start/stop noxious runners on purpose.
//! Semantics follow Toxiproxy 2.x's ProxyCollection/ToxicCollection; differences are in docs/toxiproxy.md.

use crate::error::ApiError;
use crate::proxy::{Proxy, ProxyRequest};
use crate::toxic::ToxicSpec;
use noxious::signal::Stop;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio::sync::Mutex;

pub struct Registry {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    root: Stop,
    seed: Option<u64>,
}

/// The fields of a proxy update (`POST /proxies/{name}`); absent fields keep their value.
#[derive(Debug, Default)]
pub struct ProxyUpdate {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub enabled: Option<bool>,
}

impl Registry {
    /// `root` stops every proxy when signalled; `seed` makes toxic randomness reproducible.
    pub fn new(root: Stop, seed: Option<u64>) -> Self {
        Registry { proxies: Mutex::new(BTreeMap::new()), root, seed }
    }

    /// `GET /proxies`: a map from name to proxy.
    pub async fn list(&self) -> Value {
        let proxies = self.proxies.lock().await;
        let map: Map<String, Value> =
            proxies.iter().map(|(name, p)| (name.clone(), p.to_json())).collect();
        Value::Object(map)
    }

    /// `GET /proxies/{name}`.
    pub async fn get(&self, name: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        proxies.get(name).map(Proxy::to_json).ok_or_else(ApiError::proxy_not_found)
    }

    /// `POST /proxies`: 409 if the name is taken, 500 if the listen address cannot be bound.
    pub async fn create(&self, req: &ProxyRequest) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&req.name) {
            return Err(ApiError::proxy_exists());
        }
        let proxy = self.build(req).await?;
        let json = proxy.to_json();
        proxies.insert(req.name.clone(), proxy);
        Ok(json)
    }

    /// `POST /populate`: creates or replaces each proxy in order; an entry whose listen and
    /// upstream match an existing proxy keeps it (with its toxics). On error, returns the proxies
    /// done so far together with the error, as Toxiproxy does.
    pub async fn populate(&self, reqs: &[ProxyRequest]) -> (Vec<Value>, Option<ApiError>) {
        let mut proxies = self.proxies.lock().await;
        let mut done = Vec::with_capacity(reqs.len());
        for req in reqs {
            if let Some(existing) = proxies.get(&req.name) {
                if existing.listens_on(&req.listen) && existing.upstream == req.upstream {
                    done.push(existing.to_json());
                    continue;
                }
            }
            if let Some(mut old) = proxies.remove(&req.name) {
                old.stop().await;
            }
            match self.build(req).await {
                Ok(proxy) => {
                    done.push(proxy.to_json());
                    proxies.insert(req.name.clone(), proxy);
                }
                Err(err) => return (done, Some(err)),
            }
        }
        (done, None)
    }

    /// `POST /proxies/{name}`: changes listen/upstream (restarting the proxy) and enabled.
    pub async fn update(&self, name: &str, upd: &ProxyUpdate) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
        let listen_changed = upd.listen.as_deref().is_some_and(|l| !proxy.listens_on(l));
        let upstream_changed = upd.upstream.as_deref().is_some_and(|u| u != proxy.upstream);
        let want_enabled = upd.enabled.unwrap_or(proxy.enabled);
        if listen_changed || upstream_changed {
            proxy.stop().await;
            if let (true, Some(listen)) = (listen_changed, upd.listen.as_deref()) {
                proxy.set_listen(listen)?;
            }
            if let Some(upstream) = &upd.upstream {
                proxy.upstream = upstream.clone();
            }
        }
        if want_enabled && !proxy.enabled {
            proxy.start(&self.root).await?;
        } else if !want_enabled && proxy.enabled {
            proxy.stop().await;
        }
        Ok(proxy.to_json())
    }

    /// `DELETE /proxies/{name}`: stops it (closing its connections) and forgets it.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let mut proxy = proxies.remove(name).ok_or_else(ApiError::proxy_not_found)?;
        proxy.stop().await;
        Ok(())
    }

    /// `POST /reset`: enables every proxy and removes every toxic. Proxies that had toxics are
    /// restarted (closing their connections); the others keep their connections.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        for proxy in proxies.values_mut() {
            let had_toxics = !proxy.toxics.is_empty();
            proxy.toxics.clear();
            if !proxy.enabled {
                proxy.start(&self.root).await?;
            } else if had_toxics {
                proxy.reinstall(&self.root).await?;
            }
        }
        Ok(())
    }

    /// `GET /proxies/{name}/toxics`.
    pub async fn toxics(&self, name: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        proxies.get(name).map(Proxy::toxics_json).ok_or_else(ApiError::proxy_not_found)
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub async fn toxic(&self, name: &str, toxic: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        let proxy = proxies.get(name).ok_or_else(ApiError::proxy_not_found)?;
        proxy.find_toxic(toxic).map(ToxicSpec::to_json).ok_or_else(ApiError::toxic_not_found)
    }

    /// `POST /proxies/{name}/toxics`: installs it (restarting the proxy, see proxy.rs).
    pub async fn add_toxic(&self, name: &str, body: &Value) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
        let spec = ToxicSpec::parse_new(body, |n| proxy.find_toxic(n).is_some())?;
        proxy.toxics.push(spec.clone());
        proxy.reinstall(&self.root).await?;
        Ok(spec.to_json())
    }

    /// `POST /proxies/{name}/toxics/{toxic}`: new attributes and/or toxicity.
    pub async fn update_toxic(&self, name: &str, toxic: &str, body: &Value) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
        let index = proxy.toxics.iter().position(|t| t.name == toxic).ok_or_else(ApiError::toxic_not_found)?;
        let spec = proxy.toxics[index].updated(body)?;
        proxy.toxics[index] = spec.clone();
        proxy.reinstall(&self.root).await?;
        Ok(spec.to_json())
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub async fn remove_toxic(&self, name: &str, toxic: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
        let index = proxy.toxics.iter().position(|t| t.name == toxic).ok_or_else(ApiError::toxic_not_found)?;
        proxy.toxics.remove(index);
        proxy.reinstall(&self.root).await?;
        Ok(())
    }

    /// Stops every proxy (used at shutdown).
    pub async fn stop_all(&self) {
        let mut proxies = self.proxies.lock().await;
        for proxy in proxies.values_mut() {
            proxy.stop().await;
        }
    }

    async fn build(&self, req: &ProxyRequest) -> Result<Proxy, ApiError> {
        let mut proxy = Proxy::new(req, self.seed)?;
        if req.enabled {
            proxy.start(&self.root).await?;
        }
        Ok(proxy)
    }
}
