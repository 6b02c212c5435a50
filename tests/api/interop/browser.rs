//! The Swagger UI at `/docs`, driven in headless Chromium through chromedriver:
//! a person authorizes with the OAuth 2.0 password flow (a wrong password
//! first, to see where the error shows) and calls `GET /me`;
//! a service authorizes with the client-credentials flow (client id and
//! secret) and calls `GET /admin/users`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them);
//! without them the test is skipped (`helpers::skip`: SKIPPED outside CI, a
//! failure under `CI=true`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::skip::skip;
use crate::helpers::{PASSWORD, spawn_app, unique_email};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Upper bound for each step to show its result in the page.
const STEP: Duration = Duration::from_secs(30);

/// Where the screenshots go: `<target>/browser/NAME.png`.
fn screenshot_path(name: &str) -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`; the screenshots live beside it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("browser")
        .join(format!("{name}.png"))
}

/// The page and dialog after a wrong password.
const AUTH_ERROR_SHOT: &str = "swagger-ui-auth-error";
/// The dialog right after a successful login.
const AUTHORIZED_SHOT: &str = "swagger-ui-authorized";
/// The page after `GET /me` answered.
const ME_SHOT: &str = "swagger-ui-me";
/// The page where a failed run stopped.
const FAILED_SHOT: &str = "swagger-ui-me-failed";
/// The page after `GET /admin/users` answered a client's token.
const CLIENT_SHOT: &str = "swagger-ui-client-credentials";
/// The page where a failed client-credentials run stopped.
const CLIENT_FAILED_SHOT: &str = "swagger-ui-client-credentials-failed";

#[tokio::test]
async fn swagger_ui_authorizes_with_the_password_flow_and_calls_me() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let browser = driver.session().await;
    // Pictures of an earlier run must not stand in for this one.
    for name in [AUTH_ERROR_SHOT, AUTHORIZED_SHOT, ME_SHOT, FAILED_SHOT] {
        let _ = std::fs::remove_file(screenshot_path(name));
    }

    let outcome = authorize_and_call_me(&browser, &app.url("/docs/"), &email).await;

    // Whatever happened, keep a picture of the page for the reader.
    let shot = save_screenshot(
        &browser,
        if outcome.is_ok() {
            ME_SHOT
        } else {
            FAILED_SHOT
        },
    )
    .await;
    let _ = browser.close().await;
    match outcome {
        Ok(response) => {
            let body: Value = serde_json::from_str(&response).expect("response body is JSON");
            assert_eq!(body["email"], email.as_str());
            assert!(
                body["id"].is_string() && body["scopes"].is_array(),
                "{body}"
            );
        }
        Err(step) => panic!("{step} (screenshot: {})", shot.display()),
    }
}

#[tokio::test]
async fn swagger_ui_authorizes_with_the_client_credentials_flow_and_calls_admin_users() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Swagger robot", "scopes": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let browser = driver.session().await;
    for name in [CLIENT_SHOT, CLIENT_FAILED_SHOT] {
        let _ = std::fs::remove_file(screenshot_path(name));
    }

    let outcome = authorize_client_and_list_users(&browser, &app.url("/docs/"), &id, &secret).await;

    let shot = save_screenshot(
        &browser,
        if outcome.is_ok() {
            CLIENT_SHOT
        } else {
            CLIENT_FAILED_SHOT
        },
    )
    .await;
    let _ = browser.close().await;
    match outcome {
        Ok(response) => {
            let body: Value = serde_json::from_str(&response).expect("response body is JSON");
            assert!(
                body.as_array().is_some_and(|users| !users.is_empty()),
                "{body}"
            );
        }
        Err(step) => panic!("{step} (screenshot: {})", shot.display()),
    }
}

/// The clicks of an operator trying the API as a service: authorize the
/// client-credentials flow with a client id and secret, then run
/// `GET /admin/users`; returns the live response's body.
async fn authorize_client_and_list_users(
    browser: &Client,
    docs: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<String, String> {
    browser
        .goto(docs)
        .await
        .map_err(|e| format!("open {docs}: {e}"))?;
    click(browser, "the Authorize button", "button.btn.authorize").await?;
    // The dialog shows one container per flow of the scheme; this is the
    // client-credentials flow's (Swagger UI names its fields after the flow).
    let flow =
        "//div[contains(@class,'auth-container')][.//h4[contains(.,'OAuth2, clientCredentials')]]";
    let id_field = wait_css(
        browser,
        "the client_id field",
        "#client_id_clientCredentials",
    )
    .await?;
    id_field
        .send_keys(client_id)
        .await
        .map_err(|e| e.to_string())?;
    let secret_field = wait_css(
        browser,
        "the client_secret field",
        "#client_secret_clientCredentials",
    )
    .await?;
    secret_field
        .send_keys(client_secret)
        .await
        .map_err(|e| e.to_string())?;
    click_xpath(
        browser,
        "the client-credentials flow's Authorize button",
        &format!("{flow}//button[contains(@class,'authorize')]"),
    )
    .await?;
    let outcome = wait_xpath(
        browser,
        "the token request's outcome (Logout button or Auth Error)",
        &format!(
            "{flow}//button[normalize-space()='Logout'] | {flow}//div[contains(@class,'errors')]"
        ),
    )
    .await?;
    let outcome = outcome.text().await.map_err(|e| e.to_string())?;
    if outcome.trim() != "Logout" {
        return Err(format!("the client-credentials flow failed: {outcome}"));
    }
    click(browser, "the dialog's Close button", "button.btn-done").await?;
    wait_gone(browser, "the dialog to close", ".dialog-ux").await?;

    let block = "//div[contains(@class,'opblock-get')][.//*[@data-path='/admin/users']]";
    click_xpath(
        browser,
        "the GET /admin/users summary",
        &format!("{block}//button[contains(@class,'opblock-summary-control')]"),
    )
    .await?;
    click_xpath(
        browser,
        "Try it out",
        &format!("{block}//button[contains(@class,'try-out__btn')]"),
    )
    .await?;
    click_xpath(
        browser,
        "Execute",
        &format!("{block}//button[contains(@class,'execute')]"),
    )
    .await?;
    let status = wait_xpath(
        browser,
        "the live response's status",
        &format!("{block}//table[contains(@class,'live-responses-table')]//tbody//td[contains(@class,'response-col_status')]"),
    )
    .await?;
    let status = status.text().await.map_err(|e| e.to_string())?;
    if status.trim() != "200" {
        let shown = text_of(browser, ".live-responses-table").await;
        return Err(format!(
            "GET /admin/users answered {status}, not 200: {shown}"
        ));
    }
    let body = wait_xpath(
        browser,
        "the live response's body",
        &format!(
            "{block}//table[contains(@class,'live-responses-table')]//tbody\
             //td[contains(@class,'response-col_description')]//pre[contains(.,'email')]"
        ),
    )
    .await?;
    body.text().await.map_err(|e| e.to_string())
}

/// The clicks a person makes; returns the body of the live `GET /me` response,
/// or which step did not show what it should.
async fn authorize_and_call_me(
    browser: &Client,
    docs: &str,
    email: &str,
) -> Result<String, String> {
    browser
        .goto(docs)
        .await
        .map_err(|e| format!("open {docs}: {e}"))?;

    // Authorize: the dialog lists the `sigil` scheme's password flow.
    click(browser, "the Authorize button", "button.btn.authorize").await?;
    let username = wait_css(browser, "the username field", "#oauth_username").await?;
    username.send_keys(email).await.map_err(|e| e.to_string())?;
    let password = wait_css(browser, "the password field", "#oauth_password").await?;
    // The dialog shows one container per flow of the scheme; this is the
    // password flow's.
    let flow = "//div[contains(@class,'auth-container')][.//h4[contains(.,'OAuth2, password')]]";
    let authorize = format!("{flow}//button[contains(@class,'authorize')]");

    // A wrong password first: the README says where the error shows.
    password
        .send_keys("not the password")
        .await
        .map_err(|e| e.to_string())?;
    click_xpath(browser, "the password flow's Authorize button", &authorize).await?;
    let in_dialog = wait_xpath(
        browser,
        "the Auth Error in the dialog",
        &format!("{flow}//div[contains(@class,'errors')]"),
    )
    .await?;
    let in_dialog = in_dialog.text().await.map_err(|e| e.to_string())?;
    let behind = text_of(browser, ".errors-wrapper").await;
    save_screenshot(browser, AUTH_ERROR_SHOT).await;
    if !in_dialog.contains("Auth Error") || !in_dialog.contains("invalid_grant") {
        return Err(format!(
            "a wrong password showed in the dialog: {in_dialog}"
        ));
    }
    if !behind.contains("Auth error") || !behind.contains("invalid_grant") {
        return Err(format!("a wrong password showed on the page: {behind}"));
    }

    password.clear().await.map_err(|e| e.to_string())?;
    password
        .send_keys(PASSWORD)
        .await
        .map_err(|e| e.to_string())?;
    click_xpath(browser, "the password flow's Authorize button", &authorize).await?;
    // Swagger UI swaps Authorize for Logout once /auth/login answered with a
    // token. The wrong password's "Auth Error" may stay until then, so only
    // Logout tells success; the error is quoted when it does not come.
    if let Err(step) = wait_xpath(
        browser,
        "the Logout button after logging in",
        &format!("{flow}//button[normalize-space()='Logout']"),
    )
    .await
    {
        let shown = text_of(browser, ".auth-container .errors").await;
        return Err(format!(
            "logging in through the dialog failed: {step}: {shown}"
        ));
    }
    // What the README says the authorized dialog shows, fields left empty
    // included; and the page's error panel is gone.
    let shown = browser
        .find(Locator::XPath(flow))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    for line in [
        "Authorized",
        &format!("username: {email}"),
        "password: ******",
        "Client credentials location: basic",
        "client_secret: ******",
    ] {
        if !shown.contains(line) {
            return Err(format!("the authorized dialog lacks {line:?}: {shown}"));
        }
    }
    wait_gone(browser, "the page's error panel to go", ".errors-wrapper").await?;
    save_screenshot(browser, AUTHORIZED_SHOT).await;
    click(browser, "the dialog's Close button", "button.btn-done").await?;
    wait_gone(browser, "the dialog to close", ".dialog-ux").await?;

    // GET /me: expand, Try it out, Execute.
    let me_block = "//div[contains(@class,'opblock-get')][.//*[@data-path='/me']]";
    click_xpath(
        browser,
        "the GET /me summary",
        &format!("{me_block}//button[contains(@class,'opblock-summary-control')]"),
    )
    .await?;
    click_xpath(
        browser,
        "Try it out",
        &format!("{me_block}//button[contains(@class,'try-out__btn')]"),
    )
    .await?;
    click_xpath(
        browser,
        "Execute",
        &format!("{me_block}//button[contains(@class,'execute')]"),
    )
    .await?;
    let status = wait_xpath(
        browser,
        "the live response's status",
        &format!("{me_block}//table[contains(@class,'live-responses-table')]//tbody//td[contains(@class,'response-col_status')]"),
    )
    .await?;
    let status = status.text().await.map_err(|e| e.to_string())?;
    if status.trim() != "200" {
        let shown = text_of(browser, ".live-responses-table").await;
        return Err(format!("GET /me answered {status}, not 200: {shown}"));
    }
    let body = wait_xpath(
        browser,
        "the live response's body with the user's email",
        &format!(
            "{me_block}//table[contains(@class,'live-responses-table')]//tbody\
             //td[contains(@class,'response-col_description')]//pre[contains(.,'{email}')]"
        ),
    )
    .await?;
    // Put the request, the curl line and the response in the screenshot.
    let summary = browser
        .find(Locator::XPath(me_block))
        .await
        .map_err(|e| e.to_string())?;
    let _ = browser
        .execute(
            "arguments[0].scrollIntoView({block: 'start'});",
            vec![serde_json::to_value(&summary).map_err(|e| e.to_string())?],
        )
        .await;
    body.text().await.map_err(|e| e.to_string())
}

async fn wait_css(browser: &Client, what: &str, css: &str) -> Result<Element, String> {
    browser
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("waiting for {what} ({css}): {e}"))
}

async fn wait_xpath(browser: &Client, what: &str, xpath: &str) -> Result<Element, String> {
    browser
        .wait()
        .at_most(STEP)
        .for_element(Locator::XPath(xpath))
        .await
        .map_err(|e| format!("waiting for {what}: {e}"))
}

async fn click(browser: &Client, what: &str, css: &str) -> Result<(), String> {
    let element = wait_css(browser, what, css).await?;
    element
        .click()
        .await
        .map_err(|e| format!("clicking {what}: {e}"))
}

async fn click_xpath(browser: &Client, what: &str, xpath: &str) -> Result<(), String> {
    let element = wait_xpath(browser, what, xpath).await?;
    element
        .click()
        .await
        .map_err(|e| format!("clicking {what}: {e}"))
}

/// Waits until no element matches `css`, polling within [`STEP`].
async fn wait_gone(browser: &Client, what: &str, css: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let found = browser
            .find_all(Locator::Css(css))
            .await
            .map_err(|e| e.to_string())?;
        if found.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("waiting for {what}: still there after {STEP:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The visible text of the first element matching `css`, for failure messages.
async fn text_of(browser: &Client, css: &str) -> String {
    match browser.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => format!("<no {css}>"),
    }
}

/// Saves a PNG of the page as `<target>/browser/NAME.png`.
async fn save_screenshot(browser: &Client, name: &str) -> PathBuf {
    let path = screenshot_path(name);
    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, png).unwrap();
    path
}

/// A chromedriver child on a free loopback port, killed with everything it
/// started when dropped (also when the test panics).
struct ChromeDriver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl ChromeDriver {
    /// Starts chromedriver, or says loudly why the test is skipped.
    fn start() -> Option<ChromeDriver> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(tool).exists() {
                skip(&format!(
                    "{tool} is missing (apt-get install chromium chromium-driver; .ci/run does it)"
                ));
                return None;
            }
        }
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new(CHROMEDRIVER)
            // Port 0: chromedriver picks a free port and prints it.
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so Drop can end chromium with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let mut driver = ChromeDriver {
            child,
            port: 0,
            profile: tempfile::tempdir().unwrap(),
        };
        driver.port = rx
            .recv_timeout(STEP)
            .expect("chromedriver reports the port it listens on");
        Some(driver)
    }

    /// A new headless Chromium session with a fresh profile.
    async fn session(&self) -> Client {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,1600".to_owned(),
        ];
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        // Plain HTTP to loopback: no TLS connector needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a chromedriver session")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the chromium it launched.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
