//! The binary as operators run it. `multi_instance.rs`, `outage.rs` and
//! `test_databases.rs` need PostgreSQL (listed in `per_backend!` in
//! `main.rs`, not here).

use crate::helpers;

mod access_log;
mod cli;
mod durations;
mod keys_folder;
mod listening_line;
mod log_hygiene;
mod logout_audit;
mod metrics;
mod metrics_at_zero;
mod pid_file;
mod reload_log;
mod secret_masking;
mod settings;
