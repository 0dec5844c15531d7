// The asset page's own numbers from analytics (uploaders and admins): per
// day, views, watch time, startup time and stalls, as of the last run of
// each day; the same rows as CSV.
import { session, request } from './api.js';
import { h, clear } from './util.js';

export function formatMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds % 60)} s`;
}

export async function renderAudience(root, assetId) {
  if (!session.can('uploader')) {
    root.hidden = true;
    return;
  }
  root.hidden = false;
  const path = `/api/v1/analytics/assets/${encodeURIComponent(assetId)}`;
  clear(root, h('h2', {}, 'Audience'), h('p.muted', {}, 'Loading…'));
  let table;
  try {
    table = await request(path);
  } catch (error) {
    clear(root, h('h2', {}, 'Audience'), h('p.muted', {}, error.message));
    return;
  }
  const col = (name) => table.columns.indexOf(name);
  const rows = table.rows;
  const views = rows.reduce((n, r) => n + (r[col('views')] ?? 0), 0);
  const watch = rows.reduce((n, r) => n + (r[col('watch_ms')] ?? 0), 0);
  const csv = h('a.button.small', { href: `${path}?format=csv`, download: `asset-${assetId}.csv`, id: 'audience-csv' }, 'CSV');
  clear(root, h('div.row', {}, h('h2', {}, 'Audience'), csv),
    rows.length
      ? [
        h('p', { id: 'audience-summary' }, `${views} view${views === 1 ? '' : 's'} · ${formatMs(watch)} watched`),
        h('table.table', { id: 'audience-table' },
          h('thead', {}, h('tr', {}, ['Day', 'Views', 'Watch time', 'Startup p50', 'Startup p95', 'Stalls'].map((t) => h('th', {}, t)))),
          h('tbody', {}, rows.map((r) => h('tr', { dataset: { day: r[col('day')] } },
            h('td', {}, r[col('day')]),
            h('td', { dataset: { field: 'views' } }, String(r[col('views')])),
            h('td', { dataset: { field: 'watch', ms: String(r[col('watch_ms')]) } }, formatMs(r[col('watch_ms')])),
            h('td', { dataset: { field: 'startup', ms: String(r[col('startup_p50_ms')] ?? '') } }, formatMs(r[col('startup_p50_ms')])),
            h('td', {}, formatMs(r[col('startup_p95_ms')])),
            h('td', {}, `${r[col('rebuffers')]} (${formatMs(r[col('rebuffer_ms')])})`))))),
      ]
      : h('p.muted', { id: 'audience-summary' }, 'No views counted yet: the numbers appear after the day\'s analytics run.'));
}
