// Admins' pages: the company's users and integrations, through the same API as any client.
import { html, useState, useEffect } from './ui.js';
import { api } from './api.js';
import { t } from './i18n.js';

/** A form's fields as an object, leaving out empty ones (write-only secrets stay as stored). */
function fields(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) if (v !== '') out[k] = v;
  return out;
}

function Errors({ error }) {
  if (!error) return null;
  const named = Object.entries(error.fields || {});
  return html`<div class="error" role="alert">
    <p>${error.message}</p>
    ${named.length > 0 && html`<ul>${named.map(([f, m]) => html`<li><code>${f}</code>: ${m}</li>`)}</ul>`}
  </div>`;
}

function UserForm({ user, me, onDone, onCancel }) {
  const [error, setError] = useState(null);
  async function submit(e) {
    e.preventDefault();
    const body = fields(e.target);
    try {
      const saved = user
        ? await api(`/users/${user.id}`, { method: 'PUT', body })
        : await api('/users', { method: 'POST', body });
      onDone(saved);
    } catch (err) {
      setError(err);
    }
  }
  return html`
    <form class="card" onSubmit=${submit}>
      <label>${t('users.name')}<input name="name" required defaultValue=${user ? user.name : ''} /></label>
      <label>${t('users.email')}<input name="email" type="email" required defaultValue=${user ? user.email : ''} /></label>
      <label>${t('users.role')}
        <select name="role" defaultValue=${user ? user.role : 'agent'} disabled=${user && user.id === me.id}>
          <option value="agent">${t('role.agent')}</option>
          <option value="admin">${t('role.admin')}</option>
        </select>
      </label>
      <label>${user ? t('users.new_password') : t('users.password')}
        <input name="password" type="password" autocomplete="new-password" required=${!user} minlength="8" />
      </label>
      <${Errors} error=${error} />
      <button type="submit">${user ? t('users.save') : t('users.create')}</button>
      <button type="button" class="link" onClick=${onCancel}>${t('users.cancel')}</button>
    </form>`;
}

export function Users({ me, onChange }) {
  const [users, setUsers] = useState([]);
  const [editing, setEditing] = useState(null); // 'new' or a user
  const [error, setError] = useState(null);
  const load = () => api('/users?limit=200').then((p) => { setUsers(p.data); onChange(p.data); }).catch(setError);
  useEffect(() => { load(); }, []);
  const done = () => { setEditing(null); load(); };
  return html`
    <section class="admin">
      <h2>${t('users.title')}</h2>
      <${Errors} error=${error} />
      ${editing === 'new'
        ? html`<${UserForm} me=${me} onDone=${done} onCancel=${() => setEditing(null)} />`
        : html`<button type="button" name="new-user" onClick=${() => setEditing('new')}>${t('users.new')}</button>`}
      <table>
        <thead><tr><th>${t('users.name')}</th><th>${t('users.email')}</th><th>${t('users.role')}</th><th></th></tr></thead>
        <tbody>
          ${users.map((u) => html`
            <tr key=${u.id}>
              <td>${u.name}</td><td>${u.email}</td><td>${t(`role.${u.role}`)}</td>
              <td><button type="button" class="link" onClick=${() => setEditing(u)}>${t('users.edit')}</button></td>
            </tr>
            ${editing && editing.id === u.id && html`<tr><td colspan="4">
              <${UserForm} user=${u} me=${me} onDone=${done} onCancel=${() => setEditing(null)} /></td></tr>`}`)}
        </tbody>
      </table>
    </section>`;
}

// The fields of each integration type; secrets are write-only.
const TYPES = {
  twilio_whatsapp: [['account_sid'], ['auth_token', 'secret'], ['phone_number'], ['messaging_service_sid']],
  twilio_sms: [['account_sid'], ['auth_token', 'secret'], ['phone_number'], ['messaging_service_sid']],
  vera_ai: [['base_url'], ['api_key', 'secret'], ['model'], ['timeout_ms', 'number']],
};

function IntegrationForm({ integration, onDone, onCancel }) {
  const [type, setType] = useState(integration ? integration.type : 'twilio_whatsapp');
  const [error, setError] = useState(null);
  async function submit(e) {
    e.preventDefault();
    const config = fields(e.target);
    delete config.type;
    const enabled = e.target.enabled.checked;
    delete config.enabled;
    if (config.timeout_ms) config.timeout_ms = Number(config.timeout_ms);
    try {
      const saved = integration
        ? await api(`/integrations/${integration.id}`, { method: 'PUT', body: { config, enabled } })
        : await api('/integrations', { method: 'POST', body: { type, config, enabled } });
      onDone(saved);
    } catch (err) {
      setError(err);
    }
  }
  return html`
    <form class="card" onSubmit=${submit}>
      <label>${t('int.type')}
        <select name="type" value=${type} disabled=${!!integration} onChange=${(e) => setType(e.target.value)}>
          ${Object.keys(TYPES).map((k) => html`<option value=${k}>${k}</option>`)}
        </select>
      </label>
      ${TYPES[type].map(([name, kind]) => html`
        <label key=${`${type}-${name}`}>${t(`int.${name}`)}
          <input name=${name} type=${kind === 'secret' ? 'password' : kind === 'number' ? 'number' : 'text'}
            autocomplete="off" placeholder=${kind === 'secret' && integration ? t('int.secret_hint') : ''}
            defaultValue=${kind === 'secret' || !integration ? '' : integration.config[name] ?? ''} />
        </label>`)}
      <label class="check"><input name="enabled" type="checkbox" defaultChecked=${integration ? integration.enabled : true} /> ${t('int.enabled')}</label>
      <${Errors} error=${error} />
      <button type="submit">${integration ? t('int.save') : t('int.create')}</button>
      <button type="button" class="link" onClick=${onCancel}>${t('int.cancel')}</button>
    </form>`;
}

export function Integrations() {
  const [list, setList] = useState([]);
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const [verdicts, setVerdicts] = useState({});
  const load = () => api('/integrations?limit=200').then((p) => setList(p.data || p)).catch(setError);
  useEffect(() => { load(); }, []);
  const done = () => { setEditing(null); load(); };
  async function verify(i) {
    try {
      const v = await api(`/integrations/${i.id}/verify`, { method: 'POST' });
      setVerdicts((all) => ({ ...all, [i.id]: v }));
    } catch (err) {
      setVerdicts((all) => ({ ...all, [i.id]: { ok: false, detail: err.message } }));
    }
  }
  return html`
    <section class="admin">
      <h2>${t('int.title')}</h2>
      <${Errors} error=${error} />
      ${editing === 'new'
        ? html`<${IntegrationForm} onDone=${done} onCancel=${() => setEditing(null)} />`
        : html`<button type="button" name="new-integration" onClick=${() => setEditing('new')}>${t('int.new')}</button>`}
      <ul class="integrations">
        ${list.map((i) => html`
          <li key=${i.id} class="card">
            <strong>${i.type}</strong> ${i.config.phone_number || i.config.base_url || ''}
            <span class=${i.enabled ? 'badge status-open' : 'badge status-closed'}>${i.enabled ? t('int.enabled') : '—'}</span>
            <p class="muted">${t('int.secrets_set', { names: (i.secrets_set || []).join(', ') || '—' })}</p>
            <button type="button" onClick=${() => verify(i)}>${t('int.verify')}</button>
            <button type="button" class="link" onClick=${() => setEditing(i)}>${t('int.edit')}</button>
            ${verdicts[i.id] && html`<p class=${verdicts[i.id].ok ? 'ok' : 'error'}>
              ${t(verdicts[i.id].ok ? 'int.verified' : 'int.not_verified', { detail: verdicts[i.id].detail })}</p>`}
            ${editing && editing.id === i.id && html`<${IntegrationForm} integration=${i} onDone=${done} onCancel=${() => setEditing(null)} />`}
          </li>`)}
      </ul>
    </section>`;
}
