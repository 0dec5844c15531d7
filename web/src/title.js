// The title page (/titles/{id}): backdrop, poster, names (and its other
// names, akas), facts, genres, synopsis, the feature (else a trailer) in the
// shared player card, the credits (the cast with photos) linking to the
// people, a link to its showtimes when booking has any, and the social
// panel. The person page (/people/{id}): biography and filmography.
import { getAsset, request, watchAsset, FINAL_STATUSES, ApiError } from './api.js';
import { catalog, creditPages, titleFacts, titleCard, thumbUrl } from './catalog.js';
import { createPlayback } from './playback.js';
import { mountTitleSocial } from './social.js';
import { seriesSeasons, episodeNav } from './series.js';
import { canEditCatalog } from './catalog-admin.js';
import { h, clear } from './util.js';

const CAST = new Set(['actor', 'actress', 'self']);

/** What `read` answers, or null after showing why there is none (or once the page is left). */
async function readDetail(root, what, read, signal) {
  try {
    const detail = await read({ signal });
    return signal.aborted ? null : detail;
  } catch (error) {
    if (signal.aborted) return null;
    clear(root, h('section.empty', {},
      h('h1', {}, error.status === 404 ? `This ${what} is not in the catalog` : `The ${what} cannot be loaded`),
      h('p.muted', {}, error instanceof ApiError ? error.message : String(error)),
      h('a.button.primary', { href: '/titles', dataset: { link: '' } }, 'Browse the titles')));
    return null;
  }
}

function personLink(credit) {
  return h('a.person-link', { href: `/people/${encodeURIComponent(credit.person_id)}`, dataset: { link: '', personId: credit.person_id } },
    credit.person_name ?? credit.person_id);
}

/** A cast member's photo (its thumbnail), else their initial. */
function castPhoto(credit) {
  return credit.person_photo_url
    ? h('img.cast-photo', { src: thumbUrl(credit.person_photo_url), alt: '', loading: 'lazy', decoding: 'async' })
    : h('span.cast-photo.poster-placeholder', { 'aria-hidden': 'true' }, (credit.person_name ?? '?').slice(0, 1));
}

/** "Also known as": the title's other names with their region and language (none when it has no other). */
function otherNames(detail) {
  const akas = detail.akas.filter((a) => a.title !== detail.primary_title);
  if (!akas.length) return null;
  return h('details', { id: 'title-akas' }, h('summary.muted', {}, `Also known as (${akas.length})`),
    h('ul.akas', {}, akas.map((a) => h('li', { dataset: { region: a.region ?? '', language: a.language ?? '' } }, a.title,
      a.region || a.language ? h('span.muted', {}, ` · ${[a.region, a.language].filter(Boolean).join(' · ')}`) : null))));
}

function label(category) {
  const text = category.replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function mountTitle(root, id) {
  document.title = 'Title · cdlc';
  const abort = new AbortController();
  let player = null;
  let closeEvents = null;
  let offSocial = null;
  let stopped = false;

  const cast = h('ul.credits.cast', { id: 'cast' });
  const crew = h('dl.crew', { id: 'crew' });
  const more = h('button.button.ghost.small', { type: 'button', hidden: true, onclick: loadMoreCredits }, 'More credits');
  const stage = h('div', { id: 'title-player' });
  const showtimes = h('div', { id: 'title-showtimes' });
  const socialPanel = h('section.card-section', { id: 'title-social' });
  const readCredits = (cursor) => catalog.credits(id, cursor);
  let credits = creditPages(readCredits);

  async function load() {
    const detail = await readDetail(root, 'title', (options) => catalog.title(id, options), abort.signal);
    if (!detail) return;
    document.title = `${detail.primary_title} · cdlc`;
    root.dataset.titleId = detail.id;
    const poster = detail.poster_url
      ? h('img.title-page-poster', { src: detail.poster_url, alt: `Poster of ${detail.primary_title}` })
      : h('div.title-page-poster.poster-placeholder', { 'aria-hidden': 'true' });
    const episode = detail.kind === 'episode' && detail.series_id ? episodeNav(detail, abort.signal) : null;
    const rating = detail.rating ? `★ ${detail.rating.toFixed(1)} / 10 · ${detail.votes.toLocaleString()} votes` : null;
    clear(root,
      h('a.back', { href: '/titles', dataset: { link: '' } }, '← Titles'),
      detail.backdrop_url ? h('div.title-backdrop', {}, h('img', { id: 'title-backdrop', src: detail.backdrop_url, alt: '' })) : null,
      h('div.title-head', {},
        poster,
        h('div.stack', {},
          episode?.line,
          h('h1', { id: 'title-name' }, detail.primary_title),
          detail.original_title && detail.original_title !== detail.primary_title
            ? h('p.muted', { id: 'title-original' }, `Original title: ${detail.original_title}`) : null,
          otherNames(detail),
          h('p.muted', { id: 'title-facts' }, [detail.kind !== 'movie' ? label(detail.kind) : null, titleFacts(detail)].filter(Boolean).join(' · ')),
          detail.genres.length
            ? h('div.chips', { id: 'title-genres' }, detail.genres.map((g) =>
              h('a.chip', { href: `/titles?genre=${encodeURIComponent(g)}`, dataset: { link: '' } }, g)))
            : null,
          rating ? h('p', {}, rating) : null,
          detail.synopsis ? h('p.synopsis', { id: 'title-synopsis' }, detail.synopsis) : null,
          showtimes,
          episode?.nav,
          canEditCatalog() ? h('a.button.ghost.small', { id: 'title-edit', href: `/titles/${encodeURIComponent(detail.id)}/edit`, dataset: { link: '' } }, 'Edit') : null)),
      stage,
      detail.seasons.length ? seriesSeasons(detail, abort.signal) : null,
      socialPanel,
      h('section.card-section', {}, h('h2', {}, 'Cast'), cast, h('h2', {}, 'Crew'), crew, more),
    );
    credits = creditPages(readCredits, detail.credits, detail.credits_next_cursor);
    renderCredits();
    playLinked(detail.links);
    offSocial = mountTitleSocial(socialPanel, detail);
    findShowtimes(detail.id);
  }

  function renderCredits() {
    const people = credits.items.filter((c) => CAST.has(c.category));
    clear(cast, people.length
      ? people.map((c) => h('li.cast-member', { dataset: { credit: c.id } }, castPhoto(c), h('span', {}, personLink(c),
        c.characters.length ? h('span.muted', {}, ` as ${c.characters.join(', ')}`) : null)))
      : h('li.muted', {}, 'No cast is listed.'));
    const byCategory = new Map();
    for (const c of credits.items.filter((c) => !CAST.has(c.category))) {
      if (!byCategory.has(c.category)) byCategory.set(c.category, []);
      byCategory.get(c.category).push(c);
    }
    clear(crew, byCategory.size
      ? [...byCategory].map(([category, list]) => [
        h('dt', {}, label(category)),
        h('dd', {}, list.map((c, i) => [i ? ', ' : '', personLink(c), c.job ? h('span.muted', {}, ` (${c.job})`) : null]))])
      : h('dd.muted', {}, 'No crew is listed.'));
    more.hidden = !credits.more;
  }

  async function loadMoreCredits() {
    more.disabled = true;
    try {
      await credits.next();
      renderCredits();
    } catch (error) {
      more.replaceWith(h('p.form-error', {}, error.message));
    } finally {
      more.disabled = false;
    }
  }

  // The feature plays; a title without one plays its first trailer.
  async function playLinked(links) {
    const link = links.find((l) => l.role === 'feature' && l.state) ?? links.find((l) => l.role === 'trailer' && l.state);
    if (!link) return;
    stage.dataset.role = link.role;
    stage.dataset.assetId = link.asset_id;
    let asset;
    try {
      asset = await getAsset(link.asset_id, { signal: abort.signal });
    } catch {
      return;
    }
    if (stopped) return;
    player = createPlayback(root);
    clear(stage, link.role === 'trailer' ? h('h2.stage-label', {}, 'Trailer') : null, player.element);
    player.show(asset);
    if (!FINAL_STATUSES.has(asset.status)) {
      closeEvents = watchAsset(asset.id, async (update) => {
        if (!update || stopped) return;
        if (!asset.playback || FINAL_STATUSES.has(update.status)) asset = await getAsset(asset.id).catch(() => asset);
        else asset = { ...asset, ...update };
        if (!stopped) player.show(asset);
      });
    }
  }

  async function findShowtimes(titleId) {
    try {
      const page = await request(`/api/v1/booking/showtimes?title_id=${encodeURIComponent(titleId)}&limit=1`, { signal: abort.signal });
      if (stopped || !page.items.length) return;
      clear(showtimes, h('a.button', { href: `/showtimes?title_id=${encodeURIComponent(titleId)}`, dataset: { link: '' }, id: 'title-showtimes-link' },
        'Showtimes and tickets'));
    } catch {
      /* booking is not running, or has nothing for this title */
    }
  }

  load();
  return () => {
    stopped = true;
    abort.abort();
    closeEvents?.();
    player?.destroy();
    offSocial?.();
  };
}

export function mountPerson(root, id) {
  document.title = 'Person · cdlc';
  const abort = new AbortController();

  async function load() {
    const detail = await readDetail(root, 'person', (options) => catalog.person(id, options), abort.signal);
    if (!detail) return;
    const person = detail;
    document.title = `${person.name} · cdlc`;
    const life = person.birth_year ? `${person.birth_year}–${person.death_year ?? ''}` : null;
    const filmography = h('div.filmography', { id: 'filmography' });
    clear(root,
      h('a.back', { href: '/titles', dataset: { link: '' } }, '← Titles'),
      h('div.title-head', {},
        person.photo_url ? h('img.title-page-poster', { src: person.photo_url, alt: `Photo of ${person.name}` }) : null,
        h('div.stack', {},
          h('h1', { id: 'person-name' }, person.name),
          h('p.muted', {}, [person.professions.map(label).join(', '), life].filter(Boolean).join(' · ')),
          person.bio ? h('p.synopsis', { id: 'person-bio' }, person.bio) : h('p.muted', {}, 'No biography yet.'),
          canEditCatalog() ? h('a.button.ghost.small', { id: 'person-edit', href: `/people/${encodeURIComponent(person.id)}/edit`, dataset: { link: '' } }, 'Edit') : null)),
      h('section.card-section', {}, h('h2', {}, 'Filmography'), filmography));
    const credits = creditPages((cursor) => catalog.personCredits(id, cursor), detail.credits, detail.credits_next_cursor);
    // Posters and years of the credited titles: one batch read per hundred.
    const titles = new Map();
    async function render() {
      const missing = [...new Set(credits.items.map((c) => c.title_id))].filter((t) => !titles.has(t)).slice(0, 100);
      if (missing.length) {
        const page = await catalog.browse({ ids: missing.join(','), limit: 100 }).catch(() => ({ items: [] }));
        for (const t of page.items) titles.set(t.id, t);
      }
      const byCategory = new Map();
      for (const c of credits.items) {
        const key = CAST.has(c.category) ? 'acting' : c.category;
        if (!byCategory.has(key)) byCategory.set(key, []);
        byCategory.get(key).push(c);
      }
      clear(filmography, credits.items.length ? [...byCategory].map(([category, list]) => h('section.title-row', { dataset: { category } },
        h('h3', {}, label(category)),
        h('div.title-strip', {}, list.map((c) => {
          const note = c.characters.length ? `as ${c.characters.join(', ')}` : c.job;
          const title = titles.get(c.title_id) ?? { id: c.title_id, primary_title: c.title ?? c.title_id, kind: 'movie' };
          return titleCard(title, note ? h('span.muted.title-card-meta', {}, note) : null);
        })))) : h('p.muted', {}, 'No credits yet.'),
      credits.more ? h('button.button.ghost.small', { type: 'button', onclick: async () => {
        await credits.next();
        render();
      } }, 'More') : null);
    }
    render();
  }

  load();
  return () => abort.abort();
}
