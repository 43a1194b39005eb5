//! Build tests that empty the engine's build cache (what a fresh runner has). They live in a test
//! binary of their own because pruning the cache under another test's build breaks that build:
//! cargo runs test binaries one after another, so nothing of `tests/it` builds while these prune.

mod build;
#[path = "../it/support/mod.rs"]
mod support;
