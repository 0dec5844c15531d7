//! The top-level boxes of an MP4 or QuickTime file, read just far enough to
//! tell whether the file is whole.
//!
//! A file cut short with its index (moov) first still probes as the whole
//! film: qtdemux reads the sample table, plays what is there and ends
//! quietly where the bytes end. The last top-level box (the media data)
//! then claims more bytes than the file holds.

use std::io::{Read, Seek, SeekFrom};

/// Box types that may open an ISO BMFF / QuickTime file.
const FIRST_BOXES: [&[u8; 4]; 6] = [b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"];
/// More boxes than any real file has at the top level.
const MAX_BOXES: usize = 100_000;

/// The first top-level box that runs past the end of the file: its type
/// and the byte it claims to end at. `None` for a whole file and for
/// anything that is not ISO BMFF (whose own demuxer judges it).
pub(crate) fn box_past_end(
    file: &mut (impl Read + Seek),
    file_len: u64,
) -> std::io::Result<Option<(String, u64)>> {
    let mut offset = 0u64;
    for index in 0..MAX_BOXES {
        if offset + 8 > file_len {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut header = [0u8; 16];
        let wanted = if offset + 16 <= file_len { 16 } else { 8 };
        file.read_exact(&mut header[..wanted])?;
        let kind: [u8; 4] = header[4..8].try_into().unwrap_or_default();
        if index == 0 && !FIRST_BOXES.contains(&&kind) {
            return Ok(None);
        }
        let size = match u32::from_be_bytes(header[..4].try_into().unwrap_or_default()) {
            // To the end of the file.
            0 => return Ok(None),
            1 if wanted == 16 => u64::from_be_bytes(header[8..16].try_into().unwrap_or_default()),
            // Malformed: the demuxer will say.
            size if size < 8 => return Ok(None),
            size => size as u64,
        };
        let end = offset.saturating_add(size);
        if end > file_len {
            return Ok(Some((String::from_utf8_lossy(&kind).into_owned(), end)));
        }
        offset = end;
    }
    Ok(None)
}

/// The largest index (moov) read to look for sample entries.
const MAX_MOOV: u64 = 64 << 20;

/// The four-character codes of the sample entries (the codecs) in the
/// file's index, when it is an MP4 or QuickTime file with one.
pub(crate) fn sample_entry_codes(
    file: &mut (impl Read + Seek),
    file_len: u64,
) -> std::io::Result<Vec<[u8; 4]>> {
    let mut offset = 0u64;
    for _ in 0..MAX_BOXES {
        if offset + 8 > file_len {
            break;
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut header = [0u8; 8];
        file.read_exact(&mut header)?;
        let size = u32::from_be_bytes(header[..4].try_into().unwrap_or_default()) as u64;
        if &header[4..8] == b"moov" && (8..=MAX_MOOV).contains(&size) && offset + size <= file_len {
            let mut moov = vec![0u8; size as usize - 8];
            file.read_exact(&mut moov)?;
            // stsd: size, "stsd", version and flags, entry count, then the
            // first entry: size and its code.
            let codes = moov
                .windows(4)
                .enumerate()
                .filter(|(_, w)| *w == b"stsd")
                .filter_map(|(at, _)| moov.get(at + 16..at + 20))
                .filter_map(|code| code.try_into().ok())
                .collect();
            return Ok(codes);
        }
        if size < 8 {
            break;
        }
        offset += size;
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(kind: &[u8; 4], payload: usize) -> Vec<u8> {
        let mut data = ((payload + 8) as u32).to_be_bytes().to_vec();
        data.extend_from_slice(kind);
        data.resize(payload + 8, 0);
        data
    }

    fn check(data: &[u8]) -> Option<(String, u64)> {
        box_past_end(&mut Cursor::new(data), data.len() as u64).expect("read")
    }

    #[test]
    fn a_whole_file_passes_and_a_cut_one_names_its_box() {
        let mut file = [boxed(b"ftyp", 16), boxed(b"moov", 100), boxed(b"mdat", 1000)].concat();
        assert_eq!(check(&file), None);
        let whole = file.len() as u64;
        file.truncate(600);
        assert_eq!(check(&file), Some(("mdat".to_owned(), whole)));
    }

    #[test]
    fn other_formats_and_open_ended_boxes_are_left_to_the_demuxer() {
        assert_eq!(check(b"\x1aE\xdf\xa3 matroska header and more"), None);
        let mut open = boxed(b"ftyp", 16);
        open.extend_from_slice(&[0, 0, 0, 0]);
        open.extend_from_slice(b"mdat");
        open.extend_from_slice(&[1; 50]);
        assert_eq!(check(&open), None, "size 0 runs to the end of the file");
    }

    #[test]
    fn sample_entry_codes_are_found_in_the_index() {
        let mut stsd = boxed(b"stsd", 8 + 16);
        stsd[12..16].copy_from_slice(&1u32.to_be_bytes());
        stsd[20..24].copy_from_slice(b"AVdh");
        let mut moov = boxed(b"moov", stsd.len());
        moov[8..].copy_from_slice(&stsd);
        let file = [boxed(b"ftyp", 16), moov, boxed(b"mdat", 10)].concat();
        let codes = sample_entry_codes(&mut Cursor::new(&file), file.len() as u64).expect("read");
        assert_eq!(codes, vec![*b"AVdh"]);
    }

    #[test]
    fn a_64_bit_size_is_read() {
        let mut file = boxed(b"ftyp", 16);
        file.extend_from_slice(&1u32.to_be_bytes());
        file.extend_from_slice(b"mdat");
        file.extend_from_slice(&(1u64 << 33).to_be_bytes());
        file.extend_from_slice(&[0; 64]);
        assert_eq!(check(&file), Some(("mdat".to_owned(), 24 + (1u64 << 33))));
    }
}
