// The account pages: sign up, my account (profile, preferences, sessions,
// API keys) and the admins' users page. Every write goes through `request`,
// which adds the CSRF header of the cookie session.
import { request, session, ApiError } from './api.js';
import { h, clear } from './util.js';

const SCOPES = ['assets:write', 'assets:read', 'edge:purge', 'catalog:import'];

function field(label, input) {
  return h('label.field', {}, label, input);
}

function errorLine() {
  const line = h('p.form-error', { hidden: true });
  return {
    element: line,
    show(error) {
      line.textContent = error instanceof ApiError || error instanceof Error ? error.message : String(error);
      line.hidden = false;
    },
    hide() {
      line.hidden = true;
    },
  };
}

function when(date) {
  return date ? new Date(date).toLocaleString() : '—';
}

export function mountSignUp(root) {
  document.title = 'Sign up · cdlc';
  const handle = h('input', { name: 'handle', id: 'sign-up-handle', required: true, minlength: '3', maxlength: '30', autocomplete: 'username' });
  const email = h('input', { name: 'email', id: 'sign-up-email', type: 'email', required: true, autocomplete: 'email' });
  const password = h('input', { name: 'password', id: 'sign-up-password', type: 'password', required: true, autocomplete: 'new-password' });
  const invite = h('input', { name: 'invite', id: 'sign-up-invite', autocomplete: 'off' });
  const error = errorLine();
  const form = h('form.stack.narrow', { id: 'sign-up-form' },
    h('h1', {}, 'Create an account'),
    h('p.muted', {}, 'New accounts are viewers; an admin can make you an uploader.'),
    field('Handle', handle), field('Email', email), field('Password', password),
    field('Invite code (when sign-up is by invitation)', invite),
    error.element,
    h('div.row.end', {}, h('button.button.primary', { type: 'submit' }, 'Sign up')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hide();
    try {
      const json = { handle: handle.value.trim(), email: email.value.trim(), password: password.value };
      if (invite.value.trim()) json.invite = invite.value.trim();
      await request('/api/v1/accounts/sign-up', { method: 'POST', json });
      await session.signIn(json.handle, json.password);
      window.dispatchEvent(new CustomEvent('cdlc:navigate', { detail: '/account' }));
    } catch (e) {
      error.show(e);
    }
  });
  root.append(form);
}

export function mountAccount(root) {
  document.title = 'My account · cdlc';
  const body = h('div', {});
  root.append(h('div.page-head', {}, h('h1', {}, 'My account')), body);
  let shown;
  function render() {
    const user = session.user();
    // A saved profile changes the user too: redraw only for another account.
    if (shown !== undefined && (user?.id ?? null) === shown) return;
    shown = user?.id ?? null;
    if (!user) {
      clear(body, h('div.notice', {}, session.token()
        ? 'The root token has no account: sign in with an account to manage one.'
        : 'Sign in to see your account.'));
      return;
    }
    clear(body, h('div.account-grid', {}, profile(user), sessions(), keys()));
  }
  const off = session.onChange(render);
  render();
  return off;
}

function profile(user) {
  const name = h('input', { id: 'profile-name', value: user.display_name, maxlength: '80' });
  const bio = h('textarea', { id: 'profile-bio', maxlength: '2000' }, user.bio);
  const language = h('input', { id: 'pref-language', value: user.preferences.language, maxlength: '35' });
  const subtitles = h('input', { type: 'checkbox', id: 'pref-subtitles', checked: user.preferences.subtitles });
  const autoplay = h('input', { type: 'checkbox', id: 'pref-autoplay', checked: user.preferences.autoplay });
  const error = errorLine();
  const saved = h('span.muted', { hidden: true }, 'Saved.');
  const form = h('form.stack', { id: 'profile-form' },
    h('h2', {}, 'Profile and preferences'),
    h('p.muted', {}, `@${user.handle} · ${user.email} · ${user.role}`),
    field('Display name', name), field('Bio', bio), field('Language', language),
    h('label.check', {}, subtitles, h('span', {}, 'Subtitles on')),
    h('label.check', {}, autoplay, h('span', {}, 'Autoplay')),
    error.element,
    h('div.row.end', {}, saved, h('button.button.primary', { type: 'submit' }, 'Save')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hide();
    saved.hidden = true;
    try {
      const answer = await request('/api/v1/accounts/me', {
        method: 'PATCH',
        json: {
          display_name: name.value,
          bio: bio.value,
          preferences: { language: language.value, subtitles: subtitles.checked, autoplay: autoplay.checked },
        },
      });
      saved.hidden = false;
      session.setUser(answer.user);
    } catch (e) {
      error.show(e);
    }
  });
  return form;
}

function sessions() {
  const list = h('tbody', {});
  const error = errorLine();
  async function load() {
    try {
      const { items } = await request('/api/v1/accounts/me/sessions');
      clear(list, items.map((s) => h('tr', {},
        h('td', {}, s.user_agent || 'unknown browser', s.current ? h('span.badge', {}, ' this one') : null),
        h('td', {}, s.ip), h('td', {}, when(s.last_seen_at)),
        h('td', {}, s.current ? null : h('button.button.small.ghost', {
          type: 'button',
          onclick: async () => {
            await request(`/api/v1/accounts/me/sessions/${encodeURIComponent(s.id)}`, { method: 'DELETE' }).catch(error.show);
            load();
          },
        }, 'Revoke')))));
    } catch (e) {
      error.show(e);
    }
  }
  load();
  return h('section', { id: 'my-sessions' }, h('h2', {}, 'My sessions'),
    h('div.table-wrap', {}, h('table.table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Browser'), h('th', {}, 'Address'), h('th', {}, 'Last used'), h('th', {}))), list)),
    error.element);
}

function keys() {
  const list = h('tbody', {});
  const error = errorLine();
  const shown = h('div', { id: 'new-key' });
  const name = h('input', { id: 'key-name', required: true, maxlength: '80', placeholder: 'e.g. ingest script' });
  const boxes = SCOPES.map((scope) => h('input', { type: 'checkbox', value: scope, dataset: { scope } }));
  const days = h('input', { id: 'key-days', type: 'number', min: '1', max: '3650', placeholder: 'never' });
  async function load() {
    try {
      const { items } = await request('/api/v1/accounts/me/api-keys');
      clear(list, items.map((k) => h('tr', {},
        h('td', {}, k.name), h('td', {}, h('code', {}, `cdlc_k_${k.prefix}_…`)), h('td', {}, k.scopes.join(' ')),
        h('td', {}, when(k.last_used_at)),
        h('td', {}, h('button.button.small.ghost', {
          type: 'button',
          onclick: async () => {
            await request(`/api/v1/accounts/me/api-keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' }).catch(error.show);
            load();
          },
        }, 'Revoke')))));
    } catch (e) {
      error.show(e);
    }
  }
  const form = h('form.stack', { id: 'key-form' }, field('Name', name),
    h('div.row', {}, boxes.map((box) => h('label.check', {}, box, h('span', {}, box.value)))),
    field('Expires in days', days),
    h('div.row.end', {}, h('button.button.primary', { type: 'submit' }, 'Create key')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hide();
    try {
      const json = { name: name.value.trim(), scopes: boxes.filter((b) => b.checked).map((b) => b.value) };
      if (days.value) json.expires_in_days = Number(days.value);
      const answer = await request('/api/v1/accounts/me/api-keys', { method: 'POST', json });
      // The secret is shown this once: the server keeps only its hash.
      clear(shown, h('p', {}, 'Copy the key now; it is not shown again:'), h('p.secret', { id: 'new-key-secret' }, answer.secret));
      name.value = '';
      load();
    } catch (e) {
      error.show(e);
    }
  });
  load();
  return h('section', { id: 'my-keys' }, h('h2', {}, 'API keys'),
    h('div.table-wrap', {}, h('table.table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Key'), h('th', {}, 'Scopes'), h('th', {}, 'Last used'), h('th', {}))), list)),
    shown, form, error.element);
}

export function mountUsers(root) {
  document.title = 'Users · cdlc';
  const list = h('tbody', {});
  const error = errorLine();
  const more = h('button.button.small', { type: 'button', hidden: true }, 'More');
  let cursor = null;
  async function load(reset) {
    if (!session.can('admin')) {
      clear(list);
      error.show('The users page is for admins.');
      return;
    }
    error.hide();
    try {
      const query = new URLSearchParams({ limit: '50' });
      if (cursor && !reset) query.set('cursor', cursor);
      const page = await request(`/api/v1/accounts/users?${query}`);
      if (reset) clear(list);
      list.append(...page.items.map(row));
      cursor = page.next;
      more.hidden = !cursor;
    } catch (e) {
      error.show(e);
    }
  }
  function row(user) {
    const role = h('select', { dataset: { user: user.handle } },
      ['viewer', 'uploader', 'admin'].map((r) => h('option', { value: r, selected: r === user.role }, r)));
    role.addEventListener('change', () =>
      request(`/api/v1/accounts/users/${encodeURIComponent(user.id)}`, { method: 'PATCH', json: { role: role.value } }).catch(error.show));
    const remove = h('button.button.small.danger', {
      type: 'button',
      onclick: async () => {
        if (!confirm(`Delete the account @${user.handle} and everything the plugins hold of it?`)) return;
        try {
          await request(`/api/v1/accounts/users/${encodeURIComponent(user.id)}`, { method: 'DELETE' });
          element.remove();
        } catch (e) {
          error.show(e);
        }
      },
    }, 'Delete');
    const element = h('tr', { dataset: { handle: user.handle } }, h('td', {}, `@${user.handle}`), h('td', {}, user.email),
      h('td', {}, role), h('td', {}, when(user.created_at)), h('td', {}, remove));
    return element;
  }
  more.addEventListener('click', () => load(false));
  root.append(h('div.page-head', {}, h('h1', {}, 'Users')), error.element,
    h('div.table-wrap', {}, h('table.table', { id: 'users' }, h('thead', {}, h('tr', {}, h('th', {}, 'Handle'), h('th', {}, 'Email'), h('th', {}, 'Role'), h('th', {}, 'Since'), h('th', {}))), list)),
    more);
  const off = session.onChange(() => load(true));
  load(true);
  return off;
}
