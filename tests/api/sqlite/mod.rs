//! The storage-dependent suite on SQLite.

backend_helpers!(crate::helpers::Backend::Sqlite);

#[path = "../abuse.rs"]
mod abuse;
#[path = "../admin.rs"]
mod admin;
#[path = "../bearer.rs"]
mod bearer;
#[path = "../concurrency.rs"]
mod concurrency;
#[path = "../login.rs"]
mod login;
#[path = "../refresh.rs"]
mod refresh;
#[path = "../register.rs"]
mod register;
#[path = "../requests.rs"]
mod requests;
#[path = "../tokens.rs"]
mod tokens;
