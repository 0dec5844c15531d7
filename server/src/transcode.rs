//! `cdlc transcode INPUT OUTDIR`: one-shot local packaging with a progress bar.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use std::sync::atomic::AtomicBool;

use cdlc_captions::{Cue, TrackInfo};
use cdlc_transcoder::{DirectorySink, LadderPlan, RenditionKind, RungSpec, SegmentSink, TranscodeOutput};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The video file to transcode.
    input: PathBuf,
    /// Where the streams are written; must be new or empty.
    outdir: PathBuf,
    /// Segment and GOP duration in seconds.
    #[arg(long, default_value_t = 2.0)]
    segment_duration: f64,
    /// Rungs as SHORT_SIDE[:KBPS], comma separated (e.g. 1080:5000,720,360:700).
    /// Rungs above the source are dropped. Default: 1080/720/480/360.
    #[arg(long, value_delimiter = ',')]
    ladder: Option<Vec<RungSpec>>,
    /// x264 speed preset (ultrafast … veryslow).
    #[arg(long, default_value = cdlc_transcoder::DEFAULT_X264_PRESET)]
    preset: String,
    /// Encoder threads shared by all rungs (default: the machine's cores + 1).
    #[arg(long)]
    threads: Option<u32>,
    /// AAC bitrate in kbit/s.
    #[arg(long, default_value_t = 128)]
    audio_kbps: u32,
    /// Keep each surround track as a 5.1 rendition too (beside its stereo one).
    #[arg(long)]
    keep_surround: bool,
    /// Print the result as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !cdlc_transcoder::X264_PRESETS.contains(&args.preset.as_str()) {
        bail!("--preset must be one of {}", cdlc_transcoder::X264_PRESETS.join(", "));
    }
    if !(0.5..=20.0).contains(&args.segment_duration) {
        bail!("--segment-duration must be between 0.5 and 20 seconds");
    }
    if args.threads.is_some_and(|t| !(1..=256).contains(&t)) {
        bail!("--threads must be between 1 and 256");
    }
    if !(16..=512).contains(&args.audio_kbps) {
        bail!("--audio-kbps must be between 16 and 512");
    }
    let created_outdir = prepare_outdir(&args.outdir)?;

    let started = Instant::now();
    let result = transcode_into(&args, started);
    if result.is_err() && created_outdir {
        let _ = std::fs::remove_dir(&args.outdir);
    }
    let (output, source_duration) = result?;
    let wall = started.elapsed();
    if args.json {
        let summary = serde_json::json!({
            "outdir": args.outdir,
            "wall_seconds": wall.as_secs_f64(),
            "source_seconds": source_duration.as_secs_f64(),
            "renditions": output.renditions,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&args.outdir, &output, source_duration, wall);
    }
    Ok(())
}

/// Checks OUTDIR is new or empty; returns whether it was created here.
fn prepare_outdir(outdir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(outdir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} is not empty; choose a new or empty output directory", outdir.display());
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("cannot use {} as the output directory", outdir.display())),
    }
}

/// Probes, plans, transcodes and packages; on any failure removes every
/// file it wrote so that nothing half-done is left behind. The probe and
/// the pipeline run in a child process, so a source that crashes GStreamer
/// ends with a sentence here too.
fn transcode_into(args: &Args, started: Instant) -> anyhow::Result<(TranscodeOutput, Duration)> {
    let watch = cdlc_isolation::Watch::default();
    let mut request = cdlc_isolation::JobRequest::new(args.input.clone(), &watch);
    request.segment_duration = Duration::from_secs_f64(args.segment_duration);
    request.rungs = args.ladder.clone();
    request.audio_bitrate = args.audio_kbps * 1000;
    request.keep_surround = args.keep_surround;
    request.x264_preset = args.preset.clone();
    if let Some(threads) = args.threads {
        request.threads = threads;
    }
    let command =
        cdlc_isolation::ChildCommand::this_binary().context("cannot find this program's own path")?;
    let sink = Arc::new(DirectorySink::new(&args.outdir));
    let mut observer =
        CliObserver { args, started, sink: sink.clone(), bar: None, info: None, texts: Vec::new() };
    let finished =
        cdlc_isolation::run_isolated(&command, &request, &watch, &AtomicBool::new(false), &mut observer);
    let texts = std::mem::take(&mut observer.texts);
    let packaged = finished.map_err(anyhow::Error::from).and_then(|finished| {
        for (track, cues) in &texts {
            for (path, body) in cdlc_packager::text::track_files(&finished.output, &track.id, cues) {
                sink.write_file(&path, body.as_bytes()).context("could not write a text track")?;
            }
        }
        let tracks: Vec<TrackInfo> = texts.into_iter().map(|(track, _)| track).collect();
        cdlc_packager::write_manifests(&finished.output, &tracks, |path, bytes| sink.write_file(path, bytes))
            .context("could not write the manifests")?;
        Ok((finished.output, finished.info.duration))
    });
    match packaged {
        Ok(done) => {
            if let Some(bar) = &observer.bar {
                bar.finish_and_clear();
            }
            Ok(done)
        }
        Err(error) => {
            if let Some(bar) = &observer.bar {
                bar.abandon();
            }
            sink.remove_written();
            Err(error)
        }
    }
}

/// Prints the plan, creates OUTDIR once there is something to write, and
/// moves the progress bar.
struct CliObserver<'a> {
    args: &'a Args,
    started: Instant,
    sink: Arc<DirectorySink>,
    bar: Option<ProgressBar>,
    info: Option<cdlc_ingest::MediaInfo>,
    /// The source's own text tracks, published with the manifests.
    texts: Vec<(TrackInfo, Vec<Cue>)>,
}

impl cdlc_isolation::JobObserver for CliObserver<'_> {
    fn probed(&mut self, info: &cdlc_ingest::MediaInfo) -> Result<(), String> {
        self.info = Some(info.clone());
        Ok(())
    }

    fn planned(&mut self, plan: &LadderPlan) -> Result<Arc<dyn SegmentSink>, String> {
        let args = self.args;
        if let (false, Some(info)) = (args.quiet, &self.info) {
            eprintln!(
                "{}: {}x{} {}, {:.1}s → {} rung(s) at {:.3} fps, {:.3}s segments",
                args.input.display(),
                info.video.display_width,
                info.video.display_height,
                info.video.codec,
                info.duration.as_secs_f64(),
                plan.rungs.len(),
                plan.frame_rate_f64(),
                plan.segment_duration().as_secs_f64()
            );
            for note in &plan.notes {
                eprintln!("note: {note}");
            }
        }
        std::fs::create_dir_all(&args.outdir)
            .map_err(|e| format!("cannot create {}: {e}", args.outdir.display()))?;
        self.bar = Some(progress_bar(args.quiet));
        Ok(self.sink.clone())
    }

    fn progress(&mut self, p: cdlc_transcoder::Progress) {
        if let Some(bar) = &self.bar {
            bar.set_position(p.percent.round() as u64);
            let speed = p.encoded.as_secs_f64() / self.started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!("{:.1}s encoded, {speed:.2}x", p.encoded.as_secs_f64()));
        }
    }

    fn text_track(&mut self, track: &cdlc_isolation::SourceTrack, vtt: &[u8]) -> Result<(), String> {
        let (track, cues) = track.checked(vtt)?;
        if !self.args.quiet {
            eprintln!("text track {} ({}): {} cues", track.id, track.label, cues.len());
        }
        self.texts.push((track, cues));
        Ok(())
    }
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn print_summary(outdir: &Path, output: &TranscodeOutput, source: Duration, wall: Duration) {
    println!("{:<10} {:>11} {:>10} {:>9} {:>10}", "rendition", "size", "bitrate", "segments", "MiB");
    let mut total = 0u64;
    for r in &output.renditions {
        let size = match r.kind {
            RenditionKind::Video { width, height, .. } => format!("{width}x{height}"),
            RenditionKind::Audio { channels, sample_rate, .. } => {
                format!("{channels}ch {}k", sample_rate / 1000)
            }
        };
        let bytes = r.media_bytes() + r.init_size;
        total += bytes;
        println!(
            "{:<10} {:>11} {:>7} kb/s {:>9} {:>10.2}",
            r.name,
            size,
            r.average_bitrate() / 1000,
            r.segments.len(),
            bytes as f64 / 1048576.0
        );
    }
    let speed = source.as_secs_f64() / wall.as_secs_f64().max(0.001);
    println!(
        "{:.2} MiB in {}; {:.1}s of video in {:.1}s wall time ({speed:.2}x realtime)",
        total as f64 / 1048576.0,
        outdir.display(),
        source.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "HLS:  {}\nDASH: {}",
        outdir.join(cdlc_transcoder::layout::HLS_MASTER).display(),
        outdir.join(cdlc_transcoder::layout::DASH_MANIFEST).display()
    );
    for (label, name) in [
        ("Poster:    ", cdlc_transcoder::layout::POSTER),
        ("Storyboard:", cdlc_transcoder::layout::STORYBOARD_INDEX),
    ] {
        let path = outdir.join(name);
        if path.exists() {
            println!("{label} {}", path.display());
        }
    }
}
