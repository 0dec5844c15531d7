// The catalog plugin's REST API (/api/v1/catalog) as the pages use it, and
// the pieces of a title the pages share: its poster card and its facts line.
import { request } from './api.js';
import { h } from './util.js';

const API = '/api/v1/catalog';
const id = (value) => encodeURIComponent(value);
const pageQuery = (cursor) => new URLSearchParams(cursor ? { limit: '100', cursor } : { limit: '100' });

export const catalog = {
  title: (titleId, options) => request(`${API}/titles/${id(titleId)}`, options),
  /** A page of a title's credits, 100 at a time (the first without a cursor). */
  credits: (titleId, cursor) => request(`${API}/titles/${id(titleId)}/credits?${pageQuery(cursor)}`),
  /** A page of a season's episodes (`season` a number or `none`), 100 at a time. */
  episodes(seriesId, season, { cursor, signal } = {}) {
    return request(`${API}/titles/${id(seriesId)}/seasons/${id(season)}/episodes?${pageQuery(cursor)}`, { signal });
  },
  person: (personId, options) => request(`${API}/people/${id(personId)}`, options),
  personCredits: (personId, cursor) => request(`${API}/people/${id(personId)}/credits?${pageQuery(cursor)}`),
  /** A page of titles: `{genre, sort, kind, ids, limit, cursor}` as the browse API takes them. */
  browse(filters = {}, options) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
    return request(`${API}/titles?${query}`, options);
  },
  search(q, { target = 'all', limit = 8, cursor, signal } = {}) {
    const query = new URLSearchParams({ q, target, limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    return request(`${API}/search?${query}`, { signal });
  },
};

/**
 * Credits read a page at a time (a title's or a person's: `read(cursor)`
 * answers a page), starting from the ones a detail carried: `items` so far,
 * `more` whether a page is left, `next()` appends it, `reload()` reads them
 * again from the first page.
 */
export function creditPages(read, items = [], cursor = null) {
  const pages = {
    items,
    cursor,
    get more() { return Boolean(pages.cursor); },
    async next() {
      const page = await read(pages.cursor);
      pages.items = pages.items.concat(page.items);
      pages.cursor = page.next_cursor;
    },
    async reload() {
      const page = await read(null);
      pages.items = page.items;
      pages.cursor = page.next_cursor;
    },
  };
  return pages;
}

/** The small JPEG of a poster or photo (the catalog makes one per upload), for cards and lists. */
export const thumbUrl = (url) => (url ? `${url}${url.includes('?') ? '&' : '?'}size=thumb` : null);

/** "2019 · 1 h 52 min · PG-13" (what is known of it). */
export function titleFacts(title) {
  const years = title.start_year
    ? title.end_year && title.end_year !== title.start_year ? `${title.start_year}–${title.end_year}` : String(title.start_year)
    : null;
  const minutes = title.runtime_minutes;
  const runtime = minutes ? (minutes >= 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60 ? `${minutes % 60} min` : ''}`.trim() : `${minutes} min`) : null;
  return [years, runtime, title.certificate].filter(Boolean).join(' · ');
}

/** A title as a poster card linking to its page; `extra` goes under the name. */
export function titleCard(title, extra = null) {
  const poster = title.poster_url
    ? h('img', { src: thumbUrl(title.poster_url), alt: '', loading: 'lazy', decoding: 'async' })
    : h('div.poster-placeholder', { 'aria-hidden': 'true' }, h('span.poster-initial', {}, title.primary_title.slice(0, 1)));
  return h('a.title-card', { href: `/titles/${id(title.id)}`, dataset: { link: '', titleId: title.id } },
    h('div.title-poster', {}, poster),
    h('strong.title-card-name', { title: title.primary_title }, title.primary_title),
    h('span.muted.title-card-meta', {}, [title.start_year, title.kind !== 'movie' ? title.kind : null].filter(Boolean).join(' · ')),
    extra);
}

/** A horizontal row of title cards under a heading (nothing when `titles` is empty). */
export function titleRow(heading, titles, { id: rowId, more } = {}) {
  if (!titles.length) return null;
  return h('section.title-row', { id: rowId },
    h('div.row.between', {}, h('h2', {}, heading), more ? h('a.muted', { href: more, dataset: { link: '' } }, 'See all') : null),
    h('div.title-strip', {}, titles.map((t) => (t instanceof Node ? t : titleCard(t)))));
}
