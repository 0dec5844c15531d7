//! Just enough ISO-BMFF reading to describe the CMAF that cmafmux writes.

/// One box: its four-character type and its payload (after the header).
#[derive(Debug, Clone, Copy)]
pub struct Mp4Box<'a> {
    pub kind: [u8; 4],
    pub payload: &'a [u8],
}

/// The boxes laid end to end in `data`; stops at the first malformed one.
pub fn boxes(data: &[u8]) -> impl Iterator<Item = Mp4Box<'_>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let size32 = u32::from_be_bytes(rest[0..4].try_into().ok()?) as u64;
        let kind: [u8; 4] = rest[4..8].try_into().ok()?;
        let (header, size) = match size32 {
            0 => (8, rest.len() as u64),
            1 => {
                let large = u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
                (16, large)
            }
            n => (8, n),
        };
        if size < header as u64 || size > rest.len() as u64 {
            return None;
        }
        let payload = &rest[header..size as usize];
        rest = &rest[size as usize..];
        Some(Mp4Box { kind, payload })
    })
}

/// Boxes whose payload is itself a list of boxes.
const CONTAINERS: [&[u8; 4]; 10] =
    [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex", b"edts", b"dinf"];

/// Finds the first box at `path` (for example `["moov", "trak", "mdia"]`).
pub fn find<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let found = boxes(data).find(|b| &b.kind == *first)?;
    if rest.is_empty() {
        Some(found.payload)
    } else {
        find(found.payload, rest)
    }
}

/// Depth-first search for the first box of `kind`, descending into the
/// container boxes and the sample entries of `stsd`.
pub fn find_deep<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    for b in boxes(data) {
        if &b.kind == kind {
            return Some(b.payload);
        }
        let inner = if CONTAINERS.contains(&&b.kind) {
            Some(b.payload)
        } else if &b.kind == b"stsd" {
            b.payload.get(8..) // version, flags, entry count
        } else if matches!(&b.kind, b"avc1" | b"avc3") {
            b.payload.get(78..) // visual sample entry fields
        } else if &b.kind == b"mp4a" {
            b.payload.get(28..) // audio sample entry fields
        } else {
            None
        };
        if let Some(found) = inner.and_then(|p| find_deep(p, kind)) {
            return Some(found);
        }
    }
    None
}

/// The RFC 6381 codec string of the track in an init segment, H.264 or AAC.
pub fn codec_string(init: &[u8]) -> Option<String> {
    avc_codec_string(init).or_else(|| aac_codec_string(init))
}

/// The RFC 6381 codec string of the H.264 track in an init segment
/// ("avc1.64001f"), read from its avcC box.
pub fn avc_codec_string(init: &[u8]) -> Option<String> {
    let avcc = find_deep(init, b"avcC")?;
    let (profile, compat, level) = (avcc.get(1)?, avcc.get(2)?, avcc.get(3)?);
    Some(format!("avc1.{profile:02x}{compat:02x}{level:02x}"))
}

/// The RFC 6381 codec string of the AAC track in an init segment
/// ("mp4a.40.2"), read from the audio object type in its esds box.
pub fn aac_codec_string(init: &[u8]) -> Option<String> {
    let esds = find_deep(init, b"esds")?;
    // Walk the descriptors: ES (0x03) → DecoderConfig (0x04) → DecoderSpecificInfo (0x05).
    let mut i = 4; // version + flags
    let mut object_type_indication = None;
    while i < esds.len() {
        let tag = esds[i];
        i += 1;
        let mut len = 0usize;
        for _ in 0..4 {
            let byte = *esds.get(i)?;
            i += 1;
            len = (len << 7) | (byte & 0x7f) as usize;
            if byte & 0x80 == 0 {
                break;
            }
        }
        match tag {
            0x03 => i += 3, // ES_ID, flags; then nested descriptors
            0x04 => {
                object_type_indication = Some(*esds.get(i)?);
                i += 13;
            }
            0x05 => {
                let audio_object_type = esds.get(i)? >> 3;
                return Some(format!("mp4a.{:x}.{}", object_type_indication?, audio_object_type));
            }
            _ => i += len,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn finds_nested_boxes_and_stops_on_garbage() {
        let inner = boxed(b"mdia", &boxed(b"hdlr", b"vide"));
        let data = [boxed(b"ftyp", b"cmfc"), boxed(b"moov", &boxed(b"trak", &inner))].concat();
        assert_eq!(find(&data, &[b"moov", b"trak", b"mdia", b"hdlr"]), Some(&b"vide"[..]));
        assert_eq!(find_deep(&data, b"hdlr"), Some(&b"vide"[..]));
        assert_eq!(boxes(&[0, 0, 0, 99, b'x', b'x', b'x', b'x']).count(), 0);
    }
}
