// Series on the title page, from the catalog's REST API only: a series page
// has one tab per season (specials, season 0, after the numbered seasons,
// episodes without a season last) listing that season's episodes; an episode
// page says "Series · S1 E3" linking back, with the previous and next episode.
import { catalog, titleFacts } from './catalog.js';
import { h, clear } from './util.js';

/** Numbered seasons in order, then specials (0), then episodes without a season (null). */
export function seasonOrder(seasons) {
  const rank = (n) => (n === null || n === undefined ? [2, 0] : n === 0 ? [1, 0] : [0, n]);
  return [...seasons].sort((a, b) => {
    const [ra, na] = rank(a.season_number);
    const [rb, nb] = rank(b.season_number);
    return ra - rb || na - nb;
  });
}

const seasonKey = (n) => (n === null || n === undefined ? 'none' : String(n));
const seasonName = (n) => (n === null || n === undefined ? 'Other episodes' : n === 0 ? 'Specials' : `Season ${n}`);

/** "S1 E3" (what is known of it). */
export function episodeCode(title) {
  return [title.season_number !== null && title.season_number !== undefined ? `S${title.season_number}` : null,
    title.episode_number !== null && title.episode_number !== undefined ? `E${title.episode_number}` : null].filter(Boolean).join(' ');
}

/** Every episode of one season, page after page (100 a page). */
async function allEpisodes(seriesId, season, signal) {
  let items = [];
  let cursor = null;
  do {
    const page = await catalog.episodes(seriesId, seasonKey(season), { cursor, signal });
    items = items.concat(page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < 5000);
  return items;
}

function episodeRow(episode) {
  const facts = titleFacts(episode);
  return h('li.episode', { dataset: { episodeId: episode.id } },
    h('span.episode-number', {}, episode.episode_number ?? '–'),
    h('div.stack', {},
      h('a.episode-title', { href: `/titles/${encodeURIComponent(episode.id)}`, dataset: { link: '' } }, episode.primary_title),
      facts || episode.rating
        ? h('span.muted.episode-meta', {}, [facts, episode.rating ? `★ ${episode.rating.toFixed(1)}` : null].filter(Boolean).join(' · '))
        : null));
}

/** The seasons section of a series page: tabs and the chosen season's episodes. */
export function seriesSeasons(series, signal) {
  const seasons = seasonOrder(series.seasons);
  const tabs = h('div.chips', { role: 'tablist', id: 'season-tabs', 'aria-label': 'Seasons' });
  const list = h('ol.episodes', { id: 'episodes', role: 'tabpanel' });
  let shown = null;

  async function show(season) {
    shown = seasonKey(season.season_number);
    for (const tab of tabs.children) tab.setAttribute('aria-selected', String(tab.dataset.season === shown));
    list.dataset.season = shown;
    list.setAttribute('aria-busy', 'true');
    try {
      const episodes = await allEpisodes(series.id, season.season_number, signal);
      if (signal.aborted || shown !== seasonKey(season.season_number)) return;
      clear(list, episodes.length ? episodes.map(episodeRow) : h('li.muted', {}, 'No episodes are listed for this season.'));
    } catch (error) {
      if (!signal.aborted) clear(list, h('li.form-error', {}, error.message));
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  for (const season of seasons) {
    tabs.append(h('button.chip', {
      type: 'button', role: 'tab', 'aria-selected': 'false', dataset: { season: seasonKey(season.season_number) },
      onclick: () => show(season),
      title: `${season.episodes} episode${season.episodes === 1 ? '' : 's'}`,
    }, seasonName(season.season_number), h('span.muted', {}, ` (${season.episodes})`)));
  }
  if (seasons.length) show(seasons[0]);
  return h('section.card-section', { id: 'seasons' }, h('h2', {}, 'Seasons'), tabs, list);
}

/**
 * The line above an episode's name, "Series · S1 E3" linking to the series,
 * and links to the previous and next episodes (across seasons, in the order
 * of the series page's tabs).
 */
export function episodeNav(episode, signal) {
  const nav = h('nav.episode-nav', { id: 'episode-nav', 'aria-label': 'Episodes' });
  const series = h('a', { id: 'episode-series', href: `/titles/${encodeURIComponent(episode.series_id)}`, dataset: { link: '' } }, 'Series');
  const line = h('p.muted', { id: 'episode-of' }, series, ` · ${episodeCode(episode)}`);

  async function load() {
    const parent = await catalog.title(episode.series_id, { signal });
    if (signal.aborted) return;
    series.textContent = parent.primary_title;
    const seasons = seasonOrder(parent.seasons);
    const at = seasons.findIndex((s) => seasonKey(s.season_number) === seasonKey(episode.season_number));
    if (at < 0) return;
    const episodes = await allEpisodes(parent.id, episode.season_number, signal);
    const index = episodes.findIndex((e) => e.id === episode.id);
    let previous = index > 0 ? episodes[index - 1] : null;
    let next = index >= 0 && index < episodes.length - 1 ? episodes[index + 1] : null;
    if (!previous && at > 0) previous = (await allEpisodes(parent.id, seasons[at - 1].season_number, signal)).at(-1) ?? null;
    if (!next && at < seasons.length - 1) next = (await allEpisodes(parent.id, seasons[at + 1].season_number, signal))[0] ?? null;
    if (signal.aborted) return;
    const link = (target, rel, text) => h('a.button.ghost.small', {
      id: `episode-${rel}`, rel, href: `/titles/${encodeURIComponent(target.id)}`, dataset: { link: '', titleId: target.id },
    }, text(`${episodeCode(target)} · ${target.primary_title}`));
    clear(nav, previous ? link(previous, 'prev', (name) => `← ${name}`) : null, next ? link(next, 'next', (name) => `${name} →`) : null);
  }

  load().catch(() => { /* the series page link still works without the neighbours */ });
  return { line, nav };
}
