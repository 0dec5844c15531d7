// Continue watching: the player reports where the viewer is to social's
// progress API (`PUT /api/v1/social/progress/{asset}`), every BEACON_MS while
// it plays, on pause and when the page goes away; a page that opens an asset
// the viewer has started offers "Resume at m:ss" instead of playing from the
// start. The server keeps one beacon per `beacon_interval_ms` and answers the
// others `stored: false`: one dropped on a pause is sent again once the
// interval has passed, so the place a viewer stopped at is the one kept.
// Only for an account: the root token is the operator's credential, not a
// viewer with a place in a film.
import { request, session } from './api.js';
import { h, formatDuration } from './util.js';

const API = '/api/v1/social/progress';
/** Social's default `beacon_interval_ms`: sooner beacons are dropped anyway. */
const BEACON_MS = 10_000;
/** Less than this in, there is nothing to resume (past 90 % social marks it watched: nothing either). */
const MIN_RESUME_S = 5;

/**
 * Tracks `view`'s video as asset `assetId` (`sourceSeconds()` its length
 * when known). Returns {offered: Promise<boolean> (a resume offer is shown:
 * the page should not autoplay), stop()}.
 */
export function trackProgress(view, assetId, sourceSeconds) {
  const video = view.video;
  const url = `${API}/${encodeURIComponent(assetId)}`;
  let started = false;
  let lastStoredAt = 0;
  let lastStoredMs = -1;
  let interval = 0;
  let retry = 0;
  let stopped = false;

  function duration() {
    const known = sourceSeconds();
    if (Number.isFinite(known) && known > 0) return known;
    return Number.isFinite(video.duration) && video.duration > 0 ? video.duration : NaN;
  }

  async function report({ keepalive = false } = {}) {
    if (!started || !session.user()) return;
    const seconds = duration();
    if (!(seconds > 0)) return;
    const position = Math.round(Math.min(video.currentTime, seconds) * 1000);
    if (position === lastStoredMs) return;
    clearTimeout(retry);
    try {
      const answer = await request(url, { method: 'PUT', keepalive, json: { position_ms: position, duration_ms: Math.round(seconds * 1000) } });
      if (answer.stored) {
        lastStoredAt = Date.now();
        lastStoredMs = position;
      } else if (!stopped && video.paused) {
        const wait = (lastStoredAt ? lastStoredAt + BEACON_MS - Date.now() : BEACON_MS) + 250;
        retry = setTimeout(report, Math.max(wait, 250));
      }
    } catch {
      /* the next beacon tries again */
    }
  }

  const offer = h('div.resume-offer', { hidden: true });
  view.element.append(offer);
  function hideOffer() {
    offer.hidden = true;
  }

  const offered = session.whenKnown().then(async () => {
    if (!session.user() || stopped) return false;
    const point = await request(url).catch(() => null);
    const at = point ? point.position_ms / 1000 : 0;
    if (!point || point.watched || at < MIN_RESUME_S) return false;
    const resume = h('button.button.primary', {
      type: 'button',
      id: 'resume-button',
      dataset: { position: String(at) },
      onclick: () => {
        hideOffer();
        const seek = () => {
          video.currentTime = at;
          video.play().catch(() => {});
        };
        if (video.readyState >= 1) seek();
        else video.addEventListener('loadedmetadata', seek, { once: true });
      },
    }, `Resume at ${formatDuration(at)}`);
    const over = h('button.button.ghost', {
      type: 'button',
      id: 'start-over-button',
      onclick: () => {
        hideOffer();
        video.play().catch(() => {});
      },
    }, 'Start from the beginning');
    offer.replaceChildren(resume, over);
    offer.hidden = false;
    return true;
  });

  const onPlaying = () => {
    started = true;
    hideOffer();
    clearInterval(interval);
    interval = setInterval(report, BEACON_MS);
  };
  const onPause = () => {
    clearInterval(interval);
    report();
  };
  const onHide = () => report({ keepalive: true });
  video.addEventListener('playing', onPlaying);
  video.addEventListener('pause', onPause);
  video.addEventListener('ended', onPause);
  window.addEventListener('pagehide', onHide);

  return {
    offered,
    stop() {
      report({ keepalive: true });
      stopped = true;
      clearInterval(interval);
      clearTimeout(retry);
      window.removeEventListener('pagehide', onHide);
    },
  };
}
