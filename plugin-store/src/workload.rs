//! How a store is mostly written, which decides how it is laid out.

/// What a store's owner mostly does with it. On SQLite it sets the page
/// size of a new database file (an existing file keeps its own); MySQL's
/// InnoDB pages are 16 KiB whatever it is.
///
/// Measured (this project's 2-core machine, 2026-12-06): 16 KiB pages made
/// the catalog's import of a million titles with their credits and people
/// ~12 % faster (27.5 s against 31.5 s, the median of four runs each), and
/// 20 000 seat-hold-sized transactions ~30 % slower (6 000 against 8 900 a
/// second: every commit writes whole pages to the WAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Workload {
    /// Many small transactions (accounts, bookings): SQLite's 4 KiB pages,
    /// so a commit writes little.
    #[default]
    Transactions,
    /// Loads of millions of rows and reads of many (the catalog's import
    /// and browsing): 16 KiB pages, InnoDB's size, so a B-tree is shallower
    /// and a bulk insert touches fewer pages.
    BulkLoads,
}

impl Workload {
    pub(crate) fn sqlite_page_size(self) -> i64 {
        match self {
            Workload::Transactions => 4096,
            Workload::BulkLoads => 16384,
        }
    }
}
