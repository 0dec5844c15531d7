//! Benchmarks live in `benches/`; each compares cdlc with a peer doing the
//! same work in the same run. `make bench` runs them.
