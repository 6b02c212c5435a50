//! Requests as such and the published documents. `requests.rs` runs on both
//! backends (listed in `per_backend!` in `main.rs`, not here).

mod discovery;
