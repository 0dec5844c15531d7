// The booking pages: showtimes, a seat map to pick seats with a hold
// countdown, checkout with the TEST payment provider, my orders and their
// tickets (QR), the subscription page and the staff check-in page. All of it
// through the booking plugin's public API (/api/v1/booking).
import { request, session, ApiError } from './api.js';
import { h, clear, formatDuration } from './util.js';

const API = '/api/v1/booking';

/** Integer minor units as money: 1250 EUR → €12.50, 500 JPY → ¥500. */
function money(amount, currency) {
  try {
    const format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    return format.format(amount / 10 ** format.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${currency} ${amount}`;
  }
}

function when(rfc3339) {
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? rfc3339 : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function errorBox(error) {
  return h('p.form-error', { role: 'alert' }, error instanceof ApiError ? error.message : String(error));
}

function needSignIn(root, what) {
  clear(
    root,
    h('section.empty', {}, h('h1', {}, what), h('p.muted', {}, 'Sign in to continue.'),
      h('button.button.primary', { type: 'button', onclick: () => document.getElementById('sign-in-button')?.click() }, 'Sign in')),
  );
}

/** A ticket's QR code: fetched with the viewer's credential, shown inline. */
function qr(ticket) {
  const box = h('div.ticket-qr', { 'aria-label': `QR code of ticket ${ticket.id}` });
  fetch(ticket.qr_svg, { headers: session.authHeaders(), credentials: 'same-origin' })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${r.status}`))))
    .then((svg) => {
      const image = h('img', { alt: `QR code of ticket ${ticket.id}`, width: 160, height: 160 });
      image.src = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
      box.replaceChildren(image);
    })
    .catch(() => box.replaceChildren(h('code', {}, ticket.qr_payload)));
  return box;
}

function ticketList(order) {
  return h(
    'ul.tickets',
    { dataset: { order: order.id } },
    order.tickets.map((ticket) =>
      h('li.ticket', { dataset: { ticket: ticket.id, status: ticket.status } },
        qr(ticket),
        h('div.stack', {},
          h('strong', {}, `Seat ${ticket.seat_id}`),
          h('span.muted', {}, ticket.used_at ? `Used ${when(ticket.used_at)}` : ticket.status === 'valid' ? 'Valid, admits once' : ticket.status),
          h('code.small', {}, ticket.qr_payload))),
    ),
  );
}

// ---- /showtimes ----

export function mountShowtimes(root) {
  document.title = 'Showtimes · cdlc';
  // ?title_id=… (a title page's link): that title's showtimes only.
  const titleId = new URLSearchParams(location.search).get('title_id');
  const list = h('div.showtime-list', {}, h('p.muted', {}, 'Loading…'));
  clear(root, h('section.stack', {}, h('h1', {}, 'Showtimes'),
    titleId ? h('a.back', { href: '/showtimes', dataset: { link: '' } }, 'Every title’s showtimes') : null, list));
  const abort = new AbortController();
  const filter = titleId ? `&title_id=${encodeURIComponent(titleId)}` : '';
  request(`${API}/showtimes?limit=100${filter}`, { signal: abort.signal })
    .then((page) => {
      if (!page.items.length) {
        clear(list, h('p.muted', {}, 'No showtimes are scheduled.'));
        return;
      }
      clear(list, page.items.map((show) =>
        h('a.card.showtime', { href: `/showtimes/${encodeURIComponent(show.id)}`, dataset: { link: '', showtime: show.id } },
          h('strong', {}, show.title_name || show.title_id),
          h('span', {}, when(show.starts_at)),
          h('span.muted', {}, [show.language, show.subtitles && `subtitles ${show.subtitles}`, show.format].filter(Boolean).join(' · ')),
          h('span.muted', {}, `from ${money(Math.min(...show.prices.map((p) => p.amount)), show.currency)}`))));
    })
    .catch((error) => error.name !== 'AbortError' && clear(list, errorBox(error)));
  return () => abort.abort();
}

// ---- /showtimes/{id}: seat map, hold, checkout, pay ----

export function mountShowtime(root, id) {
  document.title = 'Pick seats · cdlc';
  const abort = new AbortController();
  let timer = null;
  const picked = new Set();
  let hold = null;
  let show = null;
  let seats = null;

  const heading = h('h1', {}, 'Showtime');
  const meta = h('p.muted');
  const map = h('div.seat-map', { role: 'group', 'aria-label': 'Seat map' });
  const summary = h('p.seat-summary', { id: 'seat-summary' });
  const holdButton = h('button.button.primary', { type: 'button', id: 'hold-seats', disabled: true, onclick: () => holdSeats() }, 'Hold seats');
  const panel = h('div.stack', { id: 'checkout' });
  const message = h('div');
  clear(root, h('section.stack', {}, heading, meta, h('div.screen-label', {}, 'Screen'), map,
    h('div.legend.row', {}, ['available', 'picked', 'held', 'sold', 'blocked'].map((s) => h('span.seat-key', { dataset: { status: s } }, s))),
    h('div.row', {}, summary, holdButton), message, panel));

  function price(category) {
    return seats.prices.find((p) => p.category === category)?.amount ?? 0;
  }

  function drawMap() {
    const xs = seats.seats.map((s) => s.x);
    const ys = seats.seats.map((s) => s.y);
    const [minX, minY] = [Math.min(...xs), Math.min(...ys)];
    map.style.gridTemplateColumns = `repeat(${Math.max(...xs) - minX + 1}, 2rem)`;
    clear(map, seats.seats.map((seat) => {
      const status = picked.has(seat.id) ? 'picked' : seat.status;
      return h('button.seat', {
        type: 'button',
        dataset: { seat: seat.id, status },
        style: { gridColumn: String(seat.x - minX + 1), gridRow: String(seat.y - minY + 1) },
        disabled: seat.status !== 'available' || hold !== null,
        title: `Row ${seat.row}, seat ${seat.label} · ${seat.category} · ${money(price(seat.category), seats.currency)}${seat.accessible ? ' · accessible' : ''}`,
        'aria-pressed': picked.has(seat.id) ? 'true' : 'false',
        onclick: () => {
          if (picked.has(seat.id)) picked.delete(seat.id);
          else picked.add(seat.id);
          drawMap();
        },
      }, seat.label);
    }));
    const total = [...picked].reduce((sum, sid) => sum + price(seats.seats.find((s) => s.id === sid).category), 0);
    summary.textContent = picked.size ? `${picked.size} seat(s): ${[...picked].join(', ')} · ${money(total, seats.currency)}` : `${seats.available} seats available`;
    holdButton.disabled = picked.size === 0 || hold !== null;
  }

  async function load() {
    try {
      [show, seats] = await Promise.all([
        request(`${API}/showtimes/${encodeURIComponent(id)}`, { signal: abort.signal }),
        request(`${API}/showtimes/${encodeURIComponent(id)}/seats`, { signal: abort.signal }),
      ]);
      heading.textContent = show.title_name || show.title_id;
      document.title = `${heading.textContent} · cdlc`;
      meta.textContent = [when(show.starts_at), show.language, show.format].filter(Boolean).join(' · ');
      drawMap();
    } catch (error) {
      if (error.name !== 'AbortError') clear(message, errorBox(error));
    }
  }

  async function holdSeats() {
    if (!session.signedIn()) return needSignIn(panel, 'Sign in to hold seats');
    clear(message);
    try {
      hold = await request(`${API}/showtimes/${encodeURIComponent(id)}/holds`, { method: 'POST', json: { seats: [...picked] } });
    } catch (error) {
      clear(message, errorBox(error));
      await load();
      return;
    }
    drawMap();
    checkout();
  }

  function checkout() {
    const countdown = h('strong.countdown', { id: 'hold-countdown' });
    const tick = () => {
      const left = Math.max(0, Math.round((new Date(hold.expires_at).getTime() - Date.now()) / 1000));
      countdown.textContent = formatDuration(left);
      if (left === 0) {
        clearInterval(timer);
        clear(panel, h('p.form-error', {}, 'The hold expired and the seats are free again; pick them again.'));
        hold = null;
        picked.clear();
        load();
      }
    };
    tick();
    timer = setInterval(tick, 1000);
    const email = h('input', { type: 'email', name: 'email', autocomplete: 'email', placeholder: 'tickets go here (optional)', id: 'checkout-email' });
    const card = h('input', { name: 'card', inputmode: 'numeric', autocomplete: 'off', placeholder: '4242 4242 4242 4242', id: 'checkout-card', required: true });
    const error = h('div');
    const key = crypto.randomUUID();
    let order = null;
    const pay = h('button.button.primary', { type: 'submit', id: 'pay' }, `Pay ${money(hold.total, hold.currency)}`);
    const form = h('form.stack.checkout', {
      onsubmit: async (event) => {
        event.preventDefault();
        clear(error);
        pay.disabled = true;
        try {
          // The same Idempotency-Key on every retry of this checkout: one order, one charge.
          order ??= await requestWithKey(`${API}/orders`, key, { hold_id: hold.id, email: email.value.trim() || undefined });
          order = await request(`${API}/orders/${order.id}/pay`, { method: 'POST', json: { card_number: card.value } });
          if (order.payment.next_action_url) {
            clear(error, h('p', {}, 'Your bank asks you to confirm: ', h('a', { href: order.payment.next_action_url, target: '_blank', rel: 'noopener' }, 'confirm the payment'), ', then open My tickets.'));
            return;
          }
          clearInterval(timer);
          clear(panel, h('h2', {}, 'Paid: your tickets'), ticketList(order),
            h('a.button', { href: '/orders', dataset: { link: '' } }, 'All my tickets'));
        } catch (e) {
          clear(error, errorBox(e));
        } finally {
          pay.disabled = false;
        }
      },
    },
    h('p', {}, 'Seats held for ', countdown, ' — pay before the time runs out.'),
    h('label.field', {}, 'E-mail', email),
    h('label.field', {}, 'Card number (TEST provider: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined)', card),
    error,
    h('div.row', {}, pay, h('button.button.ghost', {
      type: 'button',
      onclick: async () => {
        clearInterval(timer);
        await request(`${API}/holds/${hold.id}`, { method: 'DELETE' }).catch(() => null);
        hold = null;
        picked.clear();
        clear(panel);
        load();
      },
    }, 'Release the seats')));
    clear(panel, form);
  }

  load();
  return () => {
    abort.abort();
    clearInterval(timer);
  };
}

async function requestWithKey(path, key, json) {
  const headers = { ...session.authHeaders(), 'Content-Type': 'application/json', 'Idempotency-Key': key };
  const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(json), credentials: 'same-origin' });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body?.error?.code ?? 'http', body?.error?.message ?? `${response.status}`);
  return body;
}

// ---- /orders: my orders and tickets ----

/**
 * Renders `draw(root)` for a signed-in viewer, the sign-in prompt otherwise,
 * again whenever the session changes (after a reload the cookie's session is
 * known only once GET /me answers). Returns the unsubscribe.
 */
function signedInPage(root, title, draw) {
  const render = () => (session.signedIn() ? draw(root) : needSignIn(root, title));
  render();
  return session.onChange(render);
}

export function mountOrders(root) {
  document.title = 'My tickets · cdlc';
  return signedInPage(root, 'My tickets', drawOrders);
}

function drawOrders(root) {
  const list = h('div.stack', {}, h('p.muted', {}, 'Loading…'));
  clear(root, h('section.stack', {}, h('h1', {}, 'My tickets'), list));
  request(`${API}/orders?limit=50`)
    .then((page) => {
      const orders = page.items ?? page;
      if (!orders.length) return clear(list, h('p.muted', {}, 'No orders yet. ', h('a', { href: '/showtimes', dataset: { link: '' } }, 'Find a showtime')));
      clear(list, orders.map((order) =>
        h('article.card.order', { dataset: { order: order.id, status: order.status } },
          h('div.row.between', {}, h('strong', {}, `Order ${order.id.slice(0, 8)}`), h('span.badge', {}, order.status)),
          h('p.muted', {}, `${money(order.amount, order.currency)} · ${when(order.created_at)}`),
          order.status_reason && h('p', {}, order.status_reason),
          order.tickets.length ? ticketList(order) : null)));
    })
    .catch((error) => clear(list, errorBox(error)));
}

// ---- /subscriptions ----

export function mountSubscriptions(root) {
  document.title = 'Subscription · cdlc';
  const mine = h('div.stack');
  const plans = h('div.stack');
  clear(root, h('section.stack', {}, h('h1', {}, 'Subscription'),
    h('p.muted', {}, 'A subscription plays the premium films.'), mine, h('h2', {}, 'Plans'), plans));

  async function load() {
    const [offered, subs] = await Promise.all([
      request(`${API}/plans`),
      session.signedIn() ? request(`${API}/subscriptions`) : Promise.resolve([]),
    ]);
    const live = subs.find((s) => s.status !== 'canceled');
    clear(mine, live
      ? h('article.card', { dataset: { subscription: live.id, status: live.status } },
        h('strong', {}, live.plan.name), h('span.badge', {}, live.status),
        h('p', {}, live.cancel_at_period_end ? `Ends ${when(live.current_period_end)}` : `Renews ${when(live.current_period_end)}`),
        live.status_reason && h('p.form-error', {}, live.status_reason),
        h('button.button', {
          type: 'button',
          onclick: async () => {
            await request(`${API}/subscriptions/${live.id}/${live.cancel_at_period_end ? 'resume' : 'cancel'}`, { method: 'POST' });
            load();
          },
        }, live.cancel_at_period_end ? 'Keep my subscription' : 'Cancel at period end'))
      : h('p.muted', {}, 'You have no subscription.'));
    clear(plans, offered.map((plan) => {
      const card = h('input', { name: 'card', inputmode: 'numeric', placeholder: '4242 4242 4242 4242', required: true });
      const error = h('div');
      const key = crypto.randomUUID();
      return h('form.card.stack', {
        dataset: { plan: plan.id },
        onsubmit: async (event) => {
          event.preventDefault();
          if (!session.signedIn()) return needSignIn(error, 'Sign in to subscribe');
          try {
            await requestWithKey(`${API}/subscriptions`, key, { plan_id: plan.id, card_number: card.value });
            load();
          } catch (e) {
            clear(error, errorBox(e));
          }
          return null;
        },
      },
      h('strong', {}, plan.name),
      h('span', {}, `${money(plan.amount, plan.currency)} a ${plan.interval}${plan.trial_days ? ` · ${plan.trial_days} days free` : ''}`),
      live ? null : h('label.field', {}, 'Card number', card), error,
      live ? null : h('button.button.primary', { type: 'submit' }, 'Subscribe'));
    }));
    if (!offered.length) clear(plans, h('p.muted', {}, 'No plan is on sale.'));
  }
  load().catch((error) => clear(mine, errorBox(error)));
  const off = session.onChange(() => load().catch((error) => clear(mine, errorBox(error))));
  return off;
}

// ---- /check-in (staff) ----

export function mountCheckIn(root) {
  document.title = 'Check-in · cdlc';
  const showtime = h('input', { name: 'showtime', placeholder: 'showtime id', required: true, id: 'check-in-showtime' });
  const payload = h('input', { name: 'payload', placeholder: 'CDLC1.… (scan or type)', required: true, id: 'check-in-payload', autocomplete: 'off' });
  const result = h('div', { 'aria-live': 'assertive' });
  clear(root, h('section.stack', {}, h('h1', {}, 'Check-in'),
    h('form.stack', {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const answer = await request(`${API}/showtimes/${encodeURIComponent(showtime.value.trim())}/check-ins`, { method: 'POST', json: { payload: payload.value.trim() } });
          clear(result, h('p.admit', { dataset: { result: 'admitted' } }, `Admit: seat ${answer.seat_id ?? ''}`));
        } catch (error) {
          clear(result, h('p.form-error', { dataset: { result: 'refused' } }, error.message));
        }
        payload.value = '';
        payload.focus();
      },
    }, h('label.field', {}, 'Showtime', showtime), h('label.field', {}, 'Ticket', payload),
    h('button.button.primary', { type: 'submit' }, 'Check in')), result));
  return null;
}
