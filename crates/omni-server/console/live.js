// The WebSocket to /ws: a one-time ticket per connection, `since` on every reconnect so no
// event is missed, a `reset` frame answered by reloading, and the state shown to agents.
import { api } from './api.js';

export class Live extends EventTarget {
  constructor() {
    super();
    this.state = 'connecting';
    this.lastId = null;
    this.socket = null;
    this.stopped = false;
    this.delay = 500;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  async connect() {
    if (this.stopped) return;
    this.setState('connecting');
    let ticket;
    try {
      ticket = (await api('/ws/ticket', { method: 'POST' })).ticket;
    } catch (e) {
      if (e.status === 401) return; // the app logs out
      return this.retry();
    }
    if (this.stopped) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const since = this.lastId === null ? '' : `&since=${this.lastId}`;
    const socket = new WebSocket(`${proto}//${location.host}/ws?ticket=${encodeURIComponent(ticket)}${since}`);
    this.socket = socket;
    socket.onmessage = (m) => this.frame(m.data);
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (e.code === 4001) {
        this.setState('offline');
        window.dispatchEvent(new Event('omni:session-ended'));
        return;
      }
      this.retry();
    };
  }

  retry() {
    this.setState('offline');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 8000);
  }

  frame(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch (_) {
      return;
    }
    if (f.type === 'hello') {
      // The first connection starts from now; later ones replayed from `since` already.
      // Lists loaded before it may have missed an event: `synced` tells them to load again.
      if (this.lastId === null) {
        this.lastId = f.last_event_id ?? 0;
        this.dispatchEvent(new CustomEvent('synced'));
      }
      this.delay = 500;
      this.setState('live');
      return;
    }
    if (f.type === 'reset') {
      this.lastId = f.last_event_id ?? this.lastId;
      this.dispatchEvent(new CustomEvent('reset'));
      return;
    }
    if (typeof f.id === 'number') {
      if (this.lastId !== null && f.id <= this.lastId) return;
      this.lastId = f.id;
    }
    this.dispatchEvent(new CustomEvent('event', { detail: f }));
  }
}
