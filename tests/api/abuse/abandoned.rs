//! Logins whose client hangs up before the answer: the hash they asked
//! for must not outlive them in the queue. Here the back-off is loosened
//! so that it is not what stops the flood; only the hashing queue's own
//! bound is at work. An HTTP/1.1 client hangs up by resetting its
//! connection; an HTTP/2 client (sigil serves h2c with prior knowledge,
//! through hyper's automatic protocol detection) by resetting its streams
//! on one connection that stays open.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use super::helpers::{Options, PASSWORD, TestApp, spawn_app_with};

/// Hashing threads and waiting slots of the server under test.
const CONCURRENCY: usize = 1;
const QUEUE: usize = 8;
/// The flood: batches of abandoned logins, each connection (or stream) reset
/// this long after its request was sent.
const BATCHES: usize = 10;
const PER_BATCH: usize = 50;
const PATIENCE: Duration = Duration::from_millis(50);
/// The logins of a batch start this far apart, as a real client's would:
/// not all at one instant.
const STAGGER: Duration = Duration::from_millis(1);

async fn hashes_computed(app: &TestApp) -> u64 {
    app.metric("sigil_password_hashes_total").await as u64
}

/// The flood over HTTP/1.1, one connection per login: how many logins
/// were sent.
async fn http1_flood(address: &str, body: &str) -> usize {
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let mut sent = 0;
    for _ in 0..BATCHES {
        let request = &request;
        let batch = (0..PER_BATCH).map(|i| async move {
            tokio::time::sleep(STAGGER * i as u32).await;
            abandoned(address, request).await
        });
        sent += futures_util::future::join_all(batch)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count();
    }
    sent
}

/// Sends `request` on a new connection and resets it after [`PATIENCE`],
/// without reading the answer. Whether it got through to sending.
async fn abandoned(address: &str, request: &[u8]) -> bool {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return false;
    };
    if stream.write_all(request).await.is_err() {
        return false;
    }
    // Closed with a reset, as a client that gives up or dies mostly does:
    // hyper drops the handler of a reset HTTP/1.1 connection, but may not
    // notice a graceful close (FIN) before the handler is done. (A zero
    // linger does not block on drop, the reason `set_linger` is deprecated.)
    #[allow(deprecated)]
    let reset = stream.set_linger(Some(Duration::ZERO));
    if reset.is_err() {
        return false;
    }
    tokio::time::sleep(PATIENCE).await;
    true
}

/// The flood over HTTP/2 with prior knowledge, one stream per login on one
/// connection, written frame by frame (no h2 client among the test
/// dependencies): each stream is reset [`PATIENCE`] after it was opened;
/// the server must not end the connection. How many logins were sent.
async fn http2_flood(address: &str, body: &str) -> usize {
    let (read, mut write) = TcpStream::connect(address).await.unwrap().into_split();
    let goaway = tokio::spawn(goaway_code(read));
    write
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    h2_frame(&mut write, 0x4, 0, 0, &[]).await; // SETTINGS, none changed
    let headers = hpack_literals(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/auth/login"),
        (":authority", address),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", &body.len().to_string()),
    ]);
    // Streams are opened in increasing order (RFC 9113 §5.1.1) by this
    // loop; a second task resets each one [`PATIENCE`] after it was opened.
    let write = std::sync::Arc::new(tokio::sync::Mutex::new(write));
    let (opened, mut to_reset) = tokio::sync::mpsc::unbounded_channel::<(u32, Instant)>();
    let resetter = tokio::spawn({
        let write = write.clone();
        async move {
            while let Some((id, at)) = to_reset.recv().await {
                tokio::time::sleep_until((at + PATIENCE).into()).await;
                // RST_STREAM, CANCEL.
                h2_frame(&mut *write.lock().await, 0x3, 0, id, &8u32.to_be_bytes()).await;
            }
        }
    });
    let mut id = 1u32;
    for _ in 0..BATCHES {
        for _ in 0..PER_BATCH {
            {
                // HEADERS (END_HEADERS), then DATA (END_STREAM).
                let mut out = write.lock().await;
                h2_frame(&mut out, 0x1, 0x4, id, &headers).await;
                h2_frame(&mut out, 0x0, 0x1, id, body.as_bytes()).await;
            }
            opened.send((id, Instant::now())).unwrap();
            id += 2;
            tokio::time::sleep(STAGGER).await;
        }
        // The batch ends when its last stream is reset.
        tokio::time::sleep(PATIENCE).await;
    }
    drop(opened);
    resetter.await.unwrap();
    drop(write);
    let code = tokio::time::timeout(Duration::from_millis(200), goaway).await;
    assert!(
        !matches!(code, Ok(Ok(Some(error))) if error != 0),
        "the server ended the connection with an error: GOAWAY {code:?}"
    );
    BATCHES * PER_BATCH
}

/// Reads the server's frames until the connection ends; the error code of
/// its GOAWAY, if it sent one.
async fn goaway_code(mut read: tokio::net::tcp::OwnedReadHalf) -> Option<u32> {
    let mut header = [0u8; 9];
    loop {
        read.read_exact(&mut header).await.ok()?;
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; len];
        read.read_exact(&mut payload).await.ok()?;
        if header[3] == 0x7 && len >= 8 {
            let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
            eprintln!("GOAWAY {code}: {}", String::from_utf8_lossy(&payload[8..]));
            return Some(code);
        }
    }
}

/// Writes one HTTP/2 frame (RFC 9113 §4.1).
async fn h2_frame(out: &mut OwnedWriteHalf, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    out.write_all(&frame).await.unwrap();
}

/// A header block of literal fields without indexing and without Huffman
/// coding (RFC 7541 §6.2.2); every name and value here is under 127 bytes.
fn hpack_literals(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        for part in [name, value] {
            block.push(u8::try_from(part.len()).unwrap());
            block.extend_from_slice(part.as_bytes());
        }
    }
    block
}

/// The time a correct login takes.
async fn timed_login(app: &TestApp, email: &str) -> Duration {
    let started = Instant::now();
    let resp = app.login_form(email, PASSWORD).await;
    assert_eq!(resp.status(), 200, "the real login failed");
    started.elapsed()
}

/// How the flood's client gives up on its logins.
#[derive(Clone, Copy, Debug)]
enum HangUp {
    /// HTTP/1.1, one connection per login, reset.
    ResetConnection,
    /// HTTP/2 over cleartext, one stream per login on one connection,
    /// reset with `CANCEL`.
    ResetStream,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_logins_leave_no_hashing_backlog_and_a_real_login_answers_promptly() {
    flood_then_log_in(HangUp::ResetConnection).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_http2_logins_leave_no_hashing_backlog_and_a_real_login_answers_promptly() {
    flood_then_log_in(HangUp::ResetStream).await;
}

/// The flood of abandoned wrong-password logins for one account, then a
/// real login; the checks on what the flood left behind.
async fn flood_then_log_in(hang_up: HangUp) {
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.hashing.concurrency = CONCURRENCY;
            s.hashing.queue = QUEUE;
            // Five times the default cost: a hash takes longer than a
            // client's patience, so the flood outpaces the hashing thread.
            s.hashing.cost = sigil::config::Argon2Cost {
                memory_kib: 19_456,
                iterations: 10,
                parallelism: 1,
            };
            s.throttles.account.free_attempts = 1_000_000;
            s.throttles.address.free_attempts = 1_000_000;
        }),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;
    let mut baseline = Vec::new();
    for _ in 0..3 {
        baseline.push(timed_login(&app, &email).await);
    }
    baseline.sort();
    let baseline = baseline[1];
    let address = app.address.trim_start_matches("http://").to_owned();
    let body = format!(
        "grant_type=password&username={}&password=not-the-password",
        email.replace('@', "%40")
    );
    let before = hashes_computed(&app).await;

    // Act: the flood, then the state it leaves.
    let sent = match hang_up {
        HangUp::ResetConnection => http1_flood(&address, &body).await,
        HangUp::ResetStream => http2_flood(&address, &body).await,
    };
    let at_the_end = hashes_computed(&app).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut waiting = app.metric("sigil_password_hashes_waiting").await;
    while waiting > 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiting = app.metric("sigil_password_hashes_waiting").await;
    }
    let drained = hashes_computed(&app).await;
    let real = timed_login(&app, &email).await;
    let after_real = hashes_computed(&app).await;
    // The normal time, measured again now that nothing is queued: the
    // larger of the two stands for this machine's load during the test.
    let baseline = baseline.max(timed_login(&app, &email).await);

    // Assert.
    let skipped = app.metric("sigil_password_hashes_skipped_total").await;
    let slots = (QUEUE + CONCURRENCY) as u64;
    let summary = format!(
        "{hang_up:?}: {sent} abandoned logins sent; hashes computed during the flood {}, \
         until the queue drained {}, before the real login answered {} \
         (skipped {skipped}); waiting afterwards {waiting}; real login {real:?} \
         vs baseline {baseline:?}",
        at_the_end - before,
        drained - before,
        after_real - before - 1,
    );
    eprintln!("{summary}");
    assert_eq!(sent, BATCHES * PER_BATCH, "{summary}");
    assert!(at_the_end > before, "no login reached the hasher: {summary}");
    // Each batch can at most fill the slots (queue + concurrency): all the
    // hashes the flood caused, however late, stay under that.
    assert!(
        after_real - before - 1 <= BATCHES as u64 * slots,
        "more than {} hashes: {summary}",
        BATCHES as u64 * slots
    );
    // Once the flood is over, only what held a slot then may still be
    // computed: no backlog is left for the real login to wait behind.
    assert!(
        after_real - at_the_end - 1 <= slots,
        "more than {slots} hashes after the flood: {summary}"
    );
    assert_eq!(waiting, 0.0, "hashes still waiting: {summary}");
    // Loose, as a behaviour bound: behind a backlog it took 20 to 30 s.
    assert!(
        real < baseline * 5 + Duration::from_secs(1),
        "the real login was slow: {summary}"
    );
}
