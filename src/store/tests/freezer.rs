//! A TCP relay to PostgreSQL that can freeze every connection through it:
//! bytes are read but held, and no connection is closed, as when a network
//! cut leaves connections silently open. Thawing delivers what was held.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The relay; dropping it stops accepting connections.
pub(super) struct Freezer {
    port: u16,
    frozen: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl Drop for Freezer {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Freezer {
    /// A relay on `127.0.0.1:<port>` to the server of the PostgreSQL `url`.
    pub(super) async fn start(url: &str) -> Freezer {
        let (_, authority) = split(url);
        let target = authority.rsplit('@').next().unwrap().to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (frozen, watching) = watch::channel(false);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, watching.clone()));
                tokio::spawn(pipe(server_read, client_write, watching.clone()));
            }
        });
        Freezer {
            port,
            frozen,
            accepting,
        }
    }

    /// `url` with its host and port replaced by the relay's.
    pub(super) fn url(&self, url: &str) -> String {
        let (scheme, authority) = split(url);
        let rest = &url[scheme.len() + authority.len()..];
        let user = match authority.rsplit_once('@') {
            Some((user, _)) => format!("{user}@"),
            None => String::new(),
        };
        format!("{scheme}{user}127.0.0.1:{}{rest}", self.port)
    }

    /// Holds every byte from now on.
    pub(super) fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Delivers what was held, and everything after.
    pub(super) fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

/// `postgres://` and the authority (`user@host:port`) of `url`.
fn split(url: &str) -> (&str, &str) {
    let scheme_end = url.find("://").unwrap() + 3;
    let after = &url[scheme_end..];
    let end = after.find(['/', '?']).unwrap_or(after.len());
    (&url[..scheme_end], &after[..end])
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut frozen: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
