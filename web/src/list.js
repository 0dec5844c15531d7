// A list's page (/lists/{id}, `?key=` for a link-only one): its name, owner,
// who may see it, description and entries in their order (a ranked list
// numbers them), each with its note and a link to the title. The owner moves
// entries up and down, removes them and edits their notes. A list the
// viewer may not see (private, followers-only, link-only without the key,
// or gone) shows that it is not there, and nothing of it.
import { session, ApiError } from './api.js';
import { social } from './social.js';
import { h, clear } from './util.js';

const VISIBILITY = {
  public: 'Public',
  followers: 'Followers only',
  private: 'Private: only you',
  link: 'Anyone with the link',
};

/** The most entries the page reads (a list's default maximum). */
const MAX_PAGES = 10;

export function mountList(root, listId) {
  document.title = 'List · cdlc';
  const key = new URLSearchParams(location.search).get('key') ?? undefined;
  let stopped = false;
  let list = null;
  let entries = [];

  const message = h('p.form-error', { role: 'alert', hidden: true, id: 'list-error' });
  const holder = h('ol.entries.list-entries', { id: 'list-entries' });

  const mine = () => Boolean(list && session.user() && session.user().id === list.owner.id);
  const name = (entry) => entry.title?.primary_title ?? entry.title_id;

  function fail(error) {
    message.hidden = false;
    message.textContent = error instanceof ApiError ? error.message : String(error);
  }

  async function load() {
    let entriesRead = [];
    try {
      list = await social.list(listId, key);
      let cursor;
      for (let pages = 0; pages < MAX_PAGES; pages += 1) {
        const page = await social.listEntries(listId, { key, cursor });
        entriesRead = entriesRead.concat(page.items);
        cursor = page.next_cursor;
        if (!cursor) break;
      }
    } catch (error) {
      if (stopped) return;
      document.title = 'List not found · cdlc';
      clear(root, h('section.empty', { id: 'list-missing' },
        h('h1', {}, error.status === 404 ? 'This list is not here' : 'The list cannot be loaded'),
        h('p', {}, error.status === 404
          ? 'There is no such list, or it is private: only the people its owner shares it with can see it.'
          : ''),
        h('p.muted', {}, error instanceof ApiError ? error.message : String(error))));
      return;
    }
    if (stopped) return;
    entries = entriesRead;
    document.title = `${list.name} · cdlc`;
    const share = mine() && list.visibility === 'link' && list.link_key
      ? h('p.muted', { id: 'list-share' }, 'Share it with this link: ',
        h('code', {}, `${location.origin}/lists/${encodeURIComponent(list.id)}?key=${encodeURIComponent(list.link_key)}`))
      : null;
    clear(root,
      h('div.page-head', {}, h('div', {},
        h('h1', { id: 'list-name' }, list.name),
        h('p.muted', {}, 'A list by ',
          h('a', { href: `/u/${encodeURIComponent(list.owner.handle)}`, dataset: { link: '' }, id: 'list-owner' }, `@${list.owner.handle}`),
          ' · ', h('span', { id: 'list-visibility', dataset: { visibility: list.visibility } }, VISIBILITY[list.visibility] ?? list.visibility),
          list.ranked ? ' · ranked' : '',
          ` · ${list.entries} ${list.entries === 1 ? 'title' : 'titles'}`))),
      list.description ? h('p.synopsis', { id: 'list-description' }, list.description) : null,
      share,
      message,
      holder);
    render();
  }

  /** Moves the entry at `index` by `step` (-1 up, +1 down) and stores the new order. */
  async function move(index, step) {
    const other = index + step;
    if (other < 0 || other >= entries.length) return;
    message.hidden = true;
    const next = entries.slice();
    [next[index], next[other]] = [next[other], next[index]];
    try {
      await social.reorderList(list.id, next.map((e) => e.title_id));
    } catch (error) {
      fail(error);
      return;
    }
    entries = next.map((e, i) => ({ ...e, position: i + 1 }));
    render();
    holder.querySelectorAll('li.entry')[other]?.querySelector(step < 0 ? '.move-up' : '.move-down')?.focus();
  }

  async function remove(entry) {
    message.hidden = true;
    try {
      await social.removeEntry(list.id, entry.title_id);
    } catch (error) {
      fail(error);
      return;
    }
    entries = entries.filter((e) => e !== entry).map((e, i) => ({ ...e, position: i + 1 }));
    render();
  }

  function editNote(item, entry, index) {
    const text = h('textarea.note-input', { rows: 3, 'aria-label': `Note on ${name(entry)}` });
    text.value = entry.note ?? '';
    const save = h('button.button.primary.small', { type: 'submit' }, 'Save note');
    const form = h('form.stack.note-form', {
      onsubmit: async (event) => {
        event.preventDefault();
        message.hidden = true;
        save.disabled = true;
        try {
          const changed = await social.editEntry(list.id, entry.title_id, text.value.trim() || null);
          entries[index] = { ...entry, note: changed.note };
          render();
        } catch (error) {
          save.disabled = false;
          fail(error);
        }
      },
    }, text, h('div.row', {}, save, h('button.button.ghost.small', { type: 'button', onclick: render }, 'Cancel')));
    item.querySelector('.list-note')?.remove();
    item.querySelector('.entry-tools')?.replaceWith(form);
    text.focus();
  }

  function render() {
    const owner = mine();
    clear(holder, entries.length ? entries.map((entry, index) => {
      const item = h('li.entry.list-entry', { dataset: { titleId: entry.title_id } },
        h('div.row', {},
          list.ranked ? h('span.list-rank', { 'aria-label': `Rank ${index + 1}` }, String(index + 1)) : null,
          h('a', { href: `/titles/${encodeURIComponent(entry.title_id)}`, dataset: { link: '' } },
            h('strong', {}, name(entry))),
          entry.title?.start_year ? h('span.muted', {}, String(entry.title.start_year)) : null),
        entry.note ? h('p.list-note', {}, entry.note) : null);
      if (owner) {
        item.append(h('div.row.entry-tools', {},
          h('button.button.ghost.small.move-up', { type: 'button', 'aria-label': `Move ${name(entry)} up`, disabled: index === 0, onclick: () => move(index, -1) }, '↑'),
          h('button.button.ghost.small.move-down', { type: 'button', 'aria-label': `Move ${name(entry)} down`, disabled: index === entries.length - 1, onclick: () => move(index, 1) }, '↓'),
          h('button.button.ghost.small.edit-note', { type: 'button', 'aria-label': `Edit the note on ${name(entry)}`, onclick: () => editNote(item, entry, index) },
            entry.note ? 'Edit note' : 'Add a note'),
          h('button.button.ghost.small.remove-entry', { type: 'button', 'aria-label': `Remove ${name(entry)}`, onclick: () => remove(entry) }, 'Remove')));
      }
      return item;
    }) : h('li.muted', {}, 'This list has no titles yet.'));
  }

  load();
  const off = session.onChange(() => {
    if (!stopped) load();
  });
  return () => {
    stopped = true;
    off();
  };
}
