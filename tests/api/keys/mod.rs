//! The keys folder: the `sigil keys` commands and `scripts/rotate-keys.sh`,
//! rotation while traffic flows, and reloads (SIGHUP, watcher, broken folders).

mod cli;
mod fixture;
mod interrupted;
mod reload;
mod rotate_script;
mod rotation;
mod rotation_under_load;
