//! Timestamps the pipeline can trust.
//!
//! Two pad probes:
//! - [`one_timeline`] on each decoded stream, before any processing: every
//!   buffer is re-timed to its running time in one segment that starts at 0,
//!   frames that go back in time are dropped, and every later segment event
//!   is swallowed. Demuxers do send several segments: matroskademux sends one
//!   starting at the first frame (23 ms in ffmpeg's MKV files) and then,
//!   without a flush, another starting at 0. videorate answers the change by
//!   closing the first segment with its frame at 23 ms and then starting
//!   again at 0: timestamps going backwards into x264enc, whose DTS then
//!   went backwards too (-17 ms, then -40 ms).
//! - [`guard_muxer_input`] on every cmafmux sink, the last line of defence:
//!   whatever reaches cmafmux is in one segment, has a PTS, a DTS (video)
//!   that always moves forward and a PTS never before its DTS. cmafmux
//!   (gst-plugin-fmp4 0.14) clamps a DTS going backwards to the one before,
//!   and two equal negative DTS make the sample duration a negative zero
//!   (`Signed::Negative(0)`) that `flatten_gops` takes for "Timestamps going
//!   backwards" and panics on; in the server a panic in a streaming thread
//!   poisons cmafmux's state for good.

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use tracing::{debug, warn};

/// What a re-timing probe remembers between buffers.
#[derive(Default)]
struct Retimer {
    /// The segment the buffers upstream are timed in.
    upstream: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// Whether our own segment (start 0) has gone downstream.
    sent_segment: bool,
    /// Running time of the last buffer let through, and its end.
    last: Option<gst::ClockTime>,
    last_end: Option<gst::ClockTime>,
    /// Nothing is let through after this: the probed duration and a margin.
    limit: Option<gst::ClockTime>,
    dropped: u64,
}

impl Retimer {
    /// The buffer's new PTS (its running time), or `None` to drop it.
    fn retime(
        &mut self,
        pts: Option<gst::ClockTime>,
        duration: Option<gst::ClockTime>,
    ) -> Option<gst::ClockTime> {
        let segment = self.upstream.as_ref()?;
        let time = match pts {
            // Outside the segment (clipped by the demuxer's edit list) → None.
            Some(pts) => segment.to_running_time(pts)?,
            // A frame without a time follows the one before it.
            None => self.last_end?,
        };
        if self.last.is_some_and(|last| time < last) {
            return None;
        }
        // A damaged timestamp far in the future (a flipped bit in an MPEG-TS
        // PTS) would have videorate fill the gap with copies for hours.
        if self.limit.is_some_and(|limit| time > limit) {
            return None;
        }
        self.last = Some(time);
        self.last_end = Some(duration.map_or(time, |d| time + d));
        Some(time)
    }
}

/// The segment every decoded stream is re-timed into.
fn zero_segment() -> gst::Event {
    let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
    segment.set_start(gst::ClockTime::ZERO);
    segment.set_time(gst::ClockTime::ZERO);
    gst::event::Segment::new(&segment)
}

/// Puts one decoded stream (`what` is "video" or "audio", for the logs) on
/// one timeline: PTS = running time, one segment from 0, never backwards,
/// never after `limit`.
pub(crate) fn one_timeline(pad: &gst::Pad, what: &'static str, limit: gst::ClockTime) {
    let state = Arc::new(Mutex::new(Retimer { limit: Some(limit), ..Retimer::default() }));
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut info.data {
            Some(gst::PadProbeData::Event(event)) => match event.view() {
                gst::EventView::Segment(segment) => {
                    match segment.segment().downcast_ref::<gst::ClockTime>() {
                        Some(time) => {
                            debug!(what, start = ?time.start(), "source segment");
                            state.upstream = Some(time.clone());
                        }
                        None => warn!(what, "a segment not in time; the stream's timestamps are kept"),
                    }
                    if state.sent_segment {
                        return gst::PadProbeReturn::Drop;
                    }
                    state.sent_segment = true;
                    *event = zero_segment();
                    gst::PadProbeReturn::Ok
                }
                gst::EventView::Gap(gap) => {
                    let (start, duration) = gap.get();
                    let running = state.upstream.as_ref().and_then(|s| s.to_running_time(start));
                    match running {
                        Some(time) if state.last.is_none_or(|last| time >= last) => {
                            let mut builder = gst::event::Gap::builder(time);
                            if let Some(duration) = duration {
                                builder = builder.duration(duration);
                            }
                            *event = builder.build();
                            gst::PadProbeReturn::Ok
                        }
                        _ => gst::PadProbeReturn::Drop,
                    }
                }
                gst::EventView::FlushStop(_) => {
                    // Only a seek flushes, and cdlc never seeks; start over cleanly anyway.
                    *state = Retimer { limit: state.limit, ..Retimer::default() };
                    gst::PadProbeReturn::Ok
                }
                _ => gst::PadProbeReturn::Ok,
            },
            Some(gst::PadProbeData::Buffer(buffer)) => match state.retime(buffer.pts(), buffer.duration()) {
                Some(time) => {
                    let buffer = buffer.make_mut();
                    buffer.set_pts(time);
                    buffer.set_dts(gst::ClockTime::NONE);
                    gst::PadProbeReturn::Ok
                }
                None => {
                    state.dropped += 1;
                    if state.dropped == 1 || state.dropped.is_power_of_two() {
                        debug!(what, dropped = state.dropped, "dropped a decoded buffer out of time order");
                    }
                    gst::PadProbeReturn::Drop
                }
            },
            _ => gst::PadProbeReturn::Ok,
        }
    });
}

type RunningTime = gst::Signed<gst::ClockTime>;

/// What [`guard_muxer_input`] remembers between buffers.
#[derive(Default)]
struct Guard {
    /// The segment cmafmux was given: the first one. Later segments are
    /// kept from it and their buffers re-timed into this one.
    downstream: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// The segment upstream buffers are timed in.
    upstream: Option<gst::FormattedSegment<gst::ClockTime>>,
    last_dts: Option<RunningTime>,
    last_pts: Option<RunningTime>,
    mended: u64,
}

/// What [`Guard::mend`] decided for one buffer, in running time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mend {
    Keep { pts: RunningTime, dts: Option<RunningTime> },
    Retime { pts: RunningTime, dts: Option<RunningTime> },
    Drop,
}

impl Guard {
    /// `pts` and `dts` are running times; `video` says whether cmafmux
    /// needs a DTS (it orders video by DTS and audio by PTS).
    fn mend(&mut self, pts: Option<RunningTime>, dts: Option<RunningTime>, video: bool) -> Mend {
        let Some(mut new_pts) = pts.or(dts) else {
            return Mend::Drop;
        };
        let mut new_dts = if video { Some(dts.unwrap_or(new_pts)) } else { dts };
        // Strictly later: cmafmux computes each sample's duration as the
        // next DTS minus this one, and two equal negative DTS give a
        // "negative zero" (`Signed::Negative(0)`) that panics it.
        if let (Some(d), Some(last)) = (new_dts, self.last_dts) {
            if d <= last {
                new_dts = Some(last.saturating_add(gst::Signed::Positive(gst::ClockTime::from_nseconds(1))));
            }
        }
        if let Some(d) = new_dts {
            new_pts = new_pts.max(d);
        }
        if let (false, Some(last)) = (video, self.last_pts) {
            new_pts = new_pts.max(last);
        }
        self.last_dts = new_dts.or(self.last_dts);
        self.last_pts = Some(new_pts);
        if Some(new_pts) == pts && new_dts == dts {
            Mend::Keep { pts: new_pts, dts: new_dts }
        } else {
            Mend::Retime { pts: new_pts, dts: new_dts }
        }
    }
}

fn nanos(time: RunningTime) -> i128 {
    match time {
        gst::Signed::Positive(t) => t.nseconds() as i128,
        gst::Signed::Negative(t) => -(t.nseconds() as i128),
    }
}

/// The position in `segment` whose running time is `time` (the inverse of
/// `to_running_time_full`), or `None` before 0.
fn position_of(segment: &gst::FormattedSegment<gst::ClockTime>, time: RunningTime) -> Option<gst::ClockTime> {
    let start = segment.start().map_or(0, |s| s.nseconds() as i128);
    let base = segment.base().map_or(0, |b| b.nseconds() as i128);
    let offset = segment.offset().map_or(0, |o| o.nseconds() as i128);
    let rate = segment.rate().abs();
    let position = start + offset + ((nanos(time) - base) as f64 * rate).round() as i128;
    u64::try_from(position).ok().map(gst::ClockTime::from_nseconds)
}

/// Makes sure every buffer reaching the muxer behind `pad` (its sink pad)
/// has timestamps cmafmux takes without panicking: one segment (later
/// segments are re-timed into the first, by running time), a PTS on every
/// buffer, for `video` a DTS that never goes back and a PTS never before it,
/// for audio a PTS that never goes back. A buffer without any time is
/// dropped. Nothing is changed for a well-behaved stream.
pub(crate) fn guard_muxer_input(pad: &gst::Pad, video: bool) {
    let state = Arc::new(Mutex::new(Guard::default()));
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        match &mut info.data {
            Some(gst::PadProbeData::Event(event)) => {
                let gst::EventView::Segment(segment) = event.view() else {
                    return gst::PadProbeReturn::Ok;
                };
                let Some(time) = segment.segment().downcast_ref::<gst::ClockTime>().cloned() else {
                    return gst::PadProbeReturn::Ok;
                };
                state.upstream = Some(time.clone());
                if state.downstream.is_none() {
                    state.downstream = Some(time);
                    gst::PadProbeReturn::Ok
                } else {
                    debug!(element = %element_of(pad), "a new segment before the muxer; re-timed into the first");
                    gst::PadProbeReturn::Drop
                }
            }
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let (Some(upstream), Some(downstream)) = (&state.upstream, &state.downstream) else {
                    return gst::PadProbeReturn::Ok;
                };
                let to_running = |t: Option<gst::ClockTime>| t.and_then(|t| upstream.to_running_time_full(t));
                let (pts, dts) = (to_running(buffer.pts()), to_running(buffer.dts()));
                let same_segment = upstream == downstream;
                let downstream = downstream.clone();
                let (new_pts, new_dts) = match state.mend(pts, dts, video) {
                    Mend::Keep { .. } if same_segment => return gst::PadProbeReturn::Ok,
                    Mend::Keep { pts, dts } => (pts, dts),
                    Mend::Retime { pts, dts } => {
                        state.mended += 1;
                        if state.mended.is_power_of_two() {
                            warn!(element = %element_of(pad), count = state.mended, "mended timestamps going backwards before the muxer");
                        }
                        (pts, dts)
                    }
                    Mend::Drop => {
                        warn!(element = %element_of(pad), "dropped a buffer without timestamps before the muxer");
                        return gst::PadProbeReturn::Drop;
                    }
                };
                let Some(pts_position) = position_of(&downstream, new_pts) else {
                    return gst::PadProbeReturn::Drop;
                };
                let dts_position = new_dts.and_then(|d| position_of(&downstream, d));
                let buffer = buffer.make_mut();
                buffer.set_pts(pts_position);
                buffer.set_dts(dts_position);
                gst::PadProbeReturn::Ok
            }
            _ => gst::PadProbeReturn::Ok,
        }
    });
}

fn element_of(pad: &gst::Pad) -> String {
    pad.parent().map(|p| p.name().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> gst::ClockTime {
        gst::ClockTime::from_mseconds(n)
    }

    fn pos(n: u64) -> RunningTime {
        gst::Signed::Positive(ms(n))
    }

    fn neg(n: u64) -> RunningTime {
        gst::Signed::Negative(ms(n))
    }

    fn segment(start: u64) -> gst::FormattedSegment<gst::ClockTime> {
        gst::init().expect("GStreamer");
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(ms(start));
        segment
    }

    #[test]
    fn a_second_segment_from_zero_keeps_time_moving_forward() {
        // matroskademux: a segment from 23 ms, its first frame, then a
        // segment from 0 and the next frames at their own times.
        let mut retimer = Retimer { upstream: Some(segment(23)), ..Retimer::default() };
        assert_eq!(retimer.retime(Some(ms(23)), Some(ms(40))), Some(ms(0)));
        retimer.upstream = Some(segment(0));
        assert_eq!(retimer.retime(Some(ms(63)), Some(ms(40))), Some(ms(63)));
        assert_eq!(retimer.retime(Some(ms(40)), Some(ms(40))), None, "a frame back in time is dropped");
        assert_eq!(retimer.retime(None, Some(ms(40))), Some(ms(103)), "an untimed frame follows the last");
        assert_eq!(retimer.retime(Some(ms(10)), None), None, "before the segment: clipped");
        retimer.limit = Some(ms(3_000));
        assert_eq!(retimer.retime(Some(ms(26 * 3_600_000)), None), None, "a damaged time far ahead");
        assert_eq!(retimer.retime(Some(ms(143)), None), Some(ms(143)));
    }

    #[test]
    fn well_timed_buffers_pass_untouched() {
        let mut guard = Guard::default();
        for (pts, dts) in [(pos(0), neg(80)), (pos(120), neg(40)), (pos(40), pos(0)), (pos(80), pos(40))] {
            assert_eq!(guard.mend(Some(pts), Some(dts), true), Mend::Keep { pts, dts: Some(dts) });
        }
    }

    #[test]
    fn dts_going_backwards_or_repeating_moves_forward() {
        // What x264enc produced from videorate's backwards frames.
        let mut guard = Guard::default();
        guard.mend(Some(pos(0)), Some(neg(17)), true);
        let Mend::Retime { pts, dts: Some(dts) } = guard.mend(Some(pos(120)), Some(neg(40)), true) else {
            panic!("a DTS going backwards is mended");
        };
        assert!(dts > neg(17), "strictly after the last DTS, never equal: {dts}");
        assert_eq!(pts, pos(120));
        let Mend::Retime { dts: Some(next), .. } = guard.mend(Some(pos(40)), Some(neg(17)), true) else {
            panic!("an equal DTS is mended");
        };
        assert!(next > dts);
    }

    #[test]
    fn pts_before_dts_or_missing_is_mended_and_untimed_is_dropped() {
        let mut guard = Guard::default();
        assert_eq!(
            guard.mend(Some(pos(0)), Some(pos(40)), true),
            Mend::Retime { pts: pos(40), dts: Some(pos(40)) }
        );
        assert_eq!(guard.mend(None, Some(pos(80)), true), Mend::Retime { pts: pos(80), dts: Some(pos(80)) });
        assert_eq!(guard.mend(None, None, true), Mend::Drop);
        // Audio: no DTS needed, PTS never back.
        let mut audio = Guard::default();
        assert_eq!(audio.mend(Some(pos(21)), None, false), Mend::Keep { pts: pos(21), dts: None });
        assert_eq!(audio.mend(Some(pos(0)), None, false), Mend::Retime { pts: pos(21), dts: None });
    }

    #[test]
    fn positions_invert_running_time() {
        let mut encoder = segment(3_600_000_000);
        encoder.set_base(ms(0));
        for time in [neg(17), pos(0), pos(2_000)] {
            let position = position_of(&encoder, time).expect("a position");
            assert_eq!(encoder.to_running_time_full(position), Some(time));
        }
        assert_eq!(position_of(&segment(0), neg(1)), None);
    }
}
