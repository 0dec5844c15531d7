// Playback beacons for analytics: one anonymous view per asset page, its
// events batched and sent to /api/v1/analytics/beacons — every 10 s with
// fetch (keepalive, carrying the sign-in so the view has its user), and with
// navigator.sendBeacon when the page is hidden or left. Nothing is sent
// under Do-Not-Track or Global Privacy Control. Bounded: at most 100 events
// a batch and 2000 a view; a batch the server refuses is dropped.
import { session } from './api.js';

const URL = '/api/v1/analytics/beacons';
const FLUSH_MS = 10_000;
const WATCH_MS = 10_000;
const MAX_BATCH = 100;
const MAX_VIEW = 2000;

function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function tracked() {
  return navigator.doNotTrack !== '1' && window.doNotTrack !== '1' && navigator.globalPrivacyControl !== true;
}

export class ViewBeacons {
  constructor(assetId, { titleId } = {}) {
    this.enabled = tracked();
    this.assetId = assetId;
    this.titleId = titleId;
    this.viewId = randomId();
    this.player = 'hls.js';
    this.queue = [];
    this.seq = 0;
    this.rendition = undefined;
    this.started = null; // when play was first asked for
    this.firstFrame = false;
    this.stalledAt = null;
    this.watchedMs = 0;
    this.lastTime = null;
    this.timer = null;
    // Hiding or leaving the page sends the watch time so far with the rest.
    this.onHide = () => {
      if (document.visibilityState !== 'hidden') return;
      this.takeWatch();
      this.flush(true);
    };
    this.onLeave = () => {
      this.takeWatch();
      this.flush(true);
    };
  }

  /** Starts listening to `video`; the returned function stops. */
  attach(video) {
    if (!this.enabled) return () => {};
    const on = (name, f) => video.addEventListener(name, f);
    const handlers = {
      play: () => {
        if (this.started === null) {
          this.started = performance.now();
          this.push('view_start');
        }
        this.lastTime = video.currentTime;
      },
      playing: () => {
        const now = performance.now();
        if (!this.firstFrame && this.started !== null) {
          this.firstFrame = true;
          this.push('first_frame', { ms: Math.round(now - this.started) });
        } else if (this.stalledAt !== null) {
          this.push('rebuffer', { ms: Math.round(now - this.stalledAt) });
        }
        this.stalledAt = null;
        this.lastTime = video.currentTime;
      },
      waiting: () => {
        if (this.firstFrame && !video.seeking && this.stalledAt === null) this.stalledAt = performance.now();
      },
      seeking: () => {
        this.stalledAt = null;
        this.lastTime = null;
      },
      seeked: () => (this.lastTime = video.currentTime),
      timeupdate: () => {
        if (video.paused || video.seeking || this.lastTime === null) return;
        const step = video.currentTime - this.lastTime;
        this.lastTime = video.currentTime;
        // Only playback counts: a jump (seek, engine switch) is not watching.
        if (step > 0 && step < 2) this.watchedMs += step * 1000;
        if (this.watchedMs >= WATCH_MS) this.takeWatch();
      },
      pause: () => {
        this.takeWatch();
        this.lastTime = null;
      },
      ended: () => {
        this.takeWatch();
        this.push('complete');
        this.flush(false);
      },
      error: () => {
        const error = video.error;
        if (error) this.error(`MEDIA_ERR_${error.code}`);
      },
    };
    Object.entries(handlers).forEach(([name, f]) => on(name, f));
    document.addEventListener('visibilitychange', this.onHide);
    window.addEventListener('pagehide', this.onLeave);
    this.timer = setInterval(() => this.flush(false), FLUSH_MS);
    return () => {
      Object.entries(handlers).forEach(([name, f]) => video.removeEventListener(name, f));
      document.removeEventListener('visibilitychange', this.onHide);
      window.removeEventListener('pagehide', this.onLeave);
      clearInterval(this.timer);
      this.takeWatch();
      this.flush(true);
    };
  }

  /** The engine playing: hls.js, dash.js or native. */
  engine(name) {
    this.takeWatch();
    this.player = name === 'hls' || name === 'hls-cenc' ? 'hls.js' : name === 'dash' ? 'dash.js' : 'native';
    this.lastTime = null;
  }

  /** The rendition now playing, e.g. `720p`. */
  renditionPlaying(label) {
    if (!label || label === this.rendition) return;
    const first = this.rendition === undefined;
    this.rendition = label;
    if (!first) this.push('rendition_switch');
  }

  /** A player error with the engine's own code. */
  error(code) {
    this.push('error', { code: String(code).slice(0, 120) });
  }

  takeWatch() {
    const ms = Math.round(this.watchedMs);
    if (ms > 0) this.push('watch', { ms });
    this.watchedMs = 0;
  }

  push(type, extra = {}) {
    if (!this.enabled || this.seq >= MAX_VIEW) return;
    const event = { seq: this.seq++, type, t: Date.now(), ...extra };
    if (this.rendition) event.rendition = this.rendition;
    this.queue.push(event);
    if (this.queue.length >= MAX_BATCH) this.flush(false);
  }

  /** Sends what is queued; `leaving` uses sendBeacon (it outlives the page). */
  flush(leaving) {
    if (!this.enabled || this.queue.length === 0) return;
    const events = this.queue.splice(0, MAX_BATCH);
    const batch = { view_id: this.viewId, asset_id: this.assetId, player: this.player, events };
    if (this.titleId) batch.title_id = this.titleId;
    const body = JSON.stringify(batch);
    if (leaving && navigator.sendBeacon) {
      navigator.sendBeacon(URL, new Blob([body], { type: 'text/plain' }));
    } else {
      fetch(URL, {
        method: 'POST',
        body,
        keepalive: true,
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', ...session.authHeaders() },
      }).catch(() => {
        /* analytics never gets in the way of playback */
      });
    }
    if (this.queue.length) this.flush(leaving);
  }
}
