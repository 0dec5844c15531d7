//! The edge cache in front of manifests and segments.
//!
//! Not built yet: it arrives with the edge issue (issue 5). Until then
//! `cdlc serve` serves packaged streams straight from its data directory.
