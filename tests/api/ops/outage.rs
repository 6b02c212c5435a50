//! Losing the database while serving (SPEC §1): `/readyz` and every route
//! that needs the database answer 503 problem+json, never 500, while
//! `/healthz` and the JWK Set keep answering; when the database is back, so
//! is everything else. PostgreSQL only: the test cuts the connection with a
//! TCP relay of its own between sigil and the server.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::helpers::{
    Options, PASSWORD, assert_oauth_error, assert_problem, spawn_app_with, unique_email,
};

/// A TCP relay to PostgreSQL that the test can cut and restore.
struct Relay {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            target: target.to_owned(),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes the listener and every relayed connection: the database is gone.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Listens on the same port again.
    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test]
async fn losing_the_database_answers_503_where_it_is_needed_and_recovering_answers_200_again() {
    let relay = Relay::start("127.0.0.1:5432").await;
    let port = relay.port;
    let Some(app) = spawn_app_with(Options {
            tweak: Box::new(move |s| {
                let url = s
                    .database_url
                    .expose()
                    .replace(":5432/", &format!(":{port}/"));
                s.database_url = sigil::config::DatabaseUrl::parse(&url).unwrap();
            }),
            ..Options::default()
        })
    .await
    else {
        return;
    };
    let (email, access, refresh) = app.signed_up_user().await;

    relay.cut();

    assert_eq!(app.get("/healthz", None).await.status(), 200);
    assert_eq!(app.get("/.well-known/jwks.json", None).await.status(), 200);
    assert_problem(app.get("/readyz", None).await, 503).await;
    assert_problem(app.get("/me", Some(&access)).await, 503).await;
    let login = assert_oauth_error(app.login_form(&email, PASSWORD).await, 503).await;
    assert_eq!(login["error"], "temporarily_unavailable");
    assert_oauth_error(app.refresh(&refresh).await, 503).await;
    let register = app.post_register(&unique_email(), PASSWORD, "Ada").await;
    assert_problem(register, 503).await;
    let logout = app
        .post_json("/auth/logout", &json!({"refresh_token": refresh}))
        .await;
    assert_problem(logout, 503).await;

    relay.restore().await;

    assert_eq!(app.get("/readyz", None).await.status(), 200);
    assert_eq!(app.get("/me", Some(&access)).await.status(), 200);
    assert_eq!(
        app.refresh(&refresh).await.status(),
        200,
        "the refresh that failed during the outage used nothing up"
    );
}
