// The library: every asset as a card with its poster, status and a progress
// bar that moves while it uploads or transcodes (the list is polled every
// 1.5 s while anything is in flight, every 15 s otherwise).
import { listAssets, FINAL_STATUSES, PAGE_SIZE, ApiError } from './api.js';
import { uploadFor, onUploadsChange } from './uploads.js';
import { mountHomeRows } from './browse.js';
import {
  h, clear, syncList, assetTitle, statusBadge, progressBar, setProgress, formatDuration, formatWhen, sourceSeconds,
  viewableUrl, unsigned,
} from './util.js';

const BUSY_POLL_MS = 1500;
const IDLE_POLL_MS = 15000;
const FILTERS = [
  ['', 'All'],
  ['processing', 'Processing'],
  ['ready', 'Ready'],
  ['errored', 'Failed'],
];

export function mountLibrary(root) {
  document.title = 'Library · cdlc';
  const params = new URLSearchParams(location.search);
  let status = params.get('status') ?? '';
  let assets = [];
  let next = null;
  let timer = 0;
  let stopped = false;
  let controller = null;
  const cards = new Map();

  const grid = h('div.grid', { id: 'asset-grid' });
  const message = h('div.notice', { hidden: true });
  const more = h('button.button.ghost', { type: 'button', hidden: true, onclick: loadMore }, 'Load more');
  const count = h('span.muted', {});
  const chips = h(
    'div.chips',
    { role: 'tablist' },
    FILTERS.map(([value, label]) =>
      h('button.chip', {
        type: 'button',
        role: 'tab',
        'aria-selected': String(value === status),
        onclick: () => setFilter(value),
        dataset: { filter: value },
      }, label),
    ),
  );

  const homeRows = h('div.home-rows', { id: 'home-rows' });
  const offRows = mountHomeRows(homeRows);
  root.append(
    homeRows,
    h('div.page-head', {},
      h('div', {}, h('h1', {}, 'Library'), count),
      h('a.button.primary', { href: '/upload', dataset: { link: '' } }, h('span', { 'aria-hidden': 'true' }, '＋'), ' Upload')),
    chips,
    message,
    grid,
    h('div.center', {}, more),
  );

  function setFilter(value) {
    status = value;
    history.replaceState(null, '', value ? `/?status=${value}` : '/');
    chips.querySelectorAll('.chip').forEach((chip) => chip.setAttribute('aria-selected', String(chip.dataset.filter === value)));
    assets = [];
    cards.clear();
    grid.replaceChildren();
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    controller?.abort();
    controller = new AbortController();
    try {
      // One request covers every card already shown, so progress stays live
      // on the pages the viewer loaded with "Load more".
      const limit = Math.min(200, Math.max(PAGE_SIZE, assets.length));
      const page = await listAssets({ status, limit, signal: controller.signal });
      if (stopped) return;
      assets = page.items;
      next = page.next;
      message.hidden = true;
      renderAll();
    } catch (error) {
      if (error.name === 'AbortError' || stopped) return;
      showError(error);
    }
    schedule();
  }

  async function loadMore() {
    if (!next) return;
    more.disabled = true;
    try {
      const page = await listAssets({ status, cursor: next });
      assets = assets.concat(page.items.filter((a) => !assets.some((b) => b.id === a.id)));
      next = page.next;
      renderAll();
    } catch (error) {
      showError(error);
    } finally {
      more.disabled = false;
    }
  }

  function schedule() {
    if (stopped) return;
    const busy = assets.some((a) => !FINAL_STATUSES.has(a.status));
    timer = setTimeout(refresh, busy ? BUSY_POLL_MS : IDLE_POLL_MS);
  }

  function showError(error) {
    message.hidden = false;
    message.className = 'notice error';
    message.textContent = error instanceof ApiError ? error.message : String(error);
  }

  function renderAll() {
    count.textContent = assets.length === 1 ? '1 video' : `${assets.length}${next ? '+' : ''} videos`;
    more.hidden = !next;
    if (!assets.length) {
      clear(grid, emptyState());
      cards.clear();
      return;
    }
    grid.querySelector('.empty')?.remove();
    syncList(grid, cards, assets, { key: (asset) => asset.id, create: createCard, update: updateCard });
  }

  function emptyState() {
    return h('section.empty', {},
      h('div.empty-art', { 'aria-hidden': 'true' }),
      h('h2', {}, status ? 'Nothing here' : 'No videos yet'),
      h('p.muted', {}, status ? 'No asset has this status.' : 'Upload a film, a trailer or an episode; it is ready to stream a few seconds later.'),
      status ? null : h('a.button.primary', { href: '/upload', dataset: { link: '' } }, 'Upload a video'));
  }

  const offUploads = onUploadsChange((upload) => {
    const card = upload?.assetId && cards.get(upload.assetId);
    if (card) updateCard(card, card.asset);
  });

  refresh();
  const onVisible = () => document.visibilityState === 'visible' && refresh();
  document.addEventListener('visibilitychange', onVisible);
  return () => {
    stopped = true;
    clearTimeout(timer);
    controller?.abort();
    offUploads();
    offRows();
    document.removeEventListener('visibilitychange', onVisible);
  };
}

function createCard(asset) {
  const poster = h('div.poster', {});
  const badges = h('div.badges', {});
  const title = h('h3.card-title', {});
  const meta = h('p.card-meta.muted', {});
  const bar = progressBar(0, 'Processing progress');
  const barLabel = h('span.progress-label', {});
  const progress = h('div.card-progress', {}, bar, barLabel);
  const error = h('p.card-error', {});
  const element = h('a.card', { href: `/assets/${asset.id}`, dataset: { link: '', assetId: asset.id } },
    poster, h('div.card-body', {}, badges, title, meta, progress, error));
  return { element, poster, badges, title, meta, bar, barLabel, progress, error, asset, posterUrl: undefined };
}

function updateCard(card, asset) {
  card.asset = asset;
  card.element.dataset.status = asset.status;
  card.title.textContent = assetTitle(asset);
  card.title.title = assetTitle(asset);
  clear(card.badges, statusBadge(asset), asset.private ? h('span.badge.private', { title: 'Streams of a private asset need a signed URL' }, 'Private') : null);

  const details = [];
  const seconds = sourceSeconds(asset);
  if (Number.isFinite(seconds)) details.push(formatDuration(seconds));
  const video = asset.source?.video;
  if (video) details.push(`${video.display_width}×${video.display_height}`);
  details.push(formatWhen(asset.created_at));
  card.meta.textContent = details.join(' · ');

  // A private asset's stills answer 403 like its streams unless signed: keep the placeholder.
  const posterUrl = viewableUrl(asset, asset.poster);
  // Signed URLs change with every answer (their expiry): reload only for another object.
  if (unsigned(card.posterUrl) !== unsigned(posterUrl)) {
    card.posterUrl = posterUrl;
    const placeholder = () => h('div.poster-placeholder', { 'aria-hidden': 'true' });
    clear(card.poster, posterUrl
      ? h('img', { src: posterUrl, alt: '', loading: 'lazy', decoding: 'async', onerror: (e) => e.target.replaceWith(placeholder()) })
      : placeholder());
  }

  const local = asset.status === 'uploading' ? uploadFor(asset.id) : null;
  const inFlight = asset.status === 'processing' || asset.status === 'uploading';
  card.progress.hidden = !inFlight;
  if (inFlight) {
    const percent = local ? local.percent : asset.progress;
    setProgress(card.bar, percent);
    card.bar.setAttribute('aria-label', asset.status === 'uploading' ? 'Upload progress' : 'Processing progress');
    card.barLabel.textContent = asset.status === 'uploading'
      ? (local ? `Uploading ${Math.floor(percent)}%` : 'Waiting for the upload')
      : `${asset.playback ? 'Playable · ' : ''}Transcoding ${Math.floor(percent)}%`;
  }
  card.error.hidden = asset.status !== 'errored';
  card.error.textContent = asset.error ?? '';
}
