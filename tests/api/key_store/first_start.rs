//! Three instances on one database, no shared folder: the first start
//! (all three at once) makes one key set, and all three publish it byte for
//! byte with the same ETag; none writes a key file.

use super::fleet::{Fleet, jwks, key_files_under, kid_in_state};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_starting_at_once_make_one_key_set_and_publish_it_identically() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };

    let instances = fleet.start_many(3, &[]);

    let http = reqwest::Client::new();
    let mut served = Vec::new();
    for instance in &instances {
        served.push(jwks(&http, instance.base()).await);
    }
    for (i, s) in served.iter().enumerate() {
        assert_eq!(s.0, served[0].0, "instance {i} publishes the same bytes");
        assert_eq!(s.1, served[0].1, "instance {i} sends the same ETag");
    }
    let (rows, _) = fleet.table().await;
    assert_eq!(rows.len(), 2, "one set: an active and a next key");
    let list = fleet.list();
    let active = kid_in_state(&list, "active");
    let next = kid_in_state(&list, "next");
    let published: serde_json::Value = serde_json::from_str(&served[0].0).unwrap();
    let kids = crate::helpers::keys::kids_in_jwks(&published);
    assert_eq!(kids, [active, next].into_iter().collect());
    for (i, instance) in instances.iter().enumerate() {
        let files = key_files_under(instance.dir.path());
        assert!(
            files.is_empty(),
            "instance {i} wrote key files: {files:?}"
        );
    }
}
