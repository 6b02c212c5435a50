//! Integration tests: each starts the real server on port 0 with a fresh
//! database and keys folder, and talks HTTP to it.

mod helpers;

mod admin;
mod bearer;
mod cli;
mod discovery;
mod jwks;
mod keys_cli;
mod login;
mod refresh;
mod register;
mod reload;
mod requests;
mod rotation;
mod tokens;
mod verifier;
