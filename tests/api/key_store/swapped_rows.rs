//! A sealed key moved to another row (someone with write access to the
//! table swapping two keys) is refused: the kid is the seal's associated
//! data, so the set does not load, and `sigil serve` and `sigil keys list`
//! stop with one line instead of signing under the wrong kid.

use std::time::Duration;

use super::fleet::{Fleet, all_output, run_bounded, sigil_lines};

/// Swaps the sealed keys (and their key ids) of the active and next rows.
async fn swap_active_and_next(fleet: &Fleet) {
    let mut conn = fleet.connect().await;
    sqlx::query(
        "UPDATE signing_keys AS a SET sealed_key = b.sealed_key, kek_id = b.kek_id \
         FROM signing_keys AS b \
         WHERE (a.state, b.state) IN (('active', 'next'), ('next', 'active'))",
    )
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_sealed_key_swapped_into_another_row_is_refused() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    drop(fleet.start(&[]));
    let before = fleet.table().await;

    swap_active_and_next(&fleet).await;

    assert_ne!(fleet.table().await, before, "the rows were swapped");
    let list = run_bounded(&mut fleet.keys(&["list"]), Duration::from_secs(60));
    assert!(!list.status.success(), "{}", all_output(&list));
    assert_eq!(sigil_lines(&list).len(), 1, "{}", all_output(&list));
    let dir = tempfile::tempdir().unwrap();
    let serve = run_bounded(
        &mut fleet.serve_command(dir.path(), &[]),
        Duration::from_secs(60),
    );
    assert!(!serve.status.success(), "{}", all_output(&serve));
    assert_eq!(sigil_lines(&serve).len(), 1, "{}", all_output(&serve));

    // Swapped back, the same rows load again: the refusal was the swap.
    swap_active_and_next(&fleet).await;
    assert_eq!(fleet.table().await.0, before.0);
    fleet.list();
}
