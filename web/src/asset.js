// The asset page: the player card (playback.js: hls.js, dash.js or native
// HLS, the pickers, the resume offer), the playback URLs and what the server
// knows about the asset. The
// status follows the server's events, and playback starts as soon as the
// first segments are published, while the rest still transcodes.
import { getAsset, deleteAsset, watchAsset, session, FINAL_STATUSES, ApiError } from './api.js';
import { createPlayback } from './playback.js';
import { renderAudience } from './audience.js';
import { assetTitles } from './catalog-admin.js';
import {
  h, clear, assetTitle, statusBadge, progressBar, setProgress, formatBytes, formatBitrate, formatDuration,
  formatWhen, sourceSeconds, copyText,
} from './util.js';

export function mountAsset(root, id) {
  document.title = 'Video · cdlc';
  let asset = null;
  let stopped = false;
  let closeEvents = null;
  let refetching = false;

  const title = h('h1.asset-title', {});
  const badges = h('div.badges', {});
  const meta = h('p.muted', {});
  const bar = progressBar(0, 'Processing progress');
  const barLabel = h('span.progress-label', {});
  const progress = h('div.asset-progress', { hidden: true }, bar, barLabel);
  const errorBox = h('div.notice.error', { hidden: true });
  const player = createPlayback(root);
  const urls = h('div.card-section', {});
  const renditions = h('div.card-section', {});
  const source = h('div.card-section', {});
  const audience = h('div.card-section', { id: 'asset-audience' });
  const actions = h('div.row.end', {});

  root.append(
    h('a.back', { href: '/', dataset: { link: '' } }, '← Library'),
    h('div.asset-head', {}, h('div', {}, title, meta), badges),
    progress,
    errorBox,
    player.element,
    h('div.details', {}, urls, renditions, source, audience),
    assetTitles(id),
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
      asset.encrypted ? h('span.badge.encrypted', { title: 'HLS AES-128, and CENC (ClearKey) for DASH and HLS: the keys are served on signed URLs only' }, 'Encrypted') : null);
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

    player.show(asset);
    renderUrls();
    renderRenditions();
    renderSource();
    renderActions();
    if (!audience.dataset.loaded) {
      audience.dataset.loaded = '1';
      renderAudience(audience, id);
    }
  }

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
          asset.playback.hls_cenc ? row('HLS CENC', asset.playback.hls_cenc, 'hls-cenc') : null,
          asset.playback.clearkey ? row('ClearKey licence', asset.playback.clearkey, 'clearkey') : null,
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
    closeEvents?.();
    player.destroy();
    offSession();
  };
}
