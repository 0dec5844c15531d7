// The booking pages in the browser: a viewer picks two seats on the seat
// map, holds them (a countdown runs), pays with the TEST provider's card and
// sees the two tickets with their QR codes, then finds them on My tickets.
import assert from 'node:assert/strict';
import { api } from './support.mjs';

/** A catalog title, a screen of two rows and a showtime tomorrow; its id. */
async function scheduleShowtime(server, token) {
  const title = await api(server, token, 'POST', '/api/v1/catalog/titles',
    { kind: 'movie', primary_title: 'The Seat Test', runtime_minutes: 95, start_year: 2026 });
  const venue = await api(server, token, 'POST', '/api/v1/booking/venues', { name: 'Kino e2e' });
  const row = (label) => ({ label, seats: Array.from({ length: 8 }, (_, i) => ({ label: String(i + 1), category: 'standard' })) });
  const screen = await api(server, token, 'POST', `/api/v1/booking/venues/${venue.id}/screens`, {
    name: '1', seat_map: { categories: [{ id: 'standard', name: 'Standard' }], rows: [row('A'), row('B')] },
  });
  const startsAt = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const show = await api(server, token, 'POST', '/api/v1/booking/showtimes', {
    title_id: title.id, screen_id: screen.id, starts_at: startsAt, currency: 'EUR', prices: { standard: 1250 },
  });
  assert.equal(show.title_name, 'The Seat Test', 'the showtime names the catalog title');
  assert.equal(show.runtime_minutes, 95, 'the runtime comes from the catalog');
  return show.id;
}

export function bookingTests({ page, server, token, signIn }) {
  return [
    ['booking: pick two seats on the map, pay with the test card, see the tickets', async () => {
      const showtime = await scheduleShowtime(server, token);
      await page.goto(`${server.url}/`);
      if (await page.isVisible('#sign-out-button')) await page.click('#sign-out-button');
      await page.click('#sign-in-button');
      await page.click('#sign-up-link');
      await page.waitForSelector('#sign-up-form');
      await page.fill('#sign-up-handle', 'ada');
      await page.fill('#sign-up-email', 'ada@example.com');
      await page.fill('#sign-up-password', 'ada has a long passphrase');
      await page.click('#sign-up-form button[type="submit"]');
      await page.waitForSelector('#session-user:has-text("ada")');

      await page.goto(`${server.url}/showtimes`);
      await page.click(`a[data-showtime="${showtime}"]`);
      await page.waitForSelector('.seat[data-seat="B-4"]');
      await page.click('.seat[data-seat="B-4"]');
      await page.click('.seat[data-seat="B-5"]');
      assert.equal(await page.locator('.seat[data-status="picked"]').count(), 2);
      assert.match(await page.textContent('#seat-summary'), /2 seat\(s\): B-4, B-5/);
      await page.click('#hold-seats');
      await page.waitForSelector('#hold-countdown');
      assert.match(await page.textContent('#hold-countdown'), /^(9|10):\d\d$/, 'a ten-minute hold counts down');

      // Another buyer now sees the two seats held.
      const seats = await (await fetch(`${server.url}/api/v1/booking/showtimes/${showtime}/seats`)).json();
      const held = seats.seats.filter((s) => s.status === 'held').map((s) => s.id).sort();
      assert.deepEqual(held, ['B-4', 'B-5']);

      // A declined card says so and keeps the hold; the good card pays.
      await page.fill('#checkout-email', 'ada@example.com');
      await page.fill('#checkout-card', '4000 0000 0000 0002');
      await page.click('#pay');
      await page.waitForSelector('#checkout .form-error:has-text("declined")');
      await page.fill('#checkout-card', '4242 4242 4242 4242');
      await page.click('#pay');
      await page.waitForSelector('#checkout .ticket[data-status="valid"]');
      assert.equal(await page.locator('#checkout .ticket').count(), 2, 'two tickets');
      await page.waitForSelector('#checkout .ticket-qr img');

      await page.goto(`${server.url}/orders`);
      await page.waitForSelector('.order[data-status="paid"] .ticket');
      assert.equal(await page.locator('.order[data-status="paid"] .ticket').count(), 2);
      const sold = await (await fetch(`${server.url}/api/v1/booking/showtimes/${showtime}/seats`)).json();
      assert.deepEqual(sold.seats.filter((s) => s.status === 'sold').map((s) => s.id).sort(), ['B-4', 'B-5']);

      await page.click('#sign-out-button');
      await page.waitForSelector('#sign-in-button');
      await signIn();
    }],
  ];
}
