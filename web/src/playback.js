// The player card every page that plays an asset shows (the asset page, a
// title's feature): the stage with the player or a placeholder, the engine,
// rendition, audio and subtitle pickers, and the resume offer. It follows the
// asset it is given with `show(asset)`; the page decides where it comes from.
import { session } from './api.js';
import { availableEngines, defaultEngine, attachEngine, offers, ENGINE_LABELS } from './player.js';
import { createPlayerView } from './controls.js';
import { loadStoryboard } from './storyboard.js';
import { trackProgress } from './resume.js';
import { ViewBeacons } from './beacons.js';
import { h, clear, formatBitrate, sourceSeconds, viewableUrl, unsigned } from './util.js';

const ENGINE_KEY = 'cdlc.engine';

/**
 * Returns {element, video, show(asset), destroy()}; the engine in use is
 * `root`'s `data-engine` (the page's, for scripts and tests).
 */
export function createPlayback(root) {
  let asset = null;
  let controller = null;
  let attaching = null;
  let stopped = false;
  let storyboardUrl = null;
  let progress = null;
  // One anonymous view per page visit, whatever engine plays it.
  let beacons = null;
  let stopBeacons = null;

  const view = createPlayerView();
  const video = view.video;
  const engines = availableEngines(video);
  let engine = localStorage.getItem(ENGINE_KEY);
  if (!engines.includes(engine)) engine = defaultEngine(video);

  const stage = h('div.stage', {});
  const placeholder = h('div.stage-message', {});
  const engineTabs = h('div.segmented', { role: 'radiogroup', 'aria-label': 'Player' },
    engines.map((name) => h('button', {
      type: 'button', role: 'radio', dataset: { engine: name }, onclick: () => switchEngine(name),
    }, ENGINE_LABELS[name])));
  const quality = h('select', { id: 'rendition-select', 'aria-label': 'Rendition', onchange: () => controller?.setLevel(quality.value) });
  const subtitles = h('select', { id: 'subtitles-select', 'aria-label': 'Subtitles', onchange: () => chooseText(subtitles.value) });
  const audio = h('select', { id: 'audio-select', 'aria-label': 'Audio', onchange: () => chooseAudio(audio.value) });
  const nowPlaying = h('span.muted.now-playing', { id: 'now-playing' });
  const toolbar = h('div.player-toolbar', {},
    h('div.toolbar-group', {}, h('span.label', {}, 'Player'), engineTabs),
    h('label.toolbar-group', {}, h('span.label', {}, 'Rendition'), quality),
    h('label.toolbar-group', {}, h('span.label', {}, 'Audio'), audio),
    h('label.toolbar-group', {}, h('span.label', {}, 'Subtitles'), subtitles),
    nowPlaying);
  const playerError = h('div.notice.error', { hidden: true });
  const element = h('section.player-card', {}, stage, toolbar, playerError);

  function show(next) {
    asset = next;
    if (!beacons) {
      beacons = new ViewBeacons(asset.id);
      stopBeacons = beacons.attach(video);
    }
    view.setGrowing(asset.status === 'processing');
    renderStage();
    const storyboard = viewableUrl(asset, asset.storyboard);
    if (storyboard && unsigned(storyboard) !== unsigned(storyboardUrl)) {
      storyboardUrl = storyboard;
      loadStoryboard(storyboard).then((cues) => view.setStoryboard(cues)).catch(() => {});
    }
  }

  function stopPlayer() {
    attaching = null;
    controller?.destroy();
    controller = null;
    video.pause();
  }

  function renderStage() {
    const poster = viewableUrl(asset, asset.poster);
    if (asset.playback && !viewableUrl(asset, asset.playback.hls)) {
      // Private, and this viewer has no signed URL.
      stopPlayer();
      stage.replaceChildren(placeholder);
      placeholder.style.backgroundImage = '';
      clear(placeholder, h('strong', {}, 'Private video'),
        h('span', {}, 'Its streams play only on signed URLs: sign in with the admin token to watch it here.'));
      toolbar.hidden = true;
      return;
    }
    if (!asset.playback) {
      stage.replaceChildren(placeholder);
      toolbar.hidden = true;
      const message = asset.status === 'errored'
        ? 'Nothing to play.'
        : asset.status === 'uploading'
          ? 'Playback starts once the upload is complete and the first segments are ready.'
          : 'Preparing the stream: it plays as soon as the first segments are ready.';
      clear(placeholder, asset.status === 'errored' ? null : h('div.spinner', {}), h('span', {}, message));
      if (poster) placeholder.style.backgroundImage = `url("${poster}")`;
      return;
    }
    toolbar.hidden = false;
    // The tabs follow the view: every asset has a DASH manifest today (an
    // encrypted one's is CENC), only an encrypted one a CENC HLS.
    engineTabs.querySelectorAll('button').forEach((b) => b.toggleAttribute('hidden', !offers(asset.playback, b.dataset.engine)));
    if (!offers(asset.playback, engine)) engine = engines.find((name) => offers(asset.playback, name)) ?? engine;
    if (view.element.parentNode !== stage) {
      stage.replaceChildren(view.element);
      if (poster) video.poster = poster;
      progress ??= trackProgress(view, asset.id, () => sourceSeconds(asset));
      start(engine);
    } else if (poster && !video.poster) {
      video.poster = poster;
    }
  }

  async function start(name) {
    playerError.hidden = true;
    const previous = controller;
    controller = null;
    const position = previous ? video.currentTime : 0;
    previous?.destroy();
    // Another engine gets a media element as fresh as a new one: without this,
    // dash.js after hls.js kept its subtitles track empty of cues.
    if (previous) {
      video.removeAttribute('src');
      video.load();
    }
    engine = name;
    engineTabs.querySelectorAll('button').forEach((b) => b.setAttribute('aria-checked', String(b.dataset.engine === name)));
    root.dataset.engine = name;
    renderLevels();
    textsApplied = false;
    renderTexts(false);
    renderAudios();
    beacons.engine(name);
    const attempt = (attaching = attachEngine(name, video, asset.playback, {
      beacons,
      onLevels: () => {
        if (attempt !== attaching) return;
        renderLevels();
        renderTexts(true);
        renderAudios();
      },
      onAudios: () => attempt === attaching && renderAudios(),
      onLevel: () => attempt === attaching && renderNowPlaying(),
      onTexts: () => attempt === attaching && renderTexts(true),
      onError: (message) => {
        playerError.hidden = false;
        playerError.textContent = message;
      },
    }));
    const attached = await attempt;
    if (stopped || attempt !== attaching) {
      attached.destroy();
      return;
    }
    controller = attached;
    renderTexts(true);
    renderAudios();
    if (position > 0) video.addEventListener('loadedmetadata', () => (video.currentTime = position), { once: true });
    // A viewer with a resume point chooses: resume there, or play from the start.
    if (previous || !(await progress.offered)) {
      video.play().catch(() => {
        /* autoplay refused: the big play button is there */
      });
    }
  }

  function switchEngine(name) {
    if (name === engine && controller) return;
    localStorage.setItem(ENGINE_KEY, name);
    start(name);
  }

  function renderLevels() {
    const levels = controller ? [...controller.levels()].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate) : [];
    const selected = controller && !controller.isAuto() ? controller.current() : 'auto';
    clear(quality,
      h('option', { value: 'auto' }, controller?.engine === 'native' ? 'Auto (browser)' : 'Auto'),
      levels.map((level) => h('option', { value: level.id, dataset: { height: String(level.height) } },
        `${level.height}p · ${formatBitrate(level.bitrate)}`)));
    quality.value = selected ?? 'auto';
    quality.disabled = levels.length < 2;
    renderNowPlaying();
  }

  // The viewer's choice of subtitles: this session's pick, else the profile's
  // preference (subtitles on, in the profile's language), else off.
  let textChoice = null;
  function preferredText(texts) {
    if (textChoice) return texts.find((t) => t.lang === textChoice)?.id ?? 'off';
    const prefs = session.user()?.preferences ?? {};
    if (!prefs.subtitles) return 'off';
    const want = (prefs.language || navigator.language || 'en').toLowerCase();
    const match = texts.find((t) => t.lang?.toLowerCase() === want)
      ?? texts.find((t) => t.lang?.toLowerCase().split('-')[0] === want.split('-')[0]);
    return match?.id ?? 'off';
  }

  // The preference is applied once per attach, when the tracks first show.
  let textsApplied = false;
  function renderTexts(apply) {
    const texts = controller?.texts?.() ?? [];
    if (apply && textsApplied && texts.length) apply = false;
    clear(subtitles, h('option', { value: 'off' }, 'Off'),
      texts.map((t) => h('option', { value: t.id, dataset: { lang: t.lang ?? '' } }, t.label || t.lang || `Track ${t.id}`)));
    subtitles.disabled = texts.length === 0;
    if (!texts.length) return;
    const id = apply ? preferredText(texts) : controller.currentText();
    if (apply) {
      controller.setText(id);
      textsApplied = true;
    }
    subtitles.value = id;
  }

  // The audio track: the viewer's pick for this session (by language), else the stream's default.
  let audioChoice = null;
  function renderAudios() {
    const tracks = controller?.audios?.() ?? [];
    clear(audio, tracks.map((t) => h('option', { value: t.id, dataset: { lang: t.lang ?? '' } },
      t.label || t.lang || `Track ${Number(t.id) + 1}`)));
    audio.disabled = tracks.length < 2;
    if (!tracks.length) return;
    const chosen = audioChoice && tracks.find((t) => t.lang === audioChoice);
    const current = controller.currentAudio();
    if (chosen && chosen.id !== current) controller.setAudio(chosen.id);
    audio.value = chosen?.id ?? current ?? tracks[0].id;
  }

  function chooseAudio(id) {
    const tracks = controller?.audios?.() ?? [];
    audioChoice = tracks.find((t) => t.id === id)?.lang ?? null;
    controller?.setAudio(id);
  }

  function chooseText(id) {
    const texts = controller?.texts?.() ?? [];
    textChoice = id === 'off' ? 'off' : texts.find((t) => t.id === id)?.lang ?? null;
    controller?.setText(id);
  }

  function renderNowPlaying() {
    const size = video.videoHeight ? `${video.videoWidth}×${video.videoHeight}` : '';
    nowPlaying.textContent = size ? `Playing ${size}` : '';
  }
  video.addEventListener('resize', renderNowPlaying);

  return {
    element,
    video,
    show,
    destroy() {
      stopped = true;
      attaching = null;
      progress?.stop();
      controller?.destroy();
      stopBeacons?.();
      video.pause();
    },
  };
}
