//! Made-up but well-formed CMAF: an AVC track and an AAC track in one
//! init segment, a media segment with a `traf` for each. The real thing
//! (cdlc's transcoder output, decrypted by ffmpeg) is tests/suite/crypto.rs.

use super::*;

const KEY: Key = Key { kid: [0x11; 16], key: *b"0123456789abcdef" };
const PLACE: SegmentPlace<'static> = SegmentPlace { rendition: "240p", number: 7 };

fn bx(kind: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
    make_box(kind, parts, INIT).expect("small box")
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    full_box(kind, version, flags, body)
}

fn trak(id: u32, entry: Vec<u8>) -> Vec<u8> {
    let mut tkhd = vec![0u8; 80];
    tkhd[8..12].copy_from_slice(&id.to_be_bytes());
    let stsd = full(b"stsd", 0, 0, &[&1u32.to_be_bytes()[..], &entry].concat());
    let stbl = bx(b"stbl", &[&stsd, &full(b"stts", 0, 0, &[0; 4])]);
    let minf = bx(b"minf", &[&full(b"vmhd", 0, 1, &[0; 8]), &stbl]);
    let mdia = bx(b"mdia", &[&full(b"mdhd", 0, 0, &[0; 20]), &full(b"hdlr", 0, 0, &[0; 21]), &minf]);
    bx(b"trak", &[&full(b"tkhd", 0, 3, &tkhd), &mdia])
}

fn init() -> Vec<u8> {
    let avcc = bx(b"avcC", &[&[1, 0x64, 0, 0x0d, 0xff, 0xe0, 0]]);
    let avc1 = bx(b"avc1", &[&[0u8; VISUAL_ENTRY], &avcc]);
    let esds = full(b"esds", 0, 0, &[3, 0]);
    let mp4a = bx(b"mp4a", &[&[0u8; AUDIO_ENTRY], &esds]);
    let trex = |id: u32| full(b"trex", 0, 0, &[&id.to_be_bytes()[..], &[0; 16]].concat());
    let mvex = bx(b"mvex", &[&trex(1), &trex(2)]);
    let moov = bx(b"moov", &[&full(b"mvhd", 0, 0, &[0; 96]), &trak(1, avc1), &trak(2, mp4a), &mvex]);
    [bx(b"ftyp", &[b"cmf2", &[0; 4], b"cmfc"]), moov].concat()
}

/// AVC samples: an SEI (clear), then slices of various sizes, 4-byte lengths.
fn video_samples() -> Vec<Vec<u8>> {
    let nal = |kind: u8, len: usize, seed: u8| -> Vec<u8> {
        let mut out = (len as u32 + 1).to_be_bytes().to_vec();
        out.push(kind);
        out.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
        out
    };
    vec![
        [nal(6, 20, 1), nal(0x65, 1000, 2)].concat(),
        nal(0x41, 17, 3),
        nal(0x41, 5, 4),
        [nal(0x41, 300, 5), nal(0x41, 64, 6)].concat(),
        nal(0x09, 1, 7),
    ]
}

fn audio_samples() -> Vec<Vec<u8>> {
    (0..4u8).map(|n| (0..(200 + 37 * n as usize)).map(|i| i as u8 ^ n).collect()).collect()
}

fn traf(id: u32, sizes: &[usize], data_offset: i32) -> Vec<u8> {
    let tfhd = full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, &id.to_be_bytes());
    let mut trun = (sizes.len() as u32).to_be_bytes().to_vec();
    trun.extend_from_slice(&data_offset.to_be_bytes());
    for size in sizes {
        trun.extend_from_slice(&(*size as u32).to_be_bytes());
    }
    bx(
        b"traf",
        &[&tfhd, &full(b"tfdt", 1, 0, &[0; 8]), &full(b"trun", 0, TRUN_DATA_OFFSET | TRUN_SIZE, &trun)],
    )
}

fn segment() -> Vec<u8> {
    let (video, audio) = (video_samples(), audio_samples());
    let sizes = |s: &[Vec<u8>]| s.iter().map(Vec::len).collect::<Vec<_>>();
    let build = |video_offset: i32, audio_offset: i32| {
        let trafs = [traf(1, &sizes(&video), video_offset), traf(2, &sizes(&audio), audio_offset)];
        bx(b"moof", &[&full(b"mfhd", 0, 0, &7u32.to_be_bytes()), &trafs[0], &trafs[1]])
    };
    let moof_len = build(0, 0).len() as i32;
    let video_len: usize = video.iter().map(Vec::len).sum();
    let moof = build(moof_len + 8, moof_len + 8 + video_len as i32);
    let mdat = bx(b"mdat", &[&video.concat(), &audio.concat()]);
    [bx(b"styp", &[b"msdh", &[0; 4]]), moof, mdat].concat()
}

/// What a decryptor reads back from one encrypted traf.
struct Read {
    track: u32,
    ivs: Vec<[u8; 16]>,
    maps: Vec<Vec<(u16, u32)>>,
    samples: Vec<(usize, usize)>,
}

/// Reads every traf of the encrypted segment's moof as a player would:
/// trun for the samples, saio → the IVs, senc for the maps.
fn read_back(encrypted: &[u8]) -> Vec<Read> {
    let top = split_boxes(encrypted, MEDIA).unwrap();
    let moof = find(&top, b"moof").unwrap();
    let mut out = Vec::new();
    for traf in split_boxes(moof.body(), MEDIA).unwrap().iter().filter(|b| &b.kind == b"traf") {
        let kids = split_boxes(traf.body(), MEDIA).unwrap();
        let track = read_u32(find(&kids, b"tfhd").unwrap().body(), 4, MEDIA).unwrap();
        let trun = find(&kids, b"trun").unwrap().body();
        let count = read_u32(trun, 4, MEDIA).unwrap() as usize;
        let mut at = moof.start + read_u32(trun, 8, MEDIA).unwrap() as usize;
        let mut samples = Vec::new();
        for i in 0..count {
            let size = read_u32(trun, 12 + 4 * i, MEDIA).unwrap() as usize;
            samples.push((at, size));
            at += size;
        }
        let senc = find(&kids, b"senc").expect("senc").body();
        let (_, flags) = version_flags(senc, MEDIA).unwrap();
        assert_eq!(read_u32(senc, 4, MEDIA).unwrap() as usize, count, "one senc entry per sample");
        let saiz = find(&kids, b"saiz").expect("saiz").body();
        assert_eq!(read_u32(saiz, 5, MEDIA).unwrap() as usize, count, "saiz counts every sample");
        let saio = find(&kids, b"saio").expect("saio").body();
        assert_eq!(read_u32(saio, 4, MEDIA).unwrap(), 1);
        let first_iv = moof.start + read_u32(saio, 8, MEDIA).unwrap() as usize;
        let (mut ivs, mut maps, mut p) = (Vec::new(), Vec::new(), 8usize);
        for i in 0..count {
            let iv: [u8; 16] = senc[p..p + 16].try_into().unwrap();
            if i == 0 {
                assert_eq!(&encrypted[first_iv..first_iv + 16], &iv, "saio points at the first IV");
            }
            p += 16;
            let mut map = Vec::new();
            if flags & SENC_SUBSAMPLES != 0 {
                let n = u16::from_be_bytes([senc[p], senc[p + 1]]) as usize;
                p += 2;
                for _ in 0..n {
                    map.push((
                        u16::from_be_bytes([senc[p], senc[p + 1]]),
                        read_u32(senc, p + 2, MEDIA).unwrap(),
                    ));
                    p += 6;
                }
            }
            let info = if saiz[4] == 0 { saiz[9 + i] } else { saiz[4] };
            assert_eq!(
                info as usize,
                16 + if map.is_empty() && flags & 2 == 0 { 0 } else { 2 + 6 * map.len() }
            );
            ivs.push(iv);
            maps.push(map);
        }
        out.push(Read { track, ivs, maps, samples });
    }
    out
}

fn decrypt(encrypted: &[u8]) -> Vec<Vec<u8>> {
    let cipher = aes::Aes128::new(&KEY.key.into());
    let mut samples = Vec::new();
    for traf in read_back(encrypted) {
        for ((iv, map), (at, len)) in traf.ivs.iter().zip(&traf.maps).zip(&traf.samples) {
            let mut sample = encrypted[*at..at + len].to_vec();
            let mut ctr = Ctr::new(&cipher, iv);
            if map.is_empty() {
                ctr.apply(&mut sample);
            } else {
                let mut p = 0usize;
                for (clear, protected) in map {
                    p += *clear as usize;
                    ctr.apply(&mut sample[p..p + *protected as usize]);
                    p += *protected as usize;
                }
                assert_eq!(p, sample.len(), "the map covers the sample");
            }
            samples.push(sample);
        }
    }
    samples
}

#[test]
fn the_init_segment_gets_encv_enca_sinf_tenc_and_a_clearkey_pssh() {
    let clear = init();
    let (protected, tracks) = protect_init(&clear, &KEY.kid).expect("protect");
    assert!(tracks.any_protected());
    let top = split_boxes(&protected, INIT).expect("every size fixed");
    let moov = find(&top, b"moov").unwrap();
    let children = split_boxes(moov.body(), INIT).unwrap();
    let pssh_box = find(&children, b"pssh").expect("a pssh in moov");
    let body = pssh_box.body();
    assert_eq!(body[0], 1, "pssh version 1");
    assert_eq!(&body[4..20], &COMMON_SYSTEM_ID);
    assert_eq!((read_u32(body, 20, INIT).unwrap(), &body[24..40]), (1, &KEY.kid[..]));
    for (trak, (format, original)) in
        children.iter().filter(|b| &b.kind == b"trak").zip([(b"encv", b"avc1"), (b"enca", b"mp4a")])
    {
        let mdia = child(trak, 0, b"mdia").unwrap();
        let stbl = child(&child(&mdia, 0, b"minf").unwrap(), 0, b"stbl").unwrap();
        let entry = child(&child(&stbl, 0, b"stsd").unwrap(), 8, format).expect("renamed entry");
        let fixed = if format == b"encv" { VISUAL_ENTRY } else { AUDIO_ENTRY };
        let sinf = child(&entry, fixed, b"sinf").expect("sinf");
        assert_eq!(child(&sinf, 0, b"frma").unwrap().body(), original);
        let schm = child(&sinf, 0, b"schm").unwrap();
        assert_eq!(&schm.body()[4..8], b"cenc");
        assert_eq!(read_u32(schm.body(), 8, INIT).unwrap(), 0x10000);
        let tenc = child(&child(&sinf, 0, b"schi").unwrap(), 0, b"tenc").unwrap();
        assert_eq!(&tenc.body()[4..8], &[0, 0, 1, 16], "protected, 16-byte IVs");
        assert_eq!(&tenc.body()[8..24], &KEY.kid);
        // The original children are still there, before sinf.
        let inner = if format == b"encv" { b"avcC" } else { b"esds" };
        child(&entry, fixed, inner).expect("codec configuration kept");
    }
    assert_eq!(
        protect_init(&protected, &KEY.kid).unwrap_err().to_string(),
        "the init segment cannot be encrypted with CENC: it is already encrypted"
    );
}

#[test]
fn a_segment_decrypts_back_to_its_clear_samples_with_subsamples_for_video() {
    let (_, tracks) = protect_init(&init(), &KEY.kid).unwrap();
    let clear = segment();
    let encrypted = encrypt_segment(&clear, &tracks, &KEY, &PLACE).expect("encrypt");
    assert_eq!(
        encrypted,
        encrypt_segment(&clear, &tracks, &KEY, &PLACE).unwrap(),
        "the same bytes every time"
    );
    let expected: Vec<Vec<u8>> = video_samples().into_iter().chain(audio_samples()).collect();
    assert_eq!(
        decrypt(&encrypted),
        expected,
        "the trun offsets, saio and senc lead back to the clear samples"
    );

    let read = read_back(&encrypted);
    assert_eq!(read.iter().map(|t| t.track).collect::<Vec<_>>(), [1, 2]);
    let (video, audio) = (&read[0], &read[1]);
    assert!(audio.maps.iter().all(Vec::is_empty), "audio is whole-sample");
    for ((map, (at, len)), clear_sample) in video.maps.iter().zip(&video.samples).zip(video_samples()) {
        assert!(map.iter().all(|(_, protected)| protected % 16 == 0), "whole blocks: {map:?}");
        let ciphertext = &encrypted[*at..at + len];
        let mut p = 0;
        for (clear_bytes, protected) in map {
            // NAL lengths and headers stay as they were.
            assert_eq!(
                &ciphertext[p..p + *clear_bytes as usize],
                &clear_sample[p..p + *clear_bytes as usize]
            );
            p += *clear_bytes as usize;
            if *protected > 0 {
                assert_ne!(
                    &ciphertext[p..p + *protected as usize],
                    &clear_sample[p..p + *protected as usize]
                );
            }
            p += *protected as usize;
        }
    }
    // Sample 0: SEI 4+1+20 clear, IDR slice: 4+1 + 1000%16=8 clear, 992 protected.
    assert_eq!(video.maps[0], [(25 + 13, 992)]);
    assert_eq!(video.maps[1], [(5 + 1, 16)], "17 payload bytes: one block, one clear");
    assert_eq!(video.maps[2], [(10, 0)], "under a block: all clear");
    assert_eq!(video.maps[3], [(5 + 12, 288), (5, 64)]);
    assert_eq!(video.maps[4], [(6, 0)], "an access unit delimiter is clear");

    let ivs: Vec<_> = read.iter().flat_map(|t| t.ivs.clone()).collect();
    let mut unique = ivs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ivs.len(), "one IV per sample, all different");
    assert!(ivs.iter().all(|iv| iv[12..] == [0; 4]), "the block counter's bytes start at zero");
    let elsewhere =
        encrypt_segment(&clear, &tracks, &KEY, &SegmentPlace { rendition: "240p", number: 8 }).unwrap();
    let other_ivs: Vec<_> = read_back(&elsewhere).iter().flat_map(|t| t.ivs.clone()).collect();
    assert!(other_ivs.iter().all(|iv| !ivs.contains(iv)), "another segment number, other IVs");
    let other_key = Key { key: [9; 16], ..KEY };
    assert_ne!(encrypt_segment(&clear, &tracks, &other_key, &PLACE).unwrap(), encrypted);
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    let (init, segment) = (init(), segment());
    let (_, tracks) = protect_init(&init, &KEY.kid).unwrap();
    for cut in 0..init.len() {
        let _ = protect_init(&init[..cut], &KEY.kid);
    }
    for cut in 0..segment.len() {
        let result = encrypt_segment(&segment[..cut], &tracks, &KEY, &PLACE);
        assert!(cut < 40 || result.is_err() || cut == segment.len(), "cut at {cut} went through");
    }
    // Every single-byte corruption of the box headers and tables.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut bad_init = init.clone();
        let mut bad_segment = segment.clone();
        for _ in 0..1 + next() % 3 {
            let i = next() as usize % bad_init.len();
            bad_init[i] = next() as u8;
            let j = next() as usize % 400.min(bad_segment.len());
            bad_segment[j] = next() as u8;
        }
        let _ = protect_init(&bad_init, &KEY.kid);
        let _ = encrypt_segment(&bad_segment, &tracks, &KEY, &PLACE);
    }
    let garbage: Vec<u8> = (0..5000).map(|_| next() as u8).collect();
    assert!(protect_init(&garbage, &KEY.kid).is_err());
    assert!(encrypt_segment(&garbage, &tracks, &KEY, &PLACE).is_err());
    // A trun that claims more samples than it holds.
    let mut lying = segment.clone();
    let at = lying.windows(4).position(|w| w == b"trun").unwrap() + 8;
    lying[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let error = encrypt_segment(&lying, &tracks, &KEY, &PLACE).unwrap_err();
    assert!(error.to_string().contains("4294967295 samples"), "{error}");
    // A sample pointing outside the mdat.
    let mut outside = segment.clone();
    let at = outside.windows(4).position(|w| w == b"trun").unwrap() + 12;
    outside[at..at + 4].copy_from_slice(&9_000_000i32.to_be_bytes());
    assert!(encrypt_segment(&outside, &tracks, &KEY, &PLACE)
        .unwrap_err()
        .to_string()
        .contains("not in an 'mdat'"));
    let encrypted = encrypt_segment(&segment, &tracks, &KEY, &PLACE).unwrap();
    assert!(encrypt_segment(&encrypted, &tracks, &KEY, &PLACE)
        .unwrap_err()
        .to_string()
        .contains("already encrypted"));
}
