import { html, useState } from './ui.js';
import { api, session } from './api.js';
import { t, language, setLanguage, LANGUAGES } from './i18n.js';

export function Login({ onIn }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const login = await api('/auth/login', { method: 'POST', body: { email, password } });
      onIn(session.set(login));
    } catch (err) {
      if (err.status === 401) setError(t('login.failed'));
      else if (err.status === 0) setError(t('err.network'));
      else setError(Object.values(err.fields).join(' ') || err.message);
    } finally {
      setBusy(false);
    }
  }

  return html`
    <main class="login">
      <form onSubmit=${submit} aria-labelledby="login-title">
        <h1 id="login-title">${t('login.title')}</h1>
        <label>${t('login.email')}
          <input name="email" type="email" autocomplete="username" required autofocus
            value=${email} onInput=${(e) => setEmail(e.target.value)} />
        </label>
        <label>${t('login.password')}
          <input name="password" type="password" autocomplete="current-password" required
            value=${password} onInput=${(e) => setPassword(e.target.value)} />
        </label>
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" disabled=${busy}>${t('login.submit')}</button>
        <${LanguageSwitch} />
      </form>
    </main>`;
}

/** The language menu: the choice is kept in this browser. */
export function LanguageSwitch() {
  return html`
    <label class="lang"><span class="lang-name">${t('nav.language')}</span>
      <select name="language" value=${language()}
        onChange=${(e) => { setLanguage(e.target.value); dispatchEvent(new Event('omni:language')); }}>
        ${LANGUAGES.map(([code, name]) => html`<option value=${code}>${name}</option>`)}
      </select>
    </label>`;
}
