// Browser tests of analytics: a fresh video is played, paused, seeked and
// switched to another rendition in hls.js; the player's beacons land (the
// last batch by sendBeacon when the page is left); today's pipeline run
// through the admin API counts them; the asset page then shows one view
// with its startup time and watch time, and its CSV holds the same numbers.
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeClip } from './support.mjs';

/**
 * The tests, given the suite's page and helpers:
 * { page, server, token, work, signIn, uploadThroughPage, waitForPlayback, forceOtherRendition }.
 */
export function analyticsTests(t) {
  const { page, server, token } = t;
  const api = async (method, route, json) => {
    const response = await fetch(`${server.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(json ? { 'content-type': 'application/json' } : {}) },
      body: json ? JSON.stringify(json) : undefined,
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${route}: ${response.status} ${text}`);
    return text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text;
  };
  const today = () => new Date().toISOString().slice(0, 10);
  let assetId = null;

  return [
    ['analytics: play, pause, seek and switch a fresh video; its page then shows one view with startup and watch time', async () => {
      const clip = makeClip(path.join(t.work, 'analytics-clip.mp4'), { seconds: 12, width: 640, height: 480 });
      [assetId] = await t.uploadThroughPage([clip]);
      const deadline = Date.now() + 240_000;
      while ((await api('GET', `/api/v1/assets/${assetId}`)).status !== 'ready') {
        assert.ok(Date.now() < deadline, 'the clip became ready');
        await new Promise((r) => setTimeout(r, 500));
      }
      await page.goto(`${server.url}/assets/${assetId}`);
      await page.waitForSelector('#app[data-engine]');
      if ((await page.getAttribute('#app', 'data-engine')) !== 'hls') await page.click('button[data-engine="hls"]');
      await t.waitForPlayback(2);
      await page.evaluate(() => document.querySelector('#player-video').pause());
      await page.waitForTimeout(700);
      await page.evaluate(() => {
        const video = document.querySelector('#player-video');
        video.currentTime = 1;
        return video.play();
      });
      await t.waitForPlayback(1);
      await t.forceOtherRendition();
      const watched = await page.evaluate(() => document.querySelector('#player-video').currentTime);
      // Leaving the page sends the rest with sendBeacon.
      await page.goto(`${server.url}/`);

      let row = null;
      let last = null;
      const landed = Date.now() + 30_000;
      while (!row) {
        assert.ok(Date.now() < landed, `the beacons landed and the run counted the view (last run and rows: ${JSON.stringify(last)})`);
        const report = await api('POST', '/api/v1/analytics/runs', { day: today() });
        assert.equal(report.malformed_lines, 0);
        const table = await api('GET', `/api/v1/analytics/assets/${assetId}`);
        const found = table.rows.map((r) => Object.fromEntries(table.columns.map((c, i) => [c, r[i]])));
        last = { report, found };
        // The last batch (with the watch time after the switch) comes by sendBeacon.
        if (found.length && found[0].watch_ms >= 2500 && found[0].first_frames === 1) [row] = found;
        else await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(row.views, 1, JSON.stringify(row));
      assert.ok(row.startup_p50_ms > 0 && row.startup_p50_ms < 30_000, `startup ${row.startup_p50_ms} ms`);
      assert.ok(row.watch_ms <= (watched + 3) * 1000, `watch ${row.watch_ms} ms for ${watched} s of position`);

      await page.goto(`${server.url}/assets/${assetId}`);
      await page.waitForSelector('#audience-table');
      assert.match(await page.textContent('#audience-summary'), /^1 view · /);
      const startup = Number(await page.getAttribute('#audience-table [data-field="startup"]', 'data-ms'));
      const watch = Number(await page.getAttribute('#audience-table [data-field="watch"]', 'data-ms'));
      assert.equal(startup, row.startup_p50_ms);
      assert.equal(watch, row.watch_ms);
      const csv = await api('GET', `/api/v1/analytics/assets/${assetId}?format=csv`);
      const [header, line] = csv.trim().split('\r\n');
      const cells = Object.fromEntries(header.split(',').map((c, i) => [c, line.split(',')[i]]));
      assert.equal(Number(cells.views), 1);
      assert.equal(Number(cells.watch_ms), row.watch_ms);
    }],

    ['analytics: the dashboards draw their charts from the production tables, each with its CSV', async () => {
      assert.ok(assetId, 'the test before played a video');
      await page.goto(`${server.url}/admin/analytics`);
      await page.waitForSelector('#chart-views canvas');
      await page.waitForSelector('#chart-renditions canvas');
      const link = await page.getAttribute('[data-csv="qoe_by_rendition"]', 'href');
      const csv = await api('GET', link);
      assert.match(csv.split('\r\n')[0], /^day,rendition,first_frames,startup_p50_ms/);
      const top = await page.textContent('#top-titles');
      assert.ok(top.includes(assetId), 'the played asset is among the top titles');

      // "Run today now" queues the run and follows it to its report.
      await page.click('#analytics-run');
      await page.waitForFunction(() => /^Ran \d{4}-\d{2}-\d{2}: \d+ events validated/.test(
        document.querySelector('#analytics-status').textContent), null, { timeout: 60_000 });
      assert.ok(await page.isHidden('#analytics-progress'), 'the progress bar goes once the run ended');
      const [newest] = await api('GET', '/api/v1/analytics/runs');
      assert.equal(newest.percent, 100, JSON.stringify(newest));
      assert.equal(newest.trigger, 'admin');
    }],
  ];
}
