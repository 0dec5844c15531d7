//! What only an index in a directory does: it outlives the process, refuses
//! an index of another schema, and has one writer at a time.

use cdlc_search::{SearchError, SearchIndex, SearchQuery, Target, TitleDoc, SCHEMA_VERSION, VERSION_FILE};

fn godfather() -> TitleDoc {
    TitleDoc {
        id: "tt0068646".into(),
        kind: "movie".into(),
        names: vec!["The Godfather".into()],
        year: Some(1972),
        genres: vec!["Crime".into()],
        rating: Some(9.2),
        votes: 2_100_000,
    }
}

/// An index in a temporary folder holding one committed title, closed again.
fn closed_index_with_godfather() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("search");
    let index = SearchIndex::open(&dir).expect("create");
    index.upsert_titles(&[godfather()]).expect("upsert");
    index.commit().expect("commit");
    (tmp, dir)
}

#[test]
fn an_index_reopens_with_its_documents() {
    let (_tmp, dir) = closed_index_with_godfather();
    let index = SearchIndex::open(&dir).expect("reopen");
    assert_eq!(index.doc_count(), 1);
    let page = index.search(&SearchQuery::text("godfathr")).expect("search");
    assert_eq!(page.hits[0].id, "tt0068646");
    assert_eq!(
        std::fs::read_to_string(dir.join(VERSION_FILE)).expect("version").trim(),
        SCHEMA_VERSION.to_string()
    );
}

#[test]
fn an_index_of_another_schema_version_must_be_rebuilt() {
    let (_tmp, dir) = closed_index_with_godfather();
    std::fs::write(dir.join(VERSION_FILE), "0\n").expect("older version");
    let err = SearchIndex::open(&dir).expect_err("refused");
    assert!(
        matches!(&err, SearchError::SchemaMismatch { found, expected, .. } if found == "0" && *expected == SCHEMA_VERSION)
    );
    assert!(err.to_string().contains("rebuild"), "{err}");
    std::fs::remove_file(dir.join(VERSION_FILE)).expect("rm");
    assert!(
        matches!(SearchIndex::open(&dir), Err(SearchError::SchemaMismatch { found, .. }) if found == "none")
    );

    let index = SearchIndex::recreate(&dir).expect("recreate");
    assert_eq!(index.doc_count(), 0);
    index.upsert_titles(&[godfather()]).expect("upsert");
    index.commit().expect("commit");
    assert_eq!(index.search(&SearchQuery::text("godfather")).expect("search").total, 1);
}

#[test]
fn recreate_never_deletes_a_folder_that_is_not_an_index() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("precious.txt"), "keep me").expect("write");
    let err = SearchIndex::recreate(tmp.path()).expect_err("refused");
    assert!(err.to_string().contains("not deleting"), "{err}");
    assert!(tmp.path().join("precious.txt").exists());
}

#[test]
fn a_second_writer_on_the_same_folder_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let _first = SearchIndex::open(tmp.path()).expect("first");
    let err = SearchIndex::open(tmp.path()).expect_err("second");
    assert!(matches!(err, SearchError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("another writer"));
}

#[test]
fn queries_and_hits_are_json_with_lower_case_targets() {
    let q: SearchQuery =
        serde_json::from_str(r#"{"text":"godf","target":"titles","year_min":1970}"#).expect("json");
    assert_eq!((q.target, q.limit, q.year_min, q.offset), (Target::Titles, 20, Some(1970), 0));
    assert!(serde_json::from_str::<SearchQuery>(r#"{"target":"films"}"#).is_err());
    let index = SearchIndex::in_memory().expect("index");
    index.upsert_titles(&[godfather()]).expect("upsert");
    index.commit().expect("commit");
    let page = index.search(&q).expect("search");
    let json = serde_json::to_value(&page).expect("json");
    assert_eq!(json["hits"][0]["target"], "titles");
    assert_eq!(json["hits"][0]["name"], "The Godfather");
    assert_eq!(json["total"], 1);
    let doc: TitleDoc =
        serde_json::from_value(serde_json::to_value(godfather()).expect("json")).expect("back");
    assert_eq!(doc, godfather());
}
