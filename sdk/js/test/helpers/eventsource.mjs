// A small EventSource for Node 20, which has none: what the SDK's transport "sse" uses of the
// browser's (the HTML standard's event stream, Last-Event-ID on its own reconnects, "error" with
// readyState CLOSED for a refused stream). Every instance is kept in `EventSource.opened`, so that a
// test can see the URLs a client asked for.
import http from 'node:http';

export class EventSource extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static opened = [];

  readyState = EventSource.CONNECTING;
  onmessage = null;
  onerror = null;
  onopen = null;
  lastEventId = '';
  #request = null;
  #retry = 3000;

  constructor(url) {
    super();
    this.url = url;
    EventSource.opened.push(this);
    this.#connect();
  }

  close() {
    this.readyState = EventSource.CLOSED;
    this.#request?.destroy();
  }

  #connect() {
    const headers = { Accept: 'text/event-stream' };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    const request = http.get(this.url, { headers }, (response) => {
      if (response.statusCode !== 200 || !String(response.headers['content-type']).startsWith('text/event-stream')) {
        response.resume();
        this.#fail();
        return;
      }
      this.readyState = EventSource.OPEN;
      this.#fire('open', new Event('open'));
      response.setEncoding('utf8');
      let buffer = '';
      let data = [];
      let type = '';
      let id = null;
      response.on('data', (chunk) => {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line === '') {
            if (id !== null) this.lastEventId = id;
            if (data.length > 0 && this.readyState !== EventSource.CLOSED) {
              const event = new MessageEvent(type || 'message', { data: data.join('\n'), lastEventId: this.lastEventId });
              this.#fire(type || 'message', event);
            }
            data = [];
            type = '';
            id = null;
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') data.push(value);
          else if (field === 'event') type = value;
          else if (field === 'id') id = value;
          else if (field === 'retry' && /^\d+$/.test(value)) this.#retry = Number(value);
        }
      });
      response.on('end', () => this.#dropped());
      response.on('error', () => this.#dropped());
    });
    request.on('error', () => this.#dropped());
    this.#request = request;
  }

  /** A stream that ended: reconnect after the retry delay, as a browser does. */
  #dropped() {
    if (this.readyState === EventSource.CLOSED) return;
    this.readyState = EventSource.CONNECTING;
    this.#fire('error', new Event('error'));
    if (this.readyState === EventSource.CLOSED) return;
    setTimeout(() => this.readyState !== EventSource.CLOSED && this.#connect(), this.#retry);
  }

  /** A refused stream (not 200, or not an event stream): no reconnect. */
  #fail() {
    this.readyState = EventSource.CLOSED;
    this.#fire('error', new Event('error'));
  }

  #fire(type, event) {
    this.dispatchEvent(event);
    this[`on${type}`]?.(event);
  }
}
