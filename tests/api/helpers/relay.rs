//! A TCP relay to PostgreSQL that can cut one kind of connection and leave
//! the others alone: the connections whose startup message carries
//! `application_name=sigil-key-listener` (the database key store's
//! `LISTEN` connection), while the pool's connections keep working.
//!
//! The relay reads the first message a client sends. PostgreSQL's startup
//! message is length-prefixed (a big-endian `i32` counting itself), then
//! the protocol version (3.0 = `196608`), then `name\0value\0` pairs ended
//! by one more `\0`. A client that wants TLS first sends an `SSLRequest` (or
//! a `GSSENCRequest`), 8 bytes: forwarding it would let the server agree and
//! hide the startup message inside TLS, so the relay answers `N` itself
//! ("no encryption here") and reads the startup message that follows in
//! plain text. Clients going through the relay are configured with
//! `sslmode=disable` and never ask; one with `sslmode=prefer` carries on in
//! plain text after the `N`, and one with `sslmode=require` gives up, which
//! is what it should do. Anything else (a `CancelRequest`) is forwarded as
//! it came.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The `application_name` of the key store's notification connection.
pub const LISTENER_APPLICATION_NAME: &str = "sigil-key-listener";

const PROTOCOL_3_0: i32 = 196_608;
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
/// Startup messages are small; a bigger length is not PostgreSQL talking.
const MAX_STARTUP_LENGTH: usize = 10_000;

/// A relay on `127.0.0.1:<port>` to a PostgreSQL server. Dropping it stops
/// it and closes every connection it relays.
pub struct Relay {
    port: u16,
    /// `true` while listener connections are cut (and refused).
    cut: watch::Sender<bool>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// Listener connections relayed right now.
    listeners_open: AtomicUsize,
    /// Listener connections closed or refused by a cut.
    listeners_cut: AtomicUsize,
    /// Other connections relayed so far.
    others_seen: AtomicUsize,
}

impl Relay {
    /// Starts relaying to `target` (`host:port`).
    pub async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, _) = watch::channel(false);
        let relay = Relay {
            port,
            cut,
            shared: Arc::new(Shared::default()),
        };
        let (target, shared, cut) = (target.to_owned(), relay.shared.clone(), relay.cut.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let connection = tokio::spawn(relay_one(
                    inbound,
                    target.clone(),
                    cut.subscribe(),
                    shared.clone(),
                ));
                shared.tasks.lock().unwrap().push(connection);
            }
        });
        relay.shared.tasks.lock().unwrap().push(accept);
        relay
    }

    /// `url` (a `postgres://` URL) through this relay, in plain text
    /// (`sslmode=disable`) so that the relay can read the startup message.
    pub fn url(&self, url: &str) -> String {
        let mut url = reqwest::Url::parse(url).expect("a postgres:// URL");
        url.set_port(Some(self.port)).unwrap();
        with_sslmode_disable(url.as_str())
    }

    /// Closes every listener connection and refuses new ones until
    /// [`Relay::restore_listeners`]; other connections are not touched.
    pub fn cut_listeners(&self) {
        self.cut.send_replace(true);
    }

    /// Lets listener connections through again.
    pub fn restore_listeners(&self) {
        self.cut.send_replace(false);
    }

    /// Listener connections relayed right now.
    pub fn listeners_open(&self) -> usize {
        self.shared.listeners_open.load(Ordering::SeqCst)
    }

    /// Listener connections closed or refused by cuts so far.
    pub fn listeners_cut(&self) -> usize {
        self.shared.listeners_cut.load(Ordering::SeqCst)
    }

    /// Connections that were not listener connections, relayed so far.
    pub fn others_seen(&self) -> usize {
        self.shared.others_seen.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in self.shared.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// `url` with `sslmode=disable` (replacing any `sslmode` it had).
pub fn with_sslmode_disable(url: &str) -> String {
    let mut url = reqwest::Url::parse(url).expect("a postgres:// URL");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "sslmode")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("sslmode", "disable");
    url.to_string()
}

/// Counts a relayed listener connection for as long as it lives.
struct Open<'a>(&'a AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn relay_one(
    mut inbound: TcpStream,
    target: String,
    mut cut: watch::Receiver<bool>,
    shared: Arc<Shared>,
) {
    // A client that connects and says nothing is dropped after a while.
    let first = tokio::time::timeout(Duration::from_secs(10), read_startup(&mut inbound)).await;
    let Ok(Ok(first)) = first else { return };
    let listener = application_name(&first).as_deref() == Some(LISTENER_APPLICATION_NAME);
    if !listener {
        shared.others_seen.fetch_add(1, Ordering::SeqCst);
        let Ok(mut outbound) = TcpStream::connect(&target).await else {
            return;
        };
        if outbound.write_all(&first).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        }
        return;
    }
    if *cut.borrow_and_update() {
        // Refused: the client sees the connection closed.
        shared.listeners_cut.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(&target).await else {
        return;
    };
    shared.listeners_open.fetch_add(1, Ordering::SeqCst);
    let _open = Open(&shared.listeners_open);
    if outbound.write_all(&first).await.is_err() {
        return;
    }
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|cut| *cut) => {
            shared.listeners_cut.fetch_add(1, Ordering::SeqCst);
            // Dropping both streams closes both connections.
        }
    }
}

/// Reads the client's first message, answering encryption requests with
/// `N` on the way; returns the startup message (or whatever else came
/// first) exactly as sent, length prefix included.
async fn read_startup(inbound: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    loop {
        let mut length = [0u8; 4];
        inbound.read_exact(&mut length).await?;
        let length = usize::try_from(i32::from_be_bytes(length)).unwrap_or(0);
        if !(8..=MAX_STARTUP_LENGTH).contains(&length) {
            return Err(std::io::Error::other("not a PostgreSQL startup packet"));
        }
        let mut message = vec![0u8; length];
        message[..4].copy_from_slice(&i32::try_from(length).unwrap().to_be_bytes());
        inbound.read_exact(&mut message[4..]).await?;
        let code = i32::from_be_bytes(message[4..8].try_into().unwrap());
        if length == 8 && (code == SSL_REQUEST || code == GSSENC_REQUEST) {
            inbound.write_all(b"N").await?;
            continue;
        }
        return Ok(message);
    }
}

/// The `application_name` of a protocol 3.0 startup message, if it has one.
fn application_name(message: &[u8]) -> Option<String> {
    if message.len() < 8 || i32::from_be_bytes(message[4..8].try_into().ok()?) != PROTOCOL_3_0 {
        return None;
    }
    let mut fields = message[8..].split(|b| *b == 0);
    loop {
        let name = fields.next()?;
        if name.is_empty() {
            return None;
        }
        let value = fields.next()?;
        if name == b"application_name" {
            return Some(String::from_utf8_lossy(value).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
        for (k, v) in pairs {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut message = i32::try_from(body.len() + 4)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        message.extend(body);
        message
    }

    #[test]
    fn the_application_name_is_read_from_a_startup_message() {
        let message = startup(&[
            ("user", "postgres"),
            ("database", "x"),
            ("application_name", LISTENER_APPLICATION_NAME),
        ]);
        assert_eq!(
            application_name(&message).as_deref(),
            Some(LISTENER_APPLICATION_NAME)
        );
        assert_eq!(application_name(&startup(&[("user", "postgres")])), None);
        // A value equal to the name, under another name, is not it.
        let other = startup(&[("options", "application_name")]);
        assert_eq!(application_name(&other), None);
    }
}
