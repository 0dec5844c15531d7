// The player's own controls: play, a seek bar that previews storyboard
// thumbnails under the pointer, time, mute and full screen. Native controls
// cannot show thumbnails, and these look the same in every browser.
import { h, formatDuration } from './util.js';
import { cueAt } from './storyboard.js';

export function createPlayerView() {
  const video = h('video', { playsInline: true, preload: 'metadata', id: 'player-video' });
  video.setAttribute('playsinline', '');
  const bigPlay = h('button.big-play', { type: 'button', 'aria-label': 'Play' });
  const play = h('button.control.play', { type: 'button', 'aria-label': 'Play' });
  const time = h('span.control-time', {}, '0:00 / –:––');
  const buffered = h('div.seek-buffered', {});
  const played = h('div.seek-played', {});
  const handle = h('div.seek-handle', {});
  const thumb = h('div.seek-thumb', {});
  const previewTime = h('span.seek-preview-time', {});
  const preview = h('div.seek-preview', { hidden: true }, thumb, previewTime);
  const seek = h('div.seek', {
    role: 'slider', tabindex: '0', 'aria-label': 'Seek', 'aria-valuemin': '0', 'aria-valuenow': '0',
  }, h('div.seek-track', {}, buffered, played, handle), preview);
  const mute = h('button.control.mute', { type: 'button', 'aria-label': 'Mute' });
  const fullscreen = h('button.control.fullscreen', { type: 'button', 'aria-label': 'Full screen' });
  const live = h('span.live-badge', { hidden: true, title: 'Still transcoding: the end grows as segments arrive' }, 'Growing');
  const bar = h('div.controls', {}, play, time, seek, live, mute, fullscreen);
  const spinner = h('div.spinner', { hidden: true, 'aria-hidden': 'true' });
  const element = h('div.player', { tabindex: '-1' }, video, spinner, bigPlay, bar);

  let cues = [];

  /** The end of what can be played: the duration, or the seekable end of a growing stream. */
  function end() {
    if (Number.isFinite(video.duration) && video.duration > 0) return video.duration;
    return video.seekable.length ? video.seekable.end(video.seekable.length - 1) : 0;
  }

  function update() {
    const total = end();
    const current = video.currentTime;
    time.textContent = `${formatDuration(current)} / ${formatDuration(total)}`;
    const fraction = total ? Math.min(1, current / total) : 0;
    played.style.width = `${fraction * 100}%`;
    handle.style.left = `${fraction * 100}%`;
    seek.setAttribute('aria-valuemax', String(Math.round(total)));
    seek.setAttribute('aria-valuenow', String(Math.round(current)));
    const last = video.buffered.length ? video.buffered.end(video.buffered.length - 1) : 0;
    buffered.style.width = `${total ? Math.min(1, last / total) * 100 : 0}%`;
    const paused = video.paused || video.ended;
    element.classList.toggle('paused', paused);
    play.setAttribute('aria-label', paused ? 'Play' : 'Pause');
    mute.setAttribute('aria-label', video.muted ? 'Unmute' : 'Mute');
    element.classList.toggle('muted', video.muted);
  }

  function toggle() {
    if (video.paused || video.ended) video.play().catch(() => {});
    else video.pause();
  }

  function timeAt(clientX) {
    const rect = seek.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (clientX - rect.left) / rect.width));
    return { fraction, time: fraction * end() };
  }

  function showPreview(clientX) {
    const { fraction, time: at } = timeAt(clientX);
    if (!end()) return;
    preview.hidden = false;
    previewTime.textContent = formatDuration(at);
    const cue = cues.length ? cueAt(cues, at) : null;
    thumb.hidden = !cue;
    if (cue) {
      Object.assign(thumb.style, {
        width: `${cue.w}px`,
        height: `${cue.h}px`,
        backgroundImage: `url("${cue.url}")`,
        backgroundPosition: `-${cue.x}px -${cue.y}px`,
      });
    }
    const width = preview.offsetWidth;
    const rect = seek.getBoundingClientRect();
    const left = Math.min(Math.max(fraction * rect.width, width / 2), rect.width - width / 2);
    preview.style.left = `${left}px`;
  }

  let dragging = false;
  seek.addEventListener('pointerdown', (event) => {
    dragging = true;
    seek.setPointerCapture(event.pointerId);
    video.currentTime = timeAt(event.clientX).time;
    showPreview(event.clientX);
  });
  seek.addEventListener('pointermove', (event) => {
    showPreview(event.clientX);
    if (dragging) video.currentTime = timeAt(event.clientX).time;
  });
  seek.addEventListener('pointerup', () => (dragging = false));
  seek.addEventListener('pointerleave', () => !dragging && (preview.hidden = true));
  seek.addEventListener('keydown', (event) => {
    const step = { ArrowLeft: -5, ArrowRight: 5, Home: -Infinity, End: Infinity }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    video.currentTime = Math.min(end(), Math.max(0, video.currentTime + step));
  });

  bigPlay.addEventListener('click', toggle);
  play.addEventListener('click', toggle);
  video.addEventListener('click', toggle);
  mute.addEventListener('click', () => (video.muted = !video.muted));
  fullscreen.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (element.requestFullscreen) element.requestFullscreen();
    else video.webkitEnterFullscreen?.();
  });
  element.addEventListener('keydown', (event) => {
    if (event.target !== element && event.target !== video) return;
    if (event.key === ' ' || event.key === 'k') {
      event.preventDefault();
      toggle();
    }
  });
  for (const type of ['timeupdate', 'durationchange', 'progress', 'play', 'pause', 'ended', 'volumechange', 'loadedmetadata']) {
    video.addEventListener(type, update);
  }
  video.addEventListener('waiting', () => (spinner.hidden = false));
  for (const type of ['playing', 'canplay', 'pause']) video.addEventListener(type, () => (spinner.hidden = true));

  let idle = 0;
  element.addEventListener('pointermove', () => {
    element.classList.add('active');
    clearTimeout(idle);
    idle = setTimeout(() => element.classList.remove('active'), 2500);
  });

  update();
  return {
    element,
    video,
    setStoryboard(list) {
      cues = list ?? [];
    },
    setGrowing(growing) {
      live.hidden = !growing;
    },
  };
}
