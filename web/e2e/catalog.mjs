// The catalog's pages in the browser: a series page lists its seasons
// (specials last) and each season's episodes, an episode page links back to
// its series and to its neighbours; a title whose only link is a trailer
// plays that trailer from its page. An admin makes a title through its form
// (with a poster) and finds it in the header's search, makes and edits a
// person (with a photo), gives the title other names, a backdrop and credits
// from its form (the title page then shows them, the cast with photos),
// links an asset to a title from the asset page and unlinks it, and runs an IMDb import from the
// import page, which shows 100 % and the report.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { api, makeClip, waitReady } from './support.mjs';

const shots = process.env.CDLC_E2E_SHOTS;
const shoot = (page, name) => shots && page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

export function catalogTests({ page, server, token, work, uploadThroughPage, frameLuma, signIn }) {
  const ids = {};
  const texts = (selector) => page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent.trim()));

  return [
    ['catalog: a series page lists its seasons (specials last) and their episodes; an episode page links to its series and neighbours', async () => {
      const series = await api(server, token, 'POST', '/api/v1/catalog/titles',
        { kind: 'series', primary_title: 'Harbour Lights', start_year: 2021, end_year: 2023, genres: ['Drama'] });
      const episode = (season, number, name, extra = {}) => api(server, token, 'POST', '/api/v1/catalog/titles', {
        kind: 'episode', series_id: series.id, season_number: season, episode_number: number, primary_title: name, ...extra,
      });
      // Made out of order: the pages order them.
      const special = await episode(0, 1, 'Christmas at the Harbour', { start_year: 2022 });
      const s2e1 = await episode(2, 1, 'Low Tide', { start_year: 2023, runtime_minutes: 52 });
      const s1e2 = await episode(1, 2, 'The Second Lamp', { start_year: 2021, runtime_minutes: 47 });
      const s1e1 = await episode(1, 1, 'First Light', { start_year: 2021, runtime_minutes: 58 });
      const s2e2 = await episode(2, 2, 'Spring Tide', { start_year: 2023 });

      await page.goto(`${server.url}/titles/${series.id}`);
      await page.waitForSelector('#title-name:has-text("Harbour Lights")');
      await page.waitForSelector('#episodes[data-season="1"] li.episode');
      assert.deepEqual(await texts('#season-tabs [role="tab"]'), ['Season 1 (2)', 'Season 2 (2)', 'Specials (1)']);
      assert.equal(await page.getAttribute('#season-tabs [data-season="1"]', 'aria-selected'), 'true');
      assert.deepEqual(await texts('#episodes .episode-title'), ['First Light', 'The Second Lamp']);
      assert.match(await page.textContent(`#episodes [data-episode-id="${s1e1.id}"]`), /^\s*1\s*First Light\s*2021 · 58 min/);
      await shoot(page, 'series');

      await page.click('#season-tabs [data-season="0"]');
      await page.waitForSelector(`#episodes[data-season="0"] [data-episode-id="${special.id}"]`);
      await page.click('#season-tabs [data-season="2"]');
      await page.waitForSelector(`#episodes[data-season="2"] [data-episode-id="${s2e2.id}"]`);
      assert.deepEqual(await texts('#episodes .episode-title'), ['Low Tide', 'Spring Tide']);

      // Season 2's first episode: back to the series, previous is season 1's last, next is season 2's second.
      await page.click(`#episodes [data-episode-id="${s2e1.id}"] a`);
      await page.waitForSelector('#title-name:has-text("Low Tide")');
      await page.waitForSelector('#episode-of a:has-text("Harbour Lights")');
      assert.match(await page.textContent('#episode-of'), /Harbour Lights · S2 E1/);
      await page.waitForSelector('#episode-next');
      assert.equal(await page.getAttribute('#episode-prev', 'data-title-id'), s1e2.id);
      assert.equal(await page.getAttribute('#episode-next', 'data-title-id'), s2e2.id);
      await shoot(page, 'episode');
      await page.click('#episode-prev');
      await page.waitForSelector('#title-name:has-text("The Second Lamp")');
      await page.waitForSelector('#episode-prev');
      assert.equal(await page.getAttribute('#episode-prev', 'data-title-id'), s1e1.id);
      await page.click('#episode-of a');
      await page.waitForSelector('#season-tabs');
      assert.equal(page.url(), `${server.url}/titles/${series.id}`);
    }],

    ['catalog: a title whose only link is a trailer plays it from its page: 2 s of playback, the frame is not black', async () => {
      const clip = makeClip(path.join(work, 'trailer-8s.mp4'), { seconds: 8, width: 320, height: 240 });
      const [assetId] = await uploadThroughPage([clip]);
      ids.trailer = assetId;
      const title = await api(server, token, 'POST', '/api/v1/catalog/titles',
        { kind: 'movie', primary_title: 'Coming Soon to a Test Card', start_year: 2026 });
      await waitReady(server, token, assetId);
      await api(server, token, 'POST', `/api/v1/catalog/titles/${title.id}/links`, { asset_id: assetId, role: 'trailer' });

      await page.goto(`${server.url}/titles/${title.id}`);
      await page.waitForSelector('#title-name:has-text("Coming Soon to a Test Card")');
      await page.waitForSelector('#title-player[data-role="trailer"] #player-video');
      assert.equal(await page.getAttribute('#title-player', 'data-asset-id'), assetId);
      assert.match(await page.textContent('#title-player .stage-label'), /Trailer/);
      // Pressing play (the page may have started it already: then pause first, so the press is what plays it).
      await page.waitForFunction(() => document.querySelector('#player-video').readyState >= 2, null, { timeout: 60_000 });
      if (!(await page.evaluate(() => document.querySelector('#player-video').paused))) {
        await page.click('#title-player button.control.play');
        await page.waitForFunction(() => document.querySelector('#player-video').paused);
      }
      const start = await page.evaluate(() => document.querySelector('#player-video').currentTime);
      await page.click('#title-player button.control.play');
      await page.waitForFunction((from) => {
        const video = document.querySelector('#player-video');
        return !video.paused && video.currentTime >= from + 2;
      }, start, { timeout: 60_000, polling: 100 });
      const luma = await frameLuma();
      assert.ok(luma.mean > 40 && luma.spread > 20, `the trailer's frame is not black: ${JSON.stringify(luma)}`);
      await shoot(page, 'trailer');
    }],
  
    ['catalog admin: a title made through its form (with a poster) is found by the header search; an asset is linked to it from the asset page and unlinked', async () => {
      await page.goto(`${server.url}/titles`);
      await page.waitForLoadState('networkidle');
      if (await page.isVisible('#sign-out-button')) {
        await page.click('#sign-out-button');
        await page.waitForSelector('#sign-in-button');
      }
      await signIn();
      await page.goto(`${server.url}/titles`);
      await page.click('#new-title-link');
      await page.waitForSelector('#title-form');
      const poster = path.join(work, 'poster.jpg');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=300x450', '-frames:v', '1', poster]);
      await page.selectOption('#title-kind', 'documentary');
      await page.fill('#title-primary', 'Zephyrine Over the Salt Flats');
      await page.fill('#title-start-year', '2024');
      await page.fill('#title-runtime', '88');
      await page.fill('#title-genres-input', 'Documentary, History');
      await page.fill('#title-synopsis-input', 'Wind crosses a salt flat, slowly.');
      await page.fill('#title-certificate', 'PG');
      await page.setInputFiles('#title-poster-file', poster);
      // A bad year is the server's sentence on the form, and nothing is made.
      await page.fill('#title-end-year', '2001');
      await page.click('#title-form-save');
      await page.waitForSelector('#title-form-error:not([hidden])');
      assert.match(await page.textContent('#title-form-error'), /end_year 2001 is before start_year 2024/);
      // An image that is not one: the title is saved, the form says the poster was refused, and
      // saving again with a real poster patches that title instead of making a second.
      await page.fill('#title-end-year', '');
      const notImage = path.join(work, 'not-a-poster.jpg');
      await writeFile(notImage, 'this is text, not a JPEG');
      await page.setInputFiles('#title-poster-file', notImage);
      await page.click('#title-form-save');
      await page.waitForSelector('#title-form-error:has-text("Saved, but the poster was refused")');
      assert.match(await page.textContent('#title-form-error'), /JPEG or PNG/);
      await page.setInputFiles('#title-poster-file', poster);
      await page.click('#title-form-save');
      await page.waitForSelector('#title-name:has-text("Zephyrine Over the Salt Flats")');
      ids.made = await page.evaluate(() => document.querySelector('#app').dataset.titleId);
      assert.match(await page.textContent('#title-facts'), /Documentary · 2024 · 1 h 28 min · PG/);
      await page.waitForFunction(() => document.querySelector('img.title-page-poster')?.naturalWidth === 300);

      // Edited: the synopsis changes.
      await page.click('#title-edit');
      await page.waitForSelector('#title-form');
      assert.equal(await page.inputValue('#title-primary'), 'Zephyrine Over the Salt Flats');
      await page.fill('#title-synopsis-input', 'Wind crosses a salt flat, quickly.');
      await page.click('#title-form-save');
      await page.waitForSelector('#title-synopsis:has-text("quickly")');

      const found = await api(server, token, 'GET', '/api/v1/catalog/search?q=zephyrine&target=titles');
      assert.deepEqual(found.items.map((hit) => hit.id), [ids.made], 'one title, made once');
      await page.fill('#search-input', 'zephyrin');
      await page.waitForSelector(`#search-results li[data-id="${ids.made}"]`);
      assert.match(await page.textContent(`#search-results li[data-id="${ids.made}"]`), /Zephyrine Over the Salt Flats/);
      await page.keyboard.press('Escape');
      // Its card shows the poster's thumbnail (185 px wide, made by the server), not the full poster.
      await page.goto(`${server.url}/titles?q=zephyrine`);
      const card = `#title-grid a[data-title-id="${ids.made}"] img`;
      await page.waitForFunction((selector) => document.querySelector(selector)?.naturalWidth > 0, card);
      assert.match(await page.getAttribute(card, 'src'), /\/poster\?size=thumb$/);
      assert.equal(await page.$eval(card, (img) => img.naturalWidth), 185);

      // The trailer of the test before is linked to it as an extra from its asset page, then unlinked.
      assert.ok(ids.trailer, 'the trailer test uploaded an asset');
      await page.goto(`${server.url}/assets/${ids.trailer}`);
      await page.waitForSelector('#asset-title-links li');
      await page.fill('#link-title-query', 'Zephyrine');
      await page.waitForSelector(`#link-title option[value="${ids.made}"]`, { state: 'attached' });
      await page.selectOption('#link-title', ids.made);
      await page.selectOption('#link-role', 'extra');
      await page.click('#link-save');
      await page.waitForSelector(`#asset-title-links li[data-title-id="${ids.made}"][data-role="extra"]`);
      const links = await api(server, token, 'GET', `/api/v1/catalog/titles/${ids.made}/links`);
      assert.deepEqual(links.map((l) => [l.asset_id, l.role]), [[ids.trailer, 'extra']]);
      await page.click(`#asset-title-links button[data-unlink="${ids.made}"]`);
      await page.waitForSelector(`#asset-title-links li[data-title-id="${ids.made}"]`, { state: 'detached' });
      assert.deepEqual(await api(server, token, 'GET', `/api/v1/catalog/titles/${ids.made}/links`), []);
      await shoot(page, 'asset-titles');
    }],

    ['catalog admin: a person made through its form (with a photo) has a page, and an edit changes it', async () => {
      const photo = path.join(work, 'photo.png');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=240x320', '-frames:v', '1', photo]);
      await page.goto(`${server.url}/titles`);
      await page.click('#new-person-link');
      await page.waitForSelector('#person-form');
      await page.fill('#person-name-input', 'Ondine Vasquez-Lhomme');
      await page.fill('#person-birth-year', '1961');
      await page.fill('#person-professions', 'director, writer');
      await page.fill('#person-bio-input', 'Films salt flats.');
      await page.setInputFiles('#person-photo-file', photo);
      await page.click('#person-form-save');
      await page.waitForSelector('#person-name:has-text("Ondine Vasquez-Lhomme")');
      ids.person = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
      assert.match(await page.textContent('#app'), /Director, Writer · 1961–/);
      await page.waitForFunction(() => document.querySelector('img.title-page-poster')?.naturalWidth === 240);
      await page.click('#person-edit');
      await page.waitForSelector('#person-form');
      assert.equal(await page.inputValue('#person-professions'), 'director, writer');
      await page.fill('#person-death-year', '1950');
      await page.click('#person-form-save');
      await page.waitForSelector('#person-form-error:not([hidden])');
      assert.match(await page.textContent('#person-form-error'), /death/);
      await page.fill('#person-death-year', '');
      await page.fill('#person-bio-input', 'Films salt flats at dawn.');
      await page.click('#person-form-save');
      await page.waitForSelector('#person-bio:has-text("at dawn")');
    }],

    ['catalog admin: a title\'s form gives it other names, a backdrop and credits; its page shows them, the cast with photos', async () => {
      assert.ok(ids.made && ids.person, 'the tests before made a title and a person');
      const backdrop = path.join(work, 'backdrop.jpg');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=960x410', '-frames:v', '1', backdrop]);
      await page.goto(`${server.url}/titles/${ids.made}/edit`);
      await page.waitForSelector('#credits-editor');
      assert.match(await page.textContent('#credit-list'), /No cast or crew yet/);

      // Two other names; a third added and removed again is not saved.
      await page.click('#aka-add');
      await page.fill('#akas-editor li:nth-child(1) [data-aka="title"]', 'Zéphyrine sur les salines');
      await page.fill('#akas-editor li:nth-child(1) [data-aka="region"]', 'FR');
      await page.fill('#akas-editor li:nth-child(1) [data-aka="language"]', 'fr');
      await page.click('#aka-add');
      await page.fill('#akas-editor li:nth-child(2) [data-aka="title"]', 'Zephyrine über den Salzseen');
      await page.fill('#akas-editor li:nth-child(2) [data-aka="region"]', 'DE');
      await page.click('#aka-add');
      await page.fill('#akas-editor li:nth-child(3) [data-aka="title"]', 'A name dropped again');
      await page.click('#akas-editor li:nth-child(3) [data-aka-remove]');

      // Credits apply at once: a director, then the person again as herself, billed first; the director removed.
      await page.fill('#credit-person-query', 'ondine vasq');
      await page.waitForSelector(`#credit-person option[value="${ids.person}"]`, { state: 'attached' });
      await page.selectOption('#credit-person', ids.person);
      await page.selectOption('#credit-category', 'director');
      await page.click('#credit-add');
      await page.waitForSelector(`#credit-list li[data-person-id="${ids.person}"][data-category="director"]`);
      await page.selectOption('#credit-category', 'self');
      await page.fill('#credit-characters', 'Herself, The Wind');
      await page.fill('#credit-billing', '1');
      await page.click('#credit-add');
      await page.waitForSelector('#credit-list li[data-category="self"]');
      // A refused credit is the server's sentence.
      await page.fill('#credit-billing', '-4');
      await page.click('#credit-add');
      await page.waitForSelector('#credit-error:not([hidden])');
      assert.match(await page.textContent('#credit-error'), /billing must be 0 to 1000000/);
      await page.click('#credit-list li[data-category="director"] [data-remove-credit]');
      await page.waitForSelector('#credit-list li[data-category="director"]', { state: 'detached' });
      const credits = await api(server, token, 'GET', `/api/v1/catalog/titles/${ids.made}/credits`);
      assert.deepEqual(credits.items.map((c) => [c.person_id, c.category, c.characters, c.billing]),
        [[ids.person, 'self', ['Herself', 'The Wind'], 1]]);

      await page.setInputFiles('#title-backdrop-file', backdrop);
      await page.click('#title-form-save');
      await page.waitForSelector('#title-name:has-text("Zephyrine Over the Salt Flats")');
      // The backdrop is the full upload; the poster is kept.
      await page.waitForFunction(() => document.querySelector('#title-backdrop')?.naturalWidth === 960);
      await page.waitForFunction(() => document.querySelector('img.title-page-poster')?.naturalWidth === 300);
      await page.click('#title-akas summary');
      assert.deepEqual(await texts('#title-akas li'), ['Zéphyrine sur les salines · FR · fr', 'Zephyrine über den Salzseen · DE']);
      // The cast shows her photo's thumbnail and her part.
      const member = `#cast li[data-credit="${credits.items[0].id}"]`;
      await page.waitForFunction((selector) => document.querySelector(`${selector} img.cast-photo`)?.naturalWidth === 185, member);
      assert.match(await page.getAttribute(`${member} img.cast-photo`, 'src'), /\/photo\?size=thumb$/);
      assert.match(await page.textContent(member), /Ondine Vasquez-Lhomme as Herself, The Wind/);
      await shoot(page, 'title-credits');

      // The other names are searched: the French one finds the title, accents folded.
      const found = await api(server, token, 'GET', '/api/v1/catalog/search?q=salines&target=titles');
      assert.deepEqual(found.items.map((hit) => hit.id), [ids.made]);
      // A second save that leaves the names alone keeps them as they are.
      await page.click('#title-edit');
      await page.waitForSelector('#akas-editor li');
      assert.equal(await page.inputValue('#akas-editor li:nth-child(1) [data-aka="title"]'), 'Zéphyrine sur les salines');
      await page.click('#title-form-save');
      await page.waitForSelector('#title-akas');
      const title = await api(server, token, 'GET', `/api/v1/catalog/titles/${ids.made}`);
      assert.deepEqual(title.akas.map((a) => [a.title, a.region, a.language]),
        [['Zéphyrine sur les salines', 'FR', 'fr'], ['Zephyrine über den Salzseen', 'DE', null]]);
    }],

    ['catalog admin: an import of a generated title.basics.tsv.gz from the import page reaches 100 % and shows its report', async () => {
      const lines = ['tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres'];
      for (let i = 1; i <= 300; i += 1) {
        lines.push(`tt9${String(i).padStart(6, '0')}\tmovie\tImported "Pattern" ${i}\tImported "Pattern" ${i}\t0\t${1950 + (i % 70)}\t\\N\t${80 + (i % 40)}\tDrama`);
      }
      lines.push('tt9999999\tmovie\tA line with too few fields');
      const file = path.join(work, 'title.basics.tsv.gz');
      await writeFile(file, gzipSync(`${lines.join('\n')}\n`));

      await page.goto(`${server.url}/titles`);
      await page.click('#import-link');
      await page.waitForSelector('#import-form');
      await page.click('#import-start');
      assert.match(await page.textContent('#import-error'), /Choose one or more/);
      await page.setInputFiles('#import-files', file);
      await page.click('#import-start');
      await page.waitForSelector('#import-status[data-state="done"]', { timeout: 120_000 });
      assert.equal(await page.textContent('#import-percent'), '100 %');
      assert.equal(await page.getAttribute('#import-status [role="progressbar"]', 'aria-valuenow'), '100');
      const row = await texts('#import-report tr[data-dataset] td');
      assert.deepEqual(row, ['title.basics.tsv.gz', row[1], '301', '300', '0', '0', '1'], `the report: ${row.join(' | ')}`);
      assert.match(await page.textContent('#import-rejections'), /title\.basics\.tsv\.gz, line 302: /);
      await shoot(page, 'import');

      // The imported titles are in the catalog, bare quotes and all.
      const title = await api(server, token, 'GET', '/api/v1/catalog/titles/tt9000007');
      assert.equal(title.primary_title, 'Imported "Pattern" 7');
    }],
  ];
}
