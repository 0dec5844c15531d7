// Encryption in the browser: a file uploaded through the page with
// "Encrypted" checked plays in hls.js (HLS AES-128: hls.js fetches the key on
// the signed URL and decrypts every segment) and in dash.js (DASH CENC:
// Chromium's ClearKey CDM, its licence posted to the signed URL), and the
// same CENC segments as HLS in hls.js (SAMPLE-AES-CTR, ClearKey).
import assert from 'node:assert/strict';
import path from 'node:path';
import { inflateSync } from 'node:zlib';

import { makeClip } from './support.mjs';

const READY_TIMEOUT = 240_000;

/**
 * The tests of this module, as `[name, async fn]` entries for run.mjs.
 * `ctx` gives {server, page, work, requests, uploadThroughPage, waitForPlayback}.
 */
export function cryptoTests(ctx) {
  const { page, requests } = ctx;
  let id = null;

  async function uploadEncrypted() {
    const file = path.join(ctx.work, 'encrypted-clip.mp4');
    makeClip(file, { seconds: 4, width: 320, height: 240 });
    const [uploaded] = await ctx.uploadThroughPage([file], { encrypted: true });
    const row = page.locator('li.upload[data-file="encrypted-clip.mp4"]');
    assert.equal(await row.locator('.badge.encrypted').textContent(), 'Encrypted');
    await page.uncheck('#upload-encrypted');
    return uploaded;
  }

  /** The mean green of the frame on screen (testsrc2 is bright; black is 0). */
  async function picture() {
    return page.evaluate(() => {
      const video = document.querySelector('#player-video');
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [video.videoWidth, video.videoHeight];
      const context = canvas.getContext('2d', { willReadFrequently: true });
      context.drawImage(video, 0, 0);
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      let sum = 0;
      for (let i = 0; i < data.length; i += 4) sum += data[i + 1];
      return { width: video.videoWidth, green: sum / (data.length / 4) };
    });
  }

  /**
   * The mean green of the video element as the compositor shows it: Chromium
   * gives a canvas only black pixels of EME-decrypted video, so the page's
   * own screenshot (8-bit RGB or RGBA PNG) is read instead.
   */
  async function screenGreen() {
    const png = await page.locator('#player-video').screenshot();
    let at = 8;
    const idat = [];
    let header = null;
    while (at < png.length) {
      const length = png.readUInt32BE(at);
      const type = png.toString('latin1', at + 4, at + 8);
      const data = png.subarray(at + 8, at + 8 + length);
      if (type === 'IHDR') header = { width: data.readUInt32BE(0), height: data.readUInt32BE(4), depth: data[8], color: data[9] };
      if (type === 'IDAT') idat.push(data);
      at += 12 + length;
    }
    assert.ok(header && header.depth === 8 && (header.color === 2 || header.color === 6), `an 8-bit RGB(A) PNG: ${JSON.stringify(header)}`);
    const channels = header.color === 6 ? 4 : 3;
    const stride = header.width * channels;
    const raw = inflateSync(Buffer.concat(idat));
    const previous = Buffer.alloc(stride);
    const row = Buffer.alloc(stride);
    let sum = 0;
    for (let y = 0; y < header.height; y += 1) {
      const filter = raw[y * (stride + 1)];
      const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
      for (let x = 0; x < stride; x += 1) {
        const left = x >= channels ? row[x - channels] : 0;
        const up = previous[x];
        const corner = x >= channels ? previous[x - channels] : 0;
        const paeth = () => {
          const p = left + up - corner;
          const [a, b, c] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - corner)];
          return a <= b && a <= c ? left : b <= c ? up : corner;
        };
        const predicted = [0, left, up, (left + up) >> 1, paeth()][filter] ?? 0;
        row[x] = (line[x] + predicted) & 0xff;
      }
      for (let x = 1; x < stride; x += channels) sum += row[x];
      row.copy(previous);
    }
    return sum / (header.width * header.height);
  }

  async function openWith(engine) {
    await page.evaluate((name) => localStorage.setItem('cdlc.engine', name), engine);
    await page.goto(`${ctx.server.url}/assets/${id}`);
    await page.locator('#app[data-status="ready"]').waitFor({ timeout: READY_TIMEOUT });
    await page.waitForSelector(`#app[data-engine="${engine}"]`);
  }

  async function playsInHlsJs() {
    id = await uploadEncrypted();
    const asset = await (await fetch(`${ctx.server.url}/api/v1/assets/${id}`)).json();
    assert.equal(asset.encrypted, true, JSON.stringify(asset));
    assert.equal(asset.private, true, 'an encrypted asset is private');

    await openWith('hls');
    assert.equal(await page.locator('.badges .badge.encrypted').textContent(), 'Encrypted');
    assert.equal(await page.locator('.url-row[data-kind="dash"]').count(), 1, 'a DASH URL (CENC)');
    await ctx.waitForPlayback(2);
    const frame = await picture();
    assert.ok(frame.width > 0 && frame.green > 40, `decrypted frames are on screen: ${JSON.stringify(frame)}`);

    const streams = requests.filter((url) => url.includes(`/streams/${id}/`));
    const keys = streams.filter((url) => url.endsWith('/content.key'));
    assert.ok(keys.length >= 1, `hls.js fetched the key: ${JSON.stringify(streams)}`);
    assert.ok(keys.every((url) => url.includes(`/streams/${id}/~`)), `the key only on signed URLs: ${JSON.stringify(keys)}`);
    assert.ok(streams.filter((url) => url.endsWith('.m4s')).length >= 2, 'encrypted segments were played');
    const key = await fetch(keys[0]);
    assert.equal(key.headers.get('cache-control'), 'private, no-store');
    assert.equal((await fetch(`${ctx.server.url}/streams/${id}/content.key`)).status, 403, 'unsigned, the key is refused');
  }

  async function playsInDashJsWithClearKey() {
    assert.ok(id, 'the hls.js test uploaded the asset');
    const before = requests.length;
    await openWith('dash');
    await ctx.waitForPlayback(2);
    const width = await page.evaluate(() => document.querySelector('#player-video').videoWidth);
    const green = await screenGreen();
    assert.ok(width === 320 && green > 40, `decrypted frames are on screen: ${JSON.stringify({ width, green })}`);
    const played = await page.evaluate(() => document.querySelector('#player-video').currentTime);
    assert.ok(played >= 2, `playback went on: ${played} s`);

    const streams = requests.slice(before).filter((url) => url.includes(`/streams/${id}/`));
    const licences = streams.filter((url) => url.endsWith('/clearkey.json'));
    assert.ok(licences.length >= 1, `dash.js asked for the ClearKey licence: ${JSON.stringify(streams)}`);
    assert.ok(licences.every((url) => url.includes(`/streams/${id}/~`)), `the licence only on signed URLs: ${JSON.stringify(licences)}`);
    const segments = streams.filter((url) => url.endsWith('.m4s'));
    assert.ok(segments.length >= 2, `segments were played: ${JSON.stringify(streams)}`);
    assert.ok(segments.every((url) => url.includes('/cenc/')), `every DASH segment is a CENC one: ${JSON.stringify(segments)}`);
    const unsigned = await fetch(`${ctx.server.url}/streams/${id}/clearkey.json`, { method: 'POST', body: '{"kids":["AA"]}' });
    assert.equal(unsigned.status, 403, 'unsigned, the licence is refused');
  }

  async function playsInHlsJsWithClearKey() {
    assert.ok(id, 'the hls.js test uploaded the asset');
    const before = requests.length;
    await openWith('hls-cenc');
    assert.equal(await page.locator('.url-row[data-kind="hls-cenc"]').count(), 1, 'an HLS CENC URL');
    await ctx.waitForPlayback(2);
    const width = await page.evaluate(() => document.querySelector('#player-video').videoWidth);
    const green = await screenGreen();
    assert.ok(width === 320 && green > 40, `decrypted frames are on screen: ${JSON.stringify({ width, green })}`);

    const streams = requests.slice(before).filter((url) => url.includes(`/streams/${id}/`));
    assert.ok(streams.some((url) => url.endsWith('/cenc/master.m3u8')), `the CENC master: ${JSON.stringify(streams)}`);
    const licences = streams.filter((url) => url.endsWith('/clearkey.json'));
    assert.ok(licences.length >= 1, `hls.js asked for the ClearKey licence: ${JSON.stringify(streams)}`);
    assert.ok(licences.every((url) => url.includes(`/streams/${id}/~`)), `the licence only on signed URLs: ${JSON.stringify(licences)}`);
    assert.ok(!streams.some((url) => url.endsWith('/content.key')), 'hls.js over CENC never fetches the raw key');
    const segments = streams.filter((url) => url.endsWith('.m4s'));
    assert.ok(segments.length >= 2, `segments were played: ${JSON.stringify(streams)}`);
    assert.ok(segments.every((url) => url.includes('/cenc/')), `every segment is a CENC one, the DASH ones: ${JSON.stringify(segments)}`);
    await page.evaluate(() => localStorage.removeItem('cdlc.engine'));
  }

  return [
    ['encryption: an upload marked Encrypted plays in hls.js, its key fetched on the signed URL', playsInHlsJs],
    ['encryption: the same asset plays in dash.js with ClearKey (CENC), its licence posted to the signed URL', playsInDashJsWithClearKey],
    ['encryption: the same CENC segments play as HLS in hls.js with ClearKey, its licence posted to the signed URL', playsInHlsJsWithClearKey],
  ];
}
