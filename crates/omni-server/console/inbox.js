// The inbox: the company's conversations, newest activity first, filtered and paged by
// the API, kept current by live events.
import { html, useState, useEffect, useRef } from './ui.js';
import { api, query } from './api.js';
import { t, when } from './i18n.js';

const ACTIVE = 'new,open,pending';
const PAGE = 30;

/** When this agent last looked at each conversation, kept in this browser. */
export const seen = {
  key(me) {
    return `omni.seen.${me.id}`;
  },
  all(me) {
    try {
      return JSON.parse(localStorage.getItem(this.key(me)) || '{}');
    } catch (_) {
      return {};
    }
  },
  /** The agent has read ticket `id` up to the message stored `at`. */
  mark(me, id, at) {
    const all = this.all(me);
    if (all[id] && new Date(all[id]) >= new Date(at)) return;
    all[id] = at;
    localStorage.setItem(this.key(me), JSON.stringify(all));
    dispatchEvent(new Event('omni:seen'));
  },
};

/** The customer wrote last, after this agent last looked. */
function unread(latest, marks, id) {
  if (!latest || !latest.from_customer) return false;
  const mark = marks[id];
  return !mark || new Date(latest.created_at) > new Date(mark);
}

/** The later of a message seen live and the one the list came with. */
function newer(a, b) {
  if (!a) return b;
  if (!b) return a;
  return a.id >= b.id ? a : b;
}

function matches(ticket, f, me) {
  const statuses = (f.status || ACTIVE).split(',');
  if (f.status !== 'all' && !statuses.includes(ticket.status)) return false;
  if (f.priority && ticket.priority !== f.priority) return false;
  if (f.assigned === 'me' && ticket.assigned_to !== me.id) return false;
  if (f.assigned === 'none' && ticket.assigned_to !== null) return false;
  return true;
}

function order(a, b) {
  return new Date(b.last_activity_at) - new Date(a.last_activity_at) || b.id - a.id;
}

export function Badge({ kind, value }) {
  if (!value) return null;
  return html`<span class=${`badge ${kind}-${value}`}>${t(`${kind}.${value}`)}</span>`;
}

export function Inbox({ live, me, users, selected }) {
  const [filters, setFilters] = useState({ status: '', priority: '', assigned: '', q: '' });
  const [tickets, setTickets] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [previews, setPreviews] = useState({});
  const [marks, setMarks] = useState(seen.all(me));
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const list = useRef(null);

  const asked = useRef(0);

  function params(f, after) {
    const text = f.q.trim();
    // A number finds the customer (E.164); words are looked up in the messages.
    const phone = /^\+?[\d\s().-]{8,}$/.test(text) ? `+${text.replace(/\D/g, '')}` : '';
    return query({
      status: f.status === 'all' ? '' : f.status || ACTIVE,
      priority: f.priority,
      assigned_to: f.assigned,
      customer_phone: phone,
      q: phone ? '' : text,
      include: 'last_message',
      limit: PAGE,
      cursor: after,
    });
  }

  async function load(f, after) {
    // Only the latest question's answer counts: a slow earlier search must not land last.
    const n = ++asked.current;
    setLoading(true);
    setError('');
    try {
      const page = await api(`/tickets${params(f, after)}`);
      if (n !== asked.current) return;
      setTickets((old) => (after ? [...old, ...page.data.filter((x) => !old.some((o) => o.id === x.id))] : page.data));
      setCursor(page.next_cursor);
    } catch (e) {
      if (n === asked.current) setError(e.status === 0 ? t('err.network') : e.message);
    } finally {
      if (n === asked.current) setLoading(false);
    }
  }

  /** Puts `ticket` in the list as it now is, or takes it out if the filters exclude it. */
  function place(ticket, latest) {
    const f = filtersRef.current;
    setTickets((old) => {
      const before = old.find((x) => x.id === ticket.id);
      // A search is the server's to answer: live changes only refresh what it found.
      if (!matches(ticket, f, me) || (!before && f.q.trim())) return old.filter((x) => x.id !== ticket.id);
      const row = { ...ticket, last_message: latest || (before ? before.last_message : null) };
      return [...old.filter((x) => x.id !== ticket.id), row].sort(order);
    });
  }

  // A search waits for the agent to stop typing; other filters apply at once.
  useEffect(() => {
    const timer = setTimeout(() => load(filters, null), filters.q ? 300 : 0);
    return () => clearTimeout(timer);
  }, [filters]);

  useEffect(() => {
    const onSeen = () => setMarks(seen.all(me));
    addEventListener('omni:seen', onSeen);
    return () => removeEventListener('omni:seen', onSeen);
  }, []);

  // Tickets to read again, gathered for a moment: a burst of messages is one read each.
  const stale = useRef(new Set());
  const flush = useRef(null);
  function refresh(id) {
    stale.current.add(id);
    if (flush.current) return;
    flush.current = setTimeout(() => {
      const ids = [...stale.current];
      stale.current.clear();
      flush.current = null;
      for (const ticket of ids) api(`/tickets/${ticket}`).then((tk) => place(tk)).catch(() => {});
    }, 300);
  }

  useEffect(() => {
    if (!live) return undefined;
    const onEvent = ({ detail: e }) => {
      if (e.type === 'ticket.deleted') {
        setTickets((old) => old.filter((x) => x.id !== e.ticket_id));
      } else if (e.data && e.data.ticket) {
        place(e.data.ticket);
      } else if (e.type === 'message.created' && e.data && e.data.message) {
        const m = e.data.message;
        setPreviews((p) => ({ ...p, [m.ticket_id]: m }));
        // A message moves its ticket up (no ticket event says so): the ticket as it now
        // is comes from the API, which also brings in one the list had not loaded.
        refresh(m.ticket_id);
      }
    };
    // The first `hello`: anything between the list's load and it would be lost.
    const onSynced = () => load(filtersRef.current, null);
    live.addEventListener('event', onEvent);
    live.addEventListener('synced', onSynced);
    return () => {
      live.removeEventListener('event', onEvent);
      live.removeEventListener('synced', onSynced);
    };
  }, [live]);

  const set = (k) => (e) => setFilters({ ...filters, [k]: e.target.value });
  const name = (id) => (users.find((u) => u.id === id) || {}).name || `#${id}`;

  function keys(e) {
    // Arrow keys move through the list; Enter opens (links already do).
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const links = [...list.current.querySelectorAll('a.ticket')];
    const at = links.indexOf(document.activeElement);
    const next = links[Math.max(0, Math.min(links.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1)))];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  }

  return html`
    <section class="inbox" aria-label=${t('nav.inbox')}>
      <form class="filters" onSubmit=${(e) => e.preventDefault()}>
        <input type="search" name="q" placeholder=${t('inbox.search')} aria-label=${t('inbox.search')}
          value=${filters.q} onInput=${set('q')} />
        <select name="status" aria-label="status" value=${filters.status} onChange=${set('status')}>
          <option value="">${t('inbox.all_statuses')}</option>
          <option value="all">${t('inbox.any_status')}</option>
          ${['new', 'open', 'pending', 'resolved', 'closed'].map((s) => html`<option value=${s}>${t(`status.${s}`)}</option>`)}
        </select>
        <select name="assigned" aria-label=${t('conv.assignee')} value=${filters.assigned} onChange=${set('assigned')}>
          <option value="">${t('inbox.anyone')}</option>
          <option value="me">${t('inbox.mine')}</option>
          <option value="none">${t('inbox.unassigned')}</option>
        </select>
        <select name="priority" aria-label=${t('conv.priority')} value=${filters.priority} onChange=${set('priority')}>
          <option value="">${t('inbox.any_priority')}</option>
          ${['urgent', 'high', 'medium', 'low'].map((p) => html`<option value=${p}>${t(`priority.${p}`)}</option>`)}
        </select>
      </form>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <ul class="tickets" ref=${list} onKeyDown=${keys}>
        ${tickets.map((tk) => {
          const latest = newer(previews[tk.id], tk.last_message);
          const fresh = unread(latest, marks, tk.id) && tk.id !== selected;
          return html`
            <li key=${tk.id}>
              <a class=${`ticket ${fresh ? 'unread' : ''}`} href=${`#/tickets/${tk.id}`}
                aria-current=${tk.id === selected ? 'true' : undefined} data-ticket=${tk.id}>
                <span class="who">
                  ${fresh && html`<span class="dot" title=${t('inbox.unread')} aria-label=${t('inbox.unread')}></span>`}
                  ${tk.customer_name || tk.customer_phone}
                </span>
                <time datetime=${tk.last_activity_at}>${when(tk.last_message_at || tk.created_at)}</time>
                <span class="preview">${latest ? `${latest.from_customer ? '' : '↩ '}${latest.content || t('conv.attachment')}` : ''}</span>
                <span class="badges">
                  <${Badge} kind="status" value=${tk.status} />
                  <${Badge} kind="priority" value=${tk.priority} />
                  ${tk.category && html`<span class="badge category">${tk.category}</span>`}
                  <${Badge} kind="sentiment" value=${tk.sentiment} />
                  ${tk.assigned_to && html`<span class="badge assignee">${name(tk.assigned_to)}</span>`}
                </span>
              </a>
            </li>`;
        })}
      </ul>
      ${!loading && tickets.length === 0 && !error && html`<p class="muted">${t('inbox.empty')}</p>`}
      ${loading && html`<p class="muted">${t('conv.loading')}</p>`}
      ${cursor && !loading && html`<button type="button" class="more" onClick=${() => load(filters, cursor)}>${t('inbox.more')}</button>`}
    </section>`;
}
