// Type declarations for rtbroadcaster.mjs. The wire contract is PROTOCOL.md in the repository.

/** Status values of the message envelope. */
export declare const Status: Readonly<{ NOT_CONNECTED: 0; CREATE: 1; JOIN: 2; CONNECTED: 3; CLOSE: 4 }>;

/** WebSocket close codes the server uses; 4403, 4429 and 4503 refuse a connection as it opens. */
export declare const CloseCode: Readonly<{
  ROOM_CLOSED: 1000;
  GOING_AWAY: 1001;
  TOO_BIG: 1009;
  SLOW_CONSUMER: 4001;
  UNAUTHORIZED: 4401;
  ORIGIN_REFUSED: 4403;
  TOO_MANY_CONNECTIONS: 4429;
  UNAVAILABLE: 4503;
}>;

/** Codes the server puts in a refusal. */
export type ServerErrorCode =
  | 'bad_request'
  | 'room_not_found'
  | 'not_owner'
  | 'not_in_room'
  | 'already_in_room'
  | 'room_full'
  | 'state_full'
  | 'rate_limited'
  | 'unavailable' // also: the server refused the connection as it is shutting down or full (close 4503); retried
  | 'unauthorized' // no token, or an invalid or expired one: the server closes with 4401 next
  | 'forbidden' // a valid token that does not allow this create or join
  | 'too_many_rooms'
  | 'lost' // Redis lost the room's latest messages (a failover): this broadcast was not delivered either; resend the state
  | 'unreplicated' // not a refusal: the state message was delivered and kept, but fewer replicas than the server waits for have it; do not resend
  | 'pub_seq_gap'; // an owner's numbered message skipped numbers; the SDK sends the missing ones again itself

/** Codes the SDK itself uses. */
export type ClientErrorCode =
  | 'not_connected' // a send while the connection is down (and not queued: see offlineQueue)
  | 'queue_full' // an owner's send while its offline queue is full
  | 'unacked_full' // an owner's send while offlineQueue messages wait for the server's acknowledgement (at most 100 ms); try again shortly
  | 'queue_dropped' // an owner lost its room with messages still queued or unacknowledged (an "error" event, with `dropped`)
  | 'not_in_room' // a send before createRoom
  | 'not_owner' // a send from a viewer
  | 'disconnected' // the connection dropped while a request waited for its reply
  | 'timeout' // no reply within requestTimeout
  | 'closed' // the client was stopped (disconnect, room closed, reconnect gave up)
  | 'handler_failed' // an action handler threw (reported as an "error" event)
  | 'token_failed' // the token provider threw or rejected
  | 'bad_message' // the server sent a frame that is not JSON
  | 'origin_refused' // the server refused the connection: the page's origin is not allowed (close 4403); final
  | 'too_many_connections' // the server refused the connection: too many from this address (close 4429); retried
  | 'unsupported'; // transport "sse": a create, resume, broadcast or close (a viewer over Server-Sent Events only joins)

export declare class BroadcastError extends Error {
  readonly name: 'BroadcastError';
  readonly code: ServerErrorCode | ClientErrorCode | (string & {});
  /** Only on a refused connection (origin_refused, too_many_connections, unavailable): whether the client tries again. */
  readonly retry?: boolean;
  constructor(code: string, message: string, options?: { cause?: unknown });
}

/** A WebSocket constructor: the browser's, or one such as the `ws` package in Node. */
export interface WebSocketConstructor {
  new (url: string): WebSocketLike;
}

export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface ReconnectOptions {
  /** false: never reconnect. Default true. */
  enabled?: boolean;
  /** Ceiling of the first retry's random delay, in ms. Default 500. */
  initialDelay?: number;
  /** Largest ceiling of a retry's random delay, in ms. Default 15000. */
  maxDelay?: number;
  /** Retries in a row before giving up with "closed". Default Infinity. */
  maxAttempts?: number;
}

/** An EventSource constructor: the browser's, or one for Node (which has none before Node 22). */
export interface EventSourceConstructor {
  new (url: string): EventSourceLike;
}

export interface EventSourceLike {
  onmessage: ((event: { data: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  addEventListener(type: 'close', listener: (event: { data: string }) => void): void;
  close(): void;
}

/**
 * How the client reaches the server. "websocket" (the default) does everything. "sse": a viewer
 * that follows its room over Server-Sent Events (GET /rooms/{uuid}/events, PROTOCOL.md, SSE
 * viewers), through proxies that break WebSocket; it joins one room and only receives (createRoom,
 * resumeRoom, broadcast and closeRoom are refused with "unsupported"), and reconnects and recovers
 * as a WebSocket viewer does. "auto": WebSocket, falling back to "sse" for good when the WebSocket
 * upgrade fails before it opens (a "transport" event says so): meant for viewers.
 */
export type Transport = 'websocket' | 'sse' | 'auto';

export interface BroadcasterOptions {
  /** Default: globalThis.WebSocket. Node 20 has none: pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Default "websocket". See Transport. */
  transport?: Transport;
  /** For transport "sse" and "auto". Default: globalThis.EventSource. */
  EventSource?: EventSourceConstructor;
  /** For transport "sse" and "auto": reads why a stream was refused. Default: globalThis.fetch. */
  fetch?: (url: string, init?: { headers?: Record<string, string>; signal?: AbortSignal }) => Promise<{ ok: boolean; status: number; json(): Promise<any> }>;
  /** How long createRoom, joinRoom and closeRoom wait for their reply once sent, in ms. Default 10000. */
  requestTimeout?: number;
  reconnect?: ReconnectOptions;
  /**
   * How many broadcasts and state messages an owner may send while its connection is down and it
   * is taking its room back: they are sent, in order, right after the room is back, before anything
   * sent later. Past it, sends throw "queue_full". 0: no queue, sends throw "not_connected".
   * Default 256.
   *
   * Against a server that numbers an owner's messages (PROTOCOL.md, Exactly once from the owner),
   * it bounds the messages not acknowledged yet, sent or held: each is kept until the server
   * acknowledges it (at least every 100 ms), and sent again after a resume if it was not. Past it,
   * sends throw "unacked_full" while connected. 0 also turns the numbering off.
   */
  offlineQueue?: number;
  /**
   * For servers that require tokens: sent with every createRoom and joinRoom. A function is asked
   * before each of them, including a viewer's rejoin after every reconnect, so it can return a
   * fresh token when the last one expired. A static token the server refuses ends the client.
   */
  token?: string | (() => string | Promise<string>);
}

export type Role = 'owner' | 'viewer';

/** One of the room's kept state messages, as resumeRoom returns it. */
export interface StateEntry {
  funcKey: string;
  funcParams: string[];
  /** Present when the message was sent with a stateKey. */
  stateKey?: string;
  /** Its number in the room's stream. */
  seq: number;
}

export interface ResumedRoom {
  roomId: string;
  stateCount: number;
  /** The room's kept state, oldest first (a replaced key moved to the end). */
  state: StateEntry[];
}

export interface BroadcasterEventMap {
  open: CustomEvent<{ reconnected: boolean }>;
  joined: CustomEvent<{ roomId: string; role: Role; stateCount: number; rejoined: boolean }>;
  /**
   * Owner, once it took its room back (after a drop, or with resumeRoom) and the room's kept state
   * has arrived; `queued` messages sent while it was away have just been sent, and `resent`
   * messages sent before the drop that the server had not acknowledged were sent again (the server
   * drops those it already had: each reaches viewers once).
   */
  resumed: CustomEvent<{ roomId: string; queued: number; resent: number; stateCount: number }>;
  replaydone: CustomEvent<{ roomId: string; count: number }>;
  /** Viewer: the owner cleared the room's kept state with this funcKey's message; reset the view before its handlers run. */
  clearstate: CustomEvent<{ roomId: string; funcKey: string }>;
  viewers: CustomEvent<{ roomId: string; count: number }>;
  /** `by`: "operator" when an operator closed the room (the admin API), not its owner. */
  roomclosed: CustomEvent<{ roomId: string; reason: 'closed' | 'connection_lost' | 'room_not_found' | 'replaced'; by?: 'operator' }>;
  /** Viewer, after a rejoin: true when exactly the missed messages follow, false when a fresh state replay does. */
  recovered: CustomEvent<{ roomId: string; recovered: boolean }>;
  /**
   * Viewer: the conflated messages numbered from..to were replaced by newer ones of their keys
   * before they could be sent to it (PROTOCOL.md, Conflated streams). Nothing is missing, and no
   * rejoin follows: a later recovery starts after them.
   */
  skipped: CustomEvent<{ roomId: string; from: number; to: number }>;
  /** Viewer: the owner's connection (or its server node) dropped; the room waits `grace` ms for it (null: joined meanwhile, unknown). */
  owneraway: CustomEvent<{ roomId: string; grace: number | null }>;
  /** Viewer: the owner took the room back. */
  ownerback: CustomEvent<{ roomId: string }>;
  /** `delay` is the server's own when it shut down (close 1001) or refused the connection for a while (4429, 4503). */
  reconnecting: CustomEvent<{ attempt: number; delay: number; code: number; reason: string }>;
  /**
   * `dropped`: with code "queue_dropped", how many queued messages were never sent. `retryIn`: the
   * server refused the connection (too_many_connections, unavailable) and the client tries again in
   * that many ms; a refusal without it is final, and "closed" follows. `id`: the server refused a
   * message that no request waits for, sent with this id: a broadcast() or setState() (whose return
   * value it is, and then `funcKey` names the action too) or a request that had timed out. A server
   * that echoes no request ids (an older one) names neither.
   */
  error: CustomEvent<{ error: BroadcastError; dropped?: number; retryIn?: number; id?: string; funcKey?: string }>;
  closed: CustomEvent<{ code: number; reason: string }>;
  /** Transport "auto": the WebSocket could not open; this client goes on over Server-Sent Events. */
  transport: CustomEvent<{ transport: 'sse' }>;
}

/** An action parameter: strings travel as they are; numbers and booleans are sent as strings. */
/**
 * The first argument of broadcast() and setState() when it is not a funcKey. With `conflate`, only
 * the latest message of its key (`stateKey` when given, else `funcKey`) matters: a viewer that falls
 * behind gets the latest of each key rather than every one (PROTOCOL.md, Conflated streams).
 */
export interface BroadcastSpec {
  funcKey: string;
  stateKey?: string;
  conflate?: boolean;
}

export type Param = string | number | boolean;

/** Viewers' handlers receive the parameters as strings, spread. */
export type ActionHandler = (...params: string[]) => void;

export declare class Broadcaster extends EventTarget {
  constructor(url: string, options?: BroadcasterOptions);

  /** The room this connection owns or views, or null. */
  readonly roomId: string | null;
  /** "owner", "viewer", or null when in no room. */
  readonly role: Role | null;
  /** Owner only: the room's viewer count as last reported, or null. */
  readonly viewers: number | null;
  /** True while the connection is open (a WebSocket, or a viewer's event stream). */
  readonly isOpen: boolean;
  /** What the connection uses now: "websocket", or "sse" (also after an "auto" fallback). */
  readonly transport: 'websocket' | 'sse';

  /** Resolves once the connection is open; rejects with "closed" if the client stops first. */
  ready(): Promise<void>;

  createRoom(): Promise<string>;
  joinRoom(roomId: string): Promise<{ roomId: string; stateCount: number }>;
  /**
   * Takes back a room an earlier connection owned, within its grace, with that owner's key.
   * Resolves once the room's kept state has arrived, for the page to restore itself from: no
   * handler runs for it.
   */
  resumeRoom(roomId: string, ownerKey: string): Promise<ResumedRoom>;
  /** Owner only: the secret that takes the room back after a drop, or null. Keep it private. */
  readonly ownerKey: string | null;
  closeRoom(): Promise<void>;

  on(funcKey: string, handler: ActionHandler): () => void;
  off(funcKey: string, handler?: ActionHandler): void;

  /**
   * Owner only. Returns the request id the message is sent (or queued) with: a refusal is an
   * "error" event whose `id` and `funcKey` name it. Against a server that numbers an owner's
   * messages, it reaches viewers exactly once, across drops (see offlineQueue); throws
   * "unacked_full" when offlineQueue messages wait for the server's acknowledgement.
   */
  broadcast(funcKey: string | BroadcastSpec, ...params: Param[]): string;
  /** Owner only, like broadcast(); the room keeps the message for late viewers. Returns its request id. */
  setState(funcKey: string | (BroadcastSpec & { clearState?: boolean }), ...params: Param[]): string;
  sendRaw(text: string): boolean;

  disconnect(): void;

  addEventListener<K extends keyof BroadcasterEventMap>(
    type: K,
    listener: (event: BroadcasterEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof BroadcasterEventMap>(
    type: K,
    listener: (event: BroadcasterEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** Creates a Broadcaster and resolves to it once its connection is open. */
export declare function connect(url: string, options?: BroadcasterOptions): Promise<Broadcaster>;

/** Full jitter: a random delay in [0, min(maxDelay, initialDelay * 2^attempt)). */
export declare function backoffDelay(
  attempt: number,
  options: { initialDelay: number; maxDelay: number },
  random?: () => number,
): number;

/** The original API always uses WebSocket: it has no `transport`. */
export interface RTBroadcasterOptions extends Omit<BroadcasterOptions, 'transport' | 'EventSource' | 'fetch'> {
  /** The query string to read `uuid` from. Default: location.search. */
  search?: string;
}

/** Drop-in replacement for the original SDK's RTBroadcaster. */
export declare class RTBroadcaster {
  constructor(
    url: string,
    onConnectionCallback?: ((uuid: string) => void) | null,
    openCallback?: (() => void) | null,
    closeCallback?: (() => void) | null,
    errorCallback?: ((message: string) => void) | null,
    options?: RTBroadcasterOptions,
  );

  /** True once the room is created or joined; false after it closed or the client stopped. */
  connected: boolean;
  /** True when the page's URL has no `uuid` parameter. */
  isOwner: boolean;
  /** The room id: from the URL for a viewer, from the server for an owner. */
  uuid: string;
  /** The handler of each funcKey. */
  suscribedFuncs: Map<string, (params: string[]) => void>;
  /** The modern client underneath, or null when there is no WebSocket support. */
  broadcaster: Broadcaster | null;

  suscribeFunc(key: string, func: (params: string[]) => void): void;
  unsuscribeFunc(key: string): void;
  sendAction(key: string, params?: Param[], isState?: boolean): boolean;
  sendMessage(command: string): boolean;
}
