//! Interop tests with matrix-sdk (the Rust SDK behind Element X) against a real `myelin`
//! process. One test binary, so matrix-sdk links once.

mod common;
mod current_features;
mod e2ee;
mod element_x;
mod sliding_sync;
