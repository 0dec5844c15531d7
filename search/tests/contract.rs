//! The behaviour the catalog relies on, run against both stores of the
//! index: in memory (`memory::NAME`) and in a directory (`disk::NAME`).
//! The catalog is generated here: a few well-known titles and people, and
//! a few hundred generated ones around them so that ranking has rivals.

use cdlc_search::{
    Hit, PersonDoc, SearchError, SearchIndex, SearchPage, SearchQuery, Sort, Target, TitleDoc, MAX_LIMIT,
};

struct Backend {
    _dir: Option<tempfile::TempDir>,
    index: SearchIndex,
}

impl Backend {
    fn memory() -> Backend {
        Backend { _dir: None, index: SearchIndex::in_memory().expect("in-memory index") }
    }

    fn disk() -> Backend {
        let dir = tempfile::tempdir().expect("tmp");
        let index = SearchIndex::open(&dir.path().join("search")).expect("open");
        Backend { _dir: Some(dir), index }
    }
}

macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod memory { $( #[test] fn $check() { super::$check(super::Backend::memory()) } )* }
        mod disk { $( #[test] fn $check() { super::$check(super::Backend::disk()) } )* }
    };
}

contract!(
    a_typo_finds_the_title,
    the_last_word_matches_as_a_prefix,
    accents_and_case_are_folded,
    a_person_is_found_by_part_of_the_name,
    a_popular_title_outranks_an_obscure_one_of_the_same_name,
    an_exact_match_outranks_a_typo_match_of_a_popular_title,
    the_hit_names_the_matching_aka,
    filters_by_kind_genre_year_and_rating,
    empty_text_browses_by_votes_and_pages_without_overlap,
    browse_sorts_by_rating_year_and_title,
    upsert_replaces_by_id_and_delete_removes,
    query_syntax_and_huge_input_are_plain_bounded_words,
    a_bad_query_is_an_error_that_says_what_to_fix,
    an_invalid_document_rejects_its_whole_batch,
    writes_are_visible_after_commit_only,
    searches_run_from_many_threads_while_writing,
);

fn title(
    id: &str,
    kind: &str,
    names: &[&str],
    year: i32,
    genres: &[&str],
    rating: f32,
    votes: u64,
) -> TitleDoc {
    TitleDoc {
        id: id.to_owned(),
        kind: kind.to_owned(),
        names: names.iter().map(|n| n.to_string()).collect(),
        year: Some(year),
        genres: genres.iter().map(|g| g.to_string()).collect(),
        rating: Some(rating),
        votes,
    }
}

fn person(id: &str, name: &str, professions: &[&str], votes: u64) -> PersonDoc {
    PersonDoc {
        id: id.to_owned(),
        name: name.to_owned(),
        professions: professions.iter().map(|p| p.to_string()).collect(),
        known_for_votes: votes,
    }
}

const GODFATHER: &str = "tt0068646";
const GODFATHER_II: &str = "tt0071562";
const OBSCURE_GODFATHER: &str = "tt9990001";
const AMELIE: &str = "tt0211915";
const BREAKING_BAD: &str = "tt0903747";
const BRANDO: &str = "nm0000008";

/// Words for generated titles: none of them near the names the tests look for.
const FILLER: &[&str] = &[
    "river", "night", "silver", "engine", "harbor", "winter", "garden", "thunder", "window", "paper",
    "orbit", "falcon", "meadow", "copper", "lantern", "canyon", "velvet", "signal", "island", "marble",
];

fn catalog() -> (Vec<TitleDoc>, Vec<PersonDoc>) {
    let mut titles = vec![
        title(
            GODFATHER,
            "movie",
            &["The Godfather", "Il padrino", "Der Pate", "Le Parrain", "The Godfather"],
            1972,
            &["Crime", "Drama"],
            9.2,
            2_100_000,
        ),
        title(
            GODFATHER_II,
            "movie",
            &["The Godfather Part II", "Il padrino - Parte II"],
            1974,
            &["Crime", "Drama"],
            9.0,
            1_400_000,
        ),
        title(OBSCURE_GODFATHER, "short", &["The Godfather"], 2015, &["Comedy"], 5.1, 12),
        title(
            AMELIE,
            "movie",
            &["Le Fabuleux Destin d'Amélie Poulain", "Amélie", "Die fabelhafte Welt der Amélie"],
            2001,
            &["Comedy", "Romance"],
            8.3,
            820_000,
        ),
        title(
            BREAKING_BAD,
            "series",
            &["Breaking Bad"],
            2008,
            &["Crime", "Drama", "Thriller"],
            9.5,
            2_200_000,
        ),
        title("tt0959621", "episode", &["Pilot"], 2008, &["Crime", "Drama"], 9.0, 40_000),
        title(
            "tt0420053",
            "documentary",
            &["Marlon Brando: An Actor Named Desire"],
            2014,
            &["Documentary"],
            7.0,
            900,
        ),
        title("tt0100001", "movie", &["Godfather of Harlem"], 1999, &["Crime"], 6.0, 3_000),
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for n in 0..400 {
        let words: Vec<&str> = (0..1 + next(3)).map(|_| FILLER[next(FILLER.len())]).collect();
        let kind = ["movie", "series", "short", "documentary"][next(4)];
        titles.push(title(
            &format!("tt1{n:06}"),
            kind,
            &[&words.join(" ")],
            1950 + next(70) as i32,
            &[["Drama", "Comedy", "Horror", "Crime"][next(4)]],
            next(101) as f32 / 10.0,
            next(1_000_000) as u64,
        ));
    }
    let people = vec![
        person(BRANDO, "Marlon Brando", &["actor", "director"], 3_000_000),
        person("nm0000199", "Al Pacino", &["actor"], 3_500_000),
        person("nm0000338", "Francis Ford Coppola", &["director", "writer"], 3_200_000),
        person("nm0851582", "Audrey Tautou", &["actress"], 900_000),
        person("nm9000001", "Marlon Wayans", &["actor"], 400_000),
    ];
    (titles, people)
}

fn loaded(backend: Backend) -> Backend {
    let (titles, people) = catalog();
    for batch in titles.chunks(100) {
        backend.index.upsert_titles(batch).expect("upsert titles");
    }
    backend.index.upsert_people(&people).expect("upsert people");
    backend.index.commit().expect("commit");
    assert_eq!(backend.index.doc_count(), (titles.len() + people.len()) as u64);
    backend
}

fn search(index: &SearchIndex, q: SearchQuery) -> SearchPage {
    index.search(&q).unwrap_or_else(|e| panic!("search {q:?}: {e}"))
}

fn text(index: &SearchIndex, text: &str) -> SearchPage {
    search(index, SearchQuery::text(text))
}

fn ids(page: &SearchPage) -> Vec<&str> {
    page.hits.iter().map(|hit| hit.id.as_str()).collect()
}

fn first(page: &SearchPage) -> &Hit {
    page.hits.first().unwrap_or_else(|| panic!("no hits"))
}

fn a_typo_finds_the_title(backend: Backend) {
    let index = &loaded(backend).index;
    for typo in ["godfathr", "godfahter", "teh godfather", "GODFATEHR", "the godfathre"] {
        let page = text(index, typo);
        assert_eq!(first(&page).id, GODFATHER, "{typo:?} → {:?}", ids(&page));
    }
    // Two typos in a long word, one in a short one; none in two letters.
    assert_eq!(first(&text(index, "godfatehrr")).id, GODFATHER);
    assert_eq!(first(&text(index, "ameli")).id, AMELIE);
    assert!(!ids(&text(index, "xq")).contains(&GODFATHER));
    assert_eq!(first(&text(index, "gdfathre")).id, GODFATHER, "a deletion and a transposition");
    // Three typos are too many.
    assert!(!ids(&text(index, "goodfatehrr")).contains(&GODFATHER), "{:?}", ids(&text(index, "goodfatehrr")));
    assert!(text(index, "zzdfathezz").hits.is_empty(), "four edits from godfather must not match");
}

fn the_last_word_matches_as_a_prefix(backend: Backend) {
    let index = &loaded(backend).index;
    for typed in ["g", "go", "godf", "the godf", "godfat"] {
        let page = text(index, typed);
        assert_eq!(first(&page).id, GODFATHER, "{typed:?} → {:?}", ids(&page));
    }
    assert_eq!(first(&text(index, "breaking b")).id, BREAKING_BAD);
    assert_eq!(first(&text(index, "brea")).id, BREAKING_BAD);
    // Only the last word is a prefix: "godf" as a first word is not "godfather".
    assert!(!ids(&text(index, "godf padrino")).is_empty(), "falls back to any word");
    assert_eq!(first(&text(index, "godf padrino")).id, GODFATHER);
}

fn accents_and_case_are_folded(backend: Backend) {
    let index = &loaded(backend).index;
    for typed in ["amélie", "amelie", "AMELIE", "Amélie", "AMÉLIE"] {
        let page = text(index, typed);
        assert_eq!(first(&page).id, AMELIE, "{typed:?} → {:?}", ids(&page));
        assert_eq!(first(&page).name, "Amélie", "the aka that is the whole query");
    }
}

fn a_person_is_found_by_part_of_the_name(backend: Backend) {
    let index = &loaded(backend).index;
    let people =
        |typed: &str| search(index, SearchQuery { target: Target::People, ..SearchQuery::text(typed) });
    let page = people("brando");
    assert_eq!(ids(&page), [BRANDO]);
    assert_eq!((first(&page).target, first(&page).name.as_str()), (Target::People, "Marlon Brando"));
    assert_eq!(first(&people("coppola")).name, "Francis Ford Coppola");
    assert_eq!(first(&people("ford copp")).name, "Francis Ford Coppola");
    assert_eq!(first(&people("tautou")).id, "nm0851582");
    // "marl" is two people: the more popular first.
    assert_eq!(ids(&people("marl")), [BRANDO, "nm9000001"]);
    // Across titles and people, the person and the documentary about him.
    let all = text(index, "marlon brando");
    assert_eq!(ids(&all)[..2], [BRANDO, "tt0420053"]);
    assert_eq!(all.hits[1].target, Target::Titles);
    // Titles only: no person.
    let titles = search(index, SearchQuery { target: Target::Titles, ..SearchQuery::text("brando") });
    assert_eq!(ids(&titles), ["tt0420053"]);
}

fn a_popular_title_outranks_an_obscure_one_of_the_same_name(backend: Backend) {
    let index = &loaded(backend).index;
    for typed in ["the godfather", "godfather", "The Godfather"] {
        let page = text(index, typed);
        let at =
            |id: &str| ids(&page).iter().position(|hit| *hit == id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(at(GODFATHER), 0, "{typed:?} → {:?}", ids(&page));
        assert!(at(OBSCURE_GODFATHER) > at(GODFATHER));
        assert!(page.hits[at(GODFATHER)].score > page.hits[at(OBSCURE_GODFATHER)].score);
    }
    // The whole name ranks the obscure exact title above the popular sequel.
    let page = text(index, "the godfather");
    assert!(
        ids(&page).iter().position(|id| *id == OBSCURE_GODFATHER)
            < ids(&page).iter().position(|id| *id == GODFATHER_II)
    );
    assert_eq!(ids(&page).len(), 3, "every word must match: not Godfather of Harlem");
    assert_eq!(text(index, "godfather").total, 4, "three godfathers and Godfather of Harlem");
}

fn an_exact_match_outranks_a_typo_match_of_a_popular_title(backend: Backend) {
    let index = &loaded(backend).index;
    // "pilot" is an episode (40 000 votes); "pilat" is one typo from it and
    // from nothing else. A title named exactly "Pilat" with 5 votes wins.
    index.upsert_titles(&[title("tt0200001", "short", &["Pilat"], 2020, &[], 6.0, 5)]).expect("upsert");
    index.commit().expect("commit");
    assert_eq!(ids(&text(index, "pilat")), ["tt0200001", "tt0959621"]);
}

fn the_hit_names_the_matching_aka(backend: Backend) {
    let index = &loaded(backend).index;
    assert_eq!(first(&text(index, "der pate")).name, "Der Pate");
    assert_eq!(first(&text(index, "parrain")).name, "Le Parrain");
    assert_eq!(first(&text(index, "amelie poulain")).name, "Le Fabuleux Destin d'Amélie Poulain");
    assert_eq!(first(&text(index, "padrino parte")).name, "Il padrino - Parte II");
    // Browsing shows the primary name.
    let browse = search(
        index,
        SearchQuery { kinds: vec!["movie".into()], rating_min: Some(9.1), ..SearchQuery::default() },
    );
    assert_eq!(first(&browse).name, "The Godfather");
}

fn filters_by_kind_genre_year_and_rating(backend: Backend) {
    let index = &loaded(backend).index;
    let godfather = |q: SearchQuery| {
        ids(&search(index, SearchQuery { text: "godfather".into(), ..q }))
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        godfather(SearchQuery { kinds: vec!["short".into()], ..SearchQuery::default() }),
        [OBSCURE_GODFATHER]
    );
    assert_eq!(
        godfather(SearchQuery {
            kinds: vec!["short".into(), "movie".into()],
            year_min: Some(2000),
            ..SearchQuery::default()
        }),
        [OBSCURE_GODFATHER]
    );
    assert_eq!(
        godfather(SearchQuery {
            genres: vec!["CRIME".into()],
            year_min: Some(1970),
            year_max: Some(1974),
            ..SearchQuery::default()
        }),
        [GODFATHER, GODFATHER_II]
    );
    assert_eq!(godfather(SearchQuery { year_max: Some(1972), ..SearchQuery::default() }), [GODFATHER]);
    assert_eq!(godfather(SearchQuery { rating_min: Some(9.1), ..SearchQuery::default() }), [GODFATHER]);
    assert_eq!(
        godfather(SearchQuery { rating_min: Some(9.0), ..SearchQuery::default() }),
        [GODFATHER, GODFATHER_II]
    );
    assert!(godfather(SearchQuery { genres: vec!["horror".into()], ..SearchQuery::default() }).is_empty());
    // A title filter leaves the people out.
    let page =
        search(index, SearchQuery { text: "marlon".into(), year_min: Some(1900), ..SearchQuery::default() });
    assert_eq!(ids(&page), ["tt0420053"]);
    // Every hit of a filtered browse passes the filter.
    let (titles, _) = catalog();
    let q = SearchQuery {
        kinds: vec!["series".into()],
        genres: vec!["drama".into()],
        year_min: Some(1990),
        limit: 100,
        ..SearchQuery::default()
    };
    let page = search(index, q);
    let expected = titles
        .iter()
        .filter(|t| t.kind == "series" && t.genres.iter().any(|g| g == "Drama") && t.year >= Some(1990))
        .count();
    assert_eq!(page.total as usize, expected);
    assert!(expected > 5, "the generated catalog has series to filter");
    for hit in &page.hits {
        let t = titles.iter().find(|t| t.id == hit.id).expect("a known title");
        assert!(t.kind == "series" && t.year >= Some(1990), "{t:?}");
    }
}

fn empty_text_browses_by_votes_and_pages_without_overlap(backend: Backend) {
    let index = &loaded(backend).index;
    let (titles, _) = catalog();
    let votes = |id: &str| titles.iter().find(|t| t.id == id).map(|t| t.votes).expect("a movie");
    let movies = titles.iter().filter(|t| t.kind == "movie").count() as u64;
    let page = |offset| {
        search(
            index,
            SearchQuery { kinds: vec!["movie".into()], limit: 30, offset, ..SearchQuery::default() },
        )
    };
    let (one, two) = (page(0), page(30));
    assert_eq!((one.total, two.total), (movies, movies));
    let seen: Vec<&str> = ids(&one).into_iter().chain(ids(&two)).collect();
    assert_eq!(seen.len(), 60);
    assert!(seen.windows(2).all(|w| votes(w[0]) >= votes(w[1])), "votes descending across pages");
    assert_eq!(seen[0], GODFATHER, "the most-voted movie");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 60, "no hit on both pages");
    // Everything, people included, most popular first.
    let all = search(index, SearchQuery::default());
    assert_eq!(all.total, index.doc_count());
    assert_eq!(first(&all).id, "nm0000199", "Al Pacino has the most votes");
}

fn browse_sorts_by_rating_year_and_title(backend: Backend) {
    let index = &loaded(backend).index;
    let unknown =
        TitleDoc { year: None, rating: None, ..title("tt0300001", "movie", &["Unknown"], 0, &[], 0.0, 1) };
    index.upsert_titles(std::slice::from_ref(&unknown)).expect("upsert");
    index.commit().expect("commit");
    let q = SearchQuery { target: Target::Titles, limit: 100, ..SearchQuery::default() };
    let (mut titles, _) = catalog();
    titles.push(unknown);
    for sort in [Sort::Rating, Sort::Year] {
        let all = index.search_sorted(&SearchQuery { limit: 0, ..q.clone() }, sort).expect("count").total;
        let last = index
            .search_sorted(&SearchQuery { offset: all as usize - 1, ..q.clone() }, sort)
            .expect("last page");
        assert_eq!(ids(&last), ["tt0300001"], "{sort:?}: a title without the value comes last");
    }
    let find = |id: &str| titles.iter().find(|t| t.id == id).expect("known").clone();
    let rated = index.search_sorted(&q, Sort::Rating).expect("by rating");
    let best = titles.iter().filter_map(|t| t.rating).fold(0.0, f32::max);
    assert_eq!(find(&first(&rated).id).rating, Some(best));
    assert!(rated.hits.windows(2).all(|w| find(&w[0].id).rating >= find(&w[1].id).rating));
    let newest = index.search_sorted(&q, Sort::Year).expect("by year");
    assert!(newest.hits.windows(2).all(|w| find(&w[0].id).year >= find(&w[1].id).year));
    let named = index.search_sorted(&q, Sort::Title).expect("by title");
    let folded = |hit: &Hit| hit.name.to_lowercase().replace('é', "e");
    assert!(
        named.hits.windows(2).all(|w| folded(&w[0]) <= folded(&w[1])),
        "{:?}",
        named.hits.iter().map(|h| &h.name).collect::<Vec<_>>()
    );
    let popular = index
        .search_sorted(&SearchQuery { text: "godfather".into(), ..q.clone() }, Sort::Popularity)
        .expect("by votes");
    assert_eq!(ids(&popular), [GODFATHER, GODFATHER_II, "tt0100001", OBSCURE_GODFATHER]);
}

fn upsert_replaces_by_id_and_delete_removes(backend: Backend) {
    let index = &loaded(backend).index;
    let count = index.doc_count();
    let renamed = title(OBSCURE_GODFATHER, "short", &["Grandfather Clock"], 2015, &["Comedy"], 5.1, 12);
    index.upsert_titles(&[renamed]).expect("upsert");
    index.commit().expect("commit");
    assert_eq!(index.doc_count(), count, "replaced, not added");
    assert!(!ids(&text(index, "the godfather")).contains(&OBSCURE_GODFATHER));
    assert_eq!(ids(&text(index, "grandfather clock")), [OBSCURE_GODFATHER]);
    index.delete(OBSCURE_GODFATHER).expect("delete");
    index.delete(BRANDO).expect("delete a person");
    index.delete("tt0000000").expect("deleting a missing id is not an error");
    index.commit().expect("commit");
    assert_eq!(index.doc_count(), count - 2);
    assert!(text(index, "grandfather clock").hits.iter().all(|hit| hit.id != OBSCURE_GODFATHER));
    assert!(!ids(&text(index, "brando")).contains(&BRANDO));
}

fn query_syntax_and_huge_input_are_plain_bounded_words(backend: Backend) {
    let index = &loaded(backend).index;
    for hostile in [
        "title:\"godfather\"",
        "godfather AND (padrino OR",
        "god* ~2 ^3",
        "-godfather",
        "[a TO z]",
        "{}\\/:!?^~\"'",
        "names:godfather",
        "\u{0}\u{1}godfather\u{7f}",
    ] {
        let page = index.search(&SearchQuery::text(hostile)).unwrap_or_else(|e| panic!("{hostile:?}: {e}"));
        assert!(page.hits.len() <= 20, "{hostile:?}");
    }
    assert_eq!(first(&text(index, "title:\"godfather\"")).id, GODFATHER, "title is a word, not a field");
    assert_eq!(
        text(index, "!!! ??? ***"),
        SearchPage { hits: vec![], total: 0 },
        "no words, no browse of everything"
    );
    // 10 000 characters, 2 000 words: cut to 200 characters and 10 words.
    let long = "godfather ".repeat(1000);
    assert_eq!(first(&text(index, &long)).id, GODFATHER);
    let long_word = "a".repeat(10_000);
    assert!(text(index, &long_word).hits.is_empty());
    let page = search(index, SearchQuery { limit: 1_000_000, offset: 0, ..SearchQuery::default() });
    assert_eq!(page.hits.len(), MAX_LIMIT);
    let deep = search(index, SearchQuery { limit: 10, offset: usize::MAX, ..SearchQuery::default() });
    assert!(deep.hits.is_empty() && deep.total == index.doc_count(), "offset capped, total still counted");
    let count_only = search(index, SearchQuery { limit: 0, ..SearchQuery::text("godfather") });
    assert_eq!((count_only.hits.len(), count_only.total), (0, 4));
}

fn a_bad_query_is_an_error_that_says_what_to_fix(backend: Backend) {
    let index = &loaded(backend).index;
    let cases = [
        (SearchQuery { rating_min: Some(11.0), ..SearchQuery::default() }, "0–10"),
        (SearchQuery { rating_min: Some(f32::NAN), ..SearchQuery::default() }, "0–10"),
        (SearchQuery { year_min: Some(2000), year_max: Some(1990), ..SearchQuery::default() }, "swap"),
        (SearchQuery { kinds: vec!["tvSeries".into()], ..SearchQuery::default() }, "movie, series"),
        (SearchQuery { genres: vec!["x".into(); 100], ..SearchQuery::default() }, "at most"),
    ];
    for (q, says) in cases {
        match index.search(&q) {
            Err(e @ SearchError::InvalidQuery(_)) => {
                assert!(e.is_bad_request());
                assert!(e.to_string().contains(says), "{e} should say {says:?}");
            }
            other => panic!("{q:?} should be refused, got {other:?}"),
        }
    }
}

fn an_invalid_document_rejects_its_whole_batch(backend: Backend) {
    let index = &backend.index;
    let good = title("tt0000001", "movie", &["Fine"], 2000, &[], 5.0, 1);
    let bad = [
        (title("tt0000002", "tvSeries", &["Kind"], 2000, &[], 5.0, 1), "unknown kind"),
        (title("tt0000003", "movie", &["  ", ""], 2000, &[], 5.0, 1), "name"),
        (title("tt0000004", "movie", &["Rated"], 2000, &[], 10.5, 1), "0–10"),
        (title("tt 5", "movie", &["Id"], 2000, &[], 5.0, 1), "space"),
        (title("", "movie", &["Id"], 2000, &[], 5.0, 1), "empty"),
    ];
    for (doc, says) in bad {
        let err = index.upsert_titles(&[good.clone(), doc.clone()]).expect_err("refused");
        assert!(matches!(&err, SearchError::InvalidDocument { id, .. } if *id == doc.id), "{err}");
        assert!(err.to_string().contains(says), "{err} should say {says:?}");
    }
    let err = index.upsert_people(&[person("nm1", " ", &[], 0)]).expect_err("refused");
    assert!(err.is_bad_request());
    assert!(index.delete("").is_err());
    index.commit().expect("commit");
    assert_eq!(index.doc_count(), 0, "nothing of a refused batch was written");
}

fn writes_are_visible_after_commit_only(backend: Backend) {
    let index = &backend.index;
    index.upsert_titles(&[title(GODFATHER, "movie", &["The Godfather"], 1972, &[], 9.2, 1)]).expect("upsert");
    assert_eq!((index.doc_count(), text(index, "godfather").total), (0, 0));
    index.commit().expect("commit");
    assert_eq!((index.doc_count(), text(index, "godfather").total), (1, 1));
}

fn searches_run_from_many_threads_while_writing(backend: Backend) {
    let index = &loaded(backend).index;
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for n in 0..20 {
                let batch: Vec<TitleDoc> = (0..50)
                    .map(|k| {
                        title(&format!("tt5{n:03}{k:03}"), "movie", &["Lantern Harbor"], 2000, &[], 5.0, 1)
                    })
                    .collect();
                index.upsert_titles(&batch).expect("upsert");
                index.commit().expect("commit");
            }
        });
        let readers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..50 {
                        assert_eq!(first(&text(index, "godfathr")).id, GODFATHER);
                    }
                })
            })
            .collect();
        writer.join().expect("writer");
        readers.into_iter().for_each(|r| r.join().expect("reader"));
    });
    let page = search(index, SearchQuery { limit: 0, ..SearchQuery::text("lantern harbor") });
    assert!(page.total >= 1000, "{}", page.total);
}
