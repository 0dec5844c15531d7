//! What an import knows of a table without reading it back.
//!
//! A first load reads nothing: when a table held no imported row as the
//! import began, its imported rows are exactly those this import inserted,
//! and a column written only by a later pass is still NULL in each of them.
//! So a pass asks the table only about ids it cannot answer for: any id of
//! a table that held imported rows, a row inserted twice, a group written
//! twice in one pass (a file out of order), an id past `MAX_KNOWN_ID`.

/// Ids above this are never remembered (and so always read from the
/// table): a set of every id up to it takes at most 25 MiB. IMDb's
/// numbers are at about 40 million.
pub const MAX_KNOWN_ID: u32 = 200_000_000;

/// A set of id numbers (`tt0068646` is 68646), one bit each.
#[derive(Debug, Default)]
pub struct IdBits {
    words: Vec<u64>,
}

impl IdBits {
    /// Adds `id`; false (and nothing added) above `MAX_KNOWN_ID`.
    pub fn insert(&mut self, id: u32) -> bool {
        if id > MAX_KNOWN_ID {
            return false;
        }
        let word = (id / 64) as usize;
        if word >= self.words.len() {
            // Grow by half again at least, so n inserts in order cost O(n),
            // but never past the words of `MAX_KNOWN_ID`.
            let most = (MAX_KNOWN_ID / 64) as usize + 1;
            let len = (word + 1).max(self.words.len() * 3 / 2).min(most);
            self.words.resize(len, 0);
        }
        self.words[word] |= 1 << (id % 64);
        true
    }

    pub fn contains(&self, id: u32) -> bool {
        self.words.get((id / 64) as usize).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn clear(&mut self) {
        self.words.clear();
    }
}

/// What a stored hash column holds for an id, as far as the import knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// No such row.
    Absent,
    /// The row exists and the column is NULL.
    NoHash,
    /// Only the table can say.
    Unknown,
}

/// One table's knowledge.
#[derive(Debug, Default)]
pub struct Known {
    /// The table held no imported row when the import began.
    fresh: bool,
    /// Ids this import inserted.
    inserted: IdBits,
    /// Ids whose column the current pass wrote already.
    this_pass: IdBits,
}

impl Known {
    pub fn new(fresh: bool) -> Known {
        Known { fresh, ..Known::default() }
    }

    /// What a hash column holds for `id`. `set_on_insert`: the column is
    /// written when the row is inserted (so a row this import inserted has
    /// a hash the import does not remember).
    pub fn stored(&self, id: u32, set_on_insert: bool) -> Stored {
        if !self.fresh || id > MAX_KNOWN_ID || self.this_pass.contains(id) {
            return Stored::Unknown;
        }
        match self.inserted.contains(id) {
            false => Stored::Absent,
            true if set_on_insert => Stored::Unknown,
            true => Stored::NoHash,
        }
    }

    /// The import inserted the row of `id`.
    pub fn inserted(&mut self, id: u32) {
        self.inserted.insert(id);
    }

    /// The current pass wrote the column of `id`.
    pub fn written(&mut self, id: u32) {
        self.this_pass.insert(id);
    }

    /// A new pass (of another column) begins.
    pub fn next_pass(&mut self) {
        self.this_pass.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_what_was_inserted_up_to_its_limit() {
        let mut set = IdBits::default();
        assert!(set.insert(68646) && set.insert(0) && set.insert(MAX_KNOWN_ID));
        assert!(!set.insert(MAX_KNOWN_ID + 1));
        assert!(set.contains(68646) && set.contains(0) && set.contains(MAX_KNOWN_ID));
        assert!(!set.contains(68645) && !set.contains(MAX_KNOWN_ID + 1) && !set.contains(u32::MAX));
        set.clear();
        assert!(!set.contains(68646));
    }

    #[test]
    fn only_a_table_that_was_empty_answers_without_a_read() {
        let mut fresh = Known::new(true);
        fresh.inserted(7);
        assert_eq!(fresh.stored(7, false), Stored::NoHash);
        assert_eq!(fresh.stored(8, false), Stored::Absent);
        // Its basics hash was written with it; a second row of it must read it.
        assert_eq!(fresh.stored(7, true), Stored::Unknown);
        fresh.written(7);
        assert_eq!(fresh.stored(7, false), Stored::Unknown, "written twice in one pass");
        fresh.next_pass();
        assert_eq!(fresh.stored(7, false), Stored::NoHash);
        assert_eq!(fresh.stored(MAX_KNOWN_ID + 1, false), Stored::Unknown);

        let mut loaded = Known::new(false);
        loaded.inserted(7);
        assert_eq!(loaded.stored(7, false), Stored::Unknown);
        assert_eq!(loaded.stored(8, false), Stored::Unknown);
    }
}
