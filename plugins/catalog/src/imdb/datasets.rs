//! The seven IMDb datasets: their headers and their rows, parsed into
//! records. A row that does not fit is a rejection with a reason, never a
//! failure of the import.

use serde::{Deserialize, Serialize};

use super::tsv::split;
use crate::model::clip;

/// One of the IMDb non-commercial datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dataset {
    // In the order an import reads them: ratings first (the filters need
    // the votes), titles before what hangs off them, people last (the
    // filters keep only people credited in the kept titles).
    #[serde(rename = "title.ratings")]
    Ratings,
    #[serde(rename = "title.basics")]
    Basics,
    #[serde(rename = "title.episode")]
    Episode,
    #[serde(rename = "title.akas")]
    Akas,
    #[serde(rename = "title.crew")]
    Crew,
    #[serde(rename = "title.principals")]
    Principals,
    #[serde(rename = "name.basics")]
    Names,
}

impl Dataset {
    pub const ALL: [Dataset; 7] = [
        Dataset::Ratings,
        Dataset::Basics,
        Dataset::Episode,
        Dataset::Akas,
        Dataset::Crew,
        Dataset::Principals,
        Dataset::Names,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Ratings => "title.ratings",
            Dataset::Basics => "title.basics",
            Dataset::Episode => "title.episode",
            Dataset::Akas => "title.akas",
            Dataset::Crew => "title.crew",
            Dataset::Principals => "title.principals",
            Dataset::Names => "name.basics",
        }
    }

    pub fn header(self) -> &'static str {
        match self {
            Dataset::Ratings => "tconst\taverageRating\tnumVotes",
            Dataset::Basics => {
                "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres"
            }
            Dataset::Episode => "tconst\tparentTconst\tseasonNumber\tepisodeNumber",
            Dataset::Akas => "titleId\tordering\ttitle\tregion\tlanguage\ttypes\tattributes\tisOriginalTitle",
            Dataset::Crew => "tconst\tdirectors\twriters",
            Dataset::Principals => "tconst\tordering\tnconst\tcategory\tjob\tcharacters",
            Dataset::Names => {
                "nconst\tprimaryName\tbirthYear\tdeathYear\tprimaryProfession\tknownForTitles"
            }
        }
    }

    /// The dataset a file name says (`title.basics.tsv.gz`, also with a
    /// prefix such as `2026-12-01-title.basics.tsv.gz`).
    pub fn from_file_name(name: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| name.ends_with(&format!("{}.tsv.gz", d.name())))
    }

    /// The dataset whose header this is.
    pub fn from_header(header: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.header() == header)
    }

    /// Whether consecutive rows of one title form a group (all akas or all
    /// principals of a title are replaced together).
    pub fn grouped(self) -> bool {
        matches!(self, Dataset::Akas | Dataset::Principals)
    }
}

/// An IMDb id (`tt0068646`, `nm0000008`) as its number; only the canonical
/// spelling (at least 7 digits, no extra leading zeros) is accepted, so the
/// number turns back into the same text.
pub fn parse_id(text: &str, prefix: &str) -> Result<u32, String> {
    let digits = text.strip_prefix(prefix).ok_or_else(|| bad_id(text, prefix))?;
    if digits.len() < 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_id(text, prefix));
    }
    let number: u32 = digits.parse().map_err(|_| bad_id(text, prefix))?;
    if format_id(prefix, number) != text {
        return Err(bad_id(text, prefix));
    }
    Ok(number)
}

fn bad_id(text: &str, prefix: &str) -> String {
    format!("{:?} is not an IMDb id ({prefix} and at least 7 digits)", clip(text, 20))
}

pub fn format_id(prefix: &str, number: u32) -> String {
    format!("{prefix}{number:07}")
}

fn required<'a>(field: Option<&'a str>, name: &str) -> Result<&'a str, String> {
    match field {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(format!("{name} is missing")),
    }
}

fn number<T: std::str::FromStr>(field: Option<&str>, name: &str) -> Result<Option<T>, String> {
    field.map(|v| v.parse::<T>().map_err(|_| format!("{name} {:?} is not a number", clip(v, 20)))).transpose()
}

fn year(field: Option<&str>, name: &str) -> Result<Option<i32>, String> {
    match number::<i32>(field, name)? {
        Some(y) if !(1800..=2200).contains(&y) => Err(format!("{name} {y} is not a plausible year")),
        other => Ok(other),
    }
}

fn list(field: Option<&str>) -> Vec<String> {
    field.map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
pub struct BasicsRow {
    pub id: u32,
    pub title_type: String,
    pub primary_title: String,
    pub original_title: Option<String>,
    pub is_adult: bool,
    pub start_year: Option<i32>,
    pub end_year: Option<i32>,
    pub runtime_minutes: Option<i64>,
    pub genres: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow {
    pub id: u32,
    pub average: f64,
    pub votes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeRow {
    pub id: u32,
    pub series: u32,
    pub season: Option<i64>,
    pub episode: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AkaRow {
    pub id: u32,
    pub ordering: i64,
    pub title: String,
    pub region: Option<String>,
    pub language: Option<String>,
    pub types: Option<String>,
    pub attributes: Option<String>,
    pub is_original: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CrewRow {
    pub id: u32,
    pub directors: Vec<u32>,
    pub writers: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalRow {
    pub id: u32,
    pub ordering: i64,
    pub person: u32,
    pub category: String,
    pub job: Option<String>,
    /// A JSON list of strings, as IMDb writes it (`["Vito Corleone"]`).
    pub characters: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NameRow {
    pub id: u32,
    pub name: String,
    pub birth_year: Option<i32>,
    pub death_year: Option<i32>,
    pub professions: Vec<String>,
    pub known_for: Vec<u32>,
}

/// One parsed row, with the hash of its line (what a re-import compares).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Basics(BasicsRow),
    Rating(RatingRow),
    Episode(EpisodeRow),
    Aka(AkaRow),
    Crew(CrewRow),
    Principal(PrincipalRow),
    Name(NameRow),
}

impl Record {
    /// The title (or person) the row belongs to.
    pub fn key(&self) -> u32 {
        match self {
            Record::Basics(r) => r.id,
            Record::Rating(r) => r.id,
            Record::Episode(r) => r.id,
            Record::Aka(r) => r.id,
            Record::Crew(r) => r.id,
            Record::Principal(r) => r.id,
            Record::Name(r) => r.id,
        }
    }
}

fn text(field: Option<&str>, name: &str, max: usize) -> Result<Option<String>, String> {
    match field {
        Some(v) if v.chars().count() > max => Err(format!("{name} is longer than {max} characters")),
        other => Ok(other.map(str::to_owned)),
    }
}

fn ids(field: Option<&str>, prefix: &str) -> Result<Vec<u32>, String> {
    list(field).iter().take(500).map(|id| parse_id(id, prefix)).collect()
}

/// Parses one line of `dataset` (not its header).
pub fn parse(dataset: Dataset, line: &str) -> Result<Record, String> {
    Ok(match dataset {
        Dataset::Basics => {
            let [id, kind, primary, original, adult, start, end, runtime, genres] = split::<9>(line)?;
            Record::Basics(BasicsRow {
                id: parse_id(required(id, "tconst")?, "tt")?,
                title_type: required(kind, "titleType")?.to_owned(),
                primary_title: text(Some(required(primary, "primaryTitle")?), "primaryTitle", 1000)?
                    .unwrap_or_default(),
                original_title: text(original, "originalTitle", 1000)?,
                is_adult: match adult {
                    Some("1") => true,
                    Some("0") | None => false,
                    Some(other) => return Err(format!("isAdult {:?} is not 0 or 1", clip(other, 20))),
                },
                start_year: year(start, "startYear")?,
                end_year: year(end, "endYear")?,
                runtime_minutes: number(runtime, "runtimeMinutes")?,
                genres: list(genres).into_iter().take(16).collect(),
            })
        }
        Dataset::Ratings => {
            let [id, average, votes] = split::<3>(line)?;
            let average: f64 = number(average, "averageRating")?.ok_or("averageRating is missing")?;
            if !(0.0..=10.0).contains(&average) {
                return Err(format!("averageRating {average} is outside 0-10"));
            }
            Record::Rating(RatingRow {
                id: parse_id(required(id, "tconst")?, "tt")?,
                average,
                votes: number(votes, "numVotes")?.ok_or("numVotes is missing")?,
            })
        }
        Dataset::Episode => {
            let [id, parent, season, episode] = split::<4>(line)?;
            Record::Episode(EpisodeRow {
                id: parse_id(required(id, "tconst")?, "tt")?,
                series: parse_id(required(parent, "parentTconst")?, "tt")?,
                season: number(season, "seasonNumber")?,
                episode: number(episode, "episodeNumber")?,
            })
        }
        Dataset::Akas => {
            let [id, ordering, title, region, language, types, attributes, original] = split::<8>(line)?;
            Record::Aka(AkaRow {
                id: parse_id(required(id, "titleId")?, "tt")?,
                ordering: number(ordering, "ordering")?.ok_or("ordering is missing")?,
                title: text(Some(required(title, "title")?), "title", 1000)?.unwrap_or_default(),
                region: text(region, "region", 8)?,
                language: text(language, "language", 8)?,
                types: text(types, "types", 100)?,
                attributes: text(attributes, "attributes", 255)?,
                is_original: original == Some("1"),
            })
        }
        Dataset::Crew => {
            let [id, directors, writers] = split::<3>(line)?;
            Record::Crew(CrewRow {
                id: parse_id(required(id, "tconst")?, "tt")?,
                directors: ids(directors, "nm")?,
                writers: ids(writers, "nm")?,
            })
        }
        Dataset::Principals => {
            let [id, ordering, person, category, job, characters] = split::<6>(line)?;
            let characters = text(characters, "characters", 4000)?;
            if let Some(json) = &characters {
                if serde_json::from_str::<Vec<String>>(json).is_err() {
                    return Err(format!("characters {:?} is not a JSON list of strings", clip(json, 40)));
                }
            }
            Record::Principal(PrincipalRow {
                id: parse_id(required(id, "tconst")?, "tt")?,
                ordering: number(ordering, "ordering")?.ok_or("ordering is missing")?,
                person: parse_id(required(person, "nconst")?, "nm")?,
                category: text(Some(required(category, "category")?), "category", 32)?.unwrap_or_default(),
                job: text(job, "job", 1000)?,
                characters,
            })
        }
        Dataset::Names => {
            let [id, name, birth, death, professions, known] = split::<6>(line)?;
            Record::Name(NameRow {
                id: parse_id(required(id, "nconst")?, "nm")?,
                name: text(Some(required(name, "primaryName")?), "primaryName", 1000)?.unwrap_or_default(),
                birth_year: number(birth, "birthYear")?,
                death_year: number(death, "deathYear")?,
                professions: list(professions).into_iter().take(16).collect(),
                known_for: ids(known, "tt")?,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_canonical() {
        assert_eq!(parse_id("tt0068646", "tt"), Ok(68646));
        assert_eq!(parse_id("tt10872600", "tt"), Ok(10872600));
        for bad in ["tt068646", "nm0068646", "tt00686460", "tt0068a46", "tt"] {
            assert!(parse_id(bad, "tt").is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_parse_with_nulls_and_bare_quotes() {
        let row = parse(
            Dataset::Basics,
            "tt0000001\tshort\t\"Carmencita\"\t\\N\t0\t1894\t\\N\t1\tDocumentary,Short",
        )
        .unwrap();
        let Record::Basics(row) = row else { panic!() };
        assert_eq!(row.primary_title, "\"Carmencita\"");
        assert_eq!((row.original_title, row.start_year, row.end_year), (None, Some(1894), None));
        assert_eq!(row.genres, ["Documentary", "Short"]);
        assert!(parse(Dataset::Principals, "tt0000001\t1\tnm0000001\tactor\t\\N\t[\"Don\"")
            .unwrap_err()
            .contains("not a JSON list"));
        assert!(parse(Dataset::Ratings, "tt0000001\t11.0\t5").unwrap_err().contains("outside 0-10"));
    }
}
