// The instant search in the header: the catalog's search API as one types
// (debounced, the answer to an older query is dropped), a listbox of titles
// and people under the box; ↑/↓ move, Enter opens (or, with nothing picked,
// shows every matching title at /titles?q=…), Escape closes.
import { ApiError } from './api.js';
import { catalog, thumbUrl } from './catalog.js';
import { h, clear } from './util.js';

const DEBOUNCE_MS = 150;

export function mountSearch(holder, navigate) {
  const input = h('input', {
    type: 'search', id: 'search-input', placeholder: 'Search titles and people', autocomplete: 'off',
    role: 'combobox', 'aria-expanded': 'false', 'aria-controls': 'search-results', 'aria-autocomplete': 'list',
    'aria-label': 'Search the catalog',
  });
  const list = h('ul.search-results', { id: 'search-results', role: 'listbox', hidden: true });
  holder.append(input, list);
  let timer = 0;
  let controller = null;
  let hits = [];
  let active = -1;

  function close() {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === index)));
    if (index >= 0 && list.children[index]) input.setAttribute('aria-activedescendant', list.children[index].id);
    else input.removeAttribute('aria-activedescendant');
  }

  function hrefOf(hit) {
    return `/${hit.target === 'people' ? 'people' : 'titles'}/${encodeURIComponent(hit.id)}`;
  }

  function open(hit) {
    close();
    input.blur();
    navigate(hrefOf(hit));
  }

  function render(query) {
    if (!hits.length) {
      clear(list, h('li.search-empty', { role: 'presentation' }, `Nothing matches “${query}”.`));
    } else {
      clear(list, hits.map((hit, i) => {
        const title = hit.title;
        const person = hit.person;
        const meta = title
          ? [title.start_year, title.kind].filter(Boolean).join(' · ')
          : person?.professions.slice(0, 2).join(', ') || 'person';
        const image = thumbUrl(title?.poster_url ?? person?.photo_url);
        return h('li.search-hit', {
          role: 'option', id: `search-hit-${i}`, 'aria-selected': 'false', dataset: { target: hit.target, id: hit.id },
          onmousedown: (event) => event.preventDefault(),
          onclick: () => open(hit),
          onmousemove: () => active !== i && highlight(i),
        },
        image ? h('img', { src: image, alt: '' }) : h('span.search-thumb', { 'aria-hidden': 'true' }, (title?.primary_title ?? person?.name ?? hit.name).slice(0, 1)),
        h('span.stack.tight', {}, h('strong', {}, title?.primary_title ?? person?.name ?? hit.name),
          h('span.muted', {}, hit.name !== (title?.primary_title ?? person?.name) ? `${meta} · “${hit.name}”` : meta)));
      }));
    }
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    highlight(-1);
  }

  async function lookUp() {
    const query = input.value.trim();
    controller?.abort();
    if (!query) {
      hits = [];
      close();
      return;
    }
    controller = new AbortController();
    try {
      const page = await catalog.search(query, { limit: 8, signal: controller.signal });
      hits = page.items;
      render(query);
    } catch (error) {
      if (error.name === 'AbortError') return;
      hits = [];
      clear(list, h('li.search-empty', { role: 'presentation' }, error instanceof ApiError ? error.message : String(error)));
      list.hidden = false;
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(lookUp, DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      if (list.hidden || !hits.length) return;
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      // -1 is the box itself: past the last hit comes back to it.
      let next = active + step;
      if (next >= hits.length) next = -1;
      else if (next < -1) next = hits.length - 1;
      highlight(next);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      if (active >= 0 && hits[active]) open(hits[active]);
      else if (input.value.trim()) {
        close();
        navigate(`/titles?q=${encodeURIComponent(input.value.trim())}`);
      }
    } else if (event.key === 'Escape') {
      close();
    }
  });
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('focus', () => hits.length && input.value.trim() && render(input.value.trim()));
}
