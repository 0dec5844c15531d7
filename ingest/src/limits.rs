use std::time::Duration;

use crate::{IngestError, MediaInfo, VideoInfo};

/// Default largest source accepted: 64 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 30;
/// Default longest source accepted: 12 hours.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(12 * 3600);
/// Default largest picture accepted (8K UHD).
pub const DEFAULT_MAX_WIDTH: u32 = 7680;
/// Default largest picture accepted (8K UHD); portrait sources may swap the two.
pub const DEFAULT_MAX_HEIGHT: u32 = 4320;

/// The bounds a source must stay within to be accepted.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file in bytes.
    pub max_file_size: u64,
    /// Longest duration.
    pub max_duration: Duration,
    /// Largest long side of the picture, in pixels.
    pub max_width: u32,
    /// Largest short side of the picture, in pixels.
    pub max_height: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_duration: DEFAULT_MAX_DURATION,
            max_width: DEFAULT_MAX_WIDTH,
            max_height: DEFAULT_MAX_HEIGHT,
        }
    }
}

impl Limits {
    /// Checks the size of a file before it is probed, so that an empty or
    /// huge file is refused without reading it.
    pub fn check_file_size(&self, size: u64) -> Result<(), IngestError> {
        if size == 0 {
            return Err(IngestError::Empty);
        }
        if size > self.max_file_size {
            return Err(IngestError::TooLarge { size, limit: self.max_file_size });
        }
        Ok(())
    }

    /// Checks a probed source against the limits.
    pub fn check(&self, info: &MediaInfo) -> Result<(), IngestError> {
        self.check_file_size(info.file_size)?;
        self.check_picture(&info.video)?;
        if info.duration > self.max_duration {
            return Err(IngestError::TooLong { duration: info.duration, limit: self.max_duration });
        }
        Ok(())
    }

    /// Checks the size of the pictures.
    pub fn check_picture(&self, video: &VideoInfo) -> Result<(), IngestError> {
        let (long, short) = if video.display_width >= video.display_height {
            (video.display_width, video.display_height)
        } else {
            (video.display_height, video.display_width)
        };
        if short == 0 || long == 0 {
            return Err(IngestError::NoPictures { width: video.display_width, height: video.display_height });
        }
        if long > self.max_width || short > self.max_height {
            return Err(IngestError::TooManyPixels {
                width: video.display_width,
                height: video.display_height,
                max_width: self.max_width,
                max_height: self.max_height,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rotation, VideoInfo};

    fn media(width: u32, height: u32, seconds: u64, size: u64) -> MediaInfo {
        MediaInfo {
            file_size: size,
            container: None,
            duration: Duration::from_secs(seconds),
            video: VideoInfo {
                codec: "H.264".into(),
                stored_width: width,
                stored_height: height,
                display_width: width,
                display_height: height,
                rotation: Rotation::None,
                frame_rate: Some((25, 1)),
                interlaced: false,
                bit_depth: None,
                chroma_format: None,
                stream_id: None,
            },
            audio: vec![],
            ignored_video_streams: 0,
            subtitles: Vec::new(),
        }
    }

    #[test]
    fn ordinary_sources_pass_and_portrait_8k_fits() {
        let limits = Limits::default();
        assert!(limits.check(&media(1920, 1080, 7200, 1 << 30)).is_ok());
        assert!(limits.check(&media(4320, 7680, 60, 1 << 30)).is_ok());
    }

    #[test]
    fn each_limit_gives_its_own_sentence() {
        let limits =
            Limits { max_file_size: 1000, max_duration: Duration::from_secs(60), ..Limits::default() };
        let too_long = limits.check(&media(640, 360, 61, 10)).unwrap_err().to_string();
        assert!(too_long.contains("61s long, longer than the limit of 60s"), "{too_long}");
        let too_big = limits.check(&media(640, 360, 1, 1001)).unwrap_err().to_string();
        assert!(too_big.contains("larger than the limit of 1000 bytes"), "{too_big}");
        let empty = limits.check(&media(640, 360, 1, 0)).unwrap_err().to_string();
        assert!(empty.contains("empty"), "{empty}");
        let no_pictures = limits.check(&media(0, 0, 1, 10)).unwrap_err().to_string();
        assert!(no_pictures.contains("no pictures"), "{no_pictures}");
    }
}
