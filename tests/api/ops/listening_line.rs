//! The start-up line names what a verifier must be configured with: the
//! issuer (`iss`), the audience (`aud`) and the public client id.

use super::helpers::ServerProcess;

#[test]
fn the_listening_line_names_the_issuer_the_audience_and_the_client_id() {
    let dir = tempfile::tempdir().unwrap();

    let server = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_ISSUER", "https://id.example.test"),
            ("SIGIL_AUDIENCE", "orders-api"),
        ],
    );

    let lines = server.json_lines();
    let listening = lines
        .iter()
        .find(|v| v["message"] == "sigil listening")
        .unwrap();
    assert_eq!(listening["issuer"], "https://id.example.test");
    assert_eq!(listening["audience"], "orders-api");
    assert_eq!(listening["client_id"], "sigil");
}
