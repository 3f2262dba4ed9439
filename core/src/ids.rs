//! Random identifiers: tokens, device ids, transaction and media ids.

use rand::{Rng as _, distributions::Alphanumeric};

/// A random string of ASCII letters and digits.
pub fn random_string(length: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}
