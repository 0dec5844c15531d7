//! `cdlc transcode INPUT OUTDIR`: one-shot local packaging with a progress bar.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cdlc_ingest::Limits;
use cdlc_transcoder::{
    DirectorySink, EncoderOptions, LadderOptions, RenditionKind, RungSpec, TranscodeOutput,
};
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
/// file it wrote so that nothing half-done is left behind.
fn transcode_into(args: &Args, started: Instant) -> anyhow::Result<(TranscodeOutput, Duration)> {
    let info = cdlc_ingest::probe(&args.input, &Limits::default())?;
    let options = LadderOptions {
        segment_duration: Duration::from_secs_f64(args.segment_duration),
        rungs: args.ladder.clone(),
        audio_bitrate: args.audio_kbps * 1000,
    };
    let plan = cdlc_transcoder::plan(&info, &options)?;
    if !args.quiet {
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
        .with_context(|| format!("cannot create {}", args.outdir.display()))?;
    let sink = Arc::new(DirectorySink::new(&args.outdir));
    let bar = progress_bar(args.quiet);
    let defaults = EncoderOptions::default();
    let encoder = EncoderOptions {
        x264_preset: args.preset.clone(),
        threads: args.threads.unwrap_or(defaults.threads),
        ..defaults
    };
    let transcoded = cdlc_transcoder::transcode(&args.input, &plan, &encoder, sink.clone(), &mut |p| {
        bar.set_position(p.percent.round() as u64);
        let speed = p.encoded.as_secs_f64() / started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!("{:.1}s encoded, {speed:.2}x", p.encoded.as_secs_f64()));
    });
    let packaged = transcoded.map_err(anyhow::Error::from).and_then(|output| {
        cdlc_packager::write_manifests(&output, |path, bytes| sink.write_file(path, bytes))
            .context("could not write the manifests")?;
        Ok(output)
    });
    match packaged {
        Ok(output) => {
            bar.finish_and_clear();
            Ok((output, info.duration))
        }
        Err(error) => {
            bar.abandon();
            sink.remove_written();
            Err(error)
        }
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
