//! Storage nodes serving in this very process, written without HTTP.
//!
//! `argus standalone` (and any binary that starts a transfer beside a storage node) would
//! otherwise send every write through the loopback: encode the request, copy it through the
//! kernel twice, parse it again and answer in JSON. A node registers itself here under its
//! base URL while it serves; a [`StoreClient`](crate::StoreClient) for that URL hands its frames
//! and raw selections to the node directly, with the same credential check, the same limits
//! and the same answer (accepted count and refusals, the selected series, or the status the
//! HTTP endpoint would give). Once the node stops serving its registration is gone and calls
//! go over HTTP again, failing as they would.

use argus_core::query::{SelectQuery, SeriesData};
use argus_core::wire::PushResponse;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

/// A node's refusal of a write, as its HTTP endpoint would have answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status the endpoint gives.
    pub status: u16,
    /// Its message.
    pub message: String,
    /// Seconds to wait before retrying (503, 507).
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// The refusal as the client reports an HTTP error status from `url`.
    pub(crate) fn at(self, url: String) -> crate::ClientError {
        crate::ClientError::Status {
            url,
            status: self.status,
            message: self.message,
            retry_after: self.retry_after,
        }
    }
}

/// The answer to a local write.
pub type WriteAnswer = Pin<Box<dyn Future<Output = Result<PushResponse, Refusal>> + Send>>;

/// The answer to a local selection.
pub type SelectAnswer = Pin<Box<dyn Future<Output = Result<Vec<SeriesData>, Refusal>> + Send>>;

/// What a storage node in this process offers its local clients.
pub trait LocalNode: Send + Sync {
    /// Writes an uncompressed binary frame ([`argus_core::wire::frame`], points carrying their
    /// tenant) presented with the internal credential `token`, exactly as the node's
    /// `/internal/v1/write` does; answers once the accepted points are durable.
    fn write_frame(&self, token: &str, frame: Vec<u8>) -> WriteAnswer;

    /// The series selected by `q` with their raw points, as the node's `/internal/v1/query/select`
    /// answers them (the same checks), without encoding them for the wire.
    fn select(&self, token: &str, q: SelectQuery) -> SelectAnswer;
}

type Entry = (String, Weak<dyn LocalNode>);

static NODES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// A node's place in the registry; dropping it removes the node.
#[must_use = "the node is unregistered when this is dropped"]
pub struct Registration {
    url: String,
    // Keeps the node alive while it is registered (the registry itself holds a weak
    // reference, so a forgotten entry never keeps an engine open).
    node: Arc<dyn LocalNode>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("url", &self.url)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut nodes = NODES.lock().unwrap_or_else(|e| e.into_inner());
        let me = Arc::downgrade(&self.node);
        nodes
            .retain(|(url, n)| !(url == &self.url && Weak::ptr_eq(n, &me)) && n.strong_count() > 0);
    }
}

/// Registers `node` as serving at `base_url` (its `http://host:port`, as clients are given it)
/// until the returned registration is dropped.
pub fn register(base_url: &str, node: Arc<dyn LocalNode>) -> Registration {
    let url = base_url.trim_end_matches('/').to_string();
    let mut nodes = NODES.lock().unwrap_or_else(|e| e.into_inner());
    nodes.retain(|(u, n)| u != &url && n.strong_count() > 0);
    nodes.push((url.clone(), Arc::downgrade(&node)));
    Registration { url, node }
}

/// True when a node serving at `base_url` is in this process (its writes skip HTTP).
pub fn serves(base_url: &str) -> bool {
    find(base_url.trim_end_matches('/')).is_some()
}

/// The node serving at `base_url` in this process, if one is.
pub(crate) fn find(base_url: &str) -> Option<Arc<dyn LocalNode>> {
    let nodes = NODES.lock().unwrap_or_else(|e| e.into_inner());
    nodes
        .iter()
        .find(|(u, _)| u == base_url)
        .and_then(|(_, n)| n.upgrade())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(usize);

    impl LocalNode for Fixed {
        fn select(&self, _: &str, _: SelectQuery) -> SelectAnswer {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn write_frame(&self, _: &str, _: Vec<u8>) -> WriteAnswer {
            let accepted = self.0;
            Box::pin(async move {
                Ok(PushResponse {
                    accepted,
                    rejected: Vec::new(),
                })
            })
        }
    }

    #[test]
    fn a_node_is_found_while_registered_and_gone_after() {
        let url = "http://127.0.0.1:1";
        assert!(find(url).is_none());
        let reg = register(&format!("{url}/"), Arc::new(Fixed(1)));
        assert!(find(url).is_some(), "found under its URL without the slash");
        assert!(
            find("http://127.0.0.1:2").is_none(),
            "another port is not it"
        );
        // A node re-registered under the same URL (a restart on the same port) replaces the
        // old one, and dropping the old registration does not remove the new.
        let again = register(url, Arc::new(Fixed(2)));
        drop(reg);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let n = find(url).expect("the new node is still there");
        assert_eq!(
            rt.block_on(n.write_frame("", Vec::new())).unwrap().accepted,
            2
        );
        drop(n);
        drop(again);
        assert!(find(url).is_none());
    }
}
