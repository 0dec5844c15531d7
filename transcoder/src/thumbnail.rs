//! A small JPEG of a still image (a catalog poster or a person's photo), so
//! that rows of posters do not download the full images:
//!
//! ```text
//! appsrc (the whole JPEG or PNG, one buffer) ! jpegdec|pngdec ! videoconvertscale
//!   ! W x (W·h/w), JFIF ! jpegenc ! appsink
//! ```
//!
//! It decodes bytes someone uploaded, so callers run it in a child process
//! of its own (`cdlc-isolation`), as they do every pipeline.

use std::time::Duration;

use gst::prelude::*;

use crate::pipeline::{build_error, capsfilter, make};
use crate::stills::{jfif_caps, JPEG_QUALITY, SCALING_METHOD};
use crate::TranscodeError;

/// Widths a thumbnail may have.
pub const THUMBNAIL_WIDTHS: std::ops::RangeInclusive<u32> = 16..=1280;

/// What the first bytes say the image is: its decoder and caps.
fn decoder_of(image: &[u8]) -> Option<(&'static str, &'static str)> {
    if image.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpegdec", "image/jpeg"))
    } else if image.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("pngdec", "image/png"))
    } else {
        None
    }
}

/// A JPEG `width` pixels wide (the height keeps the picture's shape) of a
/// JPEG or PNG image; an image narrower than `width` is scaled up.
/// Gives up after `timeout`.
pub fn thumbnail_jpeg(image: &[u8], width: u32, timeout: Duration) -> Result<Vec<u8>, TranscodeError> {
    if !THUMBNAIL_WIDTHS.contains(&width) {
        return Err(TranscodeError::Build(format!(
            "a thumbnail is {} to {} pixels wide, not {width}",
            THUMBNAIL_WIDTHS.start(),
            THUMBNAIL_WIDTHS.end()
        )));
    }
    let (decoder, caps) = decoder_of(image)
        .ok_or_else(|| TranscodeError::Decode { detail: "the image is neither a JPEG nor a PNG".into() })?;
    crate::init()?;
    let src =
        gst_app::AppSrc::builder().caps(&gst::Caps::builder(caps).build()).format(gst::Format::Bytes).build();
    let decode = make(decoder)?;
    let scale = make("videoconvertscale")?;
    scale.set_property_from_str("method", SCALING_METHOD);
    // The width is fixed; the scaler picks the height that keeps the shape.
    let mut size = jfif_caps(width, 1);
    if let Some(structure) = size.make_mut().structure_mut(0) {
        structure.remove_field("height");
    }
    let size = capsfilter(size)?;
    let encode = make("jpegenc")?;
    encode.set_property("quality", JPEG_QUALITY);
    let sink = gst_app::AppSink::builder().sync(false).build();

    let pipeline = gst::Pipeline::new();
    let chain = [src.upcast_ref(), &decode, &scale, &size, &encode, sink.upcast_ref()];
    pipeline.add_many(chain).map_err(build_error)?;
    gst::Element::link_many(chain).map_err(build_error)?;
    let outcome = run(&pipeline, &src, image, &sink, timeout);
    let _ = pipeline.set_state(gst::State::Null);
    outcome
}

fn run(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    image: &[u8],
    sink: &gst_app::AppSink,
    timeout: Duration,
) -> Result<Vec<u8>, TranscodeError> {
    let decode_error = |detail: String| TranscodeError::Decode { detail };
    pipeline.set_state(gst::State::Playing).map_err(|e| decode_error(e.to_string()))?;
    // Pushed once the pipeline runs: an appsrc below PAUSED drops what it is given.
    src.push_buffer(gst::Buffer::from_slice(image.to_vec())).map_err(build_error)?;
    src.end_of_stream().map_err(build_error)?;
    // The sample, or nothing when the image ends in an error (on the bus) or the time is up.
    let sample = sink.try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64));
    let bus_error = || {
        pipeline.bus().and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error])).and_then(|m| {
            match m.view() {
                gst::MessageView::Error(error) => Some(error.error().to_string()),
                _ => None,
            }
        })
    };
    let sample = match sample {
        Some(sample) => sample,
        None if sink.is_eos() => {
            return Err(decode_error(bus_error().unwrap_or_else(|| "the image has no picture".into())))
        }
        None => return Err(bus_error().map_or(TranscodeError::Stalled(timeout), decode_error)),
    };
    let buffer = sample.buffer().ok_or_else(|| decode_error("the thumbnail is empty".into()))?;
    let map = buffer.map_readable().map_err(build_error)?;
    Ok(map.as_slice().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG from GStreamer itself: `videotestsrc` (colour bars) `w`x`h`.
    fn png(width: i32, height: i32) -> Vec<u8> {
        crate::init().unwrap();
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,width={width},height={height} ! videoconvert ! pngenc ! appsink name=sink"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let sample = sink.pull_sample().unwrap();
        let data = sample.buffer().unwrap().map_readable().unwrap().as_slice().to_vec();
        pipeline.set_state(gst::State::Null).unwrap();
        data
    }

    /// Width and height from a baseline JPEG's SOF0 marker.
    fn jpeg_size(jpeg: &[u8]) -> (u16, u16) {
        let at = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a SOF0 marker");
        let height = u16::from_be_bytes([jpeg[at + 5], jpeg[at + 6]]);
        let width = u16::from_be_bytes([jpeg[at + 7], jpeg[at + 8]]);
        (width, height)
    }

    #[test]
    fn a_png_poster_becomes_a_185_pixel_jpeg_of_the_same_shape() {
        let poster = png(300, 450);
        let thumb = thumbnail_jpeg(&poster, 185, Duration::from_secs(30)).unwrap();
        assert!(thumb.starts_with(&[0xFF, 0xD8, 0xFF]), "a JPEG");
        let (width, height) = jpeg_size(&thumb);
        assert_eq!(width, 185);
        assert!((277..=278).contains(&height), "300x450 keeps its 2:3 shape at 185 wide, got {height}");
        // A JPEG of the JPEG: the same again.
        let again = thumbnail_jpeg(&thumb, 100, Duration::from_secs(30)).unwrap();
        let (width, height) = jpeg_size(&again);
        assert_eq!((width, (149..=151).contains(&height)), (100, true), "got {width}x{height}");
    }

    #[test]
    fn bytes_that_are_no_image_are_a_sentence() {
        let error = thumbnail_jpeg(b"GIF89a not supported", 185, Duration::from_secs(5)).unwrap_err();
        assert!(error.to_string().contains("neither a JPEG nor a PNG"), "{error}");
        let mut broken = png(64, 64);
        broken.truncate(40);
        let error = thumbnail_jpeg(&broken, 185, Duration::from_secs(10)).unwrap_err();
        assert!(matches!(error, TranscodeError::Decode { .. }), "{error}");
    }
}
