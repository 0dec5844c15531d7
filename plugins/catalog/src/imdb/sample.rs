//! Files in IMDb's format for tests, benches and demos: a small catalog
//! with the awkward parts of the real one (nulls, bare quotes, unicode, a
//! malformed line, a series with seasons and episodes, characters as JSON,
//! a title type the catalog does not keep), and a generator of large ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::Dataset;

/// Writes `lines` under the dataset's header as `dir/{name}.tsv.gz`.
pub fn write_gz(dir: &Path, dataset: Dataset, lines: &[&str]) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{}.tsv.gz", dataset.name()));
    let mut out = GzEncoder::new(std::io::BufWriter::new(std::fs::File::create(&path)?), Compression::fast());
    writeln!(out, "{}", dataset.header())?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.finish()?.flush()?;
    Ok(path)
}

pub const BASICS: &[&str] = &[
    "tt0000001\tshort\t\"Carmencita\"\t\"Carmencita\"\t0\t1894\t\\N\t1\tDocumentary,Short",
    "tt0000004\tmovie\tNanook of the North\tNanook of the North\t0\t1922\t\\N\t79\tDocumentary",
    "tt0068646\tmovie\tThe Godfather\tThe Godfather\t0\t1972\t\\N\t175\tCrime,Drama",
    "tt0211915\tmovie\tAmélie\tLe fabuleux destin d'Amélie Poulain\t0\t2001\t\\N\t122\tComedy,Romance",
    "tt0903747\ttvSeries\tBreaking Bad\tBreaking Bad\t0\t2008\t2013\t49\tCrime,Drama,Thriller",
    "tt0959621\ttvEpisode\tPilot\tPilot\t0\t2008\t\\N\t58\tCrime,Drama,Thriller",
    "tt1054724\ttvEpisode\tCat's in the Bag...\tCat's in the Bag...\t0\t2008\t\\N\t48\tCrime,Drama",
    "tt1232244\ttvEpisode\tSeven Thirty-Seven\tSeven Thirty-Seven\t0\t2009\t\\N\t47\tCrime,Drama",
    "tt1615918\ttvEpisode\tGood Cop Bad Cop\tGood Cop Bad Cop\t0\t2009\t\\N\t3\tShort",
    "tt7777777\tmovie\tThe Godfather\tThe Godfather\t0\t2019\t\\N\t12\tDrama",
    "tt9999999\tvideoGame\tThe Godfather: The Game\tThe Godfather: The Game\t0\t2006\t\\N\t\\N\tAction",
    "tt0000002\thologram\tA Hologram\tA Hologram\t0\t2030\t\\N\t\\N\t\\N",
    "tt0000003\tmovie\ttoo few fields",
];

pub const RATINGS: &[&str] = &[
    "tt0000001\t5.7\t2100",
    "tt0000004\t7.5\t18000",
    "tt0068646\t9.2\t2000000",
    "tt0211915\t8.3\t800000",
    "tt0903747\t9.5\t2100000",
    "tt0959621\t9.0\t40000",
    "tt1054724\t8.6\t30000",
    "tt1232244\t8.7\t28000",
    "tt7777777\t5.1\t12",
    "tt0000005\t6.0\t10",
];

pub const AKAS: &[&str] = &[
    "tt0068646\t1\tDer Pate\tDE\tde\timdbDisplay\t\\N\t0",
    "tt0068646\t2\tLe Parrain\tFR\tfr\timdbDisplay\t\\N\t0",
    "tt0068646\t3\tThe Godfather\t\\N\t\\N\toriginal\t\\N\t1",
    "tt0068646\t4\tKum\u{e1}\u{159}\tCZ\tcs\t\\N\t\\N\t0",
    "tt0211915\t1\tAmélie\tUS\ten\timdbDisplay\t\\N\t0",
    "tt0211915\t2\tDie fabelhafte Welt der Amélie\tDE\t\\N\timdbDisplay\t\\N\t0",
    "tt0211915\t3\tアメリ\tJP\tja\timdbDisplay\t\\N\t0",
];

pub const EPISODES: &[&str] = &[
    "tt0959621\ttt0903747\t1\t1",
    "tt1054724\ttt0903747\t1\t2",
    "tt1232244\ttt0903747\t2\t1",
    "tt1615918\ttt0903747\t\\N\t\\N",
];

pub const CREW: &[&str] = &["tt0068646\tnm0000338\tnm0701374,nm0000338", "tt0211915\tnm0002031\tnm0002031"];

pub const PRINCIPALS: &[&str] = &[
    "tt0068646\t1\tnm0000008\tactor\t\\N\t[\"Don Vito Corleone\"]",
    "tt0068646\t2\tnm0000199\tactor\t\\N\t[\"Michael Corleone\"]",
    "tt0068646\t3\tnm0000338\tdirector\t\\N\t\\N",
    "tt0068646\t4\tnm0701374\twriter\tscreenplay by\t\\N",
    "tt0211915\t1\tnm0851582\tactress\t\\N\t[\"Amélie Poulain\"]",
    "tt0211915\t2\tnm0002031\tdirector\t\\N\t\\N",
    "tt0959621\t1\tnm0186505\tactor\t\\N\t[\"Walter White\",\"Heisenberg\"]",
];

pub const NAMES: &[&str] = &[
    "nm0000008\tMarlon Brando\t1924\t2004\tactor,producer,director\ttt0068646,tt0078788",
    "nm0000199\tAl Pacino\t1940\t\\N\tactor,producer\ttt0068646",
    "nm0000338\tFrancis Ford Coppola\t1939\t\\N\tproducer,director,writer\ttt0068646",
    "nm0701374\tMario Puzo\t1920\t1999\twriter\ttt0068646",
    "nm0851582\tAudrey Tautou\t1976\t\\N\tactress\ttt0211915",
    "nm0002031\tJean-Pierre Jeunet\t1953\t\\N\tdirector,writer\ttt0211915",
    "nm0186505\tBryan Cranston\t1956\t\\N\tactor,producer\ttt0903747",
    "nm9999999\tNobody Credited\t\\N\t\\N\t\\N\t\\N",
];

/// Writes the small catalog's seven files into `dir`.
pub fn write_small(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(vec![
        write_gz(dir, Dataset::Basics, BASICS)?,
        write_gz(dir, Dataset::Ratings, RATINGS)?,
        write_gz(dir, Dataset::Akas, AKAS)?,
        write_gz(dir, Dataset::Episode, EPISODES)?,
        write_gz(dir, Dataset::Crew, CREW)?,
        write_gz(dir, Dataset::Principals, PRINCIPALS)?,
        write_gz(dir, Dataset::Names, NAMES)?,
    ])
}

/// Sizes of a generated catalog.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub titles: u32,
    pub people: u32,
    pub principals_per_title: u32,
}

const WORDS: &[&str] = &[
    "night", "river", "blue", "stranger", "city", "winter", "last", "secret", "garden", "fire", "shadow",
    "king", "ocean", "silent", "dream", "road", "glass", "storm", "golden", "letter", "mirror", "empire",
    "wild", "song",
];
const GENRES: &[&str] =
    &["Drama", "Comedy", "Action", "Crime", "Romance", "Thriller", "Horror", "Documentary"];

/// A deterministic pseudo-random number for `i` (splitmix64).
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn name(seed: u64, words: usize) -> String {
    (0..words)
        .map(|w| {
            let word = WORDS[(mix(seed * 7 + w as u64) % WORDS.len() as u64) as usize];
            let mut chars = word.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes title.basics, title.ratings, title.principals and name.basics of
/// a generated catalog of `sizes` into `dir` (the bench's input).
pub fn write_large(dir: &Path, sizes: Sizes) -> std::io::Result<Vec<PathBuf>> {
    let open =
        |dataset: Dataset| -> std::io::Result<(PathBuf, GzEncoder<std::io::BufWriter<std::fs::File>>)> {
            let path = dir.join(format!("{}.tsv.gz", dataset.name()));
            let mut out = GzEncoder::new(
                std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?),
                Compression::fast(),
            );
            writeln!(out, "{}", dataset.header())?;
            Ok((path, out))
        };
    let (basics_path, mut basics) = open(Dataset::Basics)?;
    let (ratings_path, mut ratings) = open(Dataset::Ratings)?;
    let (principals_path, mut principals) = open(Dataset::Principals)?;
    for t in 0..sizes.titles {
        let r = mix(u64::from(t));
        let title = name(u64::from(t), 1 + (r % 4) as usize);
        let year = 1920 + (r >> 8) % 105;
        let genres = format!(
            "{},{}",
            GENRES[(r >> 16) as usize % GENRES.len()],
            GENRES[(r >> 20) as usize % GENRES.len()]
        );
        let kind = if r.is_multiple_of(10) { "short" } else { "movie" };
        writeln!(
            basics,
            "tt{:07}\t{kind}\t{title}\t{title}\t0\t{year}\t\\N\t{}\t{genres}",
            t + 1,
            60 + (r >> 24) % 120
        )?;
        writeln!(
            ratings,
            "tt{:07}\t{}.{}\t{}",
            t + 1,
            1 + (r >> 28) % 9,
            (r >> 32) % 10,
            (r >> 36) % 100_000
        )?;
        for p in 0..sizes.principals_per_title {
            let person = mix(u64::from(t) * 31 + u64::from(p)) % u64::from(sizes.people.max(1)) + 1;
            let (category, characters) = if p < 2 {
                ("actor", format!("[\"{}\"]", name(person, 2)))
            } else {
                ("director", "\\N".to_owned())
            };
            writeln!(principals, "tt{:07}\t{}\tnm{person:07}\t{category}\t\\N\t{characters}", t + 1, p + 1)?;
        }
    }
    let (names_path, mut names) = open(Dataset::Names)?;
    for p in 0..sizes.people {
        let r = mix(u64::from(p) + 1_000_000_007);
        let known = mix(u64::from(p)) % u64::from(sizes.titles.max(1)) + 1;
        writeln!(
            names,
            "nm{:07}\t{}\t{}\t\\N\tactor\ttt{known:07}",
            p + 1,
            name(u64::from(p) + 99, 2),
            1900 + r % 100
        )?;
    }
    for out in [basics, ratings, principals, names] {
        out.finish()?.flush()?;
    }
    Ok(vec![basics_path, ratings_path, principals_path, names_path])
}
