// Streaming depth in the browser: a source with two audio languages plays in
// hls.js and dash.js, and switching the language goes on playing from the
// other rendition's segments.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const READY_TIMEOUT = 240_000;
const PLAY_TIMEOUT = 60_000;

/** 8 s, 320x240, English (440 Hz) then French (660 Hz) audio, tagged by language. */
function twoLanguages(file) {
  execFileSync('ffmpeg', [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=8',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=8',
    '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=48000:duration=8',
    '-map', '0:v', '-map', '1:a', '-map', '2:a',
    '-metadata:s:a:0', 'language=eng', '-metadata:s:a:1', 'language=fre',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '96k', '-shortest', file,
  ]);
  return file;
}

/**
 * The tests of this module, as `[name, async fn]` entries for run.mjs.
 * `ctx` gives {server, page, token, work, requests, waitForPlayback}.
 */
export function streamingTests(ctx) {
  const { page, requests } = ctx;
  let id = null;

  async function ready() {
    if (id) return id;
    const form = new FormData();
    const file = twoLanguages(path.join(ctx.work, 'two-languages.mkv'));
    form.append('file', new Blob([await readFile(file)]), 'two-languages.mkv');
    const created = await fetch(`${ctx.server.url}/api/v1/assets`, {
      method: 'POST', headers: { authorization: `Bearer ${ctx.token}` }, body: form,
    });
    const body = await created.text();
    assert.equal(created.status, 201, body);
    id = JSON.parse(body).id;
    const deadline = Date.now() + READY_TIMEOUT;
    for (;;) {
      const asset = await (await fetch(`${ctx.server.url}/api/v1/assets/${id}`)).json();
      if (asset.status === 'ready') return id;
      assert.notEqual(asset.status, 'errored', JSON.stringify(asset));
      assert.ok(Date.now() < deadline, 'the two-language clip never became ready');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async function switchLanguage(engine) {
    const asset = await ready();
    await page.goto(`${ctx.server.url}/assets/${asset}`);
    await page.waitForSelector(`[data-engine="${engine}"]`);
    if ((await page.getAttribute('#app', 'data-engine')) !== engine) await page.click(`button[data-engine="${engine}"]`);
    await page.waitForSelector(`#app[data-engine="${engine}"]`);
    await page.waitForSelector('#audio-select option[data-lang^="fr"]', { state: 'attached', timeout: PLAY_TIMEOUT });
    const languages = await page.$$eval('#audio-select option', (options) => options.map((o) => o.dataset.lang));
    assert.equal(languages.length, 2, `two audio tracks listed: ${JSON.stringify(languages)}`);
    assert.ok(languages[0].startsWith('en'), `English first: ${JSON.stringify(languages)}`);
    await ctx.waitForPlayback(1);

    const before = requests.length;
    const french = await page.$eval('#audio-select option[data-lang^="fr"]', (o) => o.value);
    await page.selectOption('#audio-select', french);
    const at = await page.evaluate(() => document.querySelector('#player-video').currentTime);
    // Playback goes on for two more seconds after the switch…
    await page.waitForFunction(
      (t) => {
        const video = document.querySelector('#player-video');
        return video.currentTime >= t + 2 && !video.paused && video.readyState >= 2;
      },
      at,
      { timeout: PLAY_TIMEOUT, polling: 100 },
    );
    // …from the French rendition's segments.
    const french2 = requests.slice(before).filter((url) => url.includes(`/streams/${asset}/audio-2/`));
    assert.ok(french2.some((url) => url.endsWith('.m4s')), `French segments fetched after the switch: ${JSON.stringify(french2)}`);
    assert.equal(await page.$eval('#audio-select', (s) => s.value), french, 'the menu shows the French track');
    await page.evaluate(() => localStorage.removeItem('cdlc.engine'));
  }

  // dash.js 5 lists the MPD's text adaptation set (a whole WebVTT file as its
  // BaseURL) and shows its cues at the file's times.
  async function dashSubtitles() {
    const asset = await ready();
    const vtt = 'WEBVTT\n\n00:00:00.500 --> 00:00:02.500\nBonjour de cdlc\n\n00:00:03.000 --> 00:00:04.500\nDeuxième\n';
    const form = new FormData();
    form.append('language', 'fr');
    form.append('label', 'Français');
    form.append('file', new Blob([vtt], { type: 'text/vtt' }), 'fr.vtt');
    const added = await fetch(`${ctx.server.url}/api/v1/assets/${asset}/captions`, {
      method: 'POST', headers: { authorization: `Bearer ${ctx.token}` }, body: form,
    });
    assert.equal(added.status, 201, await added.text());
    // dash.js caches the last media settings of earlier tests' sessions in
    // localStorage (text off among them): start this one without them.
    await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('dashjs')).forEach((k) => localStorage.removeItem(k)));
    // dash.js from the start, on a media element no other engine has used:
    // hls.js leaves its subtitle tracks on the element (a TextTrack cannot be
    // removed), and dash.js after it sometimes showed an empty one (CI saw it
    // on a loaded machine; see "Known gaps" in docs/architecture.md).
    await page.evaluate(() => localStorage.setItem('cdlc.engine', 'dash'));
    await page.goto(`${ctx.server.url}/assets/${asset}`);
    await page.waitForSelector('#app[data-engine="dash"]');
    await page.waitForSelector('#subtitles-select option[data-lang="fr"]', { state: 'attached', timeout: PLAY_TIMEOUT });
    await page.selectOption('#subtitles-select', { label: 'Français' });
    // The 8 s clip autoplays: on a loaded machine it can have ended by now,
    // and dash.js fetches a text track for the part still to play. Play it
    // from the start, as a viewer who picks subtitles first would see it.
    await page.evaluate(() => {
      const video = document.querySelector('#player-video');
      video.currentTime = 0;
      video.play().catch(() => {});
    });
    await ctx.waitForPlayback(0.5);
    const cues = await page.waitForFunction(() => {
      const tracks = [...document.querySelector('video').textTracks];
      const showing = tracks.find((t) => t.mode === 'showing' && t.cues && t.cues.length >= 2);
      return showing && [...showing.cues].map((c) => ({ start: c.startTime, end: c.endTime, text: c.text }));
    }, undefined, { timeout: PLAY_TIMEOUT }).then((handle) => handle.jsonValue());
    const first = cues.find((c) => c.text.includes('Bonjour de cdlc'));
    assert.ok(first, `dash.js loaded the cues: ${JSON.stringify(cues)}`);
    assert.ok(Math.abs(first.start - 0.5) < 0.05 && Math.abs(first.end - 2.5) < 0.05, `cue times ${JSON.stringify(first)}`);
    await page.evaluate(() => localStorage.removeItem('cdlc.engine'));
  }

  return [
    ['subtitles: dash.js lists the text adaptation set and shows its cues at their times', dashSubtitles],
    ['audio languages: hls.js lists English and French, a switch to French goes on playing', () => switchLanguage('hls')],
    ['audio languages: dash.js lists English and French, a switch to French goes on playing', () => switchLanguage('dash')],
  ];
}
