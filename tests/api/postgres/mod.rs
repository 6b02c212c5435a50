//! The storage-dependent suite on PostgreSQL, each test in a fresh database.

backend_helpers!(crate::helpers::Backend::Postgres);

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
#[path = "../multi_instance.rs"]
mod multi_instance;
#[path = "../refresh.rs"]
mod refresh;
#[path = "../register.rs"]
mod register;
#[path = "../requests.rs"]
mod requests;
#[path = "../tokens.rs"]
mod tokens;
