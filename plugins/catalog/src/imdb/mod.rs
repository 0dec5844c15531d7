//! The import of IMDb's non-commercial datasets (`.tsv.gz`), shared by the
//! admin API and `cdlc catalog import`.
//!
//! - `tsv`: gunzip as a stream, lines of bounded length, fields split on tabs.
//! - `datasets`: the seven files' headers and rows.
//! - `import`: the passes over the files, the filters, the batched writes
//!   and the report.
//! - `known`: what an import knows of a table without reading it back.

pub mod datasets;
pub mod import;
mod known;
pub mod sample;
pub mod tsv;

pub use datasets::Dataset;
pub use import::{
    check_files, files_from_paths, import, restore_indexes, FileReport, ImportError, ImportFile,
    ImportOptions, Phase, Progress, Rejection, Report,
};
