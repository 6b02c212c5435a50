//! The keys folder: the `sigil keys` commands (`import` with openssl-made
//! keys) and `scripts/rotate-keys.sh`, key files that openssl reads,
//! rotation while traffic flows, and reloads (SIGHUP, watcher, broken folders).

mod cli;
mod fixture;
mod import;
mod interrupted;
mod openssl;
mod reload;
mod rotate_script;
mod rotation;
mod rotation_under_load;
