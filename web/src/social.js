// The social plugin's REST API (/api/v1/social) as the pages use it, and
// what the title page adds for a signed-in viewer: the watchlist button and
// the "log, rate, review" dialog (a diary entry). Errors are the API's own
// sentences.
import { request, session, ApiError } from './api.js';
import { h, clear } from './util.js';

const API = '/api/v1/social';
const id = (value) => encodeURIComponent(value);

export const social = {
  profile: (user) => request(`${API}/users/${id(user)}`),
  diary: (user, cursor) => request(`${API}/users/${id(user)}/diary?limit=50${cursor ? `&cursor=${cursor}` : ''}`),
  lists: (user) => request(`${API}/users/${id(user)}/lists?limit=50`),
  favourites: (user) => request(`${API}/users/${id(user)}/favourites`),
  followers: (user) => request(`${API}/users/${id(user)}/followers?limit=100`),
  following: (user) => request(`${API}/users/${id(user)}/following?limit=100`),
  follow: (user) => request(`${API}/follows/${id(user)}`, { method: 'PUT' }),
  unfollow: (user) => request(`${API}/follows/${id(user)}`, { method: 'DELETE' }),
  createList: (list) => request(`${API}/lists`, { method: 'POST', json: list }),
  addToList: (listId, titleId, note) => request(`${API}/lists/${id(listId)}/entries`, { method: 'POST', json: { title_id: titleId, note: note || undefined } }),
  list: (listId, key) => request(`${API}/lists/${id(listId)}${key ? `?key=${id(key)}` : ''}`),
  listEntries: (listId, { key, cursor } = {}) => {
    const query = new URLSearchParams({ limit: '100' });
    if (key) query.set('key', key);
    if (cursor) query.set('cursor', cursor);
    return request(`${API}/lists/${id(listId)}/entries?${query}`);
  },
  reorderList: (listId, titleIds) => request(`${API}/lists/${id(listId)}/order`, { method: 'PUT', json: { title_ids: titleIds } }),
  editEntry: (listId, titleId, note) => request(`${API}/lists/${id(listId)}/entries/${id(titleId)}`, { method: 'PATCH', json: { note } }),
  removeEntry: (listId, titleId) => request(`${API}/lists/${id(listId)}/entries/${id(titleId)}`, { method: 'DELETE' }),
  mine: (titleId) => request(`${API}/titles/${id(titleId)}/mine`),
  watchlist: (cursor) => request(`${API}/watchlist?limit=100${cursor ? `&cursor=${cursor}` : ''}`),
  addToWatchlist: (titleId) => request(`${API}/watchlist`, { method: 'POST', json: { title_id: titleId } }),
  removeFromWatchlist: (titleId) => request(`${API}/watchlist/${id(titleId)}`, { method: 'DELETE' }),
  log: (entry) => request(`${API}/diary`, { method: 'POST', json: entry }),
  feed: () => request(`${API}/feed?limit=20`),
  recommendations: () => request(`${API}/recommendations?limit=12`),
  hideRecommendation: (titleId) => request(`${API}/recommendations/hidden/${id(titleId)}`, { method: 'PUT' }),
  continueWatching: () => request(`${API}/progress?limit=12`),
};

/** The viewer's latest diary entries of `titleId` (from their newest 100). */
async function myEntries(handle, titleId) {
  const entries = [];
  let cursor = null;
  for (let pages = 0; pages < 2; pages += 1) {
    const page = await social.diary(handle, cursor);
    entries.push(...page.items.filter((e) => e.title_id === titleId));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return entries;
}

/** ★★★½ for 3.5. */
export function stars(rating) {
  if (rating === null || rating === undefined) return '';
  return '★'.repeat(Math.floor(rating)) + (rating % 1 ? '½' : '');
}

/** A diary entry as the profile and title pages show it. */
export function entryView(entry, { withTitle = true } = {}) {
  const review = entry.review
    ? entry.spoiler
      ? h('details.spoiler', {}, h('summary', {}, 'This review has spoilers: show it'), h('p.review-text', {}, entry.review))
      : h('p.review-text', {}, entry.review)
    : null;
  return h('li.entry', { dataset: { entry: entry.id, titleId: entry.title_id } },
    h('div.row', {},
      withTitle ? h('a', { href: `/titles/${id(entry.title_id)}`, dataset: { link: '' } }, h('strong', {}, entry.title?.primary_title ?? entry.title_id)) : null,
      entry.rating ? h('span.stars', { dataset: { rating: String(entry.rating) }, title: `${entry.rating} stars` }, stars(entry.rating)) : null,
      entry.liked ? h('span.liked', { title: 'Liked' }, '♥') : null,
      entry.rewatch ? h('span.muted', {}, 'rewatch') : null,
      h('span.muted', {}, `watched ${entry.watched_on}`),
      entry.visibility !== 'public' ? h('span.badge.private', {}, entry.visibility) : null),
    review);
}

function today() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
}

/** Half stars 0.5–5 as ten radio buttons (arrow keys move by a half). */
function ratingInput() {
  const group = h('div.star-input', { role: 'radiogroup', 'aria-label': 'Rating', id: 'log-rating' });
  for (let halves = 1; halves <= 10; halves += 1) {
    const value = halves / 2;
    const input = h('input.visually-hidden', { type: 'radio', name: 'rating', value: String(value), id: `log-rating-${halves}` });
    group.append(input, h('label.half-star', { for: input.id, class: halves % 2 ? 'left' : 'right', title: `${value} stars`, dataset: { rating: String(value) } },
      h('span.visually-hidden', {}, `${value} stars`)));
  }
  const clearButton = h('button.button.ghost.small', { type: 'button', onclick: () => group.querySelectorAll('input').forEach((i) => (i.checked = false)) }, 'No rating');
  return { element: h('div.row', {}, group, clearButton), value: () => Number(group.querySelector('input:checked')?.value) || null };
}

/**
 * The title page's social panel for `title`: the watchlist button, the log
 * dialog and the viewer's own entries. Follows sign-in and sign-out.
 */
export function mountTitleSocial(holder, title) {
  let stopped = false;
  const message = h('p.form-error', { role: 'alert', hidden: true, id: 'social-error' });
  const watch = h('button.button', { type: 'button', id: 'watchlist-button', 'aria-pressed': 'false', onclick: toggleWatchlist }, 'Add to watchlist');
  const logButton = h('button.button.primary', { type: 'button', id: 'log-button', onclick: openLog }, 'Log, rate, review');
  const mine = h('ul.entries', { id: 'my-entries' });
  // Add the title to one of the viewer's lists.
  const listPick = h('select', { id: 'add-to-list-select', 'aria-label': 'Your list' });
  const listAdd = h('button.button', { type: 'button', id: 'add-to-list-button', onclick: addToList }, 'Add to list');
  const listDone = h('span.muted', { id: 'add-to-list-done', role: 'status' });
  const listRow = h('div.row', { id: 'add-to-list', hidden: true }, listPick, listAdd, listDone);
  const summary = h('p.muted', { id: 'my-title-state', hidden: true });
  let listed = false;

  /** "Logged twice, last on 2026-11-20 · ★★★★ · ♥" from the per-title read. */
  function renderSummary(state) {
    const times = state.logged_count === 1 ? 'once' : state.logged_count === 2 ? 'twice' : `${state.logged_count} times`;
    summary.hidden = !state.logged_count;
    summary.dataset.loggedCount = String(state.logged_count);
    clear(summary, state.logged_count ? [`You logged it ${times}, last on ${state.last_logged_on}`,
      state.rating ? [' · ', h('span.stars', { dataset: { rating: String(state.rating) } }, stars(state.rating))] : null,
      state.liked ? [' · ', h('span.liked', { title: 'You like it' }, '♥')] : null] : null);
  }

  function fail(error) {
    message.hidden = false;
    message.textContent = error instanceof ApiError ? error.message : String(error);
  }

  function renderWatch() {
    watch.setAttribute('aria-pressed', String(listed));
    watch.textContent = listed ? '✓ On your watchlist' : '＋ Add to watchlist';
  }

  async function toggleWatchlist() {
    message.hidden = true;
    watch.disabled = true;
    try {
      if (listed) await social.removeFromWatchlist(title.id);
      else await social.addToWatchlist(title.id);
      listed = !listed;
      renderWatch();
    } catch (error) {
      fail(error);
    } finally {
      watch.disabled = false;
    }
  }

  async function renderListPick() {
    const handle = session.user()?.handle;
    if (!handle) return;
    const page = await social.lists(handle);
    if (stopped) return;
    clear(listPick, page.items.map((l) => h('option', { value: l.id }, l.name)));
    listRow.hidden = page.items.length === 0;
  }

  async function addToList() {
    message.hidden = true;
    listDone.textContent = '';
    const listId = listPick.value;
    const name = listPick.selectedOptions[0]?.textContent ?? '';
    listAdd.disabled = true;
    try {
      await social.addToList(listId, title.id);
      clear(listDone, 'Added to ', h('a', { href: `/lists/${encodeURIComponent(listId)}`, dataset: { link: '' } }, name));
    } catch (error) {
      fail(error);
    } finally {
      listAdd.disabled = false;
    }
  }

  // The dialog: a diary entry with its date, rating, like and review.
  const date = h('input', { type: 'date', id: 'log-date', required: true });
  const rating = ratingInput();
  const liked = h('input', { type: 'checkbox', id: 'log-liked' });
  const rewatch = h('input', { type: 'checkbox', id: 'log-rewatch' });
  const review = h('textarea', { id: 'log-review', rows: 5, placeholder: 'What did you think?' });
  const spoiler = h('input', { type: 'checkbox', id: 'log-spoiler' });
  const visibility = h('select', { id: 'log-visibility' },
    h('option', { value: 'public' }, 'Everyone'), h('option', { value: 'followers' }, 'Followers'), h('option', { value: 'private' }, 'Only me'));
  const dialogError = h('p.form-error', { role: 'alert', hidden: true, id: 'log-error' });
  const save = h('button.button.primary', { type: 'submit', id: 'log-save' }, 'Save');
  const form = h('form.stack', { id: 'log-form', onsubmit: submit },
    h('h2', {}, `Log ${title.primary_title}`),
    h('label.field', {}, 'Watched on', date),
    h('div.field', {}, h('span', {}, 'Rating'), rating.element),
    h('div.row', {}, h('label.check', {}, liked, 'Liked it ♥'), h('label.check', {}, rewatch, 'A rewatch')),
    h('label.field', {}, 'Review', review),
    h('div.row', {}, h('label.check', {}, spoiler, 'Contains spoilers'), h('label.toolbar-group', {}, h('span.label', {}, 'Who sees it'), visibility)),
    dialogError,
    h('div.row.end', {}, h('button.button.ghost', { type: 'button', onclick: () => dialog.close() }, 'Cancel'), save));
  const dialog = h('dialog.dialog.log-dialog', { id: 'log-dialog' }, form);

  function openLog() {
    dialogError.hidden = true;
    date.value = today();
    date.max = today();
    dialog.showModal();
  }

  async function submit(event) {
    event.preventDefault();
    dialogError.hidden = true;
    save.disabled = true;
    try {
      const entry = await social.log({
        title_id: title.id,
        watched_on: date.value || undefined,
        rating: rating.value() ?? undefined,
        liked: liked.checked,
        rewatch: rewatch.checked,
        review: review.value.trim() || undefined,
        spoiler: spoiler.checked,
        visibility: visibility.value,
      });
      dialog.close();
      review.value = '';
      mine.prepend(entryView(entry, { withTitle: false }));
      social.mine(title.id).then((state) => !stopped && renderSummary(state)).catch(() => {});
    } catch (error) {
      dialogError.hidden = false;
      dialogError.textContent = error instanceof ApiError ? error.message : String(error);
    } finally {
      save.disabled = false;
    }
  }

  async function render() {
    if (!session.signedIn()) {
      clear(holder, h('p.muted', {}, 'Sign in to add it to your watchlist, rate and review it.'),
        h('button.button', { type: 'button', onclick: () => window.dispatchEvent(new Event('cdlc:sign-in')) }, 'Sign in'));
      return;
    }
    clear(holder, h('div.row', {}, watch, logButton), listRow, summary, message, mine, dialog);
    message.hidden = true;
    renderWatch();
    try {
      // One read of the viewer's own state of the title; the diary is read only when it holds some.
      const state = await social.mine(title.id);
      if (stopped) return;
      listed = state.watchlisted;
      renderWatch();
      renderSummary(state);
      renderListPick().catch(() => {});
      const handle = session.user()?.handle;
      clear(mine);
      if (handle && state.logged_count) clear(mine, (await myEntries(handle, title.id)).map((e) => entryView(e, { withTitle: false })));
    } catch (error) {
      if (!stopped) fail(error);
    }
  }

  const off = session.onChange(render);
  render();
  return () => {
    stopped = true;
    off();
  };
}
