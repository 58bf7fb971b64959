// One conversation: its messages with delivery ticks, triage, the reply box, assignment
// and the status moves the ticket allows.
import { html, useState, useEffect, useRef } from './ui.js';
import { api, query, newKey } from './api.js';
import { t, when } from './i18n.js';
import { Badge, seen } from './inbox.js';

const LIMIT = 1600;
const TICKS = { queued: '🕓', sending: '…', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠', undelivered: '⚠' };

/** `m` in the list, unless the list holds a later state of it; a retry's reason stays
 * while the status does not move (events do not carry it). */
function upsert(list, m) {
  const i = list.findIndex((x) => x.id === m.id);
  if (i < 0) return [...list, m].sort((a, b) => a.id - b.id);
  const old = list[i];
  if (new Date(old.updated_at) > new Date(m.updated_at)) return list;
  const copy = list.slice();
  copy[i] = m.retry || m.delivery_status !== old.delivery_status ? m : { ...m, retry: old.retry };
  return copy;
}

/** An attachment fetched with the agent's token (an <img src> cannot send one); a file an
 * agent attached by its address is a link to it. */
function Attachment({ link }) {
  if (link.link) {
    return html`<a href=${link.link} target="_blank" rel="noopener noreferrer">${t('conv.attachment')} (${link.content_type || '?'})</a>`;
  }
  return html`<${Fetched} link=${link} />`;
}

function Fetched({ link }) {
  const [url, setUrl] = useState(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let made = null;
    let gone = false;
    api(link.url, { blob: true })
      .then((b) => {
        if (gone) return;
        made = URL.createObjectURL(b);
        setUrl(made);
      })
      .catch(() => !gone && setFailed(true));
    return () => {
      gone = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [link.url]);
  const type = link.content_type || '';
  if (failed) return html`<span class="muted">${t('conv.attachment')} (${type}) ⚠</span>`;
  if (!url) return html`<span class="muted">${t('conv.loading')}</span>`;
  if (type.startsWith('image/')) return html`<img class="media" src=${url} alt=${t('conv.attachment')} />`;
  if (type.startsWith('audio/')) return html`<audio controls src=${url}></audio>`;
  if (type.startsWith('video/')) return html`<video controls src=${url}></video>`;
  return html`<a href=${url} download>${t('conv.attachment')} (${type})</a>`;
}

function Message({ m, users, onResend }) {
  const who = m.from_customer ? null : m.author_id ? (users.find((u) => u.id === m.author_id) || {}).name || t('conv.agent') : t('conv.bot');
  const failed = m.delivery_status === 'failed' || m.delivery_status === 'undelivered';
  return html`
    <li class=${`message ${m.from_customer ? 'in' : 'out'}`} data-message=${m.id} data-status=${m.delivery_status}>
      ${who && html`<span class="author">${who}</span>`}
      ${m.content && html`<p class="text">${m.content}</p>`}
      ${m.media.map((link) => html`<${Attachment} key=${link.url} link=${link} />`)}
      <span class="meta">
        <time datetime=${m.created_at}>${when(m.created_at, 'time')}</time>
        ${!m.from_customer && html`
          <span class=${`tick ${m.delivery_status}`} title=${t(`delivery.${m.delivery_status}`)}>
            <span aria-hidden="true">${TICKS[m.delivery_status] || ''}</span>
            <span class="label">${t(`delivery.${m.delivery_status}`)}</span>
          </span>`}
      </span>
      ${m.retry && !failed && html`<p class="warn">${t('conv.retrying', { why: m.retry.last_error, when: when(m.retry.next_attempt_at, 'time') })}</p>`}
      ${failed && html`
        <p class="error">${t('conv.error')}${m.error_code ? ` ${m.error_code}` : ''}: ${m.error_message || ''}
          <button type="button" class="link" onClick=${() => onResend(m)}>${t('conv.resend')}</button></p>`}
    </li>`;
}

export function Conversation({ id, live, me, users }) {
  const [ticket, setTicket] = useState(null);
  const [messages, setMessages] = useState([]);
  const [error, setError] = useState('');
  const [draft, setDraft] = useState('');
  const [pending, setPending] = useState(null); // {key, content} of a reply not yet accepted
  const [busy, setBusy] = useState(false);
  const [suggestion, setSuggestion] = useState(null);
  const end = useRef(null);

  async function loadMessages() {
    let all = [];
    let cursor = null;
    // Oldest first: follow the pages to reach the latest (bounded, a conversation is short).
    for (let i = 0; i < 25; i++) {
      const page = await api(`/ticket-messages${query({ ticket_id: id, limit: 200, cursor })}`);
      all = all.concat(page.data);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    // Merged: what the socket brought while the pages loaded is not lost or set back.
    setMessages((old) => all.reduce(upsert, old));
  }

  async function loadTicket() {
    const tk = await api(`/tickets/${id}`);
    // A reply to an older question must not undo a newer event.
    setTicket((old) => (old && old.version > tk.version ? old : tk));
    return tk;
  }

  useEffect(() => {
    setError('');
    loadTicket()
      .then((tk) => setSuggestion(tk.suggested_reply || null))
      .catch((e) => setError(e.message));
    loadMessages().catch((e) => setError(e.message));
  }, [id]);

  useEffect(() => {
    if (!live) return undefined;
    const onEvent = ({ detail: e }) => {
      if (e.ticket_id !== id) return;
      if (e.data && e.data.message) {
        setMessages((old) => upsert(old, e.data.message));
        // Once someone answers, triage's suggestion for the first message is stale.
        if (!e.data.message.from_customer) setSuggestion(null);
        // A new message moves the ticket (its window, its activity) with no ticket event.
        if (e.type === 'message.created') loadTicket().catch(() => {});
      } else if (e.data && e.data.ticket) {
        const tk = e.data.ticket;
        setTicket((old) => (old && old.version > tk.version ? old : tk));
        if (e.data.ticket.suggested_reply !== undefined) setSuggestion(e.data.ticket.suggested_reply);
      } else if (e.type === 'triage.completed' && e.data.result && e.data.result.reply) setSuggestion(e.data.result.reply);
      else if (e.type === 'ticket.deleted') location.hash = '#/';
    };
    // Loaded before the first `hello`, the page may have missed an event: load again.
    const onSynced = () => {
      loadTicket().catch(() => {});
      loadMessages().catch(() => {});
    };
    live.addEventListener('event', onEvent);
    live.addEventListener('synced', onSynced);
    return () => {
      live.removeEventListener('event', onEvent);
      live.removeEventListener('synced', onSynced);
    };
  }, [live, id]);

  // Reading the conversation marks it seen; new messages scroll into view.
  useEffect(() => {
    const last = messages[messages.length - 1];
    if (last) seen.mark(me, id, last.created_at);
    if (end.current) end.current.scrollIntoView({ block: 'end' });
  }, [ticket && ticket.last_message_at, messages.length]);

  // A reply waiting on retries says why; ask again while one waits.
  const waiting = messages.some((m) => !m.from_customer && (m.delivery_status === 'queued' || m.delivery_status === 'sending'));
  useEffect(() => {
    if (!waiting) return undefined;
    const timer = setInterval(() => loadMessages().catch(() => {}), 10000);
    return () => clearInterval(timer);
  }, [waiting, id]);

  async function change(body) {
    setError('');
    try {
      const tk = await api(`/tickets/${id}`, { method: 'PUT', body });
      setTicket((old) => (old && old.version > tk.version ? old : tk));
    } catch (e) {
      setError(Object.values(e.fields).join(' ') || e.message);
    }
  }

  async function send(e) {
    if (e) e.preventDefault();
    const content = draft.trim();
    if (!content || busy) return;
    // The same words retried keep their key: the server answers a retry with the first
    // result instead of sending twice.
    const attempt = pending && pending.content === content ? pending : { key: newKey(), content };
    setPending(attempt);
    setBusy(true);
    setError('');
    try {
      const m = await api('/ticket-messages', {
        method: 'POST',
        headers: { 'Idempotency-Key': attempt.key },
        body: { ticket_id: id, content },
      });
      setMessages((old) => upsert(old, m));
      setSuggestion(null);
      setDraft('');
      setPending(null);
    } catch (err) {
      if (err.status === 0 || err.status >= 500) {
        setError(`${err.status === 0 ? t('err.network') : err.message}`);
      } else {
        setPending(null);
        setError(err.problem.type && err.problem.type.endsWith('window-closed') ? t('conv.window_closed') : Object.values(err.fields).join(' ') || err.message);
      }
    } finally {
      setBusy(false);
    }
  }

  async function resend(m) {
    try {
      await api(`/ticket-messages/${m.id}/send`, { method: 'POST' });
      await loadMessages();
    } catch (e) {
      setError(e.message);
    }
  }

  if (!ticket) return html`<section class="conversation"><p class=${error ? 'error' : 'muted'}>${error || t('conv.loading')}</p></section>`;
  const length = [...draft].length;
  const closed = ticket.status === 'closed';
  const windowShut = ticket.window_closes_at && new Date(ticket.window_closes_at) < new Date();
  const team = users.filter((u) => u.role !== 'superadmin');
  return html`
    <section class="conversation" aria-label=${ticket.customer_name || ticket.customer_phone}>
      <header class="conv-head">
        <a class="back" href="#/">← ${t('conv.back')}</a>
        <h2>${ticket.customer_name || ticket.customer_phone}</h2>
        <span class="muted">${ticket.customer_name ? ticket.customer_phone : ''} · #${ticket.id}</span>
        <div class="badges">
          <${Badge} kind="status" value=${ticket.status} />
          <${Badge} kind="priority" value=${ticket.priority} />
          ${ticket.category && html`<span class="badge category">${ticket.category}</span>`}
          <${Badge} kind="sentiment" value=${ticket.sentiment} />
          ${ticket.rating && html`<span class="badge rating">${t('conv.rating', { score: ticket.rating.score })}</span>`}
        </div>
        <div class="actions">
          <label>${t('conv.assignee')}
            <select name="assignee" value=${ticket.assigned_to ?? ''} disabled=${closed}
              onChange=${(e) => change({ assigned_to: e.target.value === '' ? null : Number(e.target.value) })}>
              <option value="">${t('conv.nobody')}</option>
              ${team.map((u) => html`<option value=${u.id}>${u.name}</option>`)}
            </select>
          </label>
          ${ticket.assigned_to !== me.id && !closed && html`
            <button type="button" name="assign-me" onClick=${() => change({ assigned_to: me.id })}>${t('conv.assign_me')}</button>`}
          <label>${t('conv.priority')}
            <select name="priority" value=${ticket.priority} disabled=${closed}
              onChange=${(e) => change({ priority: e.target.value })}>
              ${['low', 'medium', 'high', 'urgent'].map((p) => html`<option value=${p}>${t(`priority.${p}`)}</option>`)}
            </select>
          </label>
          <span class="moves" role="group" aria-label=${t('conv.status')}>
            ${(ticket.next_statuses || []).map((s) => html`
              <button type="button" name=${`status-${s}`} onClick=${() => change({ status: s })}>${t(`status.${s}`)}</button>`)}
          </span>
        </div>
      </header>
      <ol class="messages" aria-live="polite">
        ${messages.map((m) => html`<${Message} key=${m.id} m=${m} users=${users} onResend=${resend} />`)}
        <li ref=${end} class="end" aria-hidden="true"></li>
      </ol>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${suggestion && !closed && !ticket.first_response_at && html`
        <div class="suggestion">
          <span>${t('conv.suggested')}: ${suggestion}</span>
          <button type="button" name="use-suggestion" onClick=${() => setDraft(suggestion)}>${t('conv.use_suggestion')}</button>
        </div>`}
      ${closed ? html`<p class="muted">${t('conv.closed')}</p>` : html`
        <form class="reply" onSubmit=${send}>
          ${windowShut && html`<p class="warn">${t('conv.window_closed')}</p>`}
          <textarea name="reply" rows="3" placeholder=${t('conv.reply')} aria-label=${t('conv.reply')}
            value=${draft} onInput=${(e) => setDraft(e.target.value)}
            onKeyDown=${(e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) send(e); }}></textarea>
          <span class=${`counter ${length > LIMIT ? 'over' : ''}`} aria-live="polite">${length}/${LIMIT}</span>
          <button type="submit" disabled=${busy || !draft.trim() || length > LIMIT}>
            ${busy ? t('conv.sending') : pending ? t('conv.retry') : t('conv.send')}
          </button>
        </form>`}
    </section>`;
}
