//! Rotations racing on one database make one rotation: two `sigil keys
//! rotate` started at the same moment (one succeeds, the other is refused
//! because the next key it would activate is brand new), and two instances
//! rotating automatically (one rotation per interval, never two in a row).

use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::fleet::{Fleet, jwks, kid_in_state};
use crate::helpers::keys::kids_in_jwks;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rotate_commands_at_the_same_moment_make_exactly_one_rotation() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let instance = fleet.start(&[]);
    let http = reqwest::Client::new();

    for round in 1..=3 {
        // Each next key has been published longer than the 1 s max-age.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let before = fleet.list();
        let next = kid_in_state(&before, "next");

        let racers: Vec<_> = (0..2)
            .map(|_| {
                fleet
                    .keys(&["rotate"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = racers
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();

        let won: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
        let lost: Vec<_> = outs.iter().filter(|o| !o.status.success()).collect();
        let said: Vec<String> = outs
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect();
        assert_eq!(won.len(), 1, "round {round}: one rotation succeeded: {said:#?}");
        assert_eq!(lost.len(), 1, "round {round}: {said:#?}");
        let refusal = String::from_utf8_lossy(&lost[0].stderr);
        assert!(
            refusal.contains("--force"),
            "round {round}: the other was refused as too early: {refusal}"
        );
        let after = fleet.list();
        assert_eq!(kid_in_state(&after, "active"), next, "round {round}");
        assert_eq!(after.len(), before.len() + 1, "round {round}: one new key");
        let retired = after.iter().filter(|k| k["state"] == "retired").count();
        assert_eq!(retired, round, "round {round}: one rotation per round");
    }
    // The instance serves what the table holds: 2 keys and 3 rotations.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (set, _) = jwks(&http, instance.base()).await;
        let set: serde_json::Value = serde_json::from_str(&set).unwrap();
        if kids_in_jwks(&set).len() == 5 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{set}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn at(key: &serde_json::Value, field: &str) -> DateTime<Utc> {
    key[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} of {key}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_rotating_automatically_make_one_rotation_per_interval() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    // The interval must be more than twice the JWK Set max-age (1 s).
    let interval = Duration::from_secs(3);
    let every = [("SIGIL_KEY_ROTATION_INTERVAL", Some("3s"))];
    // The set exists; the instances, started at the same moment, tick
    // together: each tick is a race.
    drop(fleet.start(&[]));
    let instances = fleet.start_many(3, &every);

    tokio::time::sleep(Duration::from_secs(11)).await;
    drop(instances);

    let list = fleet.list();
    let retired: Vec<_> = list.iter().filter(|k| k["state"] == "retired").collect();
    assert!(
        retired.len() >= 2,
        "the instances rotated in 11 s of 3 s intervals: {list:#?}"
    );
    assert!(retired.len() <= 4, "at most one rotation per interval: {list:#?}");
    for key in retired {
        let signed = at(key, "retired_at") - at(key, "activated_at");
        assert!(
            signed.to_std().unwrap() >= interval,
            "every retired key signed for a whole interval, not {signed} (a second \
             rotation right after the first): {list:#?}"
        );
    }
    kid_in_state(&list, "active");
}
