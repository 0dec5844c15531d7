//! The metadata service: assets, renditions, segments, jobs and events.
//!
//! Not built yet: it arrives with the embedded media server (issue 3). The
//! crate exists so the workspace has the shape of the design from the start.
