// The console's shell: the session, the live connection, the company's zone, the pages.
import { html, render, useState, useEffect, useMemo } from './ui.js';
import { api, session } from './api.js';
import { Live } from './live.js';
import { t, setZone } from './i18n.js';
import { Login, LanguageSwitch } from './login.js';
import { Inbox } from './inbox.js';
import { Conversation } from './conversation.js';
import { Users, Integrations } from './admin.js';

function route() {
  const h = location.hash.replace(/^#/, '') || '/';
  const m = h.match(/^\/tickets\/(\d+)$/);
  if (m) return { page: 'inbox', ticket: Number(m[1]) };
  if (h === '/users') return { page: 'users' };
  if (h === '/integrations') return { page: 'integrations' };
  return { page: 'inbox', ticket: null };
}

function App() {
  const [me, setMe] = useState(session.get());
  const [where, setWhere] = useState(route());
  const [, setTick] = useState(0);
  const [liveState, setLiveState] = useState('connecting');
  const [users, setUsers] = useState([]);
  const [reloads, setReloads] = useState(0);
  const live = useMemo(() => (me ? new Live() : null), [me && me.token]);
  const rerender = () => setTick((n) => n + 1);

  // Keys: `/` searches the inbox, Escape goes back to it (from a conversation on a phone).
  useEffect(() => {
    const onKey = (e) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement && document.activeElement.tagName);
      if (e.key === '/' && !typing) {
        const search = document.querySelector('.filters input[name=q]');
        if (search) {
          e.preventDefault();
          search.focus();
        }
      } else if (e.key === 'Escape' && location.hash.startsWith('#/tickets/')) {
        location.hash = '#/';
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    const onHash = () => setWhere(route());
    const onEnded = () => { session.clear(); setMe(null); };
    addEventListener('hashchange', onHash);
    addEventListener('omni:session-ended', onEnded);
    addEventListener('omni:language', rerender);
    return () => {
      removeEventListener('omni:language', rerender);
      removeEventListener('hashchange', onHash);
      removeEventListener('omni:session-ended', onEnded);
    };
  }, []);

  // The token's end is the session's: back to the login page then, not a stuck screen.
  useEffect(() => {
    if (!me) return undefined;
    const left = Math.min(me.expires_at - Date.now(), 2 ** 31 - 1);
    const timer = setTimeout(() => dispatchEvent(new Event('omni:session-ended')), Math.max(left, 0));
    return () => clearTimeout(timer);
  }, [me && me.token]);

  useEffect(() => {
    if (!live) return undefined;
    const onState = (e) => setLiveState(e.detail);
    const onReset = () => setReloads((n) => n + 1);
    live.addEventListener('state', onState);
    live.addEventListener('reset', onReset);
    live.start();
    if (me.user.company_id) {
      api(`/companies/${me.user.company_id}`)
        .then((c) => { setZone(c.settings && c.settings.timezone); rerender(); })
        .catch(() => {});
    }
    api('/users?limit=200').then((p) => setUsers(p.data)).catch(() => {});
    return () => {
      live.removeEventListener('state', onState);
      live.removeEventListener('reset', onReset);
      live.stop();
    };
  }, [live]);

  if (!me) return html`<${Login} onIn=${(s) => { setMe(s); location.hash = '#/'; }} />`;

  async function logout() {
    try { await api('/auth/logout', { method: 'POST' }); } catch (_) { /* gone already */ }
    session.clear();
    setMe(null);
  }

  const admin = me.user.role === 'admin' || me.user.role === 'superadmin';
  const nav = (href, page, label) => html`
    <a href=${href} aria-current=${where.page === page ? 'page' : undefined}>${label}</a>`;
  let main;
  if (where.page === 'users' && admin) main = html`<${Users} me=${me.user} onChange=${setUsers} />`;
  else if (where.page === 'integrations' && admin) main = html`<${Integrations} />`;
  else {
    main = html`
      <div class=${`workspace ${where.ticket ? 'has-ticket' : ''}`}>
        <${Inbox} key=${`inbox-${reloads}`} live=${live} me=${me.user} users=${users} selected=${where.ticket} />
        ${where.ticket
          ? html`<${Conversation} key=${`c-${where.ticket}-${reloads}`} id=${where.ticket} live=${live} me=${me.user} users=${users} />`
          : html`<section class="conversation empty"><p>${t('inbox.pick')}</p></section>`}
      </div>`;
  }
  return html`
    <header class="top">
      <strong class="brand">Omni</strong>
      <nav aria-label="main">
        ${nav('#/', 'inbox', t('nav.inbox'))}
        ${admin && nav('#/users', 'users', t('nav.users'))}
        ${admin && nav('#/integrations', 'integrations', t('nav.integrations'))}
      </nav>
      <span class="live" data-state=${liveState} role="status">${t(`live.${liveState}`)}</span>
      <${LanguageSwitch} />
      <span class="who">${me.user.name}</span>
      <button type="button" class="link" onClick=${logout}>${t('nav.logout')}</button>
    </header>
    ${main}`;
}

document.title = t('app.title');
render(html`<${App} />`, document.getElementById('app'));
