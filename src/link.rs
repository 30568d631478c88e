//! A network link between a region and the global zone, as a TCP relay on loopback that can be
//! cut and restored. The cluster launcher routes every region ↔ global connection (judge → alarm,
//! transfer → web, web → transfer) through one link per region, so a test can partition a region
//! from the global zone and heal it, and count the bytes that cross.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One relay: connections to `listen` are carried to `target` while the link is up.
pub struct Relay {
    /// Where region nodes connect.
    pub listen: SocketAddr,
    /// The real service.
    pub target: SocketAddr,
    /// Bytes carried, both ways.
    pub bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A set of relays that are cut and restored together.
#[derive(Clone)]
pub struct Link {
    cut: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            cut: Arc::default(),
            generation: watch::channel(0).0,
        }
    }
}

impl Link {
    /// A link that is up.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cuts (`true`) or restores (`false`) the link. Cutting also breaks every open connection,
    /// as a real partition would.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            self.generation.send_modify(|g| *g += 1);
        }
    }

    /// True while cut.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Starts a relay to `target` on a free loopback port.
    pub async fn relay(&self, target: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let (link, counter) = (self.clone(), bytes.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if link.is_cut() {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                let mut cut = link.generation.subscribe();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::select! {
                        _ = pump(ri, wo, &counter) => {}
                        _ = pump(ro, wi, &counter) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(Relay {
            listen,
            target,
            bytes,
            task,
        })
    }
}

/// Copies one direction, counting bytes as they pass (a long-lived connection is counted while
/// it lasts, not when it closes).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counter: &AtomicU64,
) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn carries_until_cut_and_again_when_restored() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = echo.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 5];
                    while s.read_exact(&mut buf).await.is_ok() {
                        s.write_all(&buf).await.unwrap();
                    }
                });
            }
        });
        let link = Link::new();
        let relay = link.relay(target).await.unwrap();
        let roundtrip = |addr| async move {
            let mut c = TcpStream::connect(addr).await.ok()?;
            c.write_all(b"hello").await.ok()?;
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).await.ok()?;
            Some(buf)
        };
        assert_eq!(roundtrip(relay.listen).await, Some(*b"hello"));
        link.set_cut(true);
        assert_eq!(roundtrip(relay.listen).await, None);
        link.set_cut(false);
        assert_eq!(roundtrip(relay.listen).await, Some(*b"hello"));
    }
}
