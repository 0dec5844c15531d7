// Browsing the catalog: /titles (a genre, a sort, or the words of a search,
// a page at a time) and the rows the home page shows when the catalog has
// titles (popular; with more than a row of titles also top rated and the
// commonest genres; for a signed-in viewer
// the feed, continue watching and recommendations, each of which can be hidden).
import { session, getAsset, ApiError } from './api.js';
import { catalog, titleCard, titleRow } from './catalog.js';
import { social, stars } from './social.js';
import { catalogAdminLinks } from './catalog-admin.js';
import { h, clear, assetTitle } from './util.js';

// IMDb's genres, as the catalog spells them (it has no list of its own).
const GENRES = ['Action', 'Adventure', 'Animation', 'Biography', 'Comedy', 'Crime', 'Documentary', 'Drama', 'Family',
  'Fantasy', 'History', 'Horror', 'Music', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Sport', 'Thriller', 'War', 'Western'];
const SORTS = [['popularity', 'Popular'], ['rating', 'Top rated'], ['year', 'Newest'], ['title', 'A–Z']];

export function mountBrowse(root) {
  const params = new URLSearchParams(location.search);
  const q = params.get('q')?.trim() ?? '';
  const genre = params.get('genre') ?? '';
  const sort = params.get('sort') ?? 'popularity';
  document.title = `${q ? `“${q}”` : genre || 'Titles'} · cdlc`;
  const abort = new AbortController();
  let cursor = null;

  const grid = h('div.title-grid', { id: 'title-grid' });
  const message = h('div.notice', { hidden: true });
  const more = h('button.button.ghost', { type: 'button', hidden: true, onclick: () => load(false) }, 'Load more');
  const link = (changes) => {
    const next = new URLSearchParams({ ...(genre && { genre }), ...(sort !== 'popularity' && { sort }), ...changes });
    for (const [key, value] of [...next]) if (!value) next.delete(key);
    return `/titles${next.size ? `?${next}` : ''}`;
  };
  const chip = (href, text, selected, data) =>
    h('a.chip', { href, dataset: { link: '', ...data }, 'aria-selected': String(selected) }, text);
  root.append(
    h('div.page-head', {}, h('h1', {}, q ? `Titles matching “${q}”` : genre ? `${genre} titles` : 'Titles'), catalogAdminLinks()),
    q ? null : h('div.chips', { id: 'sort-chips' }, SORTS.map(([value, text]) => chip(link({ sort: value === 'popularity' ? '' : value }), text, sort === value, { sort: value }))),
    q ? null : h('div.chips', { id: 'genre-chips' }, chip(link({ genre: '' }), 'All genres', !genre, { genre: '' }),
      GENRES.map((g) => chip(link({ genre: g }), g, g === genre, { genre: g }))),
    message,
    grid,
    h('div.center', {}, more));

  async function load(first) {
    more.disabled = true;
    try {
      let titles;
      if (q) {
        const page = await catalog.search(q, { target: 'titles', limit: 48, cursor, signal: abort.signal });
        titles = page.items.map((hit) => hit.title).filter(Boolean);
        cursor = page.next_cursor ?? null;
      } else {
        const page = await catalog.browse({ genre, sort, limit: 48, cursor }, { signal: abort.signal });
        titles = page.items;
        cursor = page.next_cursor ?? null;
      }
      if (first && !titles.length) {
        clear(grid, h('section.empty', {}, h('h2', {}, 'No titles'),
          h('p.muted', {}, q ? 'Nothing in the catalog matches these words.' : 'The catalog has no title here yet: an admin adds them through the catalog API or an IMDb import.')));
      }
      grid.append(...titles.map((t) => titleCard(t)));
      more.hidden = !cursor;
    } catch (error) {
      if (error.name === 'AbortError') return;
      message.hidden = false;
      message.className = 'notice error';
      message.textContent = error instanceof ApiError ? error.message : String(error);
    } finally {
      more.disabled = false;
    }
  }
  load(true);
  return () => abort.abort();
}

/** The verb of a feed item, as a sentence's middle. */
function feedLine(item) {
  const what = item.title?.primary_title ?? item.list?.name ?? item.title_id ?? '';
  const verbs = { logged: 'watched', rated: 'rated', reviewed: 'reviewed', listed: 'made the list', added_to_list: 'added to a list' };
  const href = item.title_id ? `/titles/${encodeURIComponent(item.title_id)}` : null;
  return h('li.feed-item', { dataset: { verb: item.verb } },
    h('a', { href: `/u/${encodeURIComponent(item.actor.handle)}`, dataset: { link: '' } }, h('strong', {}, item.actor.handle)),
    ` ${verbs[item.verb] ?? item.verb} `,
    href ? h('a', { href, dataset: { link: '' } }, what) : h('span', {}, what),
    item.entry?.rating ? h('span.stars', {}, ` ${stars(item.entry.rating)}`) : null,
    item.entry?.review && !item.entry.spoiler ? h('p.review-text.muted', {}, item.entry.review) : null);
}

/**
 * A recommended title's card with its hide control: the API stops
 * recommending it and every card of it in `rows` goes (a row left empty with it).
 */
function recCard(title, rows, onError) {
  const hide = h('button.rec-hide', {
    type: 'button', 'aria-label': `Hide ${title.primary_title}`, title: 'Not interested: stop recommending it',
    onclick: async () => {
      hide.disabled = true;
      try {
        await social.hideRecommendation(title.id);
      } catch (error) {
        hide.disabled = false;
        onError(error);
        return;
      }
      for (const card of rows.querySelectorAll('.rec-card')) if (card.dataset.recTitleId === title.id) card.remove();
      for (const row of rows.querySelectorAll('section.title-row')) if (row.querySelector('.title-strip:empty')) row.remove();
    },
  }, '✕');
  return h('div.rec-card', { dataset: { recTitleId: title.id } }, titleCard(title), hide);
}

/**
 * The home rows above the library: nothing when the catalog has no titles
 * (or is not running). Returns the unmount.
 */
export function mountHomeRows(holder) {
  const abort = new AbortController();
  let stopped = false;
  const catalogRows = h('div.stack', {});
  const mine = h('div.stack', { id: 'home-social' });
  holder.append(mine, catalogRows);

  async function loadCatalog() {
    try {
      const popular = await catalog.browse({ sort: 'popularity', limit: 20 }, { signal: abort.signal });
      if (stopped || !popular.items.length) return;
      // A catalog of one row's titles gets that row alone: the others would repeat it.
      if (!popular.next_cursor) {
        clear(catalogRows, titleRow('Popular', popular.items, { id: 'row-popular', more: '/titles' }));
        return;
      }
      const top = await catalog.browse({ sort: 'rating', limit: 20 }, { signal: abort.signal });
      const counts = new Map();
      for (const t of popular.items) for (const g of t.genres) counts.set(g, (counts.get(g) ?? 0) + 1);
      const genres = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([g]) => g);
      const byGenre = await Promise.all(genres.map((g) => catalog.browse({ genre: g, limit: 20 }, { signal: abort.signal })));
      if (stopped) return;
      clear(catalogRows,
        titleRow('Popular', popular.items, { id: 'row-popular', more: '/titles' }),
        titleRow('Top rated', top.items, { id: 'row-top', more: '/titles?sort=rating' }),
        genres.map((g, i) => titleRow(g, byGenre[i].items, { more: `/titles?genre=${encodeURIComponent(g)}` })));
    } catch {
      /* no catalog: the library alone */
    }
  }

  async function loadMine() {
    clear(mine);
    if (!session.user()) return;
    const [feed, recs, progress] = await Promise.all([
      social.feed().catch(() => null),
      social.recommendations().catch(() => null),
      social.continueWatching().catch(() => null),
    ]);
    if (stopped || !session.user()) return;
    const resume = await Promise.all((progress?.items ?? []).slice(0, 8).map(async (p) => {
      const asset = await getAsset(p.asset_id).catch(() => null);
      if (!asset) return null;
      const percent = Math.round((100 * p.position_ms) / p.duration_ms);
      return h('a.title-card', { href: `/assets/${encodeURIComponent(asset.id)}`, dataset: { link: '', assetId: asset.id } },
        h('div.title-poster.wide', {}, asset.poster && !asset.private ? h('img', { src: asset.poster, alt: '' }) : h('div.poster-placeholder', {})),
        h('strong.title-card-name', {}, assetTitle(asset)),
        h('span.muted.title-card-meta', {}, `${percent}% watched`));
    }));
    const hideError = h('p.form-error', { role: 'alert', hidden: true, id: 'rec-error' });
    const showHideError = (error) => {
      hideError.hidden = false;
      hideError.textContent = error instanceof ApiError ? error.message : String(error);
    };
    const recTitles = (list) => (list ?? []).map((r) => r.title).filter(Boolean).map((t) => recCard(t, mine, showHideError));
    // "Because you watched X": one row per seed title, named with one catalog read.
    const bySeed = new Map();
    for (const r of recs?.because_you_watched ?? []) {
      const seed = r.because_title_id ?? '';
      if (!bySeed.has(seed)) bySeed.set(seed, []);
      bySeed.get(seed).push(r);
    }
    const seedIds = [...bySeed.keys()].filter(Boolean).slice(0, 3);
    const seeds = seedIds.length ? await catalog.browse({ ids: seedIds.join(','), limit: 100 }).catch(() => ({ items: [] })) : { items: [] };
    const seedName = (seed) => seeds.items.find((t) => t.id === seed)?.primary_title;
    if (stopped || !session.user()) return;
    clear(mine,
      hideError,
      titleRow('Continue watching', resume.filter(Boolean), { id: 'row-continue' }),
      feed?.items.length
        ? h('section.title-row', { id: 'home-feed' }, h('h2', {}, 'From people you follow'), h('ul.feed', {}, feed.items.slice(0, 8).map(feedLine)))
        : null,
      [...bySeed].slice(0, 3).map(([seed, list]) =>
        titleRow(seedName(seed) ? `Because you watched ${seedName(seed)}` : 'Recommended for you', recTitles(list), { id: `row-because-${seed}` })),
      titleRow('Popular with people you follow', recTitles(recs?.popular_with_following), { id: 'row-following' }),
      titleRow('Popular here', recTitles(recs?.popular), { id: 'row-popular-social' }));
  }

  loadCatalog();
  loadMine();
  const off = session.onChange(loadMine);
  return () => {
    stopped = true;
    abort.abort();
    off();
  };
}
