// Playback engines behind one small interface: hls.js (the default where
// Media Source Extensions exist), hls.js over an encrypted asset's CENC set
// with the browser's ClearKey CDM, dash.js (loaded on demand), and the
// browser's own HLS (Safari, iOS, and Chromium builds that have it).
import Hls from 'hls.js';

export const ENGINE_LABELS = { hls: 'hls.js', 'hls-cenc': 'hls.js CENC', dash: 'dash.js', native: 'Native HLS' };

export function availableEngines(video) {
  const engines = [];
  if (Hls.isSupported()) engines.push('hls');
  if (Hls.isSupported() && navigator.requestMediaKeySystemAccess) engines.push('hls-cenc');
  if (window.MediaSource || window.ManagedMediaSource) engines.push('dash');
  if (video.canPlayType('application/vnd.apple.mpegurl')) engines.push('native');
  return engines;
}

export function defaultEngine(video) {
  return availableEngines(video)[0] ?? 'native';
}

/** Whether `playback` ({hls, dash, hls_cenc}) has a stream for `engine`. */
export function offers(playback, engine) {
  if (engine === 'dash') return Boolean(playback.dash);
  if (engine === 'hls-cenc') return Boolean(playback.hls_cenc && playback.clearkey);
  return Boolean(playback.hls);
}

/**
 * Attaches `engine` to `video` for `playback` ({hls, dash} URLs, and for an
 * encrypted asset {hls_cenc, clearkey}: its CENC HLS and ClearKey licence).
 * `events.onLevels()` fires when the renditions are known, `events.onLevel()`
 * after each switch, `events.onTexts()` when the text tracks are known,
 * `events.onAudios()` when the audio tracks are known or one was switched,
 * `events.onError(message)` on a fatal error; `events.beacons` (a
 * ViewBeacons) is told the rendition playing and the engine's error codes.
 * Returns {engine, levels(), current(), isAuto(), setLevel(id | 'auto'),
 * texts(), currentText(), setText(id | 'off'), audios(), currentAudio(),
 * setAudio(id), destroy()};
 * a level is {id, width, height, bitrate}, a text or audio track {id, label, lang}.
 */
export async function attachEngine(engine, video, playback, events) {
  if (engine === 'hls') return attachHls(video, playback.hls, events);
  if (engine === 'hls-cenc') return attachHls(video, playback.hls_cenc, events, playback.clearkey);
  if (engine === 'dash') return attachDash(video, playback.dash, events);
  return attachNative(video, playback.hls, events);
}

/** hls.js; with `clearkey` (a licence URL), over CENC with EME ClearKey. */
function attachHls(video, url, events, clearkey) {
  // A stream still transcoding is an EVENT playlist: start at its beginning,
  // as a film should, rather than at the live edge.
  const config = { startPosition: 0, capLevelToPlayerSize: false, backBufferLength: 30 };
  if (clearkey) {
    // The playlists' KEYFORMAT is org.w3.clearkey; hls.js posts the CDM's
    // licence request to this URL (signed, like the playlists).
    config.emeEnabled = true;
    config.drmSystems = { 'org.w3.clearkey': { licenseUrl: new URL(clearkey, window.location.href).href } };
  }
  const hls = new Hls(config);
  let auto = true;
  let mediaRecoveries = 0;
  hls.on(Hls.Events.MANIFEST_PARSED, () => events.onLevels());
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => events.onTexts?.());
  hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, () => events.onAudios?.());
  hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, () => events.onAudios?.());
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    const level = hls.levels[data.level];
    if (level?.height) events.beacons?.renditionPlaying(`${level.height}p`);
    events.onLevel();
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (!data.fatal) return;
    events.beacons?.error(`${data.type}/${data.details}`);
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      hls.startLoad();
    } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 3) {
      mediaRecoveries += 1;
      hls.recoverMediaError();
    } else {
      events.onError(`hls.js could not play this stream (${data.details}).`);
    }
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  return {
    engine: clearkey ? 'hls-cenc' : 'hls',
    levels: () => hls.levels.map((level, index) => ({
      id: String(index), width: level.width, height: level.height, bitrate: level.bitrate,
    })),
    current: () => (hls.currentLevel >= 0 ? String(hls.currentLevel) : null),
    isAuto: () => auto,
    setLevel(id) {
      auto = id === 'auto';
      // currentLevel switches at once (the buffer ahead is replaced);
      // -1 hands the choice back to the bandwidth estimate.
      hls.currentLevel = auto ? -1 : Number(id);
    },
    texts: () => hls.subtitleTracks.map((track, index) => ({ id: String(index), label: track.name, lang: track.lang })),
    currentText: () => (hls.subtitleTrack >= 0 ? String(hls.subtitleTrack) : 'off'),
    setText(id) {
      hls.subtitleDisplay = id !== 'off';
      hls.subtitleTrack = id === 'off' ? -1 : Number(id);
    },
    audios: () => hls.audioTracks.map((track, index) => ({ id: String(index), label: track.name, lang: track.lang })),
    currentAudio: () => (hls.audioTrack >= 0 ? String(hls.audioTrack) : null),
    setAudio(id) {
      // hls.js swaps the audio buffer and playback goes on from where it is.
      hls.audioTrack = Number(id);
    },
    destroy: () => hls.destroy(),
  };
}

async function attachDash(video, url, events) {
  const { MediaPlayer } = await import('dashjs');
  const player = MediaPlayer().create();
  let auto = true;
  player.updateSettings({
    debug: { logLevel: 1 },
    // The page keeps the viewer's choices (rendition, subtitles, audio, and
    // the profile's preferences); dash.js's own cache of the last ones in
    // localStorage would overrule them from an earlier session.
    streaming: {
      abr: { autoSwitchBitrate: { video: true } },
      lastBitrateCachingInfo: { enabled: false },
      lastMediaSettingsCachingInfo: { enabled: false },
    },
  });
  player.on(MediaPlayer.events.STREAM_INITIALIZED, () => events.onLevels());
  player.on(MediaPlayer.events.TEXT_TRACKS_ADDED, () => events.onTexts?.());
  player.on(MediaPlayer.events.STREAM_INITIALIZED, () => events.onAudios?.());
  player.on(MediaPlayer.events.TRACK_CHANGE_RENDERED, (event) => {
    if (event.mediaType === 'audio') events.onAudios?.();
  });
  // One adaptation set per language: the same track of each is its own.
  const audioTracks = () => player.getTracksFor('audio');
  const sameTrack = (a, b) => a && b && a.id === b.id && a.lang === b.lang && a.index === b.index;
  player.on(MediaPlayer.events.QUALITY_CHANGE_RENDERED, (event) => {
    if (event.mediaType !== 'video') return;
    const height = player.getCurrentRepresentationForType('video')?.height;
    if (height) events.beacons?.renditionPlaying(`${height}p`);
    events.onLevel();
  });
  player.on(MediaPlayer.events.ERROR, (event) => {
    const message = event?.error?.message ?? 'unknown error';
    events.beacons?.error(`dash/${event?.error?.code ?? 'unknown'}`);
    events.onError(`dash.js could not play this stream (${message}).`);
  });
  // An encrypted asset's MPD names its ClearKey licence relative to the
  // MPD, as it names its segments; dash.js would resolve it against the page.
  const manifest = new URL(url, window.location.href);
  player.registerLicenseRequestFilter((request) => {
    request.url = new URL(request.url, manifest).href;
    return Promise.resolve();
  });
  player.initialize(video, url, true);
  return {
    engine: 'dash',
    levels: () => player.getRepresentationsByType('video').map((rep) => ({
      id: rep.id, width: rep.width, height: rep.height, bitrate: rep.bandwidth,
    })),
    current: () => player.getCurrentRepresentationForType('video')?.id ?? null,
    isAuto: () => auto,
    setLevel(id) {
      auto = id === 'auto';
      player.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: auto } } } });
      if (!auto) player.setRepresentationForTypeById('video', id, true);
    },
    texts: () => player.getTracksFor('text').map((track, index) => ({
      id: String(index), label: track.labels?.[0]?.text || track.lang, lang: track.lang,
    })),
    currentText() {
      if (!player.isTextEnabled()) return 'off';
      const current = player.getCurrentTrackFor('text');
      const index = player.getTracksFor('text').findIndex((t) => t.id === current?.id && t.lang === current?.lang);
      return index >= 0 ? String(index) : 'off';
    },
    setText(id) {
      player.enableText(id !== 'off');
      if (id !== 'off') player.setTextTrack(Number(id));
    },
    audios: () => audioTracks().map((track, index) => ({
      id: String(index), label: track.labels?.[0]?.text || track.lang, lang: track.lang,
    })),
    currentAudio() {
      const current = player.getCurrentTrackFor('audio');
      const index = audioTracks().findIndex((t) => sameTrack(t, current));
      return index >= 0 ? String(index) : null;
    },
    setAudio(id) {
      const track = audioTracks()[Number(id)];
      if (track) player.setCurrentTrack(track);
    },
    destroy: () => player.destroy(),
  };
}

function attachNative(video, url, events) {
  video.src = url;
  const sized = () => video.videoHeight && events.beacons?.renditionPlaying(`${video.videoHeight}p`);
  video.addEventListener('resize', sized);
  video.addEventListener('loadedmetadata', () => events.onLevels(), { once: true });
  video.textTracks.addEventListener?.('addtrack', () => events.onTexts?.());
  const subtitles = () => [...video.textTracks].filter((t) => t.kind === 'subtitles' || t.kind === 'captions');
  // Chromium exposes audioTracks only behind a flag: no menu there.
  const audioTracks = () => [...(video.audioTracks ?? [])];
  video.audioTracks?.addEventListener?.('addtrack', () => events.onAudios?.());
  return {
    engine: 'native',
    levels: () => [],
    current: () => null,
    isAuto: () => true,
    setLevel() {},
    texts: () => subtitles().map((track, index) => ({ id: String(index), label: track.label, lang: track.language })),
    currentText() {
      const index = subtitles().findIndex((t) => t.mode === 'showing');
      return index >= 0 ? String(index) : 'off';
    },
    setText(id) {
      subtitles().forEach((track, index) => (track.mode = String(index) === id ? 'showing' : 'disabled'));
    },
    audios: () => audioTracks().map((track, index) => ({ id: String(index), label: track.label, lang: track.language })),
    currentAudio() {
      const index = audioTracks().findIndex((t) => t.enabled);
      return index >= 0 ? String(index) : null;
    },
    setAudio(id) {
      audioTracks().forEach((track, index) => (track.enabled = String(index) === id));
    },
    destroy() {
      video.removeEventListener('resize', sized);
      video.removeAttribute('src');
      video.load();
    },
  };
}
