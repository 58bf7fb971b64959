// The console's words in Portuguese (Brazil) and English, and dates in the company's zone.

const WORDS = {
  en: {
    'app.title': 'Omni console',
    'login.title': 'Sign in to Omni',
    'login.email': 'E-mail',
    'login.password': 'Password',
    'login.submit': 'Sign in',
    'login.failed': 'Wrong e-mail or password.',
    'nav.inbox': 'Inbox',
    'nav.users': 'Users',
    'nav.integrations': 'Integrations',
    'nav.logout': 'Sign out',
    'nav.language': 'Language',
    'live.live': 'Live',
    'live.connecting': 'Connecting…',
    'live.offline': 'Offline, reconnecting…',
    'inbox.search': 'Search messages, or a number (+55…)',
    'inbox.all_statuses': 'Active (new, open, pending)',
    'inbox.any_status': 'Any status',
    'inbox.any_priority': 'Any priority',
    'inbox.anyone': 'Anyone',
    'inbox.mine': 'Assigned to me',
    'inbox.unassigned': 'Unassigned',
    'inbox.more': 'Load more',
    'inbox.empty': 'No conversations match.',
    'inbox.unread': 'New messages',
    'inbox.pick': 'Pick a conversation on the left.',
    'status.new': 'New',
    'status.open': 'Open',
    'status.pending': 'Pending',
    'status.resolved': 'Resolved',
    'status.closed': 'Closed',
    'priority.low': 'Low',
    'priority.medium': 'Medium',
    'priority.high': 'High',
    'priority.urgent': 'Urgent',
    'sentiment.positive': 'Positive',
    'sentiment.neutral': 'Neutral',
    'sentiment.negative': 'Negative',
    'delivery.received': 'Received',
    'delivery.queued': 'Queued',
    'delivery.sending': 'Sending',
    'delivery.sent': 'Sent',
    'delivery.delivered': 'Delivered',
    'delivery.read': 'Read',
    'delivery.failed': 'Failed',
    'delivery.undelivered': 'Not delivered',
    'conv.back': 'Back',
    'conv.assignee': 'Assignee',
    'conv.nobody': 'Nobody',
    'conv.assign_me': 'Assign to me',
    'conv.status': 'Move to',
    'conv.priority': 'Priority',
    'conv.category': 'Category',
    'conv.sentiment': 'Sentiment',
    'conv.suggested': 'Suggested reply',
    'conv.use_suggestion': 'Use it',
    'conv.reply': 'Write a reply',
    'conv.send': 'Send',
    'conv.sending': 'Sending…',
    'conv.retry': 'Try again',
    'conv.resend': 'Send again',
    'conv.window_closed': 'The 24-hour window is closed: only an approved template can reach this customer now.',
    'conv.closed': 'This conversation is closed.',
    'conv.bot': 'Automatic',
    'conv.agent': 'Agent',
    'conv.attachment': 'Attachment',
    'conv.error': 'Error',
    'conv.retrying': 'Retrying: {why} (next attempt {when})',
    'conv.rating': 'Rated {score}/5',
    'conv.loading': 'Loading…',
    'users.title': 'Users',
    'users.new': 'New user',
    'users.name': 'Name',
    'users.email': 'E-mail',
    'users.role': 'Role',
    'users.password': 'Password',
    'users.new_password': 'New password (leave empty to keep)',
    'users.create': 'Create',
    'users.save': 'Save',
    'users.edit': 'Edit',
    'users.cancel': 'Cancel',
    'users.saved': 'Saved.',
    'role.admin': 'Admin',
    'role.agent': 'Agent',
    'role.superadmin': 'Superadmin',
    'int.title': 'Integrations',
    'int.new': 'New integration',
    'int.type': 'Type',
    'int.enabled': 'Enabled',
    'int.verify': 'Verify',
    'int.secrets_set': 'Secrets set: {names}',
    'int.secret_hint': 'Write-only: leave empty to keep the stored value.',
    'int.create': 'Create',
    'int.save': 'Save',
    'int.edit': 'Edit',
    'int.cancel': 'Cancel',
    'int.account_sid': 'Account SID',
    'int.auth_token': 'Auth token',
    'int.phone_number': 'Phone number (E.164)',
    'int.messaging_service_sid': 'Messaging Service SID (optional)',
    'int.base_url': 'Base URL',
    'int.api_key': 'API key',
    'int.model': 'Model',
    'int.timeout_ms': 'Timeout (ms)',
    'int.verified': 'Verified: {detail}',
    'int.not_verified': 'Not verified: {detail}',
    'err.network': 'Omni cannot be reached. Check your connection.',
  },
  'pt-BR': {
    'app.title': 'Console Omni',
    'login.title': 'Entrar no Omni',
    'login.email': 'E-mail',
    'login.password': 'Senha',
    'login.submit': 'Entrar',
    'login.failed': 'E-mail ou senha incorretos.',
    'nav.inbox': 'Caixa de entrada',
    'nav.users': 'Usuários',
    'nav.integrations': 'Integrações',
    'nav.logout': 'Sair',
    'nav.language': 'Idioma',
    'live.live': 'Ao vivo',
    'live.connecting': 'Conectando…',
    'live.offline': 'Sem conexão, reconectando…',
    'inbox.search': 'Buscar nas mensagens, ou um número (+55…)',
    'inbox.all_statuses': 'Ativos (novo, aberto, pendente)',
    'inbox.any_status': 'Qualquer status',
    'inbox.any_priority': 'Qualquer prioridade',
    'inbox.anyone': 'Qualquer pessoa',
    'inbox.mine': 'Atribuídos a mim',
    'inbox.unassigned': 'Sem responsável',
    'inbox.more': 'Carregar mais',
    'inbox.empty': 'Nenhuma conversa encontrada.',
    'inbox.unread': 'Mensagens novas',
    'inbox.pick': 'Escolha uma conversa à esquerda.',
    'status.new': 'Novo',
    'status.open': 'Aberto',
    'status.pending': 'Pendente',
    'status.resolved': 'Resolvido',
    'status.closed': 'Fechado',
    'priority.low': 'Baixa',
    'priority.medium': 'Média',
    'priority.high': 'Alta',
    'priority.urgent': 'Urgente',
    'sentiment.positive': 'Positivo',
    'sentiment.neutral': 'Neutro',
    'sentiment.negative': 'Negativo',
    'delivery.received': 'Recebida',
    'delivery.queued': 'Na fila',
    'delivery.sending': 'Enviando',
    'delivery.sent': 'Enviada',
    'delivery.delivered': 'Entregue',
    'delivery.read': 'Lida',
    'delivery.failed': 'Falhou',
    'delivery.undelivered': 'Não entregue',
    'conv.back': 'Voltar',
    'conv.assignee': 'Responsável',
    'conv.nobody': 'Ninguém',
    'conv.assign_me': 'Atribuir a mim',
    'conv.status': 'Mover para',
    'conv.priority': 'Prioridade',
    'conv.category': 'Categoria',
    'conv.sentiment': 'Sentimento',
    'conv.suggested': 'Resposta sugerida',
    'conv.use_suggestion': 'Usar',
    'conv.reply': 'Escreva uma resposta',
    'conv.send': 'Enviar',
    'conv.sending': 'Enviando…',
    'conv.retry': 'Tentar de novo',
    'conv.resend': 'Reenviar',
    'conv.window_closed': 'A janela de 24 horas fechou: agora só um modelo aprovado chega a este cliente.',
    'conv.closed': 'Esta conversa está fechada.',
    'conv.bot': 'Automática',
    'conv.agent': 'Atendente',
    'conv.attachment': 'Anexo',
    'conv.error': 'Erro',
    'conv.retrying': 'Tentando de novo: {why} (próxima tentativa {when})',
    'conv.rating': 'Avaliação {score}/5',
    'conv.loading': 'Carregando…',
    'users.title': 'Usuários',
    'users.new': 'Novo usuário',
    'users.name': 'Nome',
    'users.email': 'E-mail',
    'users.role': 'Papel',
    'users.password': 'Senha',
    'users.new_password': 'Nova senha (deixe vazio para manter)',
    'users.create': 'Criar',
    'users.save': 'Salvar',
    'users.edit': 'Editar',
    'users.cancel': 'Cancelar',
    'users.saved': 'Salvo.',
    'role.admin': 'Administrador',
    'role.agent': 'Atendente',
    'role.superadmin': 'Superadministrador',
    'int.title': 'Integrações',
    'int.new': 'Nova integração',
    'int.type': 'Tipo',
    'int.enabled': 'Ativa',
    'int.verify': 'Verificar',
    'int.secrets_set': 'Segredos definidos: {names}',
    'int.secret_hint': 'Somente escrita: deixe vazio para manter o valor guardado.',
    'int.create': 'Criar',
    'int.save': 'Salvar',
    'int.edit': 'Editar',
    'int.cancel': 'Cancelar',
    'int.account_sid': 'Account SID',
    'int.auth_token': 'Auth token',
    'int.phone_number': 'Número (E.164)',
    'int.messaging_service_sid': 'Messaging Service SID (opcional)',
    'int.base_url': 'URL base',
    'int.api_key': 'Chave da API',
    'int.model': 'Modelo',
    'int.timeout_ms': 'Tempo limite (ms)',
    'int.verified': 'Verificada: {detail}',
    'int.not_verified': 'Não verificada: {detail}',
    'err.network': 'Não foi possível falar com o Omni. Verifique sua conexão.',
  },
};

export const LANGUAGES = [
  ['pt-BR', 'Português'],
  ['en', 'English'],
];

let lang = pick();
let zone;

function pick() {
  const saved = localStorage.getItem('omni.lang');
  if (saved && WORDS[saved]) return saved;
  const wanted = navigator.languages || [navigator.language || 'en'];
  return wanted.some((l) => l.toLowerCase().startsWith('pt')) ? 'pt-BR' : 'en';
}

export function language() {
  return lang;
}

export function setLanguage(next) {
  if (!WORDS[next]) return;
  lang = next;
  localStorage.setItem('omni.lang', next);
  document.documentElement.lang = next;
}

/** The company's IANA zone: every timestamp is shown in it. */
export function setZone(z) {
  zone = z || undefined;
}

/** The words for `key`, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const s = WORDS[lang][key] ?? WORDS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
}

/** A timestamp in the company's zone, in the reader's language. */
export function when(iso, style = 'short') {
  if (!iso) return '';
  const d = new Date(iso);
  const opts = style === 'time' ? { timeStyle: 'short' } : { dateStyle: 'short', timeStyle: 'short' };
  try {
    return new Intl.DateTimeFormat(lang, { ...opts, timeZone: zone }).format(d);
  } catch (_) {
    return new Intl.DateTimeFormat(lang, opts).format(d);
  }
}

document.documentElement.lang = lang;
