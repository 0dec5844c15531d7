// HLS AES-128 in the browser: a file uploaded through the page with
// "Encrypted" checked plays in hls.js, which fetches the key on the signed
// URL and decrypts every segment; the page offers no DASH for it.
import assert from 'node:assert/strict';
import path from 'node:path';

import { makeClip } from './support.mjs';

const READY_TIMEOUT = 240_000;

/**
 * The tests of this module, as `[name, async fn]` entries for run.mjs.
 * `ctx` gives {server, page, work, requests, uploadThroughPage, waitForPlayback}.
 */
export function cryptoTests(ctx) {
  const { page, requests } = ctx;

  async function uploadEncrypted() {
    const file = path.join(ctx.work, 'encrypted-clip.mp4');
    makeClip(file, { seconds: 4, width: 320, height: 240 });
    const [id] = await ctx.uploadThroughPage([file], { encrypted: true });
    const row = page.locator('li.upload[data-file="encrypted-clip.mp4"]');
    assert.equal(await row.locator('.badge.encrypted').textContent(), 'Encrypted');
    await page.uncheck('#upload-encrypted');
    return id;
  }

  async function playsInHlsJs() {
    const id = await uploadEncrypted();
    const asset = await (await fetch(`${ctx.server.url}/api/v1/assets/${id}`)).json();
    assert.equal(asset.encrypted, true, JSON.stringify(asset));
    assert.equal(asset.private, true, 'an encrypted asset is private');

    await page.evaluate(() => localStorage.setItem('cdlc.engine', 'dash'));
    await page.goto(`${ctx.server.url}/assets/${id}`);
    await page.locator('#app[data-status="ready"]').waitFor({ timeout: READY_TIMEOUT });
    await page.waitForSelector('#app[data-engine="hls"]');
    assert.equal(await page.isVisible('button[data-engine="dash"]'), false, 'no dash.js tab without a DASH manifest');
    assert.equal(await page.locator('.url-row[data-kind="dash"]').count(), 0, 'no DASH URL');
    assert.equal(await page.locator('.badges .badge.encrypted').textContent(), 'Encrypted');
    await ctx.waitForPlayback(2);
    const picture = await page.evaluate(() => {
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
    assert.ok(picture.width > 0 && picture.green > 40, `decrypted frames are on screen: ${JSON.stringify(picture)}`);

    const streams = requests.filter((url) => url.includes(`/streams/${id}/`));
    const keys = streams.filter((url) => url.endsWith('/content.key'));
    assert.ok(keys.length >= 1, `hls.js fetched the key: ${JSON.stringify(streams)}`);
    assert.ok(keys.every((url) => url.includes(`/streams/${id}/~`)), `the key only on signed URLs: ${JSON.stringify(keys)}`);
    assert.ok(streams.filter((url) => url.endsWith('.m4s')).length >= 2, 'encrypted segments were played');
    const key = await fetch(keys[0]);
    assert.equal(key.headers.get('cache-control'), 'private, no-store');
    assert.equal((await fetch(`${ctx.server.url}/streams/${id}/content.key`)).status, 403, 'unsigned, the key is refused');
    await page.evaluate(() => localStorage.removeItem('cdlc.engine'));
  }

  return [
    ['encryption: an upload marked Encrypted plays in hls.js, its key fetched on the signed URL, without DASH', playsInHlsJs],
  ];
}
