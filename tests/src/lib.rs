//! Cross-crate integration tests live in `it/`; the helper binaries in `src/bin/`.
