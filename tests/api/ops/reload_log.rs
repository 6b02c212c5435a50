//! An operator can tell that a `SIGHUP` arrived: each one logs one line,
//! whether the key set changed or not.

use serde_json::Value;

use crate::helpers::ServerProcess;

/// Log lines of reloads that a `SIGHUP` caused.
fn signal_reload_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|v| v["trigger"] == "Signal").collect()
}

#[tokio::test]
async fn each_sighup_logs_one_line_even_when_the_keys_did_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[("SIGIL_SIGNING_ALG", "EdDSA")]);

    server.signal("HUP");
    server.wait_for_lines("the first SIGHUP", |lines| {
        !signal_reload_lines(lines).is_empty()
    });
    server.signal("HUP");
    server.wait_for_lines("the second SIGHUP", |lines| {
        signal_reload_lines(lines).len() >= 2
    });
    // A third line, if one were coming, has had time to arrive.
    std::thread::sleep(std::time::Duration::from_millis(300));

    let lines = server.json_lines();
    let reloads = signal_reload_lines(&lines);
    assert_eq!(reloads.len(), 2, "one line per SIGHUP: {reloads:?}");
    for line in reloads {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["message"], "key set unchanged", "{line}");
        assert!(line["active_kid"].is_string(), "{line}");
    }
}
