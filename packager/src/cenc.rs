//! Common Encryption (ISO/IEC 23001-7), scheme `cenc` (AES-128-CTR), written
//! by cdlc itself: gst-plugins-rs 0.14 cannot encrypt, and the clear CMAF
//! segments in the store are encrypted on their way out (see "Encryption"
//! in docs/architecture.md).
//!
//! - [`protect_init`] turns an init segment's `avc1`/`hvc1`/`mp4a`… sample
//!   entries into `encv`/`enca` with a `sinf` (`frma`, `schm` `cenc`,
//!   `tenc` with the key id) and adds a ClearKey `pssh` (the W3C common
//!   system id, version 1 with the key id) to `moov`.
//! - [`encrypt_segment`] encrypts every sample of a media segment in place
//!   and adds `senc`, `saiz` and `saio` to each `traf`, fixing the
//!   `trun` data offsets for the bigger `moof`. AVC and HEVC samples use
//!   subsample encryption (each NAL unit's length and header clear, the
//!   rest in whole 16-byte blocks; non-VCL NAL units clear); other tracks
//!   encrypt whole samples.
//!
//! Per-sample IVs are 16 bytes: 12 bytes of an HMAC-SHA256, under a key
//! derived from the content key, of the rendition, the segment number, the
//! track, the sample's index and the sample's clear bytes, then 4 zero
//! bytes where the block counter runs (a sample is far below 2³² blocks, so
//! the counter never carries into the derived bytes, whether a decryptor
//! counts on 64 or 128 bits). The same segment always gives the same bytes
//! (edges cache it; a re-fetch must match), two samples never share a
//! keystream unless they are the same bytes at the same place, and a
//! re-transcode that changed a segment changes its IVs too.
//!
//! Every box is read with its bounds checked: malformed input is an error,
//! never a panic.

use aes::cipher::{BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The W3C "common" ClearKey system id of the `pssh` box
/// (1077efec-c0b2-4d02-ace3-3c1e52e2fb4b).
pub const COMMON_SYSTEM_ID: [u8; 16] =
    [0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b];
/// Bytes of each sample's IV in `senc`.
pub const IV_SIZE: usize = 16;
/// `schm` scheme version 1.0.
const SCHEME_VERSION: u32 = 0x0001_0000;
/// `senc` flag: the samples carry subsample maps.
const SENC_SUBSAMPLES: u32 = 0x2;
/// `tfhd` flags.
const TFHD_BASE_DATA_OFFSET: u32 = 0x1;
const TFHD_DESCRIPTION_INDEX: u32 = 0x2;
const TFHD_DEFAULT_DURATION: u32 = 0x8;
const TFHD_DEFAULT_SIZE: u32 = 0x10;
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x2_0000;
/// `trun` flags.
const TRUN_DATA_OFFSET: u32 = 0x1;
const TRUN_FIRST_FLAGS: u32 = 0x4;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_CTO: u32 = 0x800;
/// Largest clear run of one subsample entry (16 bits).
const MAX_CLEAR: usize = u16::MAX as usize;

/// Why a segment could not be encrypted. The input came from cdlc's own
/// transcoder, so either is a bug or a damaged object, reported as such.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CencError {
    #[error("the {what} is not a valid MP4 box structure: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("the {what} cannot be encrypted with CENC: {reason}")]
    Unsupported { what: &'static str, reason: String },
}

fn malformed(what: &'static str, reason: impl Into<String>) -> CencError {
    CencError::Malformed { what, reason: reason.into() }
}

fn unsupported(what: &'static str, reason: impl Into<String>) -> CencError {
    CencError::Unsupported { what, reason: reason.into() }
}

const INIT: &str = "init segment";
const MEDIA: &str = "media segment";

/// An AES-128 content key and its key id.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub kid: [u8; 16],
    pub key: [u8; 16],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// How a track's samples are encrypted, learnt from its sample entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Samples {
    /// AVC (`header` 1) or HEVC (`header` 2) with NAL lengths of `length_size` bytes.
    Nal { length_size: usize, header: usize, hevc: bool },
    /// Whole samples (audio).
    Whole,
    /// Not encrypted (a text track, an unknown format).
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Track {
    id: u32,
    samples: Samples,
    /// `trex` default sample size, for a `trun` that gives none.
    default_size: u32,
}

/// What encrypting a media segment needs to know of its init segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracks(Vec<Track>);

impl Tracks {
    fn get(&self, id: u32) -> Option<&Track> {
        self.0.iter().find(|t| t.id == id)
    }

    /// Whether any track is encrypted.
    pub fn any_protected(&self) -> bool {
        self.0.iter().any(|t| t.samples != Samples::Clear)
    }
}

/// Where a media segment sits, for its IVs.
#[derive(Debug, Clone, Copy)]
pub struct SegmentPlace<'a> {
    pub rendition: &'a str,
    pub number: u32,
}

/// One box inside a byte slice.
#[derive(Debug, Clone, Copy)]
struct RawBox<'a> {
    kind: [u8; 4],
    /// Offset of the box in the slice it was split from.
    start: usize,
    header: usize,
    bytes: &'a [u8],
}

impl<'a> RawBox<'a> {
    fn body(&self) -> &'a [u8] {
        &self.bytes[self.header..]
    }
}

/// The boxes that fill `data` exactly.
fn split_boxes<'a>(data: &'a [u8], what: &'static str) -> Result<Vec<RawBox<'a>>, CencError> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let rest = &data[at..];
        if rest.len() < 8 {
            return Err(malformed(what, format!("{} stray bytes at offset {at}", rest.len())));
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        let (size, header) = match size32 {
            0 => (rest.len(), 8),
            1 => {
                let large = rest.get(8..16).ok_or_else(|| malformed(what, "a 64-bit box size is cut"))?;
                let large = u64::from_be_bytes(large.try_into().unwrap_or_default());
                (usize::try_from(large).unwrap_or(usize::MAX), 16)
            }
            n => (n as usize, 8),
        };
        if size < header || size > rest.len() {
            return Err(malformed(
                what,
                format!("box '{}' at offset {at} says {size} bytes, {} are left", fourcc(&kind), rest.len()),
            ));
        }
        boxes.push(RawBox { kind, start: at, header, bytes: &rest[..size] });
        at += size;
    }
    Ok(boxes)
}

fn fourcc(kind: &[u8; 4]) -> String {
    kind.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' }).collect()
}

fn make_box(kind: &[u8; 4], parts: &[&[u8]], what: &'static str) -> Result<Vec<u8>, CencError> {
    let size = 8 + parts.iter().map(|p| p.len()).sum::<usize>();
    let size32 = u32::try_from(size).map_err(|_| unsupported(what, "a box above 4 GiB"))?;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&size32.to_be_bytes());
    out.extend_from_slice(kind);
    for part in parts {
        out.extend_from_slice(part);
    }
    Ok(out)
}

fn full_box(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut head = flags.to_be_bytes();
    head[0] = version;
    // Boxes made here are small: their size always fits.
    make_box(kind, &[&head, body], INIT).unwrap_or_default()
}

fn read_u32(data: &[u8], at: usize, what: &'static str) -> Result<u32, CencError> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| malformed(what, format!("cut at offset {at}")))
}

fn version_flags(body: &[u8], what: &'static str) -> Result<(u8, u32), CencError> {
    let word = read_u32(body, 0, what)?;
    Ok(((word >> 24) as u8, word & 0x00ff_ffff))
}

/// Rebuilds `container` with each child through `edit` (`None` keeps it)
/// and `extra` appended; `prefix` body bytes come before the children.
fn rebuild(
    container: &RawBox<'_>,
    kind: &[u8; 4],
    prefix: usize,
    what: &'static str,
    mut edit: impl FnMut(&RawBox<'_>) -> Result<Option<Vec<u8>>, CencError>,
    extra: &[u8],
) -> Result<Vec<u8>, CencError> {
    let body = container.body();
    let head = body.get(..prefix).ok_or_else(|| malformed(what, format!("'{}' is cut", fourcc(kind))))?;
    let mut children = Vec::with_capacity(body.len() + extra.len());
    for child in split_boxes(&body[prefix..], what)? {
        match edit(&child)? {
            Some(new) => children.extend_from_slice(&new),
            None => children.extend_from_slice(child.bytes),
        }
    }
    children.extend_from_slice(extra);
    make_box(kind, &[head, &children], what)
}

fn find<'a>(boxes: &[RawBox<'a>], kind: &[u8; 4]) -> Option<RawBox<'a>> {
    boxes.iter().find(|b| &b.kind == kind).copied()
}

fn child<'a>(parent: &RawBox<'a>, prefix: usize, kind: &[u8; 4]) -> Result<RawBox<'a>, CencError> {
    let body = parent.body().get(prefix..).ok_or_else(|| malformed(INIT, "a box is cut"))?;
    find(&split_boxes(body, INIT)?, kind)
        .ok_or_else(|| malformed(INIT, format!("'{}' has no '{}'", fourcc(&parent.kind), fourcc(kind))))
}

/// Bytes of a sample entry's fixed fields after its 8-byte header.
const VISUAL_ENTRY: usize = 78;
const AUDIO_ENTRY: usize = 28;

/// The `sinf` of a protected sample entry of format `original`.
fn sinf(original: &[u8; 4], kid: &[u8; 16]) -> Vec<u8> {
    let frma = make_box(b"frma", &[original], INIT).unwrap_or_default();
    let mut scheme = b"cenc".to_vec();
    scheme.extend_from_slice(&SCHEME_VERSION.to_be_bytes());
    let schm = full_box(b"schm", 0, 0, &scheme);
    // tenc v0: two reserved bytes, isProtected, Per_Sample_IV_Size, KID.
    let mut tenc = vec![0, 0, 1, IV_SIZE as u8];
    tenc.extend_from_slice(kid);
    let schi = make_box(b"schi", &[&full_box(b"tenc", 0, 0, &tenc)], INIT).unwrap_or_default();
    make_box(b"sinf", &[&frma, &schm, &schi], INIT).unwrap_or_default()
}

/// The ClearKey `pssh` (version 1, the key id, no data).
pub fn pssh(kid: &[u8; 16]) -> Vec<u8> {
    let mut body = COMMON_SYSTEM_ID.to_vec();
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(kid);
    body.extend_from_slice(&0u32.to_be_bytes());
    full_box(b"pssh", 1, 0, &body)
}

/// How the samples of an entry of this format are encrypted; `None` for a
/// format left clear.
fn entry_samples(entry: &RawBox<'_>) -> Result<Samples, CencError> {
    let nal = |config: &[u8; 4], hevc: bool| -> Result<Samples, CencError> {
        let record = child(entry, VISUAL_ENTRY, config)?;
        // avcC: lengthSizeMinusOne in byte 4; hvcC: in byte 21.
        let at = if hevc { 21 } else { 4 };
        let byte =
            *record.body().get(at).ok_or_else(|| malformed(INIT, "the decoder configuration is cut"))?;
        let length_size = usize::from(byte & 0x3) + 1;
        if length_size == 3 {
            return Err(unsupported(INIT, "NAL unit lengths of 3 bytes"));
        }
        Ok(Samples::Nal { length_size, header: if hevc { 2 } else { 1 }, hevc })
    };
    match &entry.kind {
        b"avc1" | b"avc3" => nal(b"avcC", false),
        b"hvc1" | b"hev1" => nal(b"hvcC", true),
        b"mp4a" | b"ac-3" | b"ec-3" | b"Opus" | b"fLaC" => {
            let fixed =
                entry.body().get(..AUDIO_ENTRY).ok_or_else(|| malformed(INIT, "an audio entry is cut"))?;
            if fixed[8..10] != [0, 0] {
                return Err(unsupported(INIT, "a QuickTime audio sample entry (version 1 or 2)"));
            }
            Ok(Samples::Whole)
        }
        b"encv" | b"enca" => Err(unsupported(INIT, "it is already encrypted")),
        _ => Ok(Samples::Clear),
    }
}

/// The sample entry with `sinf` appended, renamed `encv` or `enca`.
fn protected_entry(entry: &RawBox<'_>, samples: Samples, kid: &[u8; 16]) -> Result<Vec<u8>, CencError> {
    let kind: &[u8; 4] = if matches!(samples, Samples::Nal { .. }) { b"encv" } else { b"enca" };
    make_box(kind, &[entry.body(), &sinf(&entry.kind, kid)], INIT)
}

/// The track id of a `trak`, from its `tkhd`.
fn track_id(trak: &RawBox<'_>) -> Result<u32, CencError> {
    let tkhd = child(trak, 0, b"tkhd")?;
    let (version, _) = version_flags(tkhd.body(), INIT)?;
    read_u32(tkhd.body(), if version == 1 { 20 } else { 12 }, INIT)
}

/// The clear `init` segment protected with `kid`, and what encrypting its
/// media segments needs.
pub fn protect_init(init: &[u8], kid: &[u8; 16]) -> Result<(Vec<u8>, Tracks), CencError> {
    let top = split_boxes(init, INIT)?;
    let moov = find(&top, b"moov").ok_or_else(|| malformed(INIT, "no 'moov'"))?;
    let mut tracks = Vec::new();
    let mut new_moov = rebuild(
        &moov,
        b"moov",
        0,
        INIT,
        |b| {
            if &b.kind != b"trak" {
                return Ok(None);
            }
            let id = track_id(b)?;
            let mut samples = Samples::Clear;
            let trak = rebuild_along(b, &TO_SAMPLE_ENTRIES, &mut |entry| {
                let kind = entry_samples(entry)?;
                if samples == Samples::Clear {
                    samples = kind;
                } else if kind != samples {
                    return Err(unsupported(INIT, "a track with two kinds of sample entries"));
                }
                if kind == Samples::Clear {
                    return Ok(None);
                }
                protected_entry(entry, kind, kid).map(Some)
            })?;
            tracks.push(Track { id, samples, default_size: 0 });
            Ok(Some(trak))
        },
        &[],
    )?;
    if tracks.iter().any(|t| t.samples != Samples::Clear) {
        let moov_again = split_boxes(&new_moov, INIT)?;
        new_moov = rebuild(&moov_again[0], b"moov", 0, INIT, |_| Ok(None), &pssh(kid))?;
    }
    // trex defaults, for truns that carry no sample sizes.
    if let Some(mvex) = split_boxes(moov.body(), INIT)?.iter().find(|b| &b.kind == b"mvex") {
        for trex in split_boxes(mvex.body(), INIT)?.iter().filter(|b| &b.kind == b"trex") {
            let (id, size) = (read_u32(trex.body(), 4, INIT)?, read_u32(trex.body(), 16, INIT)?);
            if let Some(track) = tracks.iter_mut().find(|t| t.id == id) {
                track.default_size = size;
            }
        }
    }
    let mut out = Vec::with_capacity(init.len() + 256);
    for b in &top {
        if &b.kind == b"moov" {
            out.extend_from_slice(&new_moov);
        } else {
            out.extend_from_slice(b.bytes);
        }
    }
    Ok((out, Tracks(tracks)))
}

/// The boxes from a `trak` down to its sample entries, each with the body
/// bytes before its children (`stsd`: version/flags and entry_count).
const TO_SAMPLE_ENTRIES: [(&[u8; 4], usize); 5] =
    [(b"trak", 0), (b"mdia", 0), (b"minf", 0), (b"stbl", 0), (b"stsd", 8)];

type Edit<'e> = dyn FnMut(&RawBox<'_>) -> Result<Option<Vec<u8>>, CencError> + 'e;

/// `container` (of `path[0]`'s kind) rebuilt, the children of the last box
/// of `path` through `edit`, every size on the way fixed.
fn rebuild_along(
    container: &RawBox<'_>,
    path: &[(&[u8; 4], usize)],
    edit: &mut Edit<'_>,
) -> Result<Vec<u8>, CencError> {
    let Some(((kind, prefix), rest)) = path.split_first() else {
        return Err(malformed(INIT, "an empty box path"));
    };
    match rest.first() {
        None => rebuild(container, kind, *prefix, INIT, |child| edit(child), &[]),
        Some((next, _)) => rebuild(
            container,
            kind,
            *prefix,
            INIT,
            |child| {
                if &child.kind == *next {
                    rebuild_along(child, rest, &mut *edit).map(Some)
                } else {
                    Ok(None)
                }
            },
            &[],
        ),
    }
}

/// The AES-128-CTR keystream over consecutive calls for one sample.
struct Ctr {
    cipher: aes::Aes128,
    counter: u128,
}

impl Ctr {
    fn new(cipher: &aes::Aes128, iv: &[u8; IV_SIZE]) -> Ctr {
        Ctr { cipher: cipher.clone(), counter: u128::from_be_bytes(*iv) }
    }

    /// XORs `data` with the next keystream bytes; a partial last block is
    /// only ever the end of a sample.
    fn apply(&mut self, data: &mut [u8]) {
        const BATCH: usize = 32;
        let mut blocks = [aes::Block::default(); BATCH];
        for chunk in data.chunks_mut(16 * BATCH) {
            let n = chunk.len().div_ceil(16);
            for (i, block) in blocks[..n].iter_mut().enumerate() {
                *block = self.counter.wrapping_add(i as u128).to_be_bytes().into();
            }
            self.cipher.encrypt_blocks(&mut blocks[..n]);
            for (byte, key) in chunk.iter_mut().zip(blocks[..n].iter().flatten()) {
                *byte ^= key;
            }
            self.counter = self.counter.wrapping_add(n as u128);
        }
    }
}

/// One sample to encrypt: where its bytes are in the segment.
#[derive(Debug, Clone, Copy)]
struct SampleAt {
    start: usize,
    len: usize,
}

/// A protected `traf` and its samples, in order.
struct TrafPlan<'a> {
    traf: RawBox<'a>,
    track: Track,
    samples: Vec<SampleAt>,
}

/// The IV key of a content key: IVs must not let anyone without the key
/// test a guess of a sample's content.
fn iv_key(key: &[u8; 16]) -> Hmac<Sha256> {
    const ANY_LENGTH: &str = "HMAC takes keys of any length";
    let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(key).expect(ANY_LENGTH);
    derive.update(b"cdlc cenc iv key v1");
    let subkey = derive.finalize().into_bytes();
    <Hmac<Sha256> as Mac>::new_from_slice(&subkey).expect(ANY_LENGTH)
}

fn sample_iv(
    base: &Hmac<Sha256>,
    place: &SegmentPlace<'_>,
    track: u32,
    index: u32,
    clear: &[u8],
) -> [u8; 16] {
    let mut mac = base.clone();
    mac.update(&(place.rendition.len() as u32).to_be_bytes());
    mac.update(place.rendition.as_bytes());
    mac.update(&place.number.to_be_bytes());
    mac.update(&track.to_be_bytes());
    mac.update(&index.to_be_bytes());
    mac.update(clear);
    let digest = mac.finalize().into_bytes();
    let mut iv = [0u8; IV_SIZE];
    iv[..12].copy_from_slice(&digest[..12]);
    iv
}

/// The subsample map of one AVC/HEVC sample: (clear, protected) pairs.
fn subsamples(
    sample: &[u8],
    length_size: usize,
    header: usize,
    hevc: bool,
) -> Result<Vec<(u16, u32)>, CencError> {
    let mut map = Vec::new();
    let mut clear = 0usize;
    let mut at = 0usize;
    let push_clear = |map: &mut Vec<(u16, u32)>, clear: &mut usize| {
        while *clear > MAX_CLEAR {
            map.push((u16::MAX, 0));
            *clear -= MAX_CLEAR;
        }
    };
    while at < sample.len() {
        let field =
            sample.get(at..at + length_size).ok_or_else(|| malformed(MEDIA, "a NAL unit length is cut"))?;
        let len = field.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
        let end = at
            .checked_add(length_size + len)
            .filter(|&end| end <= sample.len())
            .ok_or_else(|| malformed(MEDIA, "a NAL unit overruns its sample"))?;
        let nal = &sample[at + length_size..end];
        let vcl = match nal.first() {
            Some(&b) if hevc => (b >> 1) & 0x3f < 32,
            Some(&b) => (1..=5).contains(&(b & 0x1f)),
            None => false,
        };
        let payload = nal.len().saturating_sub(header);
        let protected = if vcl { payload / 16 * 16 } else { 0 };
        clear += length_size + nal.len() - protected;
        if protected > 0 {
            push_clear(&mut map, &mut clear);
            let protected32 =
                u32::try_from(protected).map_err(|_| unsupported(MEDIA, "a NAL unit above 4 GiB"))?;
            map.push((clear as u16, protected32));
            clear = 0;
        }
        at = end;
    }
    if clear > 0 {
        push_clear(&mut map, &mut clear);
        if clear > 0 {
            map.push((clear as u16, 0));
        }
    }
    Ok(map)
}

/// The clear media `segment` (`styp`? then `moof` + `mdat` pairs) of a
/// track set from [`protect_init`], encrypted with `key`. Deterministic:
/// the same input gives the same bytes.
pub fn encrypt_segment(
    segment: &[u8],
    tracks: &Tracks,
    key: &Key,
    place: &SegmentPlace<'_>,
) -> Result<Vec<u8>, CencError> {
    let top = split_boxes(segment, MEDIA)?;
    if top.iter().any(|b| &b.kind == b"sidx") {
        return Err(unsupported(MEDIA, "it has a 'sidx' whose sizes would change"));
    }
    let mdats: Vec<(usize, usize)> = top
        .iter()
        .filter(|b| &b.kind == b"mdat")
        .map(|b| (b.start + b.header, b.start + b.bytes.len()))
        .collect();
    let cipher = aes::Aes128::new(&key.key.into());
    let ivs = iv_key(&key.key);
    let mut data = segment.to_vec();
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut out = Vec::with_capacity(segment.len() + 4096);
    for moof in &top {
        if &moof.kind != b"moof" {
            out.extend_from_slice(&data[moof.start..moof.start + moof.bytes.len()]);
            continue;
        }
        let plans = plan_moof(moof, tracks)?;
        let mut additions = Vec::with_capacity(plans.len());
        for plan in &plans {
            let mut senc = Vec::new();
            let mut sizes = Vec::with_capacity(plan.samples.len());
            let with_subsamples = matches!(plan.track.samples, Samples::Nal { .. });
            for (index, sample) in plan.samples.iter().enumerate() {
                let end = sample
                    .start
                    .checked_add(sample.len)
                    .ok_or_else(|| malformed(MEDIA, "a sample overflows"))?;
                let after_moof = sample.start >= moof.start + moof.bytes.len();
                if !after_moof || !mdats.iter().any(|&(a, b)| sample.start >= a && end <= b) {
                    return Err(malformed(
                        MEDIA,
                        format!(
                            "sample {index} of track {} is not in an 'mdat' after its 'moof'",
                            plan.track.id
                        ),
                    ));
                }
                taken.push((sample.start, end));
                let index32 = u32::try_from(index).unwrap_or(u32::MAX);
                let iv = sample_iv(&ivs, place, plan.track.id, index32, &segment[sample.start..end]);
                senc.extend_from_slice(&iv);
                let mut ctr = Ctr::new(&cipher, &iv);
                let bytes = &mut data[sample.start..end];
                match plan.track.samples {
                    Samples::Nal { length_size, header, hevc } => {
                        let map = subsamples(bytes, length_size, header, hevc)?;
                        let count = u16::try_from(map.len())
                            .map_err(|_| unsupported(MEDIA, "a sample with more than 65535 subsamples"))?;
                        let info = IV_SIZE + 2 + 6 * map.len();
                        sizes.push(u8::try_from(info).map_err(|_| {
                            unsupported(
                                MEDIA,
                                format!("a sample with {} subsamples (at most 39 fit 'saiz')", map.len()),
                            )
                        })?);
                        senc.extend_from_slice(&count.to_be_bytes());
                        let mut at = 0usize;
                        for (clear, protected) in map {
                            senc.extend_from_slice(&clear.to_be_bytes());
                            senc.extend_from_slice(&protected.to_be_bytes());
                            at += usize::from(clear);
                            ctr.apply(&mut bytes[at..at + protected as usize]);
                            at += protected as usize;
                        }
                    }
                    Samples::Whole => {
                        sizes.push(IV_SIZE as u8);
                        ctr.apply(bytes);
                    }
                    Samples::Clear => return Err(malformed(MEDIA, "a clear track was planned")),
                }
            }
            additions.push(TrafAdditions { senc, sizes, with_subsamples });
        }
        out.extend_from_slice(&rebuild_moof(moof, &plans, &additions)?);
    }
    taken.sort_unstable();
    if taken.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(malformed(MEDIA, "two samples share bytes"));
    }
    // Bytes of non-moof boxes come from `data` (encrypted); moofs were rebuilt.
    Ok(out)
}

struct TrafAdditions {
    /// The body of `senc` after its sample count.
    senc: Vec<u8>,
    sizes: Vec<u8>,
    with_subsamples: bool,
}

/// The protected trafs of `moof` and where their samples are.
fn plan_moof<'a>(moof: &RawBox<'a>, tracks: &Tracks) -> Result<Vec<TrafPlan<'a>>, CencError> {
    let mut plans = Vec::new();
    for (index, traf) in
        split_boxes(moof.body(), MEDIA)?.into_iter().filter(|b| &b.kind == b"traf").enumerate()
    {
        let children = split_boxes(traf.body(), MEDIA)?;
        if children.iter().any(|b| matches!(&b.kind, b"senc" | b"saiz" | b"saio")) {
            return Err(unsupported(MEDIA, "it is already encrypted"));
        }
        let tfhd = find(&children, b"tfhd").ok_or_else(|| malformed(MEDIA, "a 'traf' has no 'tfhd'"))?;
        let (_, flags) = version_flags(tfhd.body(), MEDIA)?;
        let id = read_u32(tfhd.body(), 4, MEDIA)?;
        let Some(&track) = tracks.get(id) else {
            return Err(malformed(MEDIA, format!("track {id} is not in the init segment")));
        };
        if track.samples == Samples::Clear {
            continue;
        }
        if flags & TFHD_BASE_DATA_OFFSET != 0 || (flags & TFHD_DEFAULT_BASE_IS_MOOF == 0 && index > 0) {
            return Err(unsupported(MEDIA, "sample data not addressed from the start of its 'moof'"));
        }
        let mut at = 8;
        if flags & TFHD_DESCRIPTION_INDEX != 0 {
            at += 4;
        }
        if flags & TFHD_DEFAULT_DURATION != 0 {
            at += 4;
        }
        let default_size = if flags & TFHD_DEFAULT_SIZE != 0 {
            read_u32(tfhd.body(), at, MEDIA)?
        } else {
            track.default_size
        };
        let mut samples = Vec::new();
        for trun in children.iter().filter(|b| &b.kind == b"trun") {
            let body = trun.body();
            let (_, flags) = version_flags(body, MEDIA)?;
            let count = read_u32(body, 4, MEDIA)? as usize;
            if flags & TRUN_DATA_OFFSET == 0 {
                return Err(unsupported(MEDIA, "a 'trun' without a data offset"));
            }
            let offset = read_u32(body, 8, MEDIA)? as i32;
            let mut at = 12 + if flags & TRUN_FIRST_FLAGS != 0 { 4 } else { 0 };
            let per_sample =
                [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO].iter().filter(|&&f| flags & f != 0).count()
                    * 4;
            if count.checked_mul(per_sample).and_then(|n| n.checked_add(at)).is_none_or(|n| n > body.len()) {
                return Err(malformed(
                    MEDIA,
                    format!("a 'trun' says {count} samples but is {} bytes", body.len()),
                ));
            }
            let mut position = i64::try_from(moof.start).unwrap_or(i64::MAX) + i64::from(offset);
            for _ in 0..count {
                let mut field = at;
                if flags & TRUN_DURATION != 0 {
                    field += 4;
                }
                let size = if flags & TRUN_SIZE != 0 { read_u32(body, field, MEDIA)? } else { default_size };
                at += per_sample;
                let start = usize::try_from(position)
                    .map_err(|_| malformed(MEDIA, "a data offset points before the segment"))?;
                samples.push(SampleAt { start, len: size as usize });
                position += i64::from(size);
            }
        }
        plans.push(TrafPlan { traf, track, samples });
    }
    Ok(plans)
}

/// `moof` with each planned traf's `trun` data offsets moved by the growth
/// and `saiz`, `saio` and `senc` appended.
fn rebuild_moof(
    moof: &RawBox<'_>,
    plans: &[TrafPlan<'_>],
    additions: &[TrafAdditions],
) -> Result<Vec<u8>, CencError> {
    // The length does not depend on the offsets written: build once to
    // learn how much the moof grew, then again with the data moved by that.
    let length = |b: &[u8]| i64::try_from(b.len()).unwrap_or(i64::MAX);
    let grown = length(&moof_with(moof, plans, additions, 0)?) - length(moof.bytes);
    moof_with(moof, plans, additions, grown)
}

fn moof_with(
    moof: &RawBox<'_>,
    plans: &[TrafPlan<'_>],
    additions: &[TrafAdditions],
    delta: i64,
) -> Result<Vec<u8>, CencError> {
    let mut children = Vec::with_capacity(moof.bytes.len() + 4096);
    for child in split_boxes(moof.body(), MEDIA)? {
        let planned = plans.iter().position(|p| p.traf.start == child.start && &child.kind == b"traf");
        let Some(i) = planned else {
            // Clear trafs' data moves too.
            if &child.kind == b"traf" {
                children.extend_from_slice(&shift_truns(&child, delta)?);
            } else {
                children.extend_from_slice(child.bytes);
            }
            continue;
        };
        let shifted = shift_truns(&child, delta)?;
        let traf_body = &shifted[8..];
        let addition = &additions[i];
        let saiz = saiz(&addition.sizes);
        // senc's first IV: moof header, children so far, traf header and
        // body, saiz, saio, then senc's header, version/flags and count.
        let first_iv = 8 + children.len() + 8 + traf_body.len() + saiz.len() + 20 + 16;
        let first_iv = u32::try_from(first_iv).map_err(|_| unsupported(MEDIA, "a 'moof' above 4 GiB"))?;
        let mut saio = 1u32.to_be_bytes().to_vec();
        saio.extend_from_slice(&first_iv.to_be_bytes());
        let saio = full_box(b"saio", 0, 0, &saio);
        let count = u32::try_from(addition.sizes.len()).unwrap_or(u32::MAX);
        let mut senc_body = count.to_be_bytes().to_vec();
        senc_body.extend_from_slice(&addition.senc);
        let senc =
            full_box(b"senc", 0, if addition.with_subsamples { SENC_SUBSAMPLES } else { 0 }, &senc_body);
        children.extend_from_slice(&make_box(b"traf", &[traf_body, &saiz, &saio, &senc], MEDIA)?);
    }
    make_box(b"moof", &[&children], MEDIA)
}

/// `saiz` for these per-sample info sizes (one default when all are equal).
fn saiz(sizes: &[u8]) -> Vec<u8> {
    let count = u32::try_from(sizes.len()).unwrap_or(u32::MAX).to_be_bytes();
    match sizes.first() {
        Some(&first) if sizes.iter().all(|&s| s == first) => {
            full_box(b"saiz", 0, 0, &[&[first][..], &count].concat())
        }
        _ => full_box(b"saiz", 0, 0, &[&[0u8][..], &count, sizes].concat()),
    }
}

/// `traf` with every `trun` data offset moved by `delta`.
fn shift_truns(traf: &RawBox<'_>, delta: i64) -> Result<Vec<u8>, CencError> {
    rebuild(
        traf,
        b"traf",
        0,
        MEDIA,
        |b| {
            if &b.kind != b"trun" {
                return Ok(None);
            }
            let (_, flags) = version_flags(b.body(), MEDIA)?;
            if flags & TRUN_DATA_OFFSET == 0 {
                return Ok(None);
            }
            let offset = i64::from(read_u32(b.body(), 8, MEDIA)? as i32) + delta;
            let offset =
                i32::try_from(offset).map_err(|_| unsupported(MEDIA, "a data offset beyond 2 GiB"))?;
            let mut body = b.body().to_vec();
            body[8..12].copy_from_slice(&offset.to_be_bytes());
            make_box(b"trun", &[&body], MEDIA).map(Some)
        },
        &[],
    )
}

#[cfg(test)]
mod tests;
