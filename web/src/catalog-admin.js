// The catalog's admin pages, through its REST API only (the server checks
// the role on every write; the pages only hide what a viewer cannot do):
// a title's form (/catalog/titles/new, /titles/{id}/edit: its fields, other
// names (akas), poster and backdrop, and on an existing title its credits,
// added and removed at once) and a person's (/catalog/people/new,
// /people/{id}/edit) with a photo; the links
// of an asset to titles on the asset page; an IMDb import (/catalog/import):
// the .tsv.gz files are uploaded, its percent followed, then its report shown.
import { request, session, ApiError } from './api.js';
import { catalog, creditPages } from './catalog.js';
import { h, clear, progressBar, setProgress } from './util.js';

const API = '/api/v1/catalog';
const KINDS = ['movie', 'series', 'season', 'episode', 'short', 'documentary'];
const ROLES = ['feature', 'trailer', 'extra'];
/** A credit's categories, as the API takes them (the catalog's CATEGORIES). */
const CATEGORIES = ['actor', 'actress', 'self', 'director', 'writer', 'producer', 'executive', 'composer',
  'cinematographer', 'editor', 'production_designer', 'casting_director', 'archive_footage', 'archive_sound', 'stunts', 'other'];
const enc = encodeURIComponent;

/** Whether the viewer may change the catalog (the server decides in any case). */
export const canEditCatalog = () => session.can('admin');

function go(url) {
  window.dispatchEvent(new CustomEvent('cdlc:navigate', { detail: url }));
}

function field(label, input, attributes = {}) {
  return h('label.field', attributes, label, input);
}

const text = (id, value, attributes = {}) => h('input', { type: 'text', id, value: value ?? '', ...attributes });
const number = (id, value, attributes = {}) => h('input', { type: 'number', id, value: value ?? '', step: '1', ...attributes });
const list = (value) => value.split(',').map((v) => v.trim()).filter(Boolean);
const optionalText = (input) => input.value.trim() || null;

/** An integer field's value, null when empty; throws a sentence when it is not a whole number. */
function optionalInt(input, name) {
  const value = input.value.trim();
  if (!value) return null;
  if (!/^-?\d+$/.test(value)) throw new ApiError(0, 'bad_input', `${name} must be a whole number`);
  return Number(value);
}

/** Sends the chosen image file (JPEG or PNG) to its slot, when one is chosen. */
async function sendImage(input, path) {
  const file = input.files?.[0];
  if (!file) return;
  await request(path, { method: 'PUT', body: file, contentType: file.type || 'application/octet-stream' });
}

/**
 * Creates (`record.id` null: the empty fields left out) or patches (`null`
 * clears a field) a title or person, then sends its images (`[input, slot]`
 * pairs); answers its page's URL. A new record keeps its id in `record`, so
 * that saving again after a refused image patches it instead of making it twice.
 */
async function saveRecord(collection, record, body, images) {
  let saved;
  if (record.id) {
    saved = await request(`${API}/${collection}/${enc(record.id)}`, { method: 'PATCH', json: body });
  } else {
    const given = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null));
    saved = await request(`${API}/${collection}`, { method: 'POST', json: given });
    record.id = saved.id;
  }
  for (const [input, slot] of images) {
    try {
      await sendImage(input, `${API}/${collection}/${enc(saved.id)}/${slot}`);
    } catch (error) {
      throw new ApiError(error.status, error.code, `Saved, but the ${slot} was refused: ${error.message}`);
    }
  }
  return `/${collection}/${enc(saved.id)}`;
}

/** A form page: the fields, a save button and the line that shows the server's sentence. */
function formPage(root, { heading, back, id, fields, save }) {
  const error = h('p.form-error', { id: `${id}-error`, role: 'alert', hidden: true });
  const button = h('button.button.primary', { type: 'submit', id: `${id}-save` }, 'Save');
  const form = h('form.stack.narrow', { id, novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      go(await save());
    } catch (problem) {
      error.textContent = problem instanceof ApiError ? problem.message : String(problem);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  } }, fields, error, h('div.row', {}, button, h('a.button.ghost', { href: back, dataset: { link: '' } }, 'Cancel')));
  clear(root, h('a.back', { href: back, dataset: { link: '' } }, '← Back'), h('h1', {}, heading), form);
}

function needsAdmin(root, what) {
  clear(root, h('section.empty', { id: 'catalog-needs-admin' }, h('h1', {}, `Only an admin can ${what}`),
    h('p.muted', {}, 'Sign in as an admin (or with an API key that has catalog:write).')));
}

async function loadOr(root, read, what) {
  try {
    return await read();
  } catch (error) {
    clear(root, h('section.empty', {}, h('h1', {}, `The ${what} cannot be loaded`), h('p.muted', {}, error.message)));
    return null;
  }
}

/** Create (`id` null) or edit a title. */
export function mountTitleEditor(root, id) {
  document.title = `${id ? 'Edit title' : 'New title'} · cdlc`;
  (async () => {
    await session.whenKnown();
    if (!canEditCatalog()) return needsAdmin(root, id ? 'edit a title' : 'add a title');
    const t = id ? await loadOr(root, () => catalog.title(id), 'title') : {};
    if (!t) return;
    const record = { id };
    const kind = h('select', { id: 'title-kind' }, KINDS.map((k) => h('option', { value: k, selected: (t.kind ?? 'movie') === k }, k)));
    const name = text('title-primary', t.primary_title, { required: true, maxLength: 1000 });
    const original = text('title-original-input', t.original_title);
    const start = number('title-start-year', t.start_year, { min: '1870', max: '2200' });
    const end = number('title-end-year', t.end_year, { min: '1870', max: '2200' });
    const runtime = number('title-runtime', t.runtime_minutes, { min: '0' });
    const genres = text('title-genres-input', (t.genres ?? []).join(', '), { placeholder: 'Drama, Mystery' });
    const synopsis = h('textarea', { id: 'title-synopsis-input', rows: 5, maxLength: 20000 }, t.synopsis ?? '');
    const certificate = text('title-certificate', t.certificate, { maxLength: 32, placeholder: 'PG-13' });
    const series = text('title-series', t.series_id, { placeholder: 'the series\' id' });
    const season = number('title-season', t.season_number, { min: '0' });
    const episode = number('title-episode', t.episode_number, { min: '0' });
    const poster = h('input', { type: 'file', id: 'title-poster-file', accept: 'image/jpeg,image/png' });
    const backdrop = h('input', { type: 'file', id: 'title-backdrop-file', accept: 'image/jpeg,image/png' });
    const akas = akasEditor(t.akas ?? []);
    const episodeFields = h('div.row', {}, field('Series', series), field('Season', season), field('Episode', episode));
    const showEpisodeFields = () => (episodeFields.hidden = !['episode', 'season'].includes(kind.value));
    kind.addEventListener('change', showEpisodeFields);
    showEpisodeFields();
    formPage(root, {
      heading: id ? `Edit ${t.primary_title}` : 'New title',
      back: id ? `/titles/${enc(id)}` : '/titles',
      id: 'title-form',
      fields: [
        field('Kind', kind), field('Title', name), field('Original title', original),
        h('div.row', {}, field('Year', start), field('Last year', end), field('Runtime (minutes)', runtime)),
        episodeFields,
        field('Genres (comma-separated)', genres), field('Synopsis', synopsis), field('Certificate', certificate),
        akas.element,
        field(t.poster_url ? 'Replace the poster (JPEG or PNG)' : 'Poster (JPEG or PNG)', poster),
        field(t.backdrop_url ? 'Replace the backdrop (a wide JPEG or PNG)' : 'Backdrop (a wide JPEG or PNG)', backdrop),
      ],
      async save() {
        const episodic = ['episode', 'season'].includes(kind.value);
        const body = {
          kind: kind.value,
          primary_title: name.value.trim(),
          original_title: optionalText(original),
          start_year: optionalInt(start, 'The year'),
          end_year: optionalInt(end, 'The last year'),
          runtime_minutes: optionalInt(runtime, 'The runtime'),
          genres: list(genres.value),
          synopsis: optionalText(synopsis),
          certificate: optionalText(certificate),
          series_id: episodic ? optionalText(series) : null,
          season_number: episodic ? optionalInt(season, 'The season') : null,
          episode_number: episodic ? optionalInt(episode, 'The episode') : null,
        };
        if (!body.primary_title) throw new ApiError(0, 'bad_input', 'Give the title a name.');
        // Sent only when changed: the API replaces every aka, and imported ones carry IMDb's types.
        if (!record.id || akas.changed()) body.akas = akas.value();
        return saveRecord('titles', record, body, [[poster, 'poster'], [backdrop, 'backdrop']]);
      },
    });
    if (id) root.append(creditsEditor(id, t.credits ?? [], t.credits_next_cursor ?? null));
    else root.append(h('p.muted', { id: 'credits-after-save' }, 'Save the title first, then add its cast and crew here.'));
  })();
}

/**
 * A title's other names: a row (name, region, language) per aka, rows added
 * and removed; `value()` answers them as the API takes them, `changed()`
 * whether they differ from the title's.
 */
function akasEditor(akas) {
  const rows = h('ul.aka-rows', { id: 'akas-editor' });
  const read = () => [...rows.children]
    .map((row) => ['title', 'region', 'language'].map((part) => row.querySelector(`[data-aka="${part}"]`).value.trim() || null))
    .filter(([title]) => title);
  const addRow = (aka = {}) => {
    const input = (part, value, attributes) => h('input', { type: 'text', value: value ?? '', dataset: { aka: part }, ...attributes });
    const row = h('li.row.aka-row', {},
      input('title', aka.title, { 'aria-label': 'Name', maxLength: 1000, placeholder: 'Le titre' }),
      input('region', aka.region, { 'aria-label': 'Region', maxLength: 8, placeholder: 'FR', class: 'short' }),
      input('language', aka.language, { 'aria-label': 'Language', maxLength: 8, placeholder: 'fr', class: 'short' }),
      h('button.button.ghost.small', { type: 'button', dataset: { akaRemove: '' }, onclick: () => row.remove() }, 'Remove'));
    rows.append(row);
    return row;
  };
  akas.forEach(addRow);
  const initial = JSON.stringify(read());
  const add = h('button.button.ghost.small', { type: 'button', id: 'aka-add', onclick: () => addRow().querySelector('input').focus() }, 'Add a name');
  return {
    element: h('fieldset.stack', { id: 'akas-field' }, h('legend', {}, 'Other names (region such as FR, language such as fr)'), rows, add),
    changed: () => JSON.stringify(read()) !== initial,
    value: () => read().map(([title, region, language]) => ({ title, region, language })),
  };
}

/**
 * A search box and the select of what it finds: typing searches the catalog
 * (`target` titles or people), `describe` names each hit in the select.
 */
function finder(ids, placeholder, target, describe) {
  const query = h('input', { type: 'search', id: ids.query, placeholder, autocomplete: 'off', 'aria-label': placeholder });
  const hits = h('select', { id: ids.select, 'aria-label': target === 'people' ? 'Person' : 'Title' },
    h('option', { value: '' }, `(find ${target === 'people' ? 'a person' : 'a title'} first)`));
  let searching = null;
  query.addEventListener('input', () => {
    clearTimeout(searching);
    searching = setTimeout(async () => {
      const q = query.value.trim();
      if (!q) return;
      const page = await catalog.search(q, { target, limit: 10 }).catch(() => ({ items: [] }));
      const found = page.items.map((hit) => hit.title ?? hit.person).filter(Boolean);
      clear(hits, found.length
        ? found.map((record) => h('option', { value: record.id }, describe(record)))
        : h('option', { value: '' }, 'Nothing matches'));
    }, 150);
  });
  return { query, hits };
}

/**
 * An existing title's credits on its edit page: each with a remove button,
 * and a form that finds a person and adds a credit. Each change is sent at
 * once (a credit is a resource of its own), then the list is read again.
 */
function creditsEditor(titleId, first, firstCursor) {
  const rows = h('ul.credit-rows', { id: 'credit-list' });
  const error = h('p.form-error', { id: 'credit-error', role: 'alert', hidden: true });
  const show = (problem) => {
    error.textContent = problem instanceof ApiError ? problem.message : String(problem);
    error.hidden = false;
  };
  const credits = creditPages((cursor) => catalog.credits(titleId, cursor), first, firstCursor);
  const more = h('button.button.ghost.small', { type: 'button', id: 'credit-more', onclick: async () => {
    try {
      await credits.next();
      render();
    } catch (problem) {
      show(problem);
    }
  } }, 'More credits');

  async function reload() {
    await credits.reload();
    render();
  }

  function render() {
    clear(rows, credits.items.length ? credits.items.map((c) => h('li.row', { dataset: { credit: c.id, personId: c.person_id, category: c.category } },
      h('strong', {}, c.person_name ?? c.person_id),
      h('span.badge', {}, c.category.replace(/_/g, ' ')),
      c.job ? h('span.muted', {}, c.job) : null,
      c.characters.length ? h('span.muted', {}, `as ${c.characters.join(', ')}`) : null,
      h('button.button.ghost.small', { type: 'button', dataset: { removeCredit: c.id }, onclick: async (event) => {
        event.currentTarget.disabled = true;
        error.hidden = true;
        try {
          await request(`${API}/credits/${enc(c.id)}`, { method: 'DELETE' });
          await reload();
        } catch (problem) {
          show(problem);
        }
      } }, 'Remove')))
      : h('li.muted', {}, 'No cast or crew yet.'));
    more.hidden = !credits.more;
  }

  const person = finder({ query: 'credit-person-query', select: 'credit-person' }, 'Find a person by name', 'people',
    (p) => `${p.name}${p.birth_year ? ` (${p.birth_year})` : ''}`);
  const category = h('select', { id: 'credit-category', 'aria-label': 'Category' },
    CATEGORIES.map((c) => h('option', { value: c }, c.replace(/_/g, ' '))));
  const job = text('credit-job', '', { placeholder: 'Job (optional)', maxLength: 500, 'aria-label': 'Job' });
  const characters = text('credit-characters', '', { placeholder: 'Characters, comma-separated', 'aria-label': 'Characters' });
  const billing = number('credit-billing', '', { min: '0', placeholder: 'Billing', 'aria-label': 'Billing order' });
  const add = h('button.button', { type: 'submit', id: 'credit-add' }, 'Add');
  const form = h('form.row.wrap', { id: 'credit-form', novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!person.hits.value) return show('Find the person first (they must be in the catalog: make them with New person).');
    add.disabled = true;
    try {
      await request(`${API}/titles/${enc(titleId)}/credits`, { method: 'POST', json: {
        person_id: person.hits.value,
        category: category.value,
        job: optionalText(job),
        characters: list(characters.value),
        billing: optionalInt(billing, 'The billing order'),
      } });
      job.value = '';
      characters.value = '';
      billing.value = '';
      await reload();
    } catch (problem) {
      show(problem);
    } finally {
      add.disabled = false;
    }
  } }, person.query, person.hits, category, job, characters, billing, add);
  render();
  return h('section.card-section.narrow', { id: 'credits-editor' }, h('h2', {}, 'Cast and crew'), rows, more, form, error);
}

/** Create (`id` null) or edit a person. */
export function mountPersonEditor(root, id) {
  document.title = `${id ? 'Edit person' : 'New person'} · cdlc`;
  (async () => {
    await session.whenKnown();
    if (!canEditCatalog()) return needsAdmin(root, id ? 'edit a person' : 'add a person');
    const p = id ? await loadOr(root, () => catalog.person(id), 'person') : {};
    if (!p) return;
    const record = { id };
    const name = text('person-name-input', p.name, { required: true });
    const born = number('person-birth-year', p.birth_year);
    const died = number('person-death-year', p.death_year);
    const professions = text('person-professions', (p.professions ?? []).join(', '), { placeholder: 'actress, director' });
    const bio = h('textarea', { id: 'person-bio-input', rows: 5 }, p.bio ?? '');
    const photo = h('input', { type: 'file', id: 'person-photo-file', accept: 'image/jpeg,image/png' });
    formPage(root, {
      heading: id ? `Edit ${p.name}` : 'New person',
      back: id ? `/people/${enc(id)}` : '/titles',
      id: 'person-form',
      fields: [
        field('Name', name), h('div.row', {}, field('Born (year)', born), field('Died (year)', died)),
        field('Professions (comma-separated)', professions), field('Biography', bio),
        field(p.photo_url ? 'Replace the photo (JPEG or PNG)' : 'Photo (JPEG or PNG)', photo),
      ],
      async save() {
        const body = {
          name: name.value.trim(),
          birth_year: optionalInt(born, 'The birth year'),
          death_year: optionalInt(died, 'The death year'),
          professions: list(professions.value),
          bio: optionalText(bio),
        };
        if (!body.name) throw new ApiError(0, 'bad_input', 'Give the person a name.');
        return saveRecord('people', record, body, [[photo, 'photo']]);
      },
    });
  })();
}

/**
 * The asset page's catalog section: the titles the asset is linked to (each
 * with an unlink button for an admin) and, for an admin, a form that finds a
 * title by name and links the asset to it with a role.
 */
export function assetTitles(assetId) {
  const section = h('section.card-section', { id: 'asset-titles' });
  const linked = h('ul.links', { id: 'asset-title-links' });
  const error = h('p.form-error', { role: 'alert', hidden: true });
  const show = (problem) => {
    error.textContent = problem instanceof ApiError ? problem.message : String(problem);
    error.hidden = false;
  };

  async function refresh() {
    try {
      const links = await request(`${API}/assets/${enc(assetId)}/titles`);
      clear(linked, links.length ? links.map((l) => h('li.row', { dataset: { titleId: l.title.id, role: l.role } },
        h('a', { href: `/titles/${enc(l.title.id)}`, dataset: { link: '' } }, l.title.primary_title),
        h('span.badge', {}, l.role),
        canEditCatalog() ? h('button.button.ghost.small', { type: 'button', dataset: { unlink: l.title.id }, onclick: async () => {
          try {
            await request(`${API}/titles/${enc(l.title.id)}/links/${enc(assetId)}`, { method: 'DELETE' });
            refresh();
          } catch (problem) {
            show(problem);
          }
        } }, 'Unlink') : null))
        : h('li.muted', {}, 'Not linked to a title.'));
    } catch {
      section.hidden = true; // the catalog plugin is not running
    }
  }

  const { query, hits } = finder({ query: 'link-title-query', select: 'link-title' }, 'Find a title by name', 'titles',
    (t) => `${t.primary_title}${t.start_year ? ` (${t.start_year})` : ''} · ${t.kind}`);
  const role = h('select', { id: 'link-role', 'aria-label': 'Role' }, ROLES.map((r) => h('option', { value: r }, r)));
  const form = h('form.row', { id: 'link-form', onsubmit: async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!hits.value) return show('Find the title to link first.');
    try {
      await request(`${API}/titles/${enc(hits.value)}/links`, { method: 'POST', json: { asset_id: assetId, role: role.value } });
      refresh();
    } catch (problem) {
      show(problem);
    }
  } }, query, hits, role, h('button.button', { type: 'submit', id: 'link-save' }, 'Link'));

  clear(section, h('h2', {}, 'In the catalog'), linked, canEditCatalog() ? form : null, error);
  refresh();
  return section;
}

function reportTable(report) {
  const rows = report.files.map((f) => h('tr', { dataset: { dataset: f.dataset } },
    h('td', {}, f.file), h('td', {}, f.dataset), h('td.num', {}, f.rows_read), h('td.num', {}, f.rows_written),
    h('td.num', {}, f.rows_unchanged), h('td.num', {}, f.rows_skipped), h('td.num', {}, f.rows_rejected)));
  const rejections = report.files.flatMap((f) => f.rejections.map((r) => h('li', {}, `${f.file}, line ${r.line}: ${r.reason}`)));
  return h('div.stack', { id: 'import-report' },
    h('div.table-wrap', {}, h('table.table', {},
      h('thead', {}, h('tr', {}, ['File', 'Dataset', 'Read', 'Written', 'Unchanged', 'Skipped', 'Rejected'].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows))),
    h('p.muted', {}, `${report.titles_indexed} titles and ${report.people_indexed} people indexed in ${report.seconds.toFixed(1)} s.`),
    rejections.length ? [h('h3', {}, 'Rejected rows (a sample)'), h('ul', { id: 'import-rejections' }, rejections)] : null);
}

/** /catalog/import: upload IMDb .tsv.gz files, follow the import, read its report. */
export function mountImport(root) {
  document.title = 'Import · cdlc';
  let stopped = false;
  let timer = null;
  (async () => {
    await session.whenKnown();
    if (!canEditCatalog()) return needsAdmin(root, 'import into the catalog');
    const files = h('input', { type: 'file', id: 'import-files', multiple: true, accept: '.gz,application/gzip' });
    const kinds = text('import-kinds', '', { placeholder: 'movie,tvSeries,tvEpisode' });
    const minVotes = number('import-min-votes', '', { min: '0' });
    const top = number('import-top', '', { min: '1' });
    const error = h('p.form-error', { id: 'import-error', role: 'alert', hidden: true });
    const start = h('button.button.primary', { type: 'submit', id: 'import-start' }, 'Start the import');
    const status = h('section.card-section', { id: 'import-status', hidden: true });
    const history = h('ul', { id: 'import-history' });

    function follow(id) {
      const bar = progressBar(0, 'Import progress');
      const label = h('span.progress-label', { id: 'import-percent' }, '0 %');
      const state = h('p', { id: 'import-state' }, 'Running');
      status.hidden = false;
      clear(status, h('h2', {}, 'Import'), state, bar, label);
      async function poll() {
        if (stopped) return;
        try {
          const view = await request(`${API}/imports/${enc(id)}`);
          const percent = view.state === 'done' ? 100 : view.percent;
          setProgress(bar, percent);
          label.textContent = `${Math.floor(percent)} %`;
          status.dataset.state = view.state;
          if (view.state === 'running') {
            state.textContent = view.phase === 'indexing' ? 'Every file read: building the indexes' : 'Reading the files';
            timer = setTimeout(poll, 300);
            return;
          }
          state.textContent = view.state === 'done' ? `Done: ${view.files.join(', ')}` : `Failed: ${view.error}`;
          if (view.report) status.append(reportTable(view.report));
          loadHistory();
        } catch (problem) {
          state.textContent = problem.message;
        }
      }
      poll();
    }

    async function loadHistory() {
      const page = await request(`${API}/imports?limit=10`).catch(() => ({ items: [] }));
      clear(history, page.items.map((i) => h('li', {},
        h('button.button.ghost.small', { type: 'button', onclick: () => follow(i.id) }, new Date(i.created_at).toLocaleString()),
        ` ${i.state} · ${i.files.join(', ')}`)));
    }

    const form = h('form.stack.narrow', { id: 'import-form', onsubmit: async (event) => {
      event.preventDefault();
      error.hidden = true;
      if (!files.files.length) {
        error.textContent = 'Choose one or more IMDb .tsv.gz files (title.basics.tsv.gz, name.basics.tsv.gz…).';
        error.hidden = false;
        return;
      }
      start.disabled = true;
      try {
        const query = new URLSearchParams();
        if (kinds.value.trim()) query.set('kinds', kinds.value.trim());
        const votes = optionalInt(minVotes, 'The minimum votes');
        if (votes !== null) query.set('min_votes', String(votes));
        const n = optionalInt(top, 'Top');
        if (n !== null) query.set('top', String(n));
        const body = new FormData();
        for (const file of files.files) body.append('file', file, file.name);
        const view = await request(`${API}/imports${query.size ? `?${query}` : ''}`, { method: 'POST', body });
        follow(view.id);
      } catch (problem) {
        error.textContent = problem instanceof ApiError ? problem.message : String(problem);
        error.hidden = false;
      } finally {
        start.disabled = false;
      }
    } },
    field('IMDb dataset files (.tsv.gz)', files),
    h('div.row', {}, field('Kinds', kinds), field('Minimum votes', minVotes), field('Top N', top)),
    error, h('div.row', {}, start));
    clear(root, h('a.back', { href: '/titles', dataset: { link: '' } }, '← Titles'), h('h1', {}, 'Import IMDb datasets'),
      h('p.muted', {}, 'The files land in the catalog\'s storage first, then import in the background; a second import of the same files changes nothing.'),
      form, status, h('section.card-section', {}, h('h2', {}, 'Earlier imports'), history));
    loadHistory();
  })();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The admin links of the titles page: new title, new person, import. */
export function catalogAdminLinks() {
  if (!canEditCatalog()) return null;
  return h('div.row', { id: 'catalog-admin' },
    h('a.button.small', { href: '/catalog/titles/new', dataset: { link: '' }, id: 'new-title-link' }, 'New title'),
    h('a.button.small', { href: '/catalog/people/new', dataset: { link: '' }, id: 'new-person-link' }, 'New person'),
    h('a.button.small', { href: '/catalog/import', dataset: { link: '' }, id: 'import-link' }, 'Import'));
}
