// A member's profile (/u/{handle}; the API also takes a user id there): the
// counts, follow/unfollow, favourites, and tabs for the diary, the reviews
// (diary entries with a review), lists, followers and following, and for
// one's own profile the watchlist (the API shows a watchlist only to its
// owner).
import { session, ApiError } from './api.js';
import { titleCard } from './catalog.js';
import { social, entryView } from './social.js';
import { h, clear } from './util.js';

const TABS = [['diary', 'Diary'], ['reviews', 'Reviews'], ['lists', 'Lists'], ['watchlist', 'Watchlist'], ['followers', 'Followers'], ['following', 'Following']];

function memberLink(member) {
  return h('a.member', { href: `/u/${encodeURIComponent(member.handle)}`, dataset: { link: '', handle: member.handle } }, `@${member.handle}`);
}

export function mountProfile(root, handle) {
  document.title = `@${handle} · cdlc`;
  let stopped = false;
  let profile = null;
  let tab = new URLSearchParams(location.search).get('tab') ?? 'diary';

  const counts = h('p.muted', { id: 'profile-counts' });
  const followButton = h('button.button', { type: 'button', id: 'follow-button', hidden: true, onclick: toggleFollow });
  const message = h('p.form-error', { role: 'alert', hidden: true });
  const favourites = h('div', { id: 'profile-favourites' });
  const tabs = h('div.chips', { role: 'tablist', id: 'profile-tabs' });
  const panel = h('div', { id: 'profile-panel', role: 'tabpanel' });
  root.append(
    h('div.page-head', {}, h('div', {}, h('h1', { id: 'profile-handle' }, `@${handle}`), counts), followButton),
    message, favourites, tabs, panel);

  const mine = () => session.user() && profile && session.user().id === profile.user.id;

  function fail(error) {
    message.hidden = false;
    message.textContent = error instanceof ApiError ? error.message : String(error);
  }

  async function load() {
    try {
      profile = await social.profile(handle);
    } catch (error) {
      if (stopped) return;
      clear(root, h('section.empty', {}, h('h1', {}, error.status === 404 ? 'No such member' : 'The profile cannot be loaded'),
        h('p.muted', {}, error instanceof ApiError ? error.message : String(error))));
      return;
    }
    if (stopped) return;
    const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    counts.textContent = [count(profile.diary_entries, 'diary entry', 'diary entries'), count(profile.lists, 'list', 'lists'),
      count(profile.followers, 'follower', 'followers'), `${profile.following} following`].join(' · ');
    followButton.hidden = !session.signedIn() || mine();
    followButton.textContent = profile.you_follow ? 'Following ✓' : 'Follow';
    followButton.setAttribute('aria-pressed', String(profile.you_follow));
    social.favourites(handle).then((list) => !stopped && clear(favourites, list.length
      ? h('section.title-row', {}, h('h2', {}, 'Favourites'), h('div.title-strip', {}, list.map((f) => (f.title ? titleCard(f.title) : null))))
      : null)).catch(() => {});
    renderTabs();
    renderPanel();
  }

  async function toggleFollow() {
    message.hidden = true;
    followButton.disabled = true;
    try {
      if (profile.you_follow) await social.unfollow(handle);
      else await social.follow(handle);
      await load();
    } catch (error) {
      fail(error);
    } finally {
      followButton.disabled = false;
    }
  }

  function renderTabs() {
    clear(tabs, TABS.filter(([key]) => key !== 'watchlist' || mine()).map(([key, text]) =>
      h('button.chip', { type: 'button', role: 'tab', 'aria-selected': String(key === tab), dataset: { tab: key },
        onclick: () => {
          tab = key;
          history.replaceState(null, '', `/u/${encodeURIComponent(handle)}${key === 'diary' ? '' : `?tab=${key}`}`);
          renderTabs();
          renderPanel();
        } }, text)));
  }

  let listForm = null;
  /** One's own Lists tab: make a list, then open its page. */
  function newListForm() {
    const name = h('input', { id: 'new-list-name', required: true, maxLength: 200, placeholder: 'Best of the decade' });
    const description = h('input', { id: 'new-list-description', maxLength: 5000, placeholder: 'What it is about (optional)' });
    const visibility = h('select', { id: 'new-list-visibility' },
      h('option', { value: 'public' }, 'Everyone'), h('option', { value: 'followers' }, 'Followers'),
      h('option', { value: 'link' }, 'Whoever has the link'), h('option', { value: 'private' }, 'Only me'));
    const ranked = h('input', { type: 'checkbox', id: 'new-list-ranked' });
    const error = h('p.form-error', { role: 'alert', hidden: true, id: 'new-list-error' });
    const create = h('button.button.primary', { type: 'submit' }, 'Create list');
    return h('form.card-section.stack', { id: 'new-list', onsubmit: async (event) => {
      event.preventDefault();
      error.hidden = true;
      create.disabled = true;
      try {
        const made = await social.createList({
          name: name.value.trim(), description: description.value.trim() || undefined,
          visibility: visibility.value, ranked: ranked.checked,
        });
        window.dispatchEvent(new CustomEvent('cdlc:navigate', { detail: `/lists/${encodeURIComponent(made.id)}` }));
      } catch (failure) {
        error.hidden = false;
        error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      } finally {
        create.disabled = false;
      }
    } }, h('h2', {}, 'New list'),
    h('label.field', {}, 'Name', name), h('label.field', {}, 'Description', description),
    h('div.row', {}, h('label.toolbar-group', {}, h('span.label', {}, 'Who sees it'), visibility),
      h('label.check', {}, ranked, 'Ranked')),
    error, h('div.row.end', {}, create));
  }

  async function renderPanel() {
    const shown = tab;
    clear(panel, h('p.muted', {}, 'Loading…'));
    let content;
    try {
      if (shown === 'diary' || shown === 'reviews') {
        const page = await social.diary(handle);
        const entries = shown === 'reviews' ? page.items.filter((e) => e.review) : page.items;
        content = entries.length ? h('ul.entries', { id: `profile-${shown}` }, entries.map((e) => entryView(e)))
          : h('p.muted', {}, shown === 'reviews' ? 'No reviews yet.' : 'Nothing logged yet.');
      } else if (shown === 'lists') {
        const page = await social.lists(handle);
        const list = page.items.length
          ? h('ul.entries', { id: 'profile-lists' }, page.items.map((l) => h('li.entry', { dataset: { list: l.id } },
            h('a', { href: `/lists/${encodeURIComponent(l.id)}`, dataset: { link: '' } }, h('strong', {}, l.name)),
            h('span.muted', {}, ` · ${l.entries} titles${l.ranked ? ' · ranked' : ''}${l.visibility !== 'public' ? ` · ${l.visibility}` : ''}`),
            l.description ? h('p.muted', {}, l.description) : null)))
          : h('p.muted', {}, 'No lists yet.');
        // One form per page, so a re-render of the tab keeps what was typed.
        listForm ??= newListForm();
        content = mine() ? h('div.stack', {}, listForm, list) : list;
      } else if (shown === 'watchlist') {
        const page = await social.watchlist();
        content = page.items.length
          ? h('div.title-grid', { id: 'profile-watchlist' }, page.items.map((item) => (item.title ? titleCard(item.title) : null)))
          : h('p.muted', {}, 'Your watchlist is empty: add titles from their pages.');
      } else {
        const page = shown === 'followers' ? await social.followers(handle) : await social.following(handle);
        const people = page.items.map((f) => f.user);
        content = people.length ? h('ul.members', { id: `profile-${shown}` }, people.map((m) => h('li', {}, memberLink(m))))
          : h('p.muted', {}, shown === 'followers' ? 'No followers yet.' : 'Follows nobody yet.');
      }
    } catch (error) {
      content = h('p.form-error', {}, error instanceof ApiError ? error.message : String(error));
    }
    if (!stopped && shown === tab) clear(panel, content);
  }

  load();
  const off = session.onChange(load);
  return () => {
    stopped = true;
    off();
  };
}
