// The single-page shell: a router over history URLs (/, /upload,
// /assets/{id}, /titles/{id}, /u/{handle}, /lists/{id}…), the header's search and the
// sign-in control. The server answers those URLs with
// this same page, so links can be shared and reloaded.
import './style.css';
import { session } from './api.js';
import { h, clear } from './util.js';
import { mountLibrary } from './library.js';
import { mountUpload } from './upload.js';
import { mountAsset } from './asset.js';
import { mountSignUp, mountAccount, mountUsers } from './account.js';
import { mountShowtimes, mountShowtime, mountOrders, mountSubscriptions, mountCheckIn } from './booking.js';
import { mountDashboards } from './dashboards.js';
import { mountTitle, mountPerson } from './title.js';
import { mountTitleEditor, mountPersonEditor, mountImport } from './catalog-admin.js';
import { mountBrowse } from './browse.js';
import { mountProfile } from './profile.js';
import { mountList } from './list.js';
import { mountSearch } from './search.js';
import { social } from './social.js';

const routes = [
  { pattern: /^\/$/, nav: 'library', mount: mountLibrary },
  { pattern: /^\/upload\/?$/, nav: 'upload', mount: mountUpload },
  { pattern: /^\/sign-up\/?$/, nav: 'account', mount: mountSignUp },
  { pattern: /^\/account\/?$/, nav: 'account', mount: mountAccount },
  { pattern: /^\/admin\/users\/?$/, nav: 'users', mount: mountUsers },
  { pattern: /^\/admin\/analytics\/?$/, nav: 'analytics', mount: mountDashboards },
  { pattern: /^\/assets\/([^/]+)\/?$/, nav: 'library', mount: (root, [id]) => mountAsset(root, decodeURIComponent(id)) },
  { pattern: /^\/showtimes\/?$/, nav: 'showtimes', mount: mountShowtimes },
  { pattern: /^\/showtimes\/([^/]+)\/?$/, nav: 'showtimes', mount: (root, [id]) => mountShowtime(root, decodeURIComponent(id)) },
  { pattern: /^\/orders\/?$/, nav: 'orders', mount: mountOrders },
  { pattern: /^\/subscription\/?$/, nav: 'subscription', mount: mountSubscriptions },
  { pattern: /^\/check-in\/?$/, nav: 'check-in', mount: mountCheckIn },
  { pattern: /^\/titles\/?$/, nav: 'titles', mount: mountBrowse },
  { pattern: /^\/catalog\/titles\/new\/?$/, nav: 'titles', mount: (root) => mountTitleEditor(root, null) },
  { pattern: /^\/catalog\/people\/new\/?$/, nav: 'titles', mount: (root) => mountPersonEditor(root, null) },
  { pattern: /^\/catalog\/import\/?$/, nav: 'titles', mount: mountImport },
  { pattern: /^\/titles\/([^/]+)\/edit\/?$/, nav: 'titles', mount: (root, [id]) => mountTitleEditor(root, decodeURIComponent(id)) },
  { pattern: /^\/people\/([^/]+)\/edit\/?$/, nav: 'titles', mount: (root, [id]) => mountPersonEditor(root, decodeURIComponent(id)) },
  { pattern: /^\/titles\/([^/]+)\/?$/, nav: 'titles', mount: (root, [id]) => mountTitle(root, decodeURIComponent(id)) },
  { pattern: /^\/people\/([^/]+)\/?$/, nav: 'titles', mount: (root, [id]) => mountPerson(root, decodeURIComponent(id)) },
  { pattern: /^\/u\/([^/]+)\/?$/, nav: 'profile', mount: (root, [handle]) => mountProfile(root, decodeURIComponent(handle)) },
  { pattern: /^\/lists\/([^/]+)\/?$/, nav: 'profile', mount: (root, [id]) => mountList(root, decodeURIComponent(id)) },
];

const app = document.getElementById('app');
let unmount = null;

function render() {
  unmount?.();
  unmount = null;
  for (const key of Object.keys(app.dataset)) delete app.dataset[key];
  const path = location.pathname;
  const route = routes.find((r) => r.pattern.test(path));
  document.querySelectorAll('[data-nav]').forEach((link) => {
    link.classList.toggle('active', route?.nav === link.dataset.nav);
  });
  if (!route) {
    document.title = 'Not found · cdlc';
    clear(
      app,
      h('section.empty', {}, h('h1', {}, 'Page not found'), h('p.muted', {}, `Nothing lives at ${path}.`),
        h('a.button.primary', { href: '/', dataset: { link: '' } }, 'Back to the library')),
    );
    return;
  }
  const params = path.match(route.pattern).slice(1);
  app.replaceChildren();
  unmount = route.mount(app, params) ?? null;
  window.scrollTo(0, 0);
}

export function navigate(url) {
  if (url === location.pathname + location.search) return;
  history.pushState(null, '', url);
  render();
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-link]');
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});
window.addEventListener('popstate', render);
window.addEventListener('cdlc:navigate', (event) => navigate(event.detail));

// Sign-in: an account (the server sets its cookie), or the root token.
const dialog = document.getElementById('sign-in');
const tokenInput = document.getElementById('sign-in-token');
const loginInput = document.getElementById('sign-in-login');
const passwordInput = document.getElementById('sign-in-password');
const signInError = document.getElementById('sign-in-error');
document.getElementById('sign-in-cancel').addEventListener('click', () => dialog.close());
document.getElementById('sign-up-link').addEventListener('click', () => dialog.close());
document.getElementById('sign-in-form').addEventListener('submit', () => {
  if (tokenInput.value.trim()) session.signInWithToken(tokenInput.value);
  tokenInput.value = '';
});
document.getElementById('sign-in-account-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  signInError.hidden = true;
  try {
    await session.signIn(loginInput.value.trim(), passwordInput.value);
    passwordInput.value = '';
    dialog.close();
  } catch (error) {
    signInError.textContent = error.message;
    signInError.hidden = false;
  }
});

export function askForToken() {
  signInError.hidden = true;
  document.getElementById('sign-in-root').open = false;
  dialog.showModal();
  loginInput.focus();
}
window.addEventListener('cdlc:sign-in', askForToken);

mountSearch(document.getElementById('search'), navigate);

// Social names people by handle once they have made a social request
// (the plugin API has no user lookup): one at sign-in makes a new account
// findable and followable at once.
let remembered = null;
function renderSession() {
  const holder = document.getElementById('session');
  document.getElementById('nav-upload').hidden = session.signedIn() && !session.can('uploader');
  document.getElementById('nav-users').hidden = !session.can('admin');
  document.getElementById('nav-analytics').hidden = !session.can('admin');
  const me = session.user();
  const profileLink = document.getElementById('nav-profile');
  profileLink.hidden = !me;
  if (me) {
    profileLink.setAttribute('href', `/u/${encodeURIComponent(me.handle)}`);
    if (remembered !== me.id) {
      remembered = me.id;
      social.profile(me.handle).catch(() => {});
    }
  }
  if (session.signedIn()) {
    const who = session.user()
      ? h('a.pill', { href: '/account', dataset: { link: '' }, id: 'session-user', title: `Signed in as ${session.label()} (${session.role()})` },
        h('span.dot', {}), session.label(), h('span.muted', {}, ` · ${session.role()}`))
      : h('span.pill', { title: 'Signed in with the root token', id: 'session-user' }, h('span.dot', {}), 'Admin');
    clear(
      holder,
      who,
      h('button.button.ghost.small', { type: 'button', id: 'sign-out-button', onclick: () => session.signOut() }, 'Sign out'),
    );
  } else {
    clear(holder, h('button.button.small', { type: 'button', id: 'sign-in-button', onclick: askForToken }, 'Sign in'));
  }
}
session.onChange(renderSession);
renderSession();
render();
// A reload keeps the cookie: ask the server whose it is (pages follow session changes).
if (!session.token()) session.refresh();
