// The asset page: the player (hls.js, dash.js or native HLS), a rendition
// picker, the playback URLs and what the server knows about the asset. The
// status follows the server's events, and playback starts as soon as the
// first segments are published, while the rest still transcodes.
import { getAsset, deleteAsset, watchAsset, session, FINAL_STATUSES, ApiError } from './api.js';
import { availableEngines, defaultEngine, attachEngine, ENGINE_LABELS } from './player.js';
import { createPlayerView } from './controls.js';
import { loadStoryboard } from './storyboard.js';
import {
  h, clear, assetTitle, statusBadge, progressBar, setProgress, formatBytes, formatBitrate, formatDuration,
  formatWhen, sourceSeconds, copyText, viewableUrl, unsigned,
} from './util.js';

const ENGINE_KEY = 'cdlc.engine';

export function mountAsset(root, id) {
  document.title = 'Video · cdlc';
  let asset = null;
  let controller = null;
  let attaching = null;
  let stopped = false;
  let closeEvents = null;
  let refetching = false;
  let storyboardUrl = null;

  const view = createPlayerView();
  const video = view.video;
  const engines = availableEngines(video);
  let engine = localStorage.getItem(ENGINE_KEY);
  if (!engines.includes(engine)) engine = defaultEngine(video);

  const title = h('h1.asset-title', {});
  const badges = h('div.badges', {});
  const meta = h('p.muted', {});
  const bar = progressBar(0, 'Processing progress');
  const barLabel = h('span.progress-label', {});
  const progress = h('div.asset-progress', { hidden: true }, bar, barLabel);
  const errorBox = h('div.notice.error', { hidden: true });
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
  const urls = h('div.card-section', {});
  const renditions = h('div.card-section', {});
  const source = h('div.card-section', {});
  const actions = h('div.row.end', {});

  root.append(
    h('a.back', { href: '/', dataset: { link: '' } }, '← Library'),
    h('div.asset-head', {}, h('div', {}, title, meta), badges),
    progress,
    errorBox,
    h('section.player-card', {}, stage, toolbar, playerError),
    h('div.details', {}, urls, renditions, source),
    actions,
  );

  async function load() {
    try {
      show(await getAsset(id));
    } catch (error) {
      if (stopped) return;
      clear(root, h('section.empty', {},
        h('h1', {}, error.status === 404 ? 'This video does not exist' : 'The video cannot be loaded'),
        h('p.muted', {}, error instanceof ApiError ? error.message : String(error)),
        h('a.button.primary', { href: '/', dataset: { link: '' } }, 'Back to the library')));
      return;
    }
    if (!FINAL_STATUSES.has(asset.status)) {
      closeEvents = watchAsset(id, (update) => {
        if (stopped) return;
        if (!update) {
          window.dispatchEvent(new CustomEvent('cdlc:navigate', { detail: '/' }));
          return;
        }
        // Events carry the asset without its playback URLs and renditions:
        // fetch the full view when those may have changed.
        show({ ...asset, ...update });
        if (!asset.playback || FINAL_STATUSES.has(update.status)) refetch();
      });
    }
  }

  async function refetch() {
    if (refetching) return;
    refetching = true;
    try {
      const fresh = await getAsset(id);
      if (!stopped) show(fresh);
    } catch {
      /* the next event tries again */
    } finally {
      refetching = false;
    }
  }

  function show(next) {
    asset = next;
    document.title = `${assetTitle(asset)} · cdlc`;
    title.textContent = assetTitle(asset);
    root.dataset.status = asset.status;
    clear(badges, statusBadge(asset), asset.private ? h('span.badge.private', {}, 'Private') : null,
      asset.encrypted ? h('span.badge.encrypted', { title: 'HLS AES-128: the key is served on signed URLs only' }, 'Encrypted') : null);
    const details = [`Uploaded ${formatWhen(asset.created_at)}`];
    const seconds = sourceSeconds(asset);
    if (Number.isFinite(seconds)) details.push(formatDuration(seconds));
    if (asset.source?.video) details.push(`${asset.source.video.display_width}×${asset.source.video.display_height}`);
    meta.textContent = details.join(' · ');

    const inFlight = asset.status === 'processing' || asset.status === 'uploading';
    progress.hidden = !inFlight;
    setProgress(bar, asset.progress);
    barLabel.textContent = asset.status === 'uploading'
      ? 'Waiting for the upload to finish'
      : `Transcoding ${Math.floor(asset.progress)}%${asset.playback ? ' · you can watch already' : ''}`;
    errorBox.hidden = asset.status !== 'errored';
    errorBox.textContent = asset.error ? `This video could not be processed: ${asset.error}` : '';
    view.setGrowing(asset.status === 'processing');

    renderStage();
    renderUrls();
    renderRenditions();
    renderSource();
    renderActions();
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
    // An encrypted asset (HLS AES-128) has no DASH manifest.
    engineTabs.querySelector('[data-engine="dash"]')?.toggleAttribute('hidden', !asset.playback.dash);
    if (engine === 'dash' && !asset.playback.dash) engine = engines.find((name) => name !== 'dash') ?? engine;
    if (view.element.parentNode !== stage) {
      stage.replaceChildren(view.element);
      if (poster) video.poster = poster;
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
    engine = name;
    engineTabs.querySelectorAll('button').forEach((b) => b.setAttribute('aria-checked', String(b.dataset.engine === name)));
    root.dataset.engine = name;
    renderLevels();
    textsApplied = false;
    renderTexts(false);
    renderAudios();
    const attempt = (attaching = attachEngine(name, video, asset.playback, {
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
    video.play().catch(() => {
      /* autoplay refused: the big play button is there */
    });
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

  function renderUrls() {
    const absolute = (path) => new URL(path, location.origin).href;
    const row = (label, path, kind) => {
      const url = absolute(path);
      const copy = h('button.button.small', { type: 'button', onclick: () => copyText(url, copy) }, 'Copy');
      return h('div.url-row', { dataset: { kind } }, h('span.label', {}, label), h('code.url', { title: url }, url), copy);
    };
    clear(urls, h('h2', {}, 'Playback URLs'),
      asset.playback
        ? [row('HLS', asset.playback.hls, 'hls'), asset.playback.dash ? row('DASH', asset.playback.dash, 'dash') : null,
          privacyNote()]
        : h('p.muted', {}, 'They appear once the first segments are published.'));
  }

  function privacyNote() {
    if (!asset.private) return null;
    if (asset.playback?.expires) {
      return h('p.muted', {}, `Signed URLs: anyone who has them can watch until they expire ${formatWhen(asset.playback.expires * 1000)}.`);
    }
    return h('p.muted', {}, 'Private: these answer 403. Signed in with the admin token, this page shows signed URLs.');
  }

  function renderRenditions() {
    const list = asset.renditions ?? [];
    clear(renditions, h('h2', {}, 'Renditions'),
      list.length
        ? h('table.table', {},
          h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Size'), h('th', {}, 'Bitrate'), h('th', {}, 'Codec'))),
          h('tbody', {}, list.map((r) => h('tr', {},
            h('td', {}, r.name),
            h('td', {}, r.width ? `${r.width}×${r.height}` : r.kind),
            h('td', {}, formatBitrate(r.bitrate)),
            h('td', {}, h('code', {}, r.codec))))))
        : h('p.muted', {}, asset.status === 'ready' ? 'None.' : 'Listed once transcoding is finished.'));
  }

  function renderSource() {
    const info = asset.source;
    if (!info) {
      clear(source, h('h2', {}, 'Source'), h('p.muted', {}, 'Known once the file has been probed.'));
      return;
    }
    const v = info.video;
    const rows = [
      ['Container', info.container ?? '—'],
      ['Size', formatBytes(info.file_size)],
      ['Duration', formatDuration(sourceSeconds(asset))],
      ['Video', `${v.codec}, ${v.display_width}×${v.display_height}${v.frame_rate ? `, ${(v.frame_rate[0] / v.frame_rate[1]).toFixed(2).replace(/\.00$/, '')} fps` : ''}`],
      ['Audio', info.audio?.length ? info.audio.map((a) => `${a.codec}, ${a.channels} ch`).join('; ') : 'none'],
    ];
    clear(source, h('h2', {}, 'Source'),
      h('dl.facts', {}, rows.map(([k, value]) => [h('dt', {}, k), h('dd', {}, value)])));
  }

  function renderActions() {
    // The server decides (its uploader or an admin); the button shows for uploaders.
    clear(actions, session.can('uploader')
      ? h('button.button.danger', { type: 'button', onclick: remove }, 'Delete video')
      : null);
  }

  async function remove() {
    if (!confirm(`Delete “${assetTitle(asset)}” and all its streams?`)) return;
    try {
      await deleteAsset(id);
      window.dispatchEvent(new CustomEvent('cdlc:navigate', { detail: '/' }));
    } catch (error) {
      errorBox.hidden = false;
      errorBox.textContent = error.message;
    }
  }

  // Signing in or out changes what the API shows (signed URLs of a private asset).
  const offSession = session.onChange(() => asset && (renderActions(), refetch()));
  load();
  return () => {
    stopped = true;
    attaching = null;
    closeEvents?.();
    controller?.destroy();
    offSession();
    video.pause();
  };
}
