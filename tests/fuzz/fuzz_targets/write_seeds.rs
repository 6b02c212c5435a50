//! Not a fuzz target: writes valid access tokens of the fixed key set (one
//! RS256, one EdDSA, issued at `NOW`) into the folder given as argument, as
//! the starting corpus of `verify_token`. `scripts/fuzz.sh` runs it.

use sigil::jose::Algorithm;
use sigil::keys::{KeySet, KeyState};
use sigil_fuzz::keys::{access_tokens, new_key_set, now};

fn main() {
    let dir = std::env::args_os().nth(1).expect("usage: write_seeds DIR");
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the seed folder");
    let tokens = access_tokens();
    let user = uuid::Uuid::from_u128(0x6f1c_2a9e_0b1d_4f0e_9a77_3c3f_0e5e_6a11);
    let scopes = ["profile".to_owned(), "admin".to_owned()];
    for alg in [Algorithm::Rs256, Algorithm::EdDsa] {
        let mut keys = new_key_set().into_keys();
        for key in &mut keys {
            let state = if key.alg() == alg {
                KeyState::Active
            } else {
                KeyState::Next
            };
            key.set_state(state, now());
        }
        let set = KeySet::new(keys).expect("a key set");
        let issued = tokens.issue(&set, user, &scopes, now());
        tokens
            .verify(&set, &issued.token, now())
            .expect("a seed token verifies");
        let path = dir.join(format!("seed-{}", alg.as_str().to_lowercase()));
        std::fs::write(&path, &issued.token).expect("a seed file");
        println!("{}", path.display());
    }
}
