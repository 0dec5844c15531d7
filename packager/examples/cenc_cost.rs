//! What CENC costs at delivery against HLS AES-128-CBC, on one real segment:
//! `cargo run --release -p cdlc-packager --example cenc_cost -- INIT SEGMENT [OUT_DIR]`.
//! Times `encrypt_segment` (IVs, subsample maps, senc/saiz/saio, AES-CTR)
//! and AES-128-CBC with PKCS#7 of the same bytes, and with OUT_DIR writes
//! `init.mp4` + `segment.m4s` encrypted (key 000102…0f) for a decoder to check.

use std::time::Instant;

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use cdlc_packager::cenc::{encrypt_segment, protect_init, Key, SegmentPlace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [init, segment, ..] = args.as_slice() else {
        return Err("usage: cenc_cost INIT SEGMENT [OUT_DIR]".into());
    };
    let (init, segment) = (std::fs::read(init)?, std::fs::read(segment)?);
    let key = Key { kid: [0x42; 16], key: std::array::from_fn(|i| i as u8) };
    let place = SegmentPlace { rendition: "bench", number: 1 };
    let (protected_init, tracks) = protect_init(&init, &key.kid)?;
    let rounds = (200_000_000 / segment.len().max(1)).clamp(5, 2000);
    let time = |f: &mut dyn FnMut() -> usize| {
        let started = Instant::now();
        let mut sink = 0;
        for _ in 0..rounds {
            sink ^= f();
        }
        (started.elapsed().as_secs_f64() / rounds as f64, sink)
    };
    let (cenc, _) =
        time(&mut || encrypt_segment(&segment, &tracks, &key, &place).map(|s| s.len()).unwrap_or(0));
    let (cbc, _) = time(&mut || {
        cbc::Encryptor::<aes::Aes128>::new(&key.key.into(), &1u128.to_be_bytes().into())
            .encrypt_padded_vec_mut::<Pkcs7>(&segment)
            .len()
    });
    // The IVs hash every sample: HMAC-SHA256 of the same bytes, for the share.
    let (hash, _) = time(&mut || {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key.key).expect("any key length");
        mac.update(&segment);
        mac.finalize().into_bytes()[0] as usize
    });
    let mib = segment.len() as f64 / (1024.0 * 1024.0);
    println!(
        "segment {} bytes, {rounds} rounds: CENC {:.3} ms ({:.0} MiB/s), AES-128-CBC {:.3} ms ({:.0} MiB/s), \
         ratio {:.2}; HMAC-SHA256 of the bytes alone {:.3} ms",
        segment.len(),
        cenc * 1e3,
        mib / cenc,
        cbc * 1e3,
        mib / cbc,
        cenc / cbc,
        hash * 1e3
    );
    if let Some(out) = args.get(2) {
        std::fs::create_dir_all(out)?;
        std::fs::write(format!("{out}/init.mp4"), &protected_init)?;
        std::fs::write(format!("{out}/segment.m4s"), encrypt_segment(&segment, &tracks, &key, &place)?)?;
    }
    Ok(())
}
