// The analytics dashboards (admins): the production tables of the lake as
// charts (uPlot, bundled) and tables, each with its numbers as CSV, and a
// button that runs today's pipeline now (a job on the queue).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { session, request } from './api.js';
import { h, clear, progressBar, setProgress } from './util.js';
import { formatMs } from './audience.js';

const TABLES = '/api/v1/analytics/tables';

function today() {
  return new Date().toISOString().slice(0, 10);
}

function daysAgo(n) {
  return new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
}

/** Sums `fields` of rows per value of `key`. */
function byKey(table, key, fields) {
  const k = table.columns.indexOf(key);
  const out = new Map();
  for (const row of table.rows) {
    const entry = out.get(row[k]) ?? Object.fromEntries(fields.map((f) => [f, 0]));
    fields.forEach((f) => (entry[f] += row[table.columns.indexOf(f)] ?? 0));
    out.set(row[k], entry);
  }
  return out;
}

function chart(target, title, labels, series) {
  const width = Math.max(320, Math.min(720, target.clientWidth || 640));
  const x = labels.map((_, i) => i);
  const opts = {
    title, width, height: 220,
    scales: { x: { time: false } },
    axes: [{ values: (_, ticks) => ticks.map((t) => labels[t] ?? '') }, {}],
    series: [{}, ...series.map(([label, , stroke]) => ({ label, stroke, width: 2, points: { show: true } }))],
  };
  return new uPlot(opts, [x, ...series.map(([, values]) => values)], target);
}

function card(name, title, from, to, body) {
  const csv = h('a.button.small', { href: `${TABLES}/${name}?from=${from}&to=${to}&format=csv`, download: `${name}.csv`, dataset: { csv: name } }, 'CSV');
  return h('section.card-section.dashboard', { dataset: { table: name } }, h('div.row', {}, h('h2', {}, title), csv), body);
}

function simpleTable(table, columns) {
  return h('table.table', {},
    h('thead', {}, h('tr', {}, columns.map(([, label]) => h('th', {}, label)))),
    h('tbody', {}, table.rows.map((r) => h('tr', {}, columns.map(([name, , format]) => {
      const v = r[table.columns.indexOf(name)];
      return h('td', {}, format ? format(v) : String(v ?? '—'));
    })))));
}

export function mountDashboards(root) {
  document.title = 'Analytics · cdlc';
  const status = h('p.muted', { id: 'analytics-status' });
  const bar = progressBar(0, 'Run progress');
  const progress = h('div.asset-progress', { id: 'analytics-progress', hidden: true }, bar);
  const body = h('div.dashboards', {});
  const run = h('button.button.primary', { type: 'button', id: 'analytics-run', onclick: runToday }, 'Run today now');
  root.append(h('div.row', {}, h('h1', {}, 'Analytics'), run), status, progress, body);
  const charts = [];

  async function runToday() {
    run.disabled = true;
    try {
      // The run is a job on the queue: asked not to wait, the answer is the
      // queued run (202), whose step and percentage the page then follows.
      const report = await request('/api/v1/analytics/runs', { method: 'POST', json: { day: today(), wait_ms: 0 } });
      if (report.job_id) {
        await follow(report);
        return;
      }
      ran(report);
      await load();
    } catch (error) {
      status.textContent = error.message;
    } finally {
      run.disabled = false;
    }
  }

  function ran(report) {
    status.textContent = `Ran ${report.day}: ${report.validated} events validated, ${report.duplicates} duplicates, ${report.rejected} rejected.`;
  }

  // A run the farm has not finished yet: its step and percentage from
  // GET /runs every second (for up to ten minutes), then its report.
  async function follow(queued) {
    progress.hidden = false;
    let ended = null;
    try {
      ended = await untilEnded(queued);
    } finally {
      progress.hidden = true;
    }
    if (!ended) status.textContent = `The run of ${queued.day} is still queued: GET /api/v1/analytics/runs shows it.`;
    else if (ended.failure) status.textContent = `The run of ${ended.day} failed: ${ended.failure}`;
    else {
      ran(ended.report);
      await load();
    }
  }

  async function untilEnded(queued) {
    for (let tick = 0; tick < 600; tick++) {
      const runs = await request('/api/v1/analytics/runs');
      const mine = runs.find((r) => r.day === queued.day && r.started_at === queued.started_at);
      if (!mine) return null;
      setProgress(bar, mine.percent);
      if (mine.failure || mine.finished_at) return mine;
      status.textContent = `Running ${mine.day}: ${mine.step} (${mine.percent}%)…`;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    return null;
  }

  async function load() {
    if (!session.can('admin')) {
      clear(body, h('p.muted', {}, 'Sign in as an admin to see the dashboards.'));
      return;
    }
    const from = daysAgo(29);
    const to = today();
    const get = (name) => request(`${TABLES}/${name}?from=${from}&to=${to}`);
    const [views, renditions, browsers, failures, edge] = await Promise.all(
      ['views_by_asset', 'qoe_by_rendition', 'qoe_by_browser', 'upload_failures', 'edge'].map(get));
    charts.splice(0).forEach((c) => c.destroy());
    const daily = byKey(views, 'day', ['views', 'watch_ms']);
    const days = [...daily.keys()].sort();
    const viewsChart = h('div.chart', { id: 'chart-views' });
    const renditionChart = h('div.chart', { id: 'chart-renditions' });
    const titles = byKey(views, 'asset_id', ['views', 'watch_ms']);
    const top = [...titles.entries()].sort((a, b) => b[1].views - a[1].views).slice(0, 10);
    clear(body,
      card('views_by_asset', 'Views over time', from, to, viewsChart),
      card('qoe_by_rendition', 'Startup time and stalls by rendition', from, to, [renditionChart,
        simpleTable(renditions, [['day', 'Day'], ['rendition', 'Rendition'], ['first_frames', 'Starts'],
          ['startup_p50_ms', 'Startup p50', formatMs], ['startup_p95_ms', 'Startup p95', formatMs],
          ['rebuffers', 'Stalls'], ['rebuffer_ms', 'Stalled', formatMs], ['watch_ms', 'Watched', formatMs], ['errors', 'Failures']])]),
      card('qoe_by_browser', 'By browser', from, to, simpleTable(browsers, [['day', 'Day'], ['browser', 'Browser'],
        ['views', 'Views'], ['startup_p50_ms', 'Startup p50', formatMs], ['startup_p95_ms', 'Startup p95', formatMs],
        ['rebuffer_ms', 'Stalled', formatMs], ['watch_ms', 'Watched', formatMs], ['errors', 'Failures']])),
      card('views_by_asset', 'Top titles', from, to, h('table.table', { id: 'top-titles' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Asset'), h('th', {}, 'Views'), h('th', {}, 'Watch time'))),
        h('tbody', {}, top.map(([asset, n]) => h('tr', {},
          h('td', {}, h('a', { href: `/assets/${encodeURIComponent(asset)}`, dataset: { link: '' } }, asset)),
          h('td', {}, String(n.views)), h('td', {}, formatMs(n.watch_ms))))))),
      card('upload_failures', 'Failed uploads by reason', from, to, simpleTable(failures, [['day', 'Day'], ['reason', 'Reason'], ['failures', 'Failures']])),
      card('edge', 'Edge hit ratio', from, to, simpleTable(edge, [['day', 'Day'], ['hits', 'Hits'], ['misses', 'Misses'],
        ['hit_ratio', 'Hit ratio', (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)} %`)]])),
    );
    if (days.length) {
      charts.push(chart(viewsChart, 'Views per day', days, [['Views', days.map((d) => daily.get(d).views), '#3b82f6']]));
    } else {
      viewsChart.append(h('p.muted', {}, 'No views yet.'));
    }
    const perRendition = byKey(renditions, 'rendition', ['first_frames']);
    const names = [...perRendition.keys()].sort();
    if (names.length) {
      const at = (field) => names.map((n) => {
        const rows = renditions.rows.filter((r) => r[renditions.columns.indexOf('rendition')] === n);
        return rows.length ? rows[rows.length - 1][renditions.columns.indexOf(field)] : null;
      });
      charts.push(chart(renditionChart, 'Startup time by rendition (ms, latest day)', names,
        [['p50', at('startup_p50_ms'), '#10b981'], ['p95', at('startup_p95_ms'), '#f59e0b']]));
    }
  }

  const off = session.onChange(() => load().catch((e) => (status.textContent = e.message)));
  load().catch((e) => (status.textContent = e.message));
  return () => {
    off();
    charts.forEach((c) => c.destroy());
  };
}
