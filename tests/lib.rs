//! The end-to-end suites live in `suite/`: one test binary, as the
//! scylla-rust-driver does, so they share generated media and helpers.
