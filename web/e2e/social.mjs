// The catalog and social pages in the browser: a title made through the
// catalog API with its credits and an uploaded clip as its feature; its page
// shows the credits (linking to the people) and plays the feature; the
// header's search finds it by keyboard. A viewer adds it to the watchlist,
// logs, rates and reviews it and finds all of it on their profile; a
// follower sees it in the home feed, where a recommendation can be hidden;
// a list's page shows its entries in order with their notes, the owner
// reorders and edits them, and a private list stays private. The title links to its showtimes. The
// player reports the position to social's continue watching: after a stop
// at 0:30 and a reload the page offers "Resume at 0:30", and taking it lands
// there.
import assert from 'node:assert/strict';
import path from 'node:path';
import { api, makeClip, waitReady } from './support.mjs';

// CDLC_E2E_SHOTS=DIR saves screenshots of the pages as the tests pass (as run.mjs does).
const shots = process.env.CDLC_E2E_SHOTS;
const shoot = (page, name) => shots && page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

export function socialTests({ page, server, token, work, uploadThroughPage, waitForPlayback }) {
  const ids = {};

  async function signUp(handle) {
    await page.goto(`${server.url}/`);
    await page.waitForLoadState('networkidle');
    if (await page.isVisible('#sign-out-button')) {
      await page.click('#sign-out-button');
      await page.waitForSelector('#sign-in-button');
    }
    await page.click('#sign-in-button');
    await page.click('#sign-up-link');
    await page.waitForSelector('#sign-up-form');
    await page.fill('#sign-up-handle', handle);
    await page.fill('#sign-up-email', `${handle}@example.com`);
    await page.fill('#sign-up-password', `${handle} has a long passphrase`);
    await page.click('#sign-up-form button[type="submit"]');
    await page.waitForSelector(`#session-user:has-text("${handle}")`);
  }

  /** Opens the log dialog of the title page on screen and saves an entry. */
  async function logTitle({ rating, review, spoiler = false, liked = false }) {
    await page.click('#log-button');
    await page.waitForSelector('#log-dialog[open]');
    await page.click(`#log-rating label[data-rating="${rating}"]`);
    await shoot(page, 'log-dialog');
    if (liked) await page.check('#log-liked');
    if (review) await page.fill('#log-review', review);
    if (spoiler) await page.check('#log-spoiler');
    await page.click('#log-save');
    await page.waitForSelector('#log-dialog', { state: 'hidden' });
  }

  return [
    ['catalog: a title page shows its credits linking to the people and plays its feature; the header search finds it', async () => {
      const clip = makeClip(path.join(work, 'feature-35s.mp4'), { seconds: 35, width: 320, height: 240 });
      await page.goto(`${server.url}/`);
      await page.waitForLoadState('networkidle');
      if (await page.isVisible('#sign-out-button')) await page.click('#sign-out-button');
      [ids.asset] = await uploadThroughPage([clip]);
      const director = await api(server, token, 'POST', '/api/v1/catalog/people',
        { name: 'Imogen Lumière', professions: ['director'], bio: 'Imogen Lumière makes films of test cards.' });
      const actress = await api(server, token, 'POST', '/api/v1/catalog/people', { name: 'Ottilie Frame', professions: ['actress'] });
      const title = await api(server, token, 'POST', '/api/v1/catalog/titles', {
        kind: 'movie', primary_title: 'Quixotic Test Pattern', original_title: 'Mire quichottesque', start_year: 2025,
        runtime_minutes: 101, genres: ['Drama', 'Mystery'], synopsis: 'A test card searches for its missing colour bar.',
      });
      ids.title = title.id;
      await api(server, token, 'POST', `/api/v1/catalog/titles/${title.id}/credits`,
        { person_id: actress.id, category: 'actress', characters: ['The Colour Bar'] });
      await api(server, token, 'POST', `/api/v1/catalog/titles/${title.id}/credits`, { person_id: director.id, category: 'director' });
      await waitReady(server, token, ids.asset);
      await api(server, token, 'POST', `/api/v1/catalog/titles/${title.id}/links`, { asset_id: ids.asset, role: 'feature' });

      // A showtime of it: the title page links to its showtimes.
      const venue = await api(server, token, 'POST', '/api/v1/booking/venues', { name: 'Kino Quixote' });
      const seats = [{ label: '1', category: 'standard' }, { label: '2', category: 'standard' }];
      const screen = await api(server, token, 'POST', `/api/v1/booking/venues/${venue.id}/screens`,
        { name: 'Q', seat_map: { categories: [{ id: 'standard', name: 'Standard' }], rows: [{ label: 'A', seats }] } });
      const show = await api(server, token, 'POST', '/api/v1/booking/showtimes', {
        title_id: title.id, screen_id: screen.id, currency: 'EUR', prices: { standard: 900 },
        starts_at: new Date(Date.now() + 2 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'),
      });

      await page.goto(`${server.url}/titles/${title.id}`);
      await page.waitForSelector('#title-name:has-text("Quixotic Test Pattern")');
      assert.match(await page.textContent('#title-facts'), /2025 · 1 h 41 min/);
      assert.match(await page.textContent('#title-original'), /Mire quichottesque/);
      assert.deepEqual(await page.$$eval('#title-genres .chip', (chips) => chips.map((c) => c.textContent)), ['Drama', 'Mystery']);
      assert.match(await page.textContent('#title-synopsis'), /missing colour bar/);
      assert.match(await page.textContent('#cast'), /Ottilie Frame as The Colour Bar/);
      assert.match(await page.textContent('#crew'), /Director\s*Imogen Lumière/);
      assert.equal(await page.getAttribute('#title-player', 'data-role'), 'feature');
      await waitForPlayback(1);
      await shoot(page, 'title');
      assert.equal(await page.evaluate(() => document.querySelector('#title-player video') === document.querySelector('#player-video')), true,
        'the feature plays in the title page\'s player');

      await page.click('#title-showtimes-link');
      await page.waitForSelector(`a[data-showtime="${show.id}"]`);
      assert.equal(await page.locator('a[data-showtime]').count(), 1, 'only this title\'s showtimes');
      await page.goBack();
      await page.waitForSelector(`#crew a[data-person-id="${director.id}"]`);
      await page.click(`#crew a[data-person-id="${director.id}"]`);
      await page.waitForSelector('#person-name:has-text("Imogen Lumière")');
      assert.match(await page.textContent('#person-bio'), /films of test cards/);
      await page.waitForSelector(`#filmography a[data-title-id="${title.id}"]`);
      assert.match(await page.textContent(`#filmography a[data-title-id="${title.id}"]`), /Quixotic Test Pattern.*2025/);
      await shoot(page, 'person');

      // The search box: type, wait for the hits, pick one with the keyboard.
      await page.fill('#search-input', 'quixot');
      await page.waitForSelector(`#search-results .search-hit[data-id="${title.id}"]`);
      await shoot(page, 'search');
      const hits = await page.$$eval('#search-results .search-hit', (list) => list.map((li) => li.dataset.id));
      await page.keyboard.press('ArrowDown');
      for (let i = 0; i < hits.indexOf(title.id); i += 1) await page.keyboard.press('ArrowDown');
      assert.equal(await page.getAttribute('#search-input', 'aria-activedescendant'), `search-hit-${hits.indexOf(title.id)}`);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${server.url}/titles/${title.id}`);
      await page.waitForSelector('#title-name:has-text("Quixotic Test Pattern")');
      assert.ok(await page.isHidden('#search-results'), 'the hits close after a pick');

      await page.setViewportSize({ width: 390, height: 844 });
      try {
        for (const url of [`/titles/${title.id}`, `/people/${director.id}`, '/titles', '/']) {
          await page.goto(`${server.url}${url}`);
          await page.waitForSelector('main#app > *:not(:empty)');
          await page.waitForTimeout(300);
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 0, `${url} scrolls sideways by ${overflow}px on a phone`);
        }
      } finally {
        await page.setViewportSize({ width: 1280, height: 800 });
      }
    }],

    ['social: a viewer adds the title to the watchlist, logs, rates and reviews it, and sees it all on the profile; a follower sees it in the feed', async () => {
      assert.ok(ids.title, 'the catalog test made the title');
      await signUp('ottoline');
      await page.goto(`${server.url}/titles/${ids.title}`);
      await page.waitForSelector('#watchlist-button[aria-pressed="false"]');
      await page.click('#watchlist-button');
      await page.waitForSelector('#watchlist-button[aria-pressed="true"]');

      // An answer the API refuses shows its sentence and keeps the dialog.
      await page.click('#log-button');
      await page.fill('#log-review', 'x'.repeat(10_001));
      await page.click('#log-save');
      await page.waitForSelector('#log-error:not([hidden])');
      assert.match(await page.textContent('#log-error'), /review is 10001 characters; it must be at most 10000/);
      await page.click('#log-dialog button:has-text("Cancel")');

      await logTitle({ rating: '4.5', liked: true, review: 'The colour bar was in the title all along.', spoiler: true });
      await page.waitForSelector('#my-entries .entry .stars[data-rating="4.5"]');
      assert.match(await page.textContent('#my-entries .entry'), /★★★★½\s*♥/);

      // After a reload the page knows both from the API (one per-title read).
      await page.reload();
      await page.waitForSelector('#watchlist-button[aria-pressed="true"]');
      await page.waitForSelector('#my-entries .entry .stars[data-rating="4.5"]');
      assert.match(await page.textContent('#my-title-state'), /You logged it once, last on \d{4}-\d\d-\d\d · ★★★★½ · ♥/);

      await page.click('#nav-profile');
      await page.waitForURL(`${server.url}/u/ottoline`);
      await page.waitForSelector(`#profile-diary .entry[data-title-id="${ids.title}"]`);
      assert.match(await page.textContent('#profile-counts'), /1 diary entry\b/);
      assert.match(await page.textContent('#profile-diary'), /Quixotic Test Pattern\s*★★★★½/);
      await page.click('#profile-tabs [data-tab="reviews"]');
      await page.waitForSelector('#profile-reviews details.spoiler');
      assert.ok(!(await page.isVisible('#profile-reviews .review-text')), 'a spoiler review is behind its warning');
      await page.click('#profile-reviews details.spoiler summary');
      assert.match(await page.textContent('#profile-reviews .review-text'), /in the title all along/);
      await page.click('#profile-tabs [data-tab="watchlist"]');
      await page.waitForSelector(`#profile-watchlist a[data-title-id="${ids.title}"]`);
      await shoot(page, 'profile-watchlist');

      // Another member follows ottoline: her review is in their home feed.
      await signUp('hedy');
      await page.goto(`${server.url}/u/ottoline`);
      await page.waitForSelector('#follow-button[aria-pressed="false"]');
      await page.click('#follow-button');
      await page.waitForSelector('#follow-button[aria-pressed="true"]');
      assert.match(await page.textContent('#profile-counts'), /1 follower\b/);
      await page.click('#profile-tabs [data-tab="followers"]');
      await page.waitForSelector('#profile-followers a[data-handle="hedy"]');
      await page.goto(`${server.url}/`);
      await page.waitForSelector('#home-feed .feed-item[data-verb="reviewed"]');
      assert.match(await page.textContent('#home-feed'), /ottoline reviewed Quixotic Test Pattern/);
      assert.ok(await page.isVisible(`#row-popular a[data-title-id="${ids.title}"]`), 'the home page shows the catalog\'s popular row');
      // Recommendations: a new member gets the titles others engaged with (ottoline logged it).
      await page.waitForSelector(`#row-popular-social a[data-title-id="${ids.title}"]`);
      await shoot(page, 'home-signed-in');

      // Hidden, a recommendation goes at once and stays gone after a reload;
      // the catalog's own row still has the title.
      await page.getByRole('button', { name: 'Hide Quixotic Test Pattern' }).first().click();
      await page.waitForSelector(`#home-social a[data-title-id="${ids.title}"]`, { state: 'detached' });
      assert.ok(await page.isHidden('#rec-error'), 'the hide was taken');
      await page.reload();
      await page.waitForSelector('#home-feed .feed-item[data-verb="reviewed"]');
      await page.waitForSelector(`#row-popular a[data-title-id="${ids.title}"]`);
      assert.equal(await page.locator(`#home-social a[data-title-id="${ids.title}"]`).count(), 0,
        'a hidden title is in no recommendation row after a reload');
    }],

    ['lists: the owner sees a ranked list with its notes on its page, reorders it, edits a note and removes an entry; another member sees the public list, never the private one', async () => {
      assert.ok(ids.title, 'the catalog test made the title');
      const second = await api(server, token, 'POST', '/api/v1/catalog/titles', { kind: 'movie', primary_title: 'Second Sight Pattern', start_year: 2024 });
      await signUp('lisbet');
      // The owner's own session makes the lists (a write carries the CSRF token GET /me gives).
      const asMember = (method, url, json) => page.evaluate(async ([method, url, json]) => {
        const me = await (await fetch('/api/v1/accounts/me')).json();
        const response = await fetch(url, {
          method, headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify(json),
        });
        const body = await response.json().catch(() => null);
        if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(body)}`);
        return body;
      }, [method, url, json]);
      // The ranked list is made on the profile's Lists tab and filled from the titles' pages.
      await page.goto(`${server.url}/u/lisbet?tab=lists`, { waitUntil: 'networkidle' });
      await page.waitForSelector('#new-list ~ p.muted:has-text("No lists yet.")');
      await page.fill('#new-list-name', 'Test cards, ranked');
      await page.fill('#new-list-description', 'The finest test cards.');
      await page.check('#new-list-ranked');
      await page.click('#new-list button[type="submit"]');
      await page.waitForURL(/\/lists\/[^/]+$/);
      const ranked = { id: decodeURIComponent(new URL(page.url()).pathname.split('/').pop()) };
      await page.waitForSelector('#list-name:has-text("Test cards, ranked")');
      for (const titleId of [ids.title, second.id]) {
        await page.goto(`${server.url}/titles/${titleId}`);
        await page.waitForSelector('#add-to-list-select option:has-text("Test cards, ranked")', { state: 'attached' });
        await page.selectOption('#add-to-list-select', { label: 'Test cards, ranked' });
        await page.click('#add-to-list-button');
        await page.waitForSelector('#add-to-list-done a:has-text("Test cards, ranked")');
      }
      await asMember('PATCH', `/api/v1/social/lists/${ranked.id}/entries/${ids.title}`, { note: 'The colour bar hides here.' });
      const secret = await asMember('POST', '/api/v1/social/lists', { name: 'Secret cards', visibility: 'private' });
      await asMember('POST', `/api/v1/social/lists/${secret.id}/entries`, { title_id: second.id, note: 'nobody may read this' });

      // From the profile's Lists tab to the list's page.
      const rows = () => page.$$eval('#list-entries li.entry', (items) => items.map((li) =>
        [li.querySelector('.list-rank')?.textContent ?? null, li.dataset.titleId, li.querySelector('.list-note')?.textContent ?? null]));
      await page.goto(`${server.url}/u/lisbet?tab=lists`);
      await page.click(`#profile-lists a[href="/lists/${ranked.id}"]`);
      await page.waitForURL(`${server.url}/lists/${ranked.id}`);
      await page.waitForSelector('#list-name:has-text("Test cards, ranked")');
      assert.equal(await page.getAttribute('#list-owner', 'href'), '/u/lisbet');
      assert.equal(await page.textContent('#list-visibility'), 'Public');
      assert.match(await page.textContent('#list-description'), /The finest test cards/);
      await page.waitForSelector('#list-entries .entry-tools');
      assert.deepEqual(await rows(), [['1', ids.title, 'The colour bar hides here.'], ['2', second.id, null]]);
      assert.equal(await page.getAttribute(`#list-entries li[data-title-id="${second.id}"] a`, 'href'), `/titles/${second.id}`);
      await shoot(page, 'list');

      // The owner moves the second title up and writes a note on it; a reload shows what was stored.
      await page.getByRole('button', { name: 'Move Second Sight Pattern up' }).click();
      await page.waitForFunction((id) => document.querySelector('#list-entries li.entry')?.dataset.titleId === id, second.id);
      await page.getByRole('button', { name: 'Edit the note on Second Sight Pattern' }).click();
      await page.getByRole('textbox', { name: 'Note on Second Sight Pattern' }).fill('Seen twice, better each time.');
      await page.click('#list-entries button:has-text("Save note")');
      await page.waitForSelector(`#list-entries li[data-title-id="${second.id}"] .list-note:has-text("Seen twice")`);
      await page.reload();
      await page.waitForSelector('#list-entries .entry-tools');
      assert.deepEqual(await rows(), [['1', second.id, 'Seen twice, better each time.'], ['2', ids.title, 'The colour bar hides here.']]);
      await page.getByRole('button', { name: 'Remove Quixotic Test Pattern' }).click();
      await page.waitForSelector(`#list-entries li[data-title-id="${ids.title}"]`, { state: 'detached' });
      await page.reload();
      await page.waitForSelector('#list-entries .entry-tools');
      assert.deepEqual(await rows(), [['1', second.id, 'Seen twice, better each time.']]);
      await page.goto(`${server.url}/lists/${secret.id}`);
      await page.waitForSelector('#list-name:has-text("Secret cards")');
      assert.match(await page.textContent('#list-visibility'), /Private/);

      // Another member sees the public list without the owner's tools; the private one is not there.
      await signUp('magnus');
      await page.goto(`${server.url}/lists/${ranked.id}`);
      await page.waitForSelector(`#list-entries li[data-title-id="${second.id}"]`);
      assert.match(await page.textContent('#list-entries'), /Second Sight Pattern\s*2024\s*Seen twice/);
      assert.equal(await page.locator('#list-entries .entry-tools').count(), 0, 'only the owner gets the tools');
      await page.goto(`${server.url}/lists/${secret.id}`);
      await page.waitForSelector('#list-missing');
      assert.match(await page.textContent('#list-missing h1'), /This list is not here/);
      assert.match(await page.textContent('#list-missing'), /private/);
      const shown = await page.textContent('main#app');
      assert.ok(!shown.includes('Secret cards') && !shown.includes('nobody may read this'), `the private list leaked: ${shown}`);
      await page.goto(`${server.url}/u/lisbet?tab=lists`);
      await page.waitForSelector(`#profile-lists a[href="/lists/${ranked.id}"]`);
      assert.equal(await page.locator(`#profile-lists a[href="/lists/${secret.id}"]`).count(), 0, 'the profile lists no private list to others');
    }],

    ['resume: the player reports the position (a stop right after a stored beacon is sent again); after a stop at 0:30 and a reload the page offers "Resume at 0:30" and lands there', async () => {
      assert.ok(ids.asset, 'the catalog test uploaded the clip');
      await signUp('lumi');
      await page.goto(`${server.url}/titles/${ids.title}`);
      await waitForPlayback(0.5);
      const stopAt = (seconds) => page.evaluate((at) => new Promise((resolve) => {
        const video = document.querySelector('#player-video');
        video.addEventListener('seeked', () => {
          video.pause();
          resolve();
        }, { once: true });
        video.currentTime = at;
        video.play().catch(() => {});
      }), seconds);
      const storedAt = async (ms, timeout) => {
        let progress = null;
        for (const deadline = Date.now() + timeout; Date.now() < deadline; await page.waitForTimeout(250)) {
          progress = await page.evaluate(async (asset) => {
            const response = await fetch(`/api/v1/social/progress/${asset}`);
            return response.ok ? response.json() : null;
          }, ids.asset);
          if (progress && Math.abs(progress.position_ms - ms) < 1500) return progress;
        }
        assert.fail(`the stored position is not ${ms} ms after ${timeout} ms: ${JSON.stringify(progress)}`);
      };
      // A stop at 0:10 is stored; a stop at 0:30 right after comes sooner
      // than the server takes another beacon: the page sends it again later.
      await stopAt(10);
      await storedAt(10_000, 5000);
      await stopAt(30);
      const progress = await storedAt(30_000, 20_000);
      assert.equal(progress.duration_ms > 34_000 && progress.duration_ms < 36_000, true, `duration ${progress.duration_ms}`);
      assert.equal(progress.watched, false);

      await page.reload();
      await page.waitForSelector('#resume-button');
      await shoot(page, 'resume-offer');
      assert.equal(await page.textContent('#resume-button'), 'Resume at 0:30');
      assert.equal(await page.evaluate(() => document.querySelector('#player-video').paused), true, 'no autoplay while the offer waits');
      await page.click('#resume-button');
      await page.waitForFunction(() => {
        const video = document.querySelector('#player-video');
        return !video.paused && video.currentTime >= 30 && video.readyState >= 2;
      }, null, { timeout: 30_000, polling: 100 });
      const at = await page.evaluate(() => document.querySelector('#player-video').currentTime);
      assert.ok(at >= 29.5 && at < 33, `resumed at ${at} s`);
      assert.ok(await page.isHidden('#resume-button'), 'the offer goes once taken');

      // The asset's own page offers the same place.
      await page.evaluate(() => document.querySelector('#player-video').pause());
      await page.goto(`${server.url}/assets/${ids.asset}`);
      await page.waitForSelector('#resume-button');
      assert.match(await page.textContent('#resume-button'), /^Resume at 0:3\d$/);
    }],
  ];
}
