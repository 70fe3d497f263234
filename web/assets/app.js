// The app: a router over the pages the gallery serves (/, /mine, /upload, /watch/{id},
// /signin, /signin/callback); links within the app change the page without a reload.
import { config } from './config.js';
import { gallery, stream, query, APIError } from './api.js';
import { user, userName, devSignIn, cognitoSignIn, cognitoCallback, signOut } from './auth.js';
import { h, clock, views, day, debounce } from './util.js';
import { createPlayer } from './player.js';
import { uploadPage } from './upload.js';

const main = document.getElementById('main');
const search = document.getElementById('q');
let cleanups = [];
const onLeave = (fn) => cleanups.push(fn);

export function navigate(url, { replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  route();
}

function header() {
  const who = document.getElementById('who');
  const name = userName();
  who.replaceChildren(name
    ? h('span', {}, h('span', { class: 'muted hide-narrow' }, `Signed in as ${name} `), h('button', { type: 'button', onclick: signOut, title: `Signed in as ${name}` }, 'Sign out'))
    : h('a', { href: `/signin?next=${encodeURIComponent(location.pathname + location.search)}`, class: 'button' }, 'Sign in'));
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (location.pathname === `/${a.dataset.nav}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

async function route() {
  for (const fn of cleanups.splice(0)) fn();
  header();
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  if (path !== '/') search.value = '';
  main.replaceChildren();
  let m;
  try {
    if (path === '/') await galleryPage(params);
    else if (path === '/mine') await minePage(params);
    else if (path === '/upload') await uploadPage(main, { navigate, onLeave, requireUser });
    else if ((m = path.match(/^\/watch\/([^/]+)$/))) await watchPage(decodeURIComponent(m[1]), params.get('key'));
    else if (path === '/signin') signInPage(params);
    else if (path === '/signin/callback') await callbackPage();
    else notFound();
  } catch (e) {
    main.replaceChildren(h('div', { class: 'notice' }, h('p', { class: 'error', role: 'alert' }, problem(e))));
  }
}

function problem(e) {
  if (e instanceof APIError && e.status === 503) return 'The service is busy or one of its parts is down. Try again in a moment.';
  return e.message || String(e);
}

function notFound() {
  document.title = 'Not found · VideoForge';
  main.append(h('div', { class: 'notice' }, h('h1', {}, 'Nothing here'), h('p', {}, h('a', { href: '/' }, 'Back to the gallery'))));
}

function requireUser() {
  if (user()) return true;
  navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
  return false;
}

// ---- the gallery: listing, search as you type, sort, pages

const PAGE = 24;
const SORTS = [['', 'Relevance'], ['-createdAt', 'Newest'], ['createdAt', 'Oldest'], ['title', 'Title'], ['views', 'Most viewed']];

function card(v) {
  const href = `/watch/${v.id}${v.shareKey && v.visibility === 'unlisted' ? `?key=${encodeURIComponent(v.shareKey)}` : ''}`;
  return h('li', { class: 'card' }, h('a', { href },
    h('div', { class: 'thumb' },
      v.thumbnailUrl ? h('img', { src: v.thumbnailUrl, alt: '', loading: 'lazy', width: 320, height: 180 }) : null,
      v.duration ? h('span', { class: 'duration' }, clock(v.duration)) : null),
    h('h2', {}, v.title),
    h('p', { class: 'muted' }, `${views(v.views)} · ${day(v.createdAt)}`),
    v.status !== 'ready' || v.visibility !== 'public'
      ? h('p', {}, v.status !== 'ready' ? h('span', { class: `badge ${v.status}` }, v.status) : null, ' ',
        v.visibility !== 'public' ? h('span', { class: 'badge' }, v.visibility) : null)
      : null));
}

async function galleryPage(params) {
  const q = params.get('q') || '';
  const sort = params.get('sort') ?? (q ? '' : '-createdAt');
  const page = Math.max(1, Number(params.get('page')) || 1);
  document.title = q ? `${q} · VideoForge` : 'VideoForge';
  search.value = q;
  const ctl = new AbortController();
  onLeave(() => ctl.abort());
  // Past the first pages the gallery goes on by cursor (the API serves page numbers only
  // so deep); page is then only shown.
  const cursor = params.get('cursor') || '';
  const list = await gallery(`/videos${query(cursor ? { cursor, limit: PAGE, search: q, sort } : { page, limit: PAGE, search: q, sort })}`, { signal: ctl.signal });
  const { total, totalPages } = list.pagination;
  const link = (p, next) => `/${query({ q, sort: sort === (q ? '' : '-createdAt') ? '' : sort, page: p > 1 ? p : '', cursor: next })}`;
  const sorter = h('select', { id: 'sort', 'aria-label': 'Sort by',
    onchange: (e) => navigate(`/${query({ q, sort: e.target.value === (q ? '' : '-createdAt') ? '' : e.target.value })}`, { replace: true }) },
  SORTS.filter(([v]) => q || v !== '').map(([v, label]) => h('option', { value: v, selected: v === sort }, label)));
  main.append(
    h('div', { class: 'toolbar' },
      h('h1', { class: 'count' }, q ? `${list.pagination.totalEstimated ? 'About ' : ''}${total} result${total === 1 ? '' : 's'} for “${q}”` : 'Videos'),
      h('label', { for: 'sort', class: 'muted' }, 'Sort'), sorter));
  if (!list.videos.length) {
    main.append(h('div', { class: 'empty' }, q
      ? h('p', {}, 'No video matches. Try other words.')
      : [h('p', {}, 'No videos yet.'), h('p', {}, h('a', { href: '/upload', class: 'button primary' }, 'Upload the first one')),
        config.auth.mode === 'dev' ? h('p', { class: 'muted' }, 'Or fill the catalog with demo videos: ',
          h('code', {}, 'videoforge seed -videos 8 -playable')) : null]));
    return;
  }
  main.append(h('ul', { class: 'grid', id: 'videos' }, list.videos.map(card)));
  if (totalPages > 1 || cursor) {
    const next = list.pagination.nextCursor;
    main.append(h('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 1 ? (cursor
        ? h('button', { type: 'button', onclick: () => history.back(), rel: 'prev' }, '← Back')
        : h('a', { href: link(page - 1), class: 'button', rel: 'prev' }, '← Newer')) : null,
      h('span', { class: 'muted' }, `Page ${page} of ${list.pagination.totalEstimated ? 'about ' : ''}${totalPages}`),
      next ? h('a', { href: link(page + 1, next), class: 'button', rel: 'next' }, 'More →')
        : page < totalPages && !cursor ? h('a', { href: link(page + 1), class: 'button', rel: 'next' }, 'More →') : null));
  }
}

// Searching as one types: the URL follows the box, a quarter of a second after the last key.
const typed = debounce(() => {
  const q = search.value.trim();
  const params = new URLSearchParams(location.search);
  if (location.pathname === '/' && (params.get('q') || '') === q) return;
  navigate(`/${query({ q })}`, { replace: location.pathname === '/' });
}, 250);
search.addEventListener('input', typed);
search.form.addEventListener('submit', (e) => { e.preventDefault(); typed(); });

// ---- my videos: every status and visibility, edit and delete

async function minePage(params) {
  if (!requireUser()) return;
  document.title = 'My videos · VideoForge';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const list = await gallery(`/videos${query({ userId: user(), page, limit: 50, sort: '-createdAt' })}`);
  main.append(h('div', { class: 'toolbar' }, h('h1', { class: 'count' }, 'My videos'),
    h('a', { href: '/upload', class: 'button primary' }, 'Upload')));
  if (!list.videos.length) {
    main.append(h('div', { class: 'empty' }, h('p', {}, 'You have not uploaded a video yet.')));
    return;
  }
  const rows = list.videos.map((v) => h('tr', { dataset: { id: v.id } },
    h('td', { class: 'hide-narrow' }, v.thumbnailUrl ? h('img', { src: v.thumbnailUrl, alt: '' }) : null),
    h('td', {}, h('a', { href: `/watch/${v.id}` }, v.title), h('div', { class: 'muted' }, `${views(v.views)} · ${day(v.createdAt)}`)),
    h('td', {}, h('span', { class: `badge ${v.status}` }, v.status)),
    h('td', { class: 'hide-narrow' }, v.visibility),
    h('td', {}, h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'edit', onclick: () => editVideo(v, () => route()) }, 'Edit'),
      h('button', { type: 'button', class: 'danger delete', onclick: () => deleteVideo(v, () => route()) }, 'Delete')))));
  main.append(h('table', { class: 'mine' },
    h('thead', {}, h('tr', {}, h('th', { class: 'hide-narrow' }, ''), h('th', {}, 'Title'), h('th', {}, 'Status'),
      h('th', { class: 'hide-narrow' }, 'Visibility'), h('th', {}, ''))),
    h('tbody', {}, rows)));
  const { totalPages } = list.pagination;
  if (totalPages > 1) {
    main.append(h('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 1 ? h('a', { href: `/mine?page=${page - 1}`, class: 'button' }, '← Newer') : null,
      h('span', { class: 'muted' }, `Page ${page} of ${totalPages}`),
      page < totalPages ? h('a', { href: `/mine?page=${page + 1}`, class: 'button' }, 'Older →') : null));
  }
}

function dialog(...content) {
  const d = h('dialog', {}, ...content);
  document.body.append(d);
  d.addEventListener('close', () => d.remove());
  d.showModal();
  return d;
}

function editVideo(v, done) {
  const title = h('input', { type: 'text', name: 'title', required: true, maxlength: 200, value: v.title });
  const description = h('textarea', { name: 'description', maxlength: 5000 });
  description.value = v.description || '';
  const visibility = h('select', { name: 'visibility' },
    ['public', 'unlisted', 'private'].map((x) => h('option', { value: x, selected: x === v.visibility }, x)));
  const status = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { method: 'dialog', class: 'form' },
    h('h2', {}, 'Edit video'),
    h('label', {}, 'Title', title), h('label', {}, 'Description', description), h('label', {}, 'Visibility', visibility),
    status,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', value: 'save' }, 'Save'),
      h('button', { type: 'button', onclick: () => d.close() }, 'Cancel')));
  const d = dialog(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const updated = await gallery(`/videos/${v.id}`, { method: 'PUT',
        body: { title: title.value.trim(), description: description.value, visibility: visibility.value } });
      d.close();
      done(updated);
    } catch (err) { status.textContent = problem(err); }
  });
}

function deleteVideo(v, done) {
  const status = h('p', { class: 'error', role: 'alert' });
  const d = dialog(h('h2', {}, 'Delete this video?'),
    h('p', {}, `“${v.title}” and all of its renditions are removed for good.`), status,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger confirm', onclick: async () => {
        try { await gallery(`/videos/${v.id}`, { method: 'DELETE' }); d.close(); done(); } catch (err) { status.textContent = problem(err); }
      } }, 'Delete'),
      h('button', { type: 'button', onclick: () => d.close() }, 'Cancel')));
}

// ---- watch: the player, the video's details, sharing, and its owner's actions

async function watchPage(id, key) {
  const q = key ? `?key=${encodeURIComponent(key)}` : '';
  let v;
  try {
    v = await gallery(`/videos/${encodeURIComponent(id)}${q}`);
  } catch (e) {
    if (e instanceof APIError && (e.status === 404 || e.status === 400)) return gone();
    throw e;
  }
  document.title = `${v.title} · VideoForge`;
  const stage = h('div', { id: 'stage' });
  const shareKey = key || v.shareKey;
  const keyQuery = shareKey && v.visibility === 'unlisted' ? `?key=${encodeURIComponent(shareKey)}` : '';
  const embedURL = `${location.origin}/embed/${v.id}${keyQuery}`;
  const snippet = `<iframe src="${embedURL}" width="640" height="360" title="${v.title.replace(/"/g, '&quot;')}" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>`;
  const snippetBox = h('textarea', { id: 'embed-code', readonly: true, rows: 3, 'aria-label': 'Embed code' });
  snippetBox.value = snippet;
  const mine = user() && user() === v.userId;
  main.append(h('div', { class: 'watch' }, stage,
    h('section', { class: 'meta' },
      h('h1', { id: 'title' }, v.title),
      h('p', { class: 'stats' }, `${views(v.views)} · ${day(v.createdAt)}`,
        v.visibility !== 'public' ? [' · ', h('span', { class: 'badge' }, v.visibility)] : null),
      mine ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'edit', onclick: () => editVideo(v, () => route()) }, 'Edit'),
        h('button', { type: 'button', class: 'danger delete', onclick: () => deleteVideo(v, () => navigate('/mine')) }, 'Delete')) : null,
      v.description ? h('p', { class: 'description' }, v.description) : null,
      h('details', { class: 'share' }, h('summary', {}, 'Share and embed'),
        h('p', {}, 'Link: ', h('a', { href: `/watch/${v.id}${keyQuery}` }, `${location.origin}/watch/${v.id}${keyQuery}`)),
        snippetBox,
        h('button', { type: 'button', onclick: async () => {
          snippetBox.select();
          try { await navigator.clipboard.writeText(snippet); } catch { document.execCommand('copy'); }
        } }, 'Copy embed code')))));
  await play(stage, v, keyQuery);
}

function gone() {
  document.title = 'Not available · VideoForge';
  main.append(h('div', { class: 'notice', id: 'gone' }, h('h1', {}, 'This video is not available'),
    h('p', { class: 'muted' }, 'It may have been deleted, or it is private.'), h('p', {}, h('a', { href: '/' }, 'Back to the gallery'))));
}

// play shows the player once the video plays, or what it waits for.
async function play(stage, v, keyQuery) {
  if (v.status === 'failed') {
    stage.append(h('div', { class: 'notice', id: 'state' }, h('h2', {}, 'This video could not be processed'),
      h('p', { class: 'muted' }, 'Its upload was not a video we can play, or processing failed. Upload it again.')));
    return;
  }
  if (v.status !== 'ready') {
    const bar = h('progress', { max: 100 });
    const note = h('p', { class: 'muted' }, 'It plays as soon as its first rendition is ready.');
    stage.append(h('div', { class: 'notice', id: 'state' }, h('h2', {}, 'This video is still processing'), bar, note));
    const timer = setInterval(async () => {
      try {
        const now = await gallery(`/videos/${v.id}${keyQuery}`);
        if (now.status !== v.status) { clearInterval(timer); stage.replaceChildren(); v = now; play(stage, now, keyQuery); return; }
        if (v.jobId && user() === v.userId) {
          const job = await gallery(`/jobs/${v.jobId}`);
          if (job.progress != null) bar.value = job.progress;
        }
      } catch { /* keep waiting */ }
    }, 2000);
    onLeave(() => clearInterval(timer));
    return;
  }
  let s;
  try {
    s = await stream(`/${v.id}${keyQuery}`);
  } catch (e) {
    if (e instanceof APIError && e.status === 409) { v.status = 'processing'; return play(stage, v, keyQuery); }
    if (e instanceof APIError && e.status === 404) { stage.replaceChildren(); return gone(); }
    throw e;
  }
  const player = createPlayer(stage);
  onLeave(() => player.destroy());
  await player.load(s.url, { poster: v.thumbnailUrl });
  if (v.ladderComplete === false) {
    // More renditions are coming: once the ladder is complete, the player takes the
    // whole master playlist where it is.
    // Playlists are cached for seconds (by the browser, the CDN): until the player holds
    // every rendition the edge lists, it loads the master again.
    let tries = 0;
    const timer = setInterval(async () => {
      try {
        const now = await gallery(`/videos/${v.id}${keyQuery}`);
        if (!now.ladderComplete) return;
        const q = await stream(`/${v.id}/qualities${keyQuery}`);
        const held = player.hls ? player.hls.levels.length : q.qualities.length;
        if (held >= q.qualities.length || ++tries > 12) { clearInterval(timer); return; }
        await player.load(s.url); // the same URL: asking the edge again would count a view
      } catch { /* try at the next tick */ }
    }, 3000);
    onLeave(() => clearInterval(timer));
  }
}

// ---- signing in

function signInPage(params) {
  document.title = 'Sign in · VideoForge';
  const next = params.get('next') || '/';
  const safeNext = next.startsWith('/') && !next.startsWith('//') ? next : '/';
  if (config.auth.mode === 'cognito') {
    main.append(h('div', { class: 'notice' }, h('h1', {}, 'Sign in'), h('p', {}, 'You will sign in on the account page and come back here.'),
      h('button', { type: 'button', class: 'primary', id: 'signin', onclick: () => cognitoSignIn(safeNext) }, 'Continue to sign in')));
    return;
  }
  if (config.auth.mode !== 'dev') {
    main.append(h('div', { class: 'notice' }, h('p', {}, 'Signing in is not configured on this server.')));
    return;
  }
  const name = h('input', { type: 'text', id: 'user', name: 'user', required: true, autocomplete: 'username',
    pattern: '[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}', value: user() || '' });
  const status = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'form' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'This is the dev stack: any user name signs in as that user.'),
    h('label', {}, 'User name', name), status,
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await devSignIn(name.value.trim()); navigate(safeNext, { replace: true }); } catch (err) { status.textContent = problem(err); }
  });
  main.append(form);
  name.focus();
}

async function callbackPage() {
  document.title = 'Signing in · VideoForge';
  main.append(h('p', { class: 'muted' }, 'Signing in…'));
  const next = await cognitoCallback();
  navigate(next, { replace: true });
}

// ---- links within the app

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target || a.origin !== location.origin || a.hasAttribute('download')) return;
  if (!/^\/($|mine$|upload$|watch\/|signin$)/.test(a.pathname)) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});
window.addEventListener('popstate', route);
route();
