// rtbroadcaster JavaScript SDK: one room owner broadcasts actions, every viewer in the room runs
// them. The wire format is described in PROTOCOL.md at the root of the repository.
//
// This file is the only source of the SDK. The server serves it as the ES module
// /sdk/rtbroadcaster.mjs and derives the classic script /sdk/rtbroadcaster.js from it (see sdk.go):
// it drops the final `export { ... }` statement and assigns the exported names to globals instead.
// So: no `import` statements, no other `export` keywords, nothing only modules allow (top-level await).

/** Status values of the envelope (PROTOCOL.md, "Status values"). */
const Status = Object.freeze({ NOT_CONNECTED: 0, CREATE: 1, JOIN: 2, CONNECTED: 3, CLOSE: 4 });

/** WebSocket close codes the server uses (PROTOCOL.md, "Connection closes"). */
const CloseCode = Object.freeze({
  ROOM_CLOSED: 1000,
  GOING_AWAY: 1001,
  TOO_BIG: 1009,
  SLOW_CONSUMER: 4001,
  UNAUTHORIZED: 4401,
  ORIGIN_REFUSED: 4403,
  TOO_MANY_CONNECTIONS: 4429,
  UNAVAILABLE: 4503,
});

/**
 * The closes of a connection the server refused at its handshake (PROTOCOL.md, Refused
 * connections), as the error codes a page sees, and whether trying again can help.
 */
const REFUSALS = new Map([
  [CloseCode.ORIGIN_REFUSED, { code: 'origin_refused', retry: false }],
  [CloseCode.TOO_MANY_CONNECTIONS, { code: 'too_many_connections', retry: true }],
  [CloseCode.UNAVAILABLE, { code: 'unavailable', retry: true }],
]);

const REFUSAL_CODES = new Set([...REFUSALS.values()].map(({ code }) => code));

/** A request failed because its connection ended or was refused: #onClose reports that itself. */
function endedConnection(error) {
  return error.code === 'disconnected' || error.code === 'closed' || REFUSAL_CODES.has(error.code);
}

/** The close code this client uses to drop a connection it wants to replace (a stuck rejoin). */
const CLOSE_TO_RETRY = 4000;

/**
 * How many sent actions a client remembers the funcKey of, for the event of a refusal: success has
 * no reply to forget one on, and refusals arrive within a round trip.
 */
const REMEMBERED_ACTIONS = 1024;

/**
 * How long an owner waits, after a refusal of a numbered message that did not reach the room
 * (unavailable, rate_limited, and the pub_seq_gap refusals of the messages after it), to send its
 * unacknowledged messages again (PROTOCOL.md, Exactly once from the owner).
 */
const RESEND_DELAY = 200;

const WEBSOCKET_OPEN = 1;
const WEBSOCKET_CLOSING = 2;
const WEBSOCKET_CLOSED = 3;

/** The close code of a connection that ended without a close (a browser's "abnormal closure"). */
const CLOSE_ABNORMAL = 1006;

/** How a client reaches the server: see BroadcasterOptions.transport in rtbroadcaster.d.ts. */
const TRANSPORTS = new Set(['websocket', 'sse', 'auto']);

const DEFAULT_OPTIONS = Object.freeze({
  requestTimeout: 10_000,
  offlineQueue: 256,
  reconnect: Object.freeze({ enabled: true, initialDelay: 500, maxDelay: 15_000, maxAttempts: Infinity }),
});

/**
 * An error that carries a stable, machine-readable code: either the server's (room_not_found,
 * not_owner, state_full, ...) or one of this SDK's own (not_connected, disconnected, timeout,
 * closed, handler_failed, queue_full, unacked_full, queue_dropped).
 */
class BroadcastError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'BroadcastError';
    this.code = code;
  }
}

/**
 * A connection to an rtbroadcaster server. It connects as soon as it is constructed, and reconnects
 * with exponential backoff and full jitter until disconnect() is called or its room is closed.
 *
 * Lifecycle events (listen with addEventListener; the payload is event.detail):
 *   open          {reconnected}            the WebSocket is open
 *   joined        {roomId, role, stateCount, rejoined}
 *   resumed       {roomId, queued, resent, stateCount}  owner, after it took its room back (by
 *                                          itself after a drop, or with resumeRoom) and the room's
 *                                          kept state has arrived; `queued` messages sent while it
 *                                          was away have just been sent, and `resent` messages sent
 *                                          before the drop that the server had not acknowledged
 *                                          were sent again (it drops those it already had)
 *   replaydone    {roomId, count}          the join's state messages have all been handled
 *   viewers       {roomId, count}          owner only: the room's viewer count changed
 *   roomclosed    {roomId, reason, by?}    reason: "closed" (the owner closed it or left; `by` is
 *                                          "operator" when an operator closed it instead),
 *                                          "connection_lost" (the owner's own connection dropped and
 *                                          it could not take the room back),
 *                                          "room_not_found" (a viewer's rejoin found it gone),
 *                                          "replaced" (another connection took the room back with
 *                                          the owner key)
 *   recovered     {roomId, recovered}      viewer, after a rejoin: true when exactly the missed
 *                                          messages follow, false when a fresh state replay does
 *   owneraway     {roomId, grace}          viewer: the owner's connection (or its server node)
 *                                          dropped; the room waits `grace` ms for it (null when it
 *                                          joined meanwhile)
 *   ownerback     {roomId}                 viewer: the owner took the room back
 *   reconnecting  {attempt, delay, code, reason}  the connection dropped; the next try is in
 *                                          `delay` ms (the server's own when it shut down)
 *   error         {error, dropped?, retryIn?, id?, funcKey?}  a refusal no request is waiting
 *                                          for (of an action: `id`, which broadcast/setState
 *                                          returned, and `funcKey` name it), a handler
 *                                          threw, an owner's room was lost with `dropped` messages
 *                                          still queued (code queue_dropped), or the server refused
 *                                          the connection (origin_refused: final;
 *                                          too_many_connections, unavailable: tried again in
 *                                          `retryIn` ms, absent when the client gives up)
 *   closed        {code, reason}           final: the client will not reconnect any more
 *   transport     {transport}              transport "auto": the WebSocket could not open, the
 *                                          client goes on over Server-Sent Events ("sse")
 */
class Broadcaster extends EventTarget {
  #url;
  #WebSocket;
  #EventSource;
  #fetch;
  #options;
  #transport; // "websocket" or "sse": what the next connection uses ("auto" starts with WebSocket)
  #socketOpened = false; // the current connection opened: an "auto" fallback is only for one that never did
  #socket = null;
  #handlers = new Map(); // funcKey -> Set of handlers
  #waiters = new Map(); // request id -> {id, kind, resolve, reject, timer}, in the order sent
  #lastId = 0; // ids are numbered per client, so that one is never reused while it may be answered
  #idsEchoed = false; // this connection's server has echoed an id: it is not an older server
  #sentActions = new Map(); // action id -> funcKey, to name the call in the event of a refusal
  #openWaiters = new Set();
  #reconnectTimer = null;
  #attempt = 0;
  #everOpened = false;
  #stopped = false;
  #refusal = null; // why the last connection was refused: its open proved nothing
  #replayLeft = 0;
  #replayTotal = 0;
  #ownerKey = null; // the owner's secret for taking its room back after a drop
  #lastSeq = 0; // of the last message of its room a viewer received; see #recoveryPoint
  #resuming = false; // an owner's connection dropped and it has not taken its room back yet
  #offlineQueue = []; // actions ({id, funcKey, frame}) an owner sent while #resuming, to send once it is back
  // Exactly once from the owner (PROTOCOL.md): against a server that numbers broadcasts (its create
  // or resume reply carries "acked"), each action gets the next pubSeq and stays in #unacked until
  // the server acknowledges it; #offlineQueue then stays empty.
  #numbered = false;
  #pubSeq = 0; // the last number given
  #unacked = []; // actions ({id, funcKey, frame, pubSeq, sent}) not acknowledged, oldest first
  #resendTimer = null;
  #ownerReplay = null; // {stateCount, queued, state} while an owner's resume replay arrives
  #resumeWaiters = []; // resumeRoom calls whose reply came, waiting for the replay that follows it

  /** The room this connection owns or views, or null. */
  roomId = null;
  /** "owner", "viewer" or null when in no room. */
  role = null;
  /** Owner only: the room's viewer count as last reported by the server, or null. */
  viewers = null;

  /**
   * @param {string} url ws:// or wss:// URL of the endpoint; http(s):// and, in a browser, a path
   *   such as "/broadcast" are accepted too.
   * @param {object} [options] see rtbroadcaster.d.ts (WebSocket, requestTimeout, reconnect,
   *   transport, EventSource, fetch).
   */
  constructor(url, options = {}) {
    super();
    this.#url = toWebSocketURL(url);
    const transport = options.transport ?? 'websocket';
    if (!TRANSPORTS.has(transport)) {
      throw new TypeError(`rtbroadcaster: transport must be "websocket", "sse" or "auto", not ${JSON.stringify(transport)}`);
    }
    this.#transport = transport === 'sse' ? 'sse' : 'websocket';
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#EventSource = options.EventSource ?? globalThis.EventSource;
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (transport !== 'websocket' && (typeof this.#EventSource !== 'function' || typeof this.#fetch !== 'function')) {
      throw new TypeError('rtbroadcaster: no EventSource or fetch implementation for transport "' + transport + '"; pass them as options.EventSource and options.fetch');
    }
    if (transport !== 'sse' && typeof this.#WebSocket !== 'function') {
      throw new TypeError('rtbroadcaster: no WebSocket implementation; pass one as options.WebSocket');
    }
    this.#options = {
      requestTimeout: options.requestTimeout ?? DEFAULT_OPTIONS.requestTimeout,
      offlineQueue: options.offlineQueue ?? DEFAULT_OPTIONS.offlineQueue,
      reconnect: { ...DEFAULT_OPTIONS.reconnect, ...options.reconnect },
      token: options.token,
      transport,
    };
    this.#openSocket();
  }

  /** What the current connection uses: "websocket", or "sse" (Server-Sent Events, viewers only). */
  get transport() {
    return this.#transport;
  }

  /** True while the WebSocket is open. */
  get isOpen() {
    return this.#socket?.readyState === WEBSOCKET_OPEN;
  }

  /**
   * Resolves once the WebSocket is open; rejects with code "closed" if the client stops first, or
   * with the refusal (origin_refused, ...) when that is why it stopped.
   */
  ready() {
    if (this.isOpen) return Promise.resolve();
    if (this.#stopped) return Promise.reject(this.#refusal ?? closedError());
    return new Promise((resolve, reject) => this.#openWaiters.add({ resolve, reject }));
  }

  // ---- Rooms: requests answered by the server, as promises ----

  /** Creates a room owned by this connection; resolves to its id. */
  createRoom() {
    return this.#request('create', { status: Status.CREATE });
  }

  /**
   * Takes back the room `roomId` that an earlier connection owned, with the `ownerKey` it was
   * given (for example a presenter page that was reloaded within the room's grace). Resolves, once
   * the room's kept state has arrived, to {roomId, stateCount, state}: `state` holds the room's
   * state messages, oldest first, as {funcKey, funcParams, stateKey?, seq}, for the page to restore
   * its view from; no handler runs for them. Rejects with room_not_found when the grace is over,
   * or not_owner when the key is wrong.
   */
  resumeRoom(roomId, ownerKey) {
    if (typeof roomId !== 'string' || roomId === '' || typeof ownerKey !== 'string' || ownerKey === '') {
      return Promise.reject(new TypeError('rtbroadcaster: resumeRoom needs a room id and its owner key'));
    }
    // The reply settles the request; `replayed` settles once the replay that follows it has
    // arrived, which may be after the reply of the SDK's own resume after a drop.
    return this.#request('resume', { status: Status.JOIN, uuid: roomId, ownerKey }).then(({ replayed }) => replayed);
  }

  /**
   * Owner only: the secret that takes this room back after the connection is lost, or null.
   * Keep it where only this presenter can read it (sessionStorage, not the share link).
   */
  get ownerKey() {
    return this.#ownerKey;
  }

  /** Joins the room `roomId` as a viewer; resolves to {roomId, stateCount}. */
  joinRoom(roomId) {
    if (typeof roomId !== 'string' || roomId === '') {
      return Promise.reject(new TypeError('rtbroadcaster: joinRoom needs a room id'));
    }
    return this.#request('join', { status: Status.JOIN, uuid: roomId });
  }

  /** Owner only: closes the room. Viewers see "roomclosed"; this connection stays open. */
  closeRoom() {
    return this.#request('close', { status: Status.CLOSE, uuid: this.roomId ?? '' });
  }

  // ---- Actions ----

  /** Runs `handler(...funcParams)` for every action named `funcKey`. Returns a function that removes it. */
  on(funcKey, handler) {
    if (typeof handler !== 'function') throw new TypeError('rtbroadcaster: on() needs a function');
    let set = this.#handlers.get(funcKey);
    if (!set) this.#handlers.set(funcKey, (set = new Set()));
    set.add(handler);
    return () => this.off(funcKey, handler);
  }

  /** Removes `handler` from `funcKey`, or every handler of `funcKey` when `handler` is omitted. */
  off(funcKey, handler) {
    if (handler === undefined) this.#handlers.delete(funcKey);
    else this.#handlers.get(funcKey)?.delete(handler);
  }

  /**
   * Owner only: every viewer runs `funcKey(...params)` now. Viewers who join later do not see it.
   * While the owner's connection is down and it is taking its room back, the message is queued
   * (options.offlineQueue) and sent right after the room is back.
   * Throws a BroadcastError (not_connected, not_in_room, not_owner, queue_full, unacked_full) when
   * it cannot be sent or queued. Returns the request id the message is sent with: a refusal arrives
   * as an "error" event whose detail names this id and the funcKey. Against a server that numbers
   * an owner's messages, the message is kept until the server acknowledges it, and sent again after
   * a resume if it was not: it reaches viewers exactly once (PROTOCOL.md, Exactly once from the
   * owner).
   *
   * The first argument may be {funcKey, conflate, stateKey}: with `conflate: true` only the latest
   * message of its key (`stateKey` when given, else the funcKey) matters, as for a laser pointer or
   * a cursor: a viewer that falls behind gets the latest of each key as its connection drains,
   * rather than every one, and is not cut for it; it hears of what was skipped through a "skipped"
   * event (PROTOCOL.md, Conflated streams).
   */
  broadcast(funcKeyOrSpec, ...params) {
    const spec = typeof funcKeyOrSpec === 'string' ? { funcKey: funcKeyOrSpec } : funcKeyOrSpec ?? {};
    return this.#sendAction({ funcKey: spec.funcKey, stateKey: spec.stateKey, conflate: spec.conflate === true, params, state: false });
  }

  /**
   * Owner only: like broadcast(), and the room keeps the message to replay to viewers who join
   * later. The room keeps the latest message per key: the funcKey, or `stateKey` when the first
   * argument is {funcKey, stateKey}, so that one function can keep many entries. With
   * {clearState: true} the room first forgets everything it keeps, and viewers get a
   * "clearstate" event before the handlers run (PROTOCOL.md, Clearing the state). {conflate: true}
   * conflates it as broadcast() does.
   * Returns the request id, as broadcast() does: a refusal (state_full, say) names it.
   */
  setState(funcKeyOrSpec, ...params) {
    const spec = typeof funcKeyOrSpec === 'string' ? { funcKey: funcKeyOrSpec } : funcKeyOrSpec ?? {};
    return this.#sendAction({ funcKey: spec.funcKey, stateKey: spec.stateKey, clearState: spec.clearState === true, conflate: spec.conflate === true, params, state: true });
  }

  /** Sends one raw text frame as it is. Returns false when the connection is not open. */
  sendRaw(text) {
    if (!this.isOpen || !text) return false;
    this.#socket.send(text);
    return true;
  }

  /**
   * Stops for good: closes the connection and an owned room (which would otherwise wait for its
   * owner to come back), and never reconnects.
   */
  disconnect() {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.#stopResend();
    this.#rejectOpenWaiters(closedError());
    this.#failWaiters(closedError());
    if (this.role === 'owner' && this.isOpen) {
      this.#socket.send(JSON.stringify(envelope({ status: Status.CLOSE, uuid: this.roomId, id: this.#newId('close') })));
    }
    if (this.#socket) this.#socket.close(1000, 'client disconnect');
    else this.#emit('closed', { code: 1000, reason: 'client disconnect' });
  }

  // ---- Connection ----

  #openSocket() {
    const socket =
      this.#transport === 'sse'
        ? new EventStreamSocket(this.#url, { EventSource: this.#EventSource, fetch: this.#fetch })
        : new this.#WebSocket(this.#url);
    this.#socketOpened = false;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      this.#socketOpened = true;
      this.#onOpen();
    };
    socket.onmessage = (event) => this.#onFrame(event.data);
    socket.onclose = (event) => this.#onClose(socket, event.code, event.reason);
    // A failed connection also fires "close", which is where it is handled.
    socket.onerror = () => {};
    this.#socket = socket;
    this.#idsEchoed = false; // the server behind a new connection may be another version
  }

  #onOpen() {
    const reconnected = this.#everOpened;
    this.#everOpened = true;
    this.#emit('open', { reconnected });
    for (const waiter of this.#openWaiters) waiter.resolve();
    this.#openWaiters.clear();
    if (this.role === 'viewer') this.#rejoin();
    else if (this.role === 'owner') this.#resume();
    else if (!this.#refusal) this.#attempt = 0;
  }

  /**
   * A viewer whose connection dropped joins its room again from the last message it received:
   * the server sends what it missed, or, when that is gone, the state replay (PROTOCOL.md, Recovery).
   */
  #rejoin() {
    this.#request('join', { status: Status.JOIN, uuid: this.roomId, seq: this.#recoveryPoint() }, { rejoin: true }).then(
      () => (this.#attempt = 0),
      (error) => this.#onRejoinFailed(error),
    );
  }

  /**
   * The seq a rejoin recovers from: the last message received, once everything before it has been
   * applied (PROTOCOL.md, Recovery). A join reply's seq covers the state replay that follows it, so
   * while that replay is under way there is none (undefined): a drop then makes the rejoin a plain
   * join, which replays the state again. The missed messages after a recovery are numbered one by
   * one, so each one applied is a point.
   */
  #recoveryPoint() {
    return this.#replayLeft === 0 ? this.#lastSeq : undefined;
  }

  /** An owner whose connection dropped takes its room back with its key (PROTOCOL.md, Owner resume). */
  #resume() {
    this.#request('resume', { status: Status.JOIN, uuid: this.roomId, ownerKey: this.#ownerKey }, { rejoin: true }).then(
      () => (this.#attempt = 0),
      (error) => this.#onResumeFailed(error),
    );
  }

  /** The room's grace passed, or another connection took it: it is lost, this connection stays. */
  #onResumeFailed(error) {
    if (error.code === 'room_not_found' || error.code === 'not_owner') {
      this.#attempt = 0;
      this.#failResumeWaiters(error);
      this.#leaveRoom('connection_lost');
      return;
    }
    if (endedConnection(error)) return; // #onClose handles these
    this.#emit('error', { error });
    this.#socket?.close(CLOSE_TO_RETRY, 'resume failed');
  }

  /** The room is gone: stop. A refusal such as room_full or a timeout: report it, retry later. */
  #onRejoinFailed(error) {
    if (error.code === 'room_not_found') {
      this.#leaveRoom('room_not_found');
      this.disconnect();
      return;
    }
    if (endedConnection(error)) return; // #onClose handles these
    this.#emit('error', { error });
    this.#socket?.close(CLOSE_TO_RETRY, 'rejoin failed');
  }

  #onClose(socket, code, reason) {
    if (socket !== this.#socket) return;
    this.#socket = null;
    // transport "auto": a WebSocket that could not even open (a proxy that breaks the upgrade) is
    // tried again at once over Server-Sent Events, and so are the connections after it.
    if (this.#options.transport === 'auto' && this.#transport === 'websocket' && !this.#socketOpened && code === CLOSE_ABNORMAL && !this.#stopped) {
      this.#transport = 'sse';
      this.#emit('transport', { transport: 'sse' });
      this.#openSocket();
      return;
    }
    const refusal = refusalError(code, reason);
    this.#refusal = refusal;
    this.#failWaiters(refusal ?? new BroadcastError('disconnected', `rtbroadcaster: connection closed (${code})`));
    this.#sentActions.clear(); // a closed connection refuses nothing more
    this.#stopResend(); // the resume sends them
    // An owned room waits for its owner, which takes it back after reconnecting; without a key
    // (an older server) the room closed with the connection.
    if (this.role === 'owner' && (this.#stopped || !this.#ownerKey)) this.#leaveRoom(this.#stopped ? 'closed' : 'connection_lost');
    // The server closes a viewer with 1000 after its room closed: nothing to rejoin. (When this
    // client closed the connection itself, 1000 is its own code and the room goes on.)
    if (this.role === 'viewer' && !this.#stopped && code === CloseCode.ROOM_CLOSED) this.#leaveRoom('closed');
    // A replay cut short is sent again, whole, after the resume that follows.
    this.#ownerReplay = null;
    // A token refused once is refused again, unless a provider can hand out a new one; an origin
    // refused once, always.
    const hopeless = (code === CloseCode.UNAUTHORIZED && typeof this.#options.token !== 'function') || refusal?.retry === false;
    if (this.#stopped || code === CloseCode.ROOM_CLOSED || hopeless || !this.#canRetry()) {
      if (refusal && !this.#stopped) this.#emit('error', { error: refusal });
      this.#stopped = true;
      this.#forgetRoom();
      this.#rejectOpenWaiters(refusal ?? closedError());
      this.#emit('closed', { code, reason });
      return;
    }
    if (this.role === 'owner') this.#resuming = true; // until the room is back, sends are queued
    const delay = this.#reconnectDelay(code, reason);
    if (refusal) this.#emit('error', { error: refusal, retryIn: delay });
    this.#scheduleReconnect(code, reason, delay);
  }

  #canRetry() {
    const { enabled, maxAttempts } = this.#options.reconnect;
    return enabled && this.#attempt < maxAttempts;
  }

  /**
   * A server that shuts down, or turns connections away for a while, names the delay itself,
   * spread over its clients (PROTOCOL.md, Drain, Refused connections).
   */
  #reconnectDelay(code, reason) {
    return serverDelay(code, reason) ?? backoffDelay(this.#attempt, this.#options.reconnect);
  }

  #scheduleReconnect(code, reason, delay) {
    this.#attempt += 1;
    this.#emit('reconnecting', { attempt: this.#attempt, delay, code, reason });
    this.#reconnectTimer = setTimeout(() => this.#openSocket(), delay);
  }

  // ---- Requests and replies ----

  /**
   * Sends a create, join, resume or close request once the connection is open and settles with its
   * reply. Each request carries a fresh id, which the server echoes on its reply (PROTOCOL.md,
   * Request ids), so requests may overlap: #waiters finds each reply's request by its id.
   */
  async #request(kind, fields, { rejoin = false } = {}) {
    await this.ready();
    const token = kind === 'close' ? undefined : await this.#currentToken();
    // A socket that is closing (refused right after it opened, say) fails the request as it
    // closes, with why; one already closed has nothing more to say.
    const closing = this.#socket?.readyState === WEBSOCKET_CLOSING;
    if (!this.isOpen && !closing) throw new BroadcastError('disconnected', `rtbroadcaster: the connection closed before ${kind} was sent`);
    const id = this.#newId(kind);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(id)?.reject(new BroadcastError('timeout', `rtbroadcaster: no reply to ${kind} within ${this.#options.requestTimeout} ms`));
      }, this.#options.requestTimeout);
      this.#waiters.set(id, { id, kind, rejoin, ownerKey: fields.ownerKey, resolve, reject, timer });
      if (!closing) this.#socket.send(JSON.stringify(envelope({ ...fields, token, id })));
    });
  }

  /** A request id: its kind, for whoever reads the frames, and a number unique to this client. */
  #newId(kind) {
    this.#lastId += 1;
    return `${kind}-${this.#lastId}`;
  }

  /**
   * The token for a create or join: options.token as it is, or what it returns when it is a
   * function. A function is asked before every create and join, a viewer's rejoin after each
   * reconnect included, so that it can hand out a fresh token when the last one has expired.
   */
  async #currentToken() {
    const { token } = this.#options;
    if (typeof token !== 'function') return token;
    try {
      return await token();
    } catch (cause) {
      throw new BroadcastError('token_failed', `rtbroadcaster: the token provider failed: ${cause?.message ?? cause}`, { cause });
    }
  }

  /** Takes the request `id` out of the waiters and stops its timeout; undefined when none waits. */
  #settle(id) {
    const waiter = this.#waiters.get(id);
    if (!waiter) return undefined;
    this.#waiters.delete(id);
    clearTimeout(waiter.timer);
    return waiter;
  }

  #failWaiters(error) {
    for (const id of [...this.#waiters.keys()]) this.#settle(id).reject(error);
  }

  #rejectOpenWaiters(error) {
    for (const waiter of this.#openWaiters) waiter.reject(error);
    this.#openWaiters.clear();
  }

  // ---- Incoming messages ----

  #onFrame(data) {
    this.#acceptedAfterRefusal();
    let message;
    try {
      message = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
    } catch (cause) {
      this.#emit('error', { error: new BroadcastError('bad_message', 'rtbroadcaster: the server sent a frame that is not JSON', { cause }) });
      return;
    }
    this.#route(message);
  }

  /**
   * A refused connection opens before it closes, so an open after refusals does not reset the
   * backoff; the first frame on it proves that the server let it in.
   */
  #acceptedAfterRefusal() {
    if (!this.#refusal) return;
    this.#refusal = null;
    if (this.role === null) this.#attempt = 0;
  }

  #route(message) {
    const value = message.status?.value;
    if (typeof message.seq === 'number' && message.seq > this.#lastSeq) this.#lastSeq = message.seq;
    const waiter = this.#waiterOf(message);
    if (typeof message.acked === 'number' && waiter?.kind !== 'create' && waiter?.kind !== 'resume') this.#onAcked(message);
    if (message.error) this.#onRefusal(message, waiter);
    else if (waiter?.kind === 'close') this.#onCloseReply(waiter);
    else if (waiter?.kind === 'resume') this.#onResumeReply(message, waiter);
    else if (waiter) this.#onJoinReply(message, waiter);
    else if (value === Status.NOT_CONNECTED) this.#onRoomEnded(message);
    else if (value !== Status.CONNECTED) return;
    else if (typeof message.viewers === 'number') this.#onPresence(message);
    else if (typeof message.skippedFrom === 'number') this.#onSkipped(message);
    else if (message.funcKey && this.role === 'owner') this.#onOwnerReplay(message);
    else if (message.funcKey) this.#onAction(message);
    else if (message.owner) this.#onOwnerNews(message);
  }

  /**
   * The request a message answers, taken out of the waiters: the one its id names. A server that
   * echoes no ids (an older one) answers requests in order, so until this connection has seen an
   * id, a message without one answers the oldest request when it has the shape of its reply, as
   * this SDK matched replies before ids.
   */
  #waiterOf(message) {
    if (typeof message.id === 'string' && message.id !== '') {
      this.#idsEchoed = true;
      return this.#settle(message.id);
    }
    if (this.#idsEchoed) return undefined;
    const oldest = this.#waiters.values().next().value;
    return oldest && answersInOrder(message, oldest.kind) ? this.#settle(oldest.id) : undefined;
  }

  /**
   * A skip marker: the conflated messages numbered skippedFrom..seq were replaced by newer ones of
   * their keys before this viewer could be sent them. Not a gap: #lastSeq counted them above, and a
   * rejoin recovers after them.
   */
  #onSkipped(message) {
    if (this.role !== 'viewer') return;
    this.#emit('skipped', { roomId: this.roomId, from: message.skippedFrom, to: message.seq });
  }

  /** A viewer hears that the owner's connection dropped, or that the owner took the room back. */
  #onOwnerNews(message) {
    if (this.role !== 'viewer') return;
    if (message.owner === 'away') this.#emit('owneraway', { roomId: this.roomId, grace: message.graceMs ?? null });
    if (message.owner === 'back') this.#emit('ownerback', { roomId: this.roomId });
  }

  /**
   * A refusal rejects the request it answers. Broadcasts are not acknowledged, so a refusal of one
   * (or one that no request waits for any more) is an "error" event, which names the refused
   * action's id and funcKey when it has one.
   */
  #onRefusal(message, waiter) {
    const error = new BroadcastError(message.error.code, message.error.message);
    if (waiter) {
      waiter.reject(error);
      if (waiter.kind === 'resume') return; // a refused resume loses the room its own way (#onResumeFailed)
    } else if (this.#refusedNumbered(error)) {
      this.#sentActions.delete(message.id); // a gap the SDK fills itself: not the page's to handle
    } else {
      this.#emit('error', this.#refusalDetail(error, message.id));
    }
    // Another connection took this owner's room back with the owner key: this one is in no room,
    // and forgets the key so that it never takes the room back. The server says so unasked.
    if (error.code === 'not_owner' && message.status?.value === Status.NOT_CONNECTED && this.role === 'owner') this.#leaveRoom('replaced');
  }

  #refusalDetail(error, id) {
    if (typeof id !== 'string' || id === '') return { error };
    const funcKey = this.#sentActions.get(id);
    this.#sentActions.delete(id);
    return funcKey === undefined ? { error, id } : { error, id, funcKey };
  }

  #onCloseReply({ resolve }) {
    this.#unacked = []; // the server handled them before the close, which it answers after them
    this.#leaveRoom('closed');
    resolve();
  }

  #onJoinReply(message, { kind, rejoin, resolve }) {
    this.roomId = message.uuid;
    if (kind === 'create') {
      this.role = 'owner';
      this.viewers = 0;
      this.#ownerKey = message.ownerKey ?? null;
      this.#startNumbering(message, true);
      this.#emit('joined', { roomId: this.roomId, role: 'owner', stateCount: 0, rejoined: false });
      resolve(this.roomId);
      return;
    }
    this.role = 'viewer';
    this.#lastSeq = message.seq ?? 0;
    // A rejoin without a recovery point gets no "recovered" field, and the full replay: the page
    // must reset its view all the same.
    if (rejoin) this.#emit('recovered', { roomId: this.roomId, recovered: message.recovered === true });
    this.#onOwnerNews(message); // a join while the owner is away says so
    const stateCount = message.stateCount ?? 0;
    this.#replayLeft = stateCount;
    this.#replayTotal = stateCount;
    this.#emit('joined', { roomId: this.roomId, role: 'viewer', stateCount, rejoined: rejoin });
    resolve({ roomId: this.roomId, stateCount });
    if (stateCount === 0) this.#emit('replaydone', { roomId: this.roomId, count: 0 });
  }

  /**
   * The room is this connection's again (PROTOCOL.md, Owner resume). What was queued while it was
   * away goes first, before 'joined' lets the page send more; the room's kept state follows the
   * reply, and resumeRoom resolves once it has arrived.
   */
  #onResumeReply(message, { rejoin, ownerKey, resolve }) {
    this.roomId = message.uuid;
    this.role = 'owner';
    this.#ownerKey = ownerKey; // this connection may now resume after its own drops too
    this.#resuming = false;
    this.#startNumbering(message, !rejoin);
    // What the server did not acknowledge goes first; then what was queued unnumbered: everything,
    // on a server that does not number, else the latest of each conflated stream.
    const { held, resent } = this.#sendUnacked();
    const queued = this.#flushOfflineQueue();
    const stateCount = message.stateCount ?? 0;
    this.#ownerReplay = { stateCount, queued: queued + held, resent, state: [] };
    // resumeRoom waits for the replay; the SDK's own resume after a drop only for the reply.
    const replayed = rejoin ? null : new Promise((resolve, reject) => this.#resumeWaiters.push({ resolve, reject }));
    resolve({ replayed });
    this.#emit('joined', { roomId: this.roomId, role: 'owner', stateCount, rejoined: true });
    this.#finishOwnerReplay();
  }

  /**
   * The replay after a resume is the owner's own state: it is collected for resumeRoom and never
   * runs handlers (an owner's page applied those actions itself when it sent them).
   */
  #onOwnerReplay(message) {
    const replay = this.#ownerReplay;
    if (!replay) return; // the server echoes nothing else to an owner
    replay.state.push(stateEntry(message));
    this.#finishOwnerReplay();
  }

  #finishOwnerReplay() {
    const replay = this.#ownerReplay;
    if (!replay || replay.state.length < replay.stateCount) return;
    this.#ownerReplay = null;
    const roomId = this.roomId;
    const waiters = this.#resumeWaiters;
    this.#resumeWaiters = [];
    for (const { resolve } of waiters) resolve({ roomId, stateCount: replay.stateCount, state: replay.state });
    this.#emit('resumed', { roomId, queued: replay.queued, resent: replay.resent, stateCount: replay.stateCount });
  }

  #failResumeWaiters(error) {
    const waiters = this.#resumeWaiters;
    this.#resumeWaiters = [];
    for (const { reject } of waiters) reject(error);
  }

  /** Status 0 that answers no close: the owner closed the room or left, or an operator closed it. */
  #onRoomEnded(message) {
    if (this.role === null || message.uuid !== this.roomId) return;
    // The server names an operator that closed the room when it knows; an owner knows anyway, as
    // nobody else closes the room of a connected owner, except itself: a reply to its own close
    // that came after the request timed out carries the close's id.
    const byOperator = this.role === 'owner' && !message.id;
    this.#leaveRoom('closed', message.closedBy ?? (byOperator ? 'operator' : undefined));
  }

  #onPresence(message) {
    if (this.role !== 'owner') return;
    this.viewers = message.viewers;
    this.#emit('viewers', { roomId: this.roomId, count: message.viewers });
  }

  /** The first stateCount actions after a join reply are the replay: the server sends nothing in between. */
  #onAction(message) {
    if (message.clearState === true) this.#emit('clearstate', { roomId: this.roomId, funcKey: message.funcKey });
    this.#callHandlers(message.funcKey, message.funcParams ?? []);
    if (this.#replayLeft > 0) {
      this.#replayLeft -= 1;
      if (this.#replayLeft === 0) this.#emit('replaydone', { roomId: this.roomId, count: this.#replayTotal });
    }
  }

  /** Unknown funcKeys are ignored; a handler that throws is reported and does not stop the others. */
  #callHandlers(funcKey, params) {
    for (const handler of this.#handlers.get(funcKey) ?? []) {
      try {
        handler(...params);
      } catch (cause) {
        const error = new BroadcastError('handler_failed', `rtbroadcaster: the handler of "${funcKey}" threw: ${cause?.message ?? cause}`, { cause });
        this.#emit('error', { error });
      }
    }
  }

  /** The room closed: forget it and tell the page (`by`: "operator" when an operator closed it). */
  #leaveRoom(reason, by) {
    if (this.role === null) return;
    const roomId = this.roomId;
    this.#forgetRoom();
    this.#emit('roomclosed', by ? { roomId, reason, by } : { roomId, reason });
  }

  /**
   * Forgets the room without a roomclosed event: a viewer that disconnects leaves a room that goes
   * on. An owner's queued messages cannot be sent any more: the page hears how many were lost.
   */
  #forgetRoom() {
    this.role = null;
    this.roomId = null;
    this.viewers = null;
    this.#replayLeft = 0;
    this.#ownerKey = null;
    this.#lastSeq = 0;
    // Unacknowledged messages of a client that disconnects online were sent before its close, which
    // the server handles after them; offline, or when the room is lost, they may never arrive.
    const countUnacked = this.#resuming || !this.#stopped;
    this.#resuming = false;
    this.#ownerReplay = null;
    this.#failResumeWaiters(closedError());
    this.#stopResend();
    this.#dropOfflineQueue(countUnacked);
  }

  // ---- Outgoing actions ----

  #sendAction({ funcKey, stateKey, clearState = false, conflate = false, params, state }) {
    if (typeof funcKey !== 'string' || funcKey === '') {
      throw new TypeError('rtbroadcaster: an action needs a non-empty funcKey');
    }
    const funcParams = params.map(toParam);
    const action = () => this.#action({ funcKey, stateKey, clearState, conflate, funcParams, state });
    // While resuming the socket may be open already, but it is in no room until the reply. A
    // conflated message is not numbered (a newer one of its key replaces it, so a 60 Hz stream must
    // not fill the unacknowledged buffer while the network stalls), and while the owner is away only
    // the latest of each key waits.
    if (this.#resuming && conflate) return this.#enqueue(action(), (state || conflate) && stateKey ? stateKey : funcKey);
    if (this.#resuming && this.#numbered) return this.#holdNumbered(action());
    if (this.#resuming) return this.#enqueue(action());
    if (!this.isOpen) throw notConnectedError();
    if (this.role === null) throw new BroadcastError('not_in_room', 'rtbroadcaster: create a room before broadcasting');
    if (this.role !== 'owner') throw new BroadcastError('not_owner', 'rtbroadcaster: only the room owner can broadcast');
    if (this.#numbered && !conflate) return this.#sendNumbered(action());
    return this.#sendActionFrame(action());
  }

  /**
   * An action ready to send: {id, funcKey, frame}, and its pubSeq when the server numbers them. A
   * numbered action is only made once there is room for it in #unacked (#checkUnacked), so that a
   * refused one uses no number.
   */
  #action({ funcKey, stateKey, clearState, conflate, funcParams, state }) {
    const id = this.#newId(state ? 'state' : 'broadcast');
    const fields = { status: Status.CONNECTED, uuid: this.roomId, funcKey, funcParams, stateMessage: state, clearState, conflate, id };
    if ((state || conflate) && stateKey) fields.stateKey = stateKey; // a conflated message is conflated under it
    if (!this.#numbered || conflate) return { id, funcKey, frame: JSON.stringify(envelope(fields)) };
    this.#checkUnacked(funcKey);
    this.#pubSeq += 1;
    fields.pubSeq = this.#pubSeq;
    return { id, funcKey, frame: JSON.stringify(envelope(fields)), pubSeq: this.#pubSeq, sent: false };
  }

  // ---- Exactly once from the owner (PROTOCOL.md) ----

  /**
   * From a create or resume reply: whether the server numbers broadcasts, and what it acknowledged.
   * `fresh`: this client did not own the room before (createRoom, resumeRoom), so it numbers on
   * from the room's count and keeps nothing; after its own drop it keeps what is not acknowledged.
   */
  #startNumbering(message, fresh) {
    this.#numbered = typeof message.acked === 'number' && this.#options.offlineQueue > 0;
    if (fresh) {
      this.#pubSeq = 0;
      this.#unacked = [];
    }
    if (typeof message.acked === 'number') this.#acknowledge(message.acked);
  }

  #onAcked(message) {
    if (this.role === 'owner' && message.uuid === this.roomId) this.#acknowledge(message.acked);
  }

  /** Every number up to `acked` is in: those actions are forgotten. */
  #acknowledge(acked) {
    let i = 0;
    while (i < this.#unacked.length && this.#unacked[i].pubSeq <= acked) i++;
    if (i > 0) this.#unacked.splice(0, i);
    if (acked > this.#pubSeq) this.#pubSeq = acked; // a room that lost writes used numbers up
  }

  /** Bounded by options.offlineQueue: queue_full while away, unacked_full while connected. */
  #checkUnacked(funcKey) {
    const limit = this.#options.offlineQueue;
    if (this.#unacked.length < limit) return;
    if (this.#resuming) {
      throw new BroadcastError('queue_full', `rtbroadcaster: ${limit} messages are already waiting for the connection; "${funcKey}" was not queued`);
    }
    throw new BroadcastError('unacked_full', `rtbroadcaster: ${limit} messages wait for the server's acknowledgement; "${funcKey}" was not sent: try again shortly`);
  }

  #holdNumbered(action) {
    this.#unacked.push(action);
    return action.id;
  }

  #sendNumbered(action) {
    this.#unacked.push(action);
    action.sent = true;
    return this.#sendActionFrame(action);
  }

  /**
   * After a resume: sends every action the server has not acknowledged, in order, held ones
   * included; returns how many were held and how many sent again.
   */
  #sendUnacked() {
    let held = 0;
    let resent = 0;
    for (const action of this.#unacked) {
      if (action.sent) resent++;
      else held++;
      action.sent = true;
      this.#sendActionFrame(action);
    }
    return { held, resent };
  }

  /**
   * A refusal that did not reach the room: the actions after it were refused too (pub_seq_gap);
   * send them all again. Returns true for such a gap, which the SDK fills itself.
   */
  #refusedNumbered(error) {
    if (!['unavailable', 'rate_limited', 'pub_seq_gap'].includes(error.code)) return false;
    const handled = error.code === 'pub_seq_gap' && this.#numbered;
    if (this.role !== 'owner' || !this.#numbered || this.#unacked.length === 0 || this.#resendTimer) return handled;
    this.#resendTimer = setTimeout(() => {
      this.#resendTimer = null;
      if (this.role !== 'owner' || this.#resuming || !this.isOpen) return; // a resume sends them
      for (const action of this.#unacked) this.#sendActionFrame(action);
    }, RESEND_DELAY);
    return handled;
  }

  #stopResend() {
    clearTimeout(this.#resendTimer);
    this.#resendTimer = null;
  }

  /**
   * Sends an action and remembers its funcKey until a refusal names its id. Success has no reply,
   * so the oldest are forgotten past a bound: a refusal comes within a round trip.
   */
  #sendActionFrame({ id, funcKey, frame }) {
    this.#sentActions.set(id, funcKey);
    if (this.#sentActions.size > REMEMBERED_ACTIONS) this.#sentActions.delete(this.#sentActions.keys().next().value);
    this.#socket.send(frame);
    return id;
  }

  /**
   * Bounded, so that a presenter offline for long does not pile up without limit; 0 turns it off.
   * An action conflated under `conflateKey` replaces the one of that key queued before.
   */
  #enqueue(action, conflateKey) {
    const limit = this.#options.offlineQueue;
    if (!(limit > 0)) throw notConnectedError();
    if (conflateKey !== undefined) {
      action.conflateKey = conflateKey;
      this.#offlineQueue = this.#offlineQueue.filter((queued) => queued.conflateKey !== conflateKey);
    }
    if (this.#offlineQueue.length >= limit) {
      throw new BroadcastError('queue_full', `rtbroadcaster: ${limit} messages are already waiting for the connection; "${action.funcKey}" was not queued`);
    }
    this.#offlineQueue.push(action);
    return action.id;
  }

  /** Sends what was queued, in order; returns how many. */
  #flushOfflineQueue() {
    const actions = this.#offlineQueue;
    this.#offlineQueue = [];
    for (const action of actions) this.#sendActionFrame(action);
    return actions.length;
  }

  #dropOfflineQueue(countUnacked) {
    const dropped = this.#offlineQueue.length + (countUnacked ? this.#unacked.length : 0);
    this.#offlineQueue = [];
    this.#unacked = [];
    this.#numbered = false;
    if (dropped === 0) return;
    const error = new BroadcastError('queue_dropped', `rtbroadcaster: the room was lost; ${dropped} queued or unacknowledged message(s) may not have been delivered`);
    this.#emit('error', { error, dropped });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * A viewer's connection over Server-Sent Events (PROTOCOL.md, SSE viewers), with the face of a
 * WebSocket that the Broadcaster drives: it opens at once; its join request opens the EventSource of
 * the room, GET /rooms/{uuid}/events, with the recovery point as ?lastEventId= and the token as
 * ?token=; each event is a frame; the stream's "close" event, or its end, is the connection's close.
 * The EventSource never reconnects by itself: the Broadcaster does, with its backoff and its
 * recovery point, as over WebSocket. Anything but a join is refused with "unsupported": a viewer
 * only receives.
 */
class EventStreamSocket {
  readyState = 0;
  binaryType = 'arraybuffer';
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  #origin;
  #EventSource;
  #fetch;
  #source = null;
  #streamURL = null;
  #joinId = null;
  #sawReply = false;

  constructor(url, { EventSource, fetch }) {
    const origin = new URL(url);
    origin.protocol = origin.protocol === 'wss:' ? 'https:' : 'http:';
    this.#origin = origin.origin;
    this.#EventSource = EventSource;
    this.#fetch = fetch;
    setTimeout(() => {
      if (this.readyState !== 0) return;
      this.readyState = WEBSOCKET_OPEN;
      this.onopen?.({});
    }, 0);
  }

  send(text) {
    if (this.readyState !== WEBSOCKET_OPEN) return;
    let request;
    try {
      request = JSON.parse(text);
    } catch {
      return; // a WebSocket server would refuse it with bad_request; there is nobody to send it to
    }
    if (request.status?.value !== Status.JOIN || request.ownerKey) {
      const message = 'rtbroadcaster: a viewer over Server-Sent Events only joins a room; use the transport "websocket" to create, resume, broadcast or close';
      this.#deliver(errorReply(request.id, 'unsupported', message));
      return;
    }
    if (this.#source) {
      this.#deliver(errorReply(request.id, 'already_in_room', 'join: this connection is already in a room; open another connection for another room'));
      return;
    }
    this.#joinId = request.id ?? null;
    this.#sawReply = false;
    const stream = new URL(`/rooms/${encodeURIComponent(request.uuid ?? '')}/events`, this.#origin);
    if (typeof request.seq === 'number') stream.searchParams.set('lastEventId', String(request.seq));
    if (request.token) stream.searchParams.set('token', request.token);
    this.#streamURL = stream.href;
    const source = new this.#EventSource(this.#streamURL);
    source.onmessage = (event) => this.#onEvent(source, event.data);
    source.addEventListener('close', (event) => this.#onCloseEvent(source, event.data));
    source.onerror = () => this.#onError(source);
    this.#source = source;
  }

  close(code = 1005, reason = '') {
    this.#end(code, reason);
  }

  /** The join reply names the join request, so that the Broadcaster finds its waiter by id. */
  #onEvent(source, data) {
    if (source !== this.#source) return;
    if (!this.#sawReply) {
      this.#sawReply = true;
      try {
        const reply = JSON.parse(data);
        if (this.#joinId) reply.id = this.#joinId;
        data = JSON.stringify(reply);
      } catch {
        // not JSON: the Broadcaster reports it
      }
    }
    this.onmessage?.({ data }); // an event of the stream comes from the event loop already
  }

  /** The server ended the stream as it closes a WebSocket: {code, reason}. */
  #onCloseEvent(source, data) {
    if (source !== this.#source) return;
    let closing = {};
    try {
      closing = JSON.parse(data);
    } catch {
      // an unreadable close is an abnormal end
    }
    this.#end(closing.code ?? CLOSE_ABNORMAL, closing.reason ?? '');
  }

  /**
   * The stream dropped, or was never opened: an EventSource shows neither the status nor the body
   * of a refusal, so the same request is made once with fetch to read them.
   */
  #onError(source) {
    if (source !== this.#source || this.readyState !== WEBSOCKET_OPEN) return;
    source.close();
    if (this.#sawReply) {
      this.#end(CLOSE_ABNORMAL, '');
      return;
    }
    this.#probe();
  }

  async #probe() {
    const controller = new AbortController();
    let error = null;
    try {
      const response = await this.#fetch(this.#streamURL, { headers: { Accept: 'application/json' }, signal: controller.signal });
      if (response.status === 204) error = { code: 'room_not_found', message: 'the room has ended' };
      else if (!response.ok) error = (await response.json()).error ?? null;
    } catch {
      // the server cannot be reached: a dropped connection, retried
    } finally {
      controller.abort(); // a stream that opened this time: the next connection reads it
    }
    if (this.readyState !== WEBSOCKET_OPEN) return;
    if (!error?.code) {
      this.#end(CLOSE_ABNORMAL, '');
      return;
    }
    this.#source = null; // another join may follow on this connection, as on a WebSocket
    this.#deliver(errorReply(this.#joinId, error.code, error.message ?? error.code));
    if (error.code === 'unauthorized') this.#end(CloseCode.UNAUTHORIZED, 'unauthorized');
  }

  /** A reply of this socket's own, delivered as a frame would be: later, before any close. */
  #deliver(data) {
    if (this.readyState !== WEBSOCKET_OPEN) return;
    setTimeout(() => this.onmessage?.({ data }), 0);
  }

  #end(code, reason) {
    if (this.readyState === WEBSOCKET_CLOSED) return;
    this.readyState = WEBSOCKET_CLOSED;
    this.#source?.close();
    this.#source = null;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}

/** A refusal as the server sends it on a WebSocket, for the request `id`. */
function errorReply(id, code, message) {
  const reply = envelope({ status: Status.NOT_CONNECTED, id });
  reply.error = { code, message };
  return JSON.stringify(reply);
}

/** Creates a Broadcaster and resolves to it once its connection is open. */
async function connect(url, options) {
  const broadcaster = new Broadcaster(url, options);
  await broadcaster.ready();
  return broadcaster;
}

/**
 * Full jitter: a random delay between 0 and min(maxDelay, initialDelay * 2^attempt), so that many
 * viewers dropped at once (a server restart) do not come back at the same instant.
 */
function backoffDelay(attempt, { initialDelay, maxDelay }, random = Math.random) {
  const ceiling = Math.min(maxDelay, initialDelay * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** The delay in the reason of a draining server's close 1001 or of a refusal to retry, or undefined. */
function serverDelay(code, reason) {
  const names = code === CloseCode.GOING_AWAY || REFUSALS.get(code)?.retry;
  const match = names ? /reconnect in (\d+) ms/.exec(reason ?? '') : null;
  return match ? Number(match[1]) : undefined;
}

/**
 * The error a page sees for a close that refused the connection, or null: a BroadcastError whose
 * `retry` says whether the client tries again.
 */
function refusalError(code, reason) {
  const refusal = REFUSALS.get(code);
  if (!refusal) return null;
  const why = (reason || `close ${code}`).replace(/; reconnect in \d+ ms$/, '');
  const error = new BroadcastError(refusal.code, `rtbroadcaster: the server refused the connection: ${why}`);
  error.retry = refusal.retry;
  return error;
}

function envelope({ uuid = '', status, funcKey = '', funcParams = [], stateMessage = false, stateKey, clearState, conflate, token, seq, ownerKey, id, pubSeq }) {
  const message = { uuid, status: { value: status, text: statusText(status) }, funcKey, funcParams, stateMessage };
  if (stateKey) message.stateKey = stateKey;
  if (clearState) message.clearState = true;
  if (conflate) message.conflate = true;
  if (token) message.token = token;
  if (seq !== undefined) message.seq = seq; // 0 too: a rejoin that saw nothing still recovers
  if (ownerKey) message.ownerKey = ownerKey;
  if (id) message.id = id;
  if (pubSeq) message.pubSeq = pubSeq;
  return message;
}

/**
 * Whether a message without an id, from a server that echoes none, has the shape of the reply to
 * a request of `kind`. state_full refuses only a state message, never a request.
 */
function answersInOrder(message, kind) {
  if (message.error) return message.error.code !== 'state_full';
  const value = message.status?.value;
  if (kind === 'close') return value === Status.NOT_CONNECTED;
  return value === Status.CONNECTED && !message.funcKey && typeof message.viewers !== 'number';
}

function statusText(status) {
  return ['not connected', 'new connection', 'join connection', 'connected', 'close connection'][status];
}

/** funcParams are strings on the wire; numbers and booleans are converted, anything else is a mistake. */
function toParam(value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new TypeError(`rtbroadcaster: action parameters must be strings, numbers or booleans, not ${value === null ? 'null' : typeof value}`);
}

/** A replayed state message, as resumeRoom hands it to the page. */
function stateEntry({ funcKey, funcParams, stateKey, seq }) {
  const entry = { funcKey, funcParams: funcParams ?? [] };
  if (stateKey) entry.stateKey = stateKey;
  entry.seq = seq;
  return entry;
}

function notConnectedError() {
  return new BroadcastError('not_connected', 'rtbroadcaster: not connected; the action was not sent');
}

function closedError() {
  return new BroadcastError('closed', 'rtbroadcaster: the client was disconnected');
}

/** Accepts ws(s)://, http(s):// and, where the page has a location, relative URLs. */
function toWebSocketURL(url) {
  const absolute = new URL(url, globalThis.location?.href);
  if (absolute.protocol === 'http:') absolute.protocol = 'ws:';
  if (absolute.protocol === 'https:') absolute.protocol = 'wss:';
  return absolute.href;
}

/** The room id in a page's query string (`?uuid=...`), or "" when there is none. */
function roomIdFromSearch(search) {
  return (new URLSearchParams(search).get('uuid') ?? '').trim();
}

// ---- The original API ----
// The shim stays in this file: the classic script is derived from this one module (sdk.go), and
// the shim needs only Broadcaster's public API plus endedConnection, which a module of its own
// would have to export to pages too. It sends its requests through the Broadcaster, ids included.

/**
 * Drop-in replacement for the original SDK's RTBroadcaster: same constructor, methods, properties
 * and callbacks, so that a page written for it only changes its script's src. A page without
 * `uuid` in its query string creates a room (owner); one with `?uuid=<room>` joins it (viewer).
 * Unlike the original, it reconnects (viewers rejoin and replay state) and ignores unknown funcKeys.
 *
 * The optional sixth argument takes the Broadcaster options plus `search`, the query string to
 * read the room id from (default: location.search).
 */
class RTBroadcaster {
  #callbacks;
  #openCalled = false;

  constructor(url, onConnectionCallback, openCallback, closeCallback, errorCallback, options = {}) {
    this.suscribedFuncs = new Map();
    this.connected = false;
    this.uuid = roomIdFromSearch(options.search ?? globalThis.location?.search ?? '');
    this.isOwner = this.uuid === '';
    this.#callbacks = { onConnectionCallback, openCallback, closeCallback, errorCallback };
    try {
      // The original API stays on WebSocket: its pages may own rooms, which SSE cannot.
      this.broadcaster = new Broadcaster(url, { ...options, transport: 'websocket' });
    } catch (error) {
      this.broadcaster = null;
      errorCallback?.(error.message);
      return;
    }
    this.#listen(this.broadcaster);
  }

  /** Calls `func(paramsArray)` for every action named `key`; one function per key, as before. */
  suscribeFunc(key, func) {
    this.unsuscribeFunc(key);
    this.suscribedFuncs.set(key, func);
    this.broadcaster?.on(key, (...params) => func(params));
  }

  unsuscribeFunc(key) {
    this.suscribedFuncs.delete(key);
    this.broadcaster?.off(key);
  }

  /**
   * Owner only: broadcasts `key(params)`, kept for late viewers when `isState`. Returns true when it
   * was sent or queued (an owner taking its room back), false when it can be neither.
   */
  sendAction(key, params, isState) {
    const send = isState ? this.broadcaster?.setState : this.broadcaster?.broadcast;
    if (!send) return false;
    try {
      send.call(this.broadcaster, key, ...(params ?? []));
      return true;
    } catch (error) {
      if (error instanceof BroadcastError) return false;
      throw error;
    }
  }

  /** Sends a raw message string. Returns false when there is no open connection or nothing to send. */
  sendMessage(command) {
    return this.broadcaster?.sendRaw(command) ?? false;
  }

  #listen(broadcaster) {
    const { onConnectionCallback, closeCallback, errorCallback } = this.#callbacks;
    let entered = false;
    broadcaster.addEventListener('open', () => {
      // Until the room is entered, each connection tries (the first one may be refused and a later
      // one let in); after that, a viewer's rejoin is the Broadcaster's job.
      if (!entered) this.#enterRoom();
    });
    let firstJoin = true;
    broadcaster.addEventListener('joined', ({ detail }) => {
      entered = true;
      this.uuid = detail.roomId;
      this.connected = true;
      this.#opened();
      if (firstJoin) onConnectionCallback?.(detail.roomId);
      firstJoin = false;
    });
    broadcaster.addEventListener('roomclosed', () => (this.connected = false));
    broadcaster.addEventListener('error', ({ detail }) => errorCallback?.(detail.error.message));
    broadcaster.addEventListener('closed', () => {
      this.connected = false;
      closeCallback?.();
    });
  }

  #enterRoom() {
    const entered = this.isOwner ? this.broadcaster.createRoom() : this.broadcaster.joinRoom(this.uuid);
    entered.catch((error) => {
      // A connection that closed or was refused before the reply: the "error" event reports a
      // refusal, and the next connection, if any, tries again.
      if (endedConnection(error)) return;
      this.#opened();
      this.#callbacks.errorCallback?.(error.message);
    });
  }

  /**
   * openCallback runs once the server has answered, not when the socket opens: a refused
   * connection opens before it closes, and the original SDK never called openCallback for one.
   */
  #opened() {
    if (this.#openCalled) return;
    this.#openCalled = true;
    this.#callbacks.openCallback?.();
  }
}

// The classic script replaces this statement with globals (sdk.go): keep it last and on one line.
export { Broadcaster, BroadcastError, RTBroadcaster, connect, backoffDelay, Status, CloseCode };
