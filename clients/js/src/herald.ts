// The Herald client: one connection (WebSocket or SSE) carrying every subscription, reconnecting
// with backoff and resuming each subscription from the last event it delivered.
import { create } from '@bufbuild/protobuf';
import { Backoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import type { Connection, ConnectionListener, Position, SubscribeAnswer } from './connection.js';
import {
  CloseCode,
  HeraldError,
  StatusCode,
  closeCodeOfHttpStatus,
  isFinalClose,
  refusalReason,
} from './errors.js';
import type { HeraldEvent } from './event.js';
import { base64FromBytes, encodeData } from './event.js';
import { PublishRequestSchema, PublishResponseSchema } from './gen/herald/v1/event_pb.js';
import type { PublishRequest, PublishResponse } from './gen/herald/v1/event_pb.js';
import { SseConnection, sseEventToHeraldEvent } from './sse_connection.js';
import { WebSocketConnection } from './websocket_connection.js';

export type TransportName = 'websocket' | 'sse';
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface StateChange {
  state: ConnectionState;
  transport: TransportName;
  /** `disconnected`: the wait before the next attempt. */
  delayMs?: number;
  /** Why the connection ended (`disconnected`, `closed`). */
  error?: HeraldError;
  /** `auto` mode switched to SSE because the WebSocket upgrade failed. */
  fallback?: boolean;
}

export interface HeraldOptions {
  /** The gateway's base URL (`https://host:port`); default: the page's origin. */
  url?: string;
  /** Default `auto`: WebSocket first, SSE when the upgrade fails. */
  transport?: TransportName | 'auto';
  token?: string;
  /** Called for the first token and again when the gateway refuses or expires one. */
  getToken?: () => string | Promise<string>;
  backoff?: BackoffOptions;
  /** Connect in the constructor (default true). */
  autoConnect?: boolean;
  /** WebSocket: silence before the client pings (default 20000), and the wait for an answer. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** WebSocket: how long the upgrade and the first message may take (default 10000). */
  connectTimeoutMs?: number;
  /** SSE: silence (the gateway pings every 15 s) after which the stream counts as dead. */
  sseIdleTimeoutMs?: number;
  /** Implementations to use outside browsers (e.g. the `ws` package in Node.js). */
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
}

export interface RecoveryResult {
  /** False when events were missed: re-fetch the state this subscription feeds. */
  recovered: boolean;
  epoch: string;
  offset: number;
}

export interface SubscriptionHandlers {
  onEvent?(event: HeraldEvent): void;
  /** The subscription is live (first time only): events after `offset` will arrive. */
  onSubscribed?(position: Position): void;
  /** After a reconnect, once the subscription is live again. */
  onRecovered?(result: RecoveryResult): void;
  /** The gateway refused the subscription (bad topic, no permission); it is dropped. */
  onError?(error: HeraldError): void;
  /** The gateway took the subscription off (an operator's Admin.Unsubscribe); it is dropped
   *  and not asked for again after a reconnect. */
  onUnsubscribed?(): void;
  /** Someone started following the topic (a `herald.join` event; topics whose rule says
   *  `join_leave: true`). With onJoin or onLeave set, these events go to them, not to onEvent
   *  (without either, onEvent gets them, as it did before these handlers existed). */
  onJoin?(member: PresenceMember): void;
  /** Someone stopped following the topic (a `herald.leave` event). */
  onLeave?(member: PresenceMember): void;
}

/** Who joined or left: the connection's id and its user (the token's `sub`; empty when
 *  anonymous). One user with two tabs is two members with the same `user`. */
export interface PresenceMember {
  clientId: string;
  user: string;
}

export interface PresenceClient extends PresenceMember {
  /** The gateway node the client is connected to. */
  node: string;
  transport: 'websocket' | 'sse' | 'grpc';
  /** When it connected, in milliseconds since the Unix epoch. */
  connectedAtMs: number;
}

export interface PresencePage {
  topic: string;
  /** Subscribers on every node, listed or not. */
  count: number;
  /** At most the `limit` asked for. */
  clients: PresenceClient[];
  /** Nodes that did not answer in time: their subscribers are missing from the page. */
  unansweredNodes: string[];
}

export interface SubscribeOptions extends SubscriptionHandlers {
  /** Start after this position (e.g. from history()), replaying what came after it. */
  since?: Position;
}

export interface HistoryPage {
  topic: string;
  /** The topic's current position: subscribe with `since` it to continue without a gap. */
  epoch: string;
  offset: number;
  /** The most recent events still in history, oldest first. */
  events: HeraldEvent[];
}

export interface Subscription {
  readonly topic: string;
  /** The last event delivered (epoch and offset), from which a reconnect resumes. */
  readonly position: Position | undefined;
  /** Who follows the topic now, on every node (at most `limit`, default 100, at most 1,000),
   *  from GET /v1/presence: allowed where the topic's rule says `presence: true` and the
   *  credential may subscribe. Keep it current with onJoin / onLeave. */
  presence(limit?: number): Promise<PresencePage>;
  unsubscribe(): void;
}

export interface PublishOptions {
  type?: string;
  /** Default: application/json for objects, text/plain for strings. */
  contentType?: string;
  meta?: Record<string, string>;
  /** Delivered live only, never kept in history (typing indicators). */
  ephemeral?: boolean;
  idempotencyKey?: string;
}

export interface PublishResult {
  topic: string;
  /** 0 for an ephemeral event. */
  offset: number;
  epoch: string;
}

interface SubscriptionRecord extends Subscription {
  handlers: SubscriptionHandlers;
  position: Position | undefined;
  /** Started with `since`: its first answer also says whether anything was missed. */
  startedSince: boolean;
  /** Answered once: later answers are resumptions. */
  resumed: boolean;
  /** The subscribe command in flight on the current WebSocket, whose answer is awaited. */
  requestId?: number;
  /** Answered on the current connection (events before the answer belong to an older one). */
  live: boolean;
  /** Subscribes refused in a row as temporarily unavailable, and the timer of the next try. */
  unavailableRetries?: number;
  retryTimer?: ReturnType<typeof setTimeout>;
}

type Listeners = {
  state: Array<(change: StateChange) => void>;
  error: Array<(error: HeraldError) => void>;
};

const kRateLimitedFloorMs = 5000;
/** A subscribe refused as temporarily unavailable is asked again after this, doubling up to
 *  kSubscribeRetryMaxMs. */
const kSubscribeRetryMs = 500;
const kSubscribeRetryMaxMs = 15000;
const kRefreshAheadMs = 30000;
/** A token this close to its expiry is not used for a new connection. */
const kExpiryMarginMs = 5000;
/** The longest wait setTimeout keeps (longer ones fire at once). */
const kMaxTimerMs = 2 ** 31 - 1;
/** Topic names, as the gateway checks them. */
const kTopicPattern = /^[A-Za-z0-9_\-:@=]+(\.[A-Za-z0-9_\-:@=]+)*$/;

function tokenExpired(token: string): boolean {
  const expires = tokenExpiryMs(token);
  return expires !== undefined && expires - kExpiryMarginMs <= Date.now();
}

/** The `exp` claim of a JWT in ms, when the token is one. */
export function tokenExpiryMs(token: string | undefined): number | undefined {
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    return typeof json.exp === 'number' ? json.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The proto3 JSON form of a publish, the body of POST /v1/publish (bytes in base64). */
function publishRequestJson(request: PublishRequest): Record<string, unknown> {
  return {
    topic: request.topic,
    type: request.type,
    data: base64FromBytes(request.data),
    contentType: request.contentType,
    meta: request.meta,
    ephemeral: request.ephemeral,
    idempotencyKey: request.idempotencyKey,
  };
}

function defaultBaseUrl(): string {
  const location = (globalThis as { location?: { origin?: string } }).location;
  if (!location?.origin) throw new TypeError('Herald: `url` is required outside a browser page');
  return location.origin;
}

export class Herald {
  private readonly baseUrl: string;
  private readonly backoff: Backoff;
  private readonly subscriptions = new Map<string, SubscriptionRecord>();
  private readonly listeners: Listeners = { state: [], error: [] };
  private connection?: WebSocketConnection | SseConnection;
  private readonly mode: TransportName | 'auto';
  private transport: TransportName;
  private attempt = 0;
  private quietSseRestart = false;
  private stateValue: ConnectionState = 'disconnected';
  private wanted = false;
  private token?: string;
  private authRetried = false;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private stableTimer?: ReturnType<typeof setTimeout>;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private sseRestartPending = false;
  private autoConnectPending = false;
  private openClientId?: string;
  private waitingForOpen: Array<{ resolve(): void; reject(error: HeraldError): void }> = [];

  constructor(private readonly options: HeraldOptions = {}) {
    this.baseUrl = (options.url ?? defaultBaseUrl()).replace(/\/+$/, '');
    this.backoff = new Backoff(options.backoff);
    this.mode = options.transport ?? 'auto';
    this.transport = this.mode === 'sse' ? 'sse' : 'websocket';
    this.token = options.token;
    // Deferred, so that listeners and subscriptions added right after construction see it all.
    if (options.autoConnect ?? true) {
      this.autoConnectPending = true;
      queueMicrotask(() => {
        if (this.autoConnectPending) this.connect();
      });
    }
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The id the gateway gave the current connection, as presence and herald.join /
   *  herald.leave name it; undefined while not connected (and on SSE without subscriptions,
   *  which opens no stream). Each connection gets a new one. */
  get clientId(): string | undefined {
    return this.stateValue === 'connected' ? this.openClientId : undefined;
  }

  /** The transport in use, or to be tried next. */
  get transportName(): TransportName {
    return this.transport;
  }

  on(event: 'state', listener: (change: StateChange) => void): () => void;
  on(event: 'error', listener: (error: HeraldError) => void): () => void;
  on(event: keyof Listeners, listener: (value: never) => void): () => void {
    const list = this.listeners[event] as Array<typeof listener>;
    list.push(listener);
    return () => {
      const index = list.indexOf(listener);
      if (index >= 0) list.splice(index, 1);
    };
  }

  /** Starts connecting (again after close()); does nothing while connected or connecting. */
  connect(): void {
    this.autoConnectPending = false;
    if (this.wanted) return;
    this.wanted = true;
    this.backoff.reset();
    // After a refusal, a new connect() starts with a fresh token.
    this.authRetried = false;
    if (this.options.getToken) this.token = undefined;
    void this.open();
  }

  /** Closes the connection and stops reconnecting; subscriptions stay for a later connect(). */
  close(): void {
    this.autoConnectPending = false;
    if (!this.wanted) return;
    this.wanted = false;
    this.stopTimers();
    this.connection?.dispose();
    this.connection = undefined;
    this.rejectWaiting(new HeraldError(StatusCode.unavailable, 'the client was closed'));
    this.setState({ state: 'closed', transport: this.transport });
  }

  /** Follows `topic`; with `since`, starts after that position. */
  subscribe(topic: string, options: SubscribeOptions = {}): Subscription {
    if (this.subscriptions.has(topic)) {
      throw new HeraldError(StatusCode.invalidArgument, `already subscribed to ${topic}`);
    }
    // Checked here, so that on SSE (one stream for every topic) a bad name cannot take the
    // other subscriptions down with it.
    if (topic.length > 255 || !kTopicPattern.test(topic)) {
      throw new HeraldError(StatusCode.invalidArgument, `invalid topic: ${JSON.stringify(topic)}`);
    }
    const { since, ...handlers } = options;
    const record: SubscriptionRecord = {
      topic,
      handlers,
      position: since && { epoch: since.epoch, offset: since.offset },
      startedSince: since !== undefined,
      resumed: false,
      live: false,
      presence: (limit) => this.presence(topic, limit),
      unsubscribe: () => this.unsubscribe(record),
    };
    this.subscriptions.set(topic, record);
    if (this.connection instanceof WebSocketConnection) {
      record.requestId = this.connection.subscribe(topic, record.position);
    } else {
      this.restartSse();
    }
    return record;
  }

  /** A topic's recent events (at most `limit`, default 100) and current position, from
   *  GET /v1/history. Render them, then subscribe with `since: page` to continue live. */
  async history(topic: string, limit = 100): Promise<HistoryPage> {
    const query = new URLSearchParams({ topic, limit: String(limit) });
    const body = await this.httpRequest(`/v1/history?${query}`, { method: 'GET' });
    return {
      topic: String(body.topic ?? topic),
      epoch: String(body.epoch ?? ''),
      offset: Number(body.offset ?? 0),
      events: ((body.events as Array<Record<string, unknown>>) ?? []).map(sseEventToHeraldEvent),
    };
  }

  /** Who follows `topic` (see Subscription.presence; no subscription needed, only the right
   *  to subscribe). Rejects with a HeraldError (403 when the topic's rule has no presence). */
  async presence(topic: string, limit = 100): Promise<PresencePage> {
    const query = new URLSearchParams({ topic, limit: String(limit) });
    const body = await this.httpRequest(`/v1/presence?${query}`, { method: 'GET' });
    return {
      topic: String(body.topic ?? topic),
      count: Number(body.count ?? 0),
      clients: ((body.clients as Array<Record<string, unknown>>) ?? []).map((client) => ({
        clientId: String(client.client_id ?? ''),
        user: String(client.user ?? ''),
        node: String(client.node ?? ''),
        transport: String(client.transport ?? '') as PresenceClient['transport'],
        connectedAtMs: Number(client.connected_unix_ms ?? 0),
      })),
      unansweredNodes: ((body.unanswered_nodes as unknown[]) ?? []).map(String),
    };
  }

  /** Publishes over the WebSocket, or through POST /v1/publish on SSE. Resolves with the
   *  event's offset; rejects with a HeraldError (code: gRPC status number). */
  async publish(topic: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    const encoded = encodeData(data, options.contentType);
    const request = create(PublishRequestSchema, {
      topic,
      type: options.type ?? '',
      data: encoded.bytes,
      contentType: encoded.contentType,
      meta: options.meta ?? {},
      ephemeral: options.ephemeral ?? false,
      idempotencyKey: options.idempotencyKey ?? '',
    });
    const response =
      this.transport === 'sse' ? await this.publishOverHttp(request) : await this.publishOverWebSocket(request);
    return { topic: response.topic, offset: Number(response.offset), epoch: response.epoch };
  }

  private async publishOverWebSocket(request: PublishRequest): Promise<PublishResponse> {
    for (;;) {
      const connection = this.connection;
      if (connection instanceof WebSocketConnection && connection.isOpen) {
        return connection.publish(request);
      }
      if (!this.wanted && !this.autoConnectPending) {
        throw new HeraldError(StatusCode.unavailable, 'the client is closed');
      }
      // Not connected yet: wait for the connection (publishing over HTTP if it falls back to SSE).
      await new Promise<void>((resolve, reject) => this.waitingForOpen.push({ resolve, reject }));
      if (this.transport === 'sse') return this.publishOverHttp(request);
    }
  }

  private async publishOverHttp(request: PublishRequest): Promise<PublishResponse> {
    const body = await this.httpRequest('/v1/publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(publishRequestJson(request)),
    });
    return create(PublishResponseSchema, {
      topic: String(body.topic ?? request.topic),
      offset: BigInt(String(body.offset ?? 0)),
      epoch: String(body.epoch ?? ''),
    });
  }

  /** A JSON request to the gateway's HTTP API with the token; rejects with the gateway's
   *  {code, message} as a HeraldError. */
  private async httpRequest(path: string, init: RequestInit): Promise<Record<string, unknown>> {
    const headers = new Headers(init.headers);
    const token = this.token ?? (await this.options.getToken?.());
    if (token) headers.set('Authorization', `Bearer ${token}`);
    const fetchImpl = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    let response: Response;
    try {
      response = await fetchImpl(`${this.baseUrl}${path}`, { ...init, headers });
    } catch (error) {
      throw new HeraldError(StatusCode.unavailable, `${path} failed: ${(error as Error).message}`);
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new HeraldError(Number(body.code ?? StatusCode.unavailable), String(body.message ?? response.statusText));
    }
    return body;
  }

  private unsubscribe(record: SubscriptionRecord): void {
    if (this.subscriptions.get(record.topic) !== record) return;
    clearTimeout(record.retryTimer);
    this.subscriptions.delete(record.topic);
    if (this.connection instanceof WebSocketConnection) this.connection.unsubscribe(record.topic);
    else this.restartSse();
  }

  /** An SSE stream's topics are fixed: a change of subscriptions opens a new stream, resuming
   *  every topic from its position. */
  private restartSse(): void {
    if (this.transport !== 'sse' || !this.wanted || this.sseRestartPending) return;
    if (this.reconnectTimer !== undefined) return;  // A reconnect is already scheduled.
    this.sseRestartPending = true;
    queueMicrotask(() => {
      this.sseRestartPending = false;
      if (!this.wanted || this.transport !== 'sse' || this.reconnectTimer !== undefined) return;
      this.connection?.dispose();
      this.connection = undefined;
      // The stream changes, not the connection's health: resumed subscriptions need no news.
      this.quietSseRestart = true;
      void this.open();
    });
  }

  private async open(): Promise<void> {
    this.stopTimers();
    const attempt = ++this.attempt;
    const stillWanted = (): boolean => this.wanted && attempt === this.attempt && !this.connection;
    const transport = this.transport;
    this.setState({ state: 'connecting', transport });
    if (this.options.getToken && (this.token === undefined || tokenExpired(this.token))) {
      let token: string;
      try {
        token = await this.options.getToken();
      } catch (error) {
        if (stillWanted()) {
          this.scheduleReconnect(
            new HeraldError(CloseCode.unauthorized, `getToken failed: ${(error as Error).message}`),
          );
        }
        return;
      }
      if (!stillWanted()) return;
      this.token = token;
    }
    const created: { connection?: Connection } = {};
    const listener = this.connectionListener(() => created.connection);
    if (transport === 'websocket') {
      const url = new URL(`${this.baseUrl}/ws`);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      if (this.token) url.searchParams.set('token', this.token);
      const WebSocketImpl = this.options.WebSocket ?? globalThis.WebSocket;
      this.connection = created.connection = new WebSocketConnection(
        {
          url: url.toString(),
          WebSocket: WebSocketImpl,
          pingIntervalMs: this.options.pingIntervalMs ?? 20000,
          pongTimeoutMs: this.options.pongTimeoutMs ?? 10000,
          connectTimeoutMs: this.options.connectTimeoutMs ?? 10000,
        },
        listener,
      );
    } else {
      // /sse needs a topic: without subscriptions there is nothing to stream yet, and a
      // publish goes over HTTP anyway.
      if (this.subscriptions.size === 0) {
        this.openClientId = undefined;
        this.setState({ state: 'connected', transport });
        this.resolveWaiting();
        return;
      }
      this.connection = created.connection = new SseConnection(
        {
          url: `${this.baseUrl}/sse`,
          token: this.token,
          topics: [...this.subscriptions.values()].map((s) => ({ topic: s.topic, position: s.position })),
          fetch: this.options.fetch ?? globalThis.fetch.bind(globalThis),
          idleTimeoutMs: this.options.sseIdleTimeoutMs ?? 45000,
        },
        listener,
      );
    }
  }

  /** Callbacks for one connection; those of a connection that was replaced are ignored. */
  private connectionListener(own: () => Connection | undefined): ConnectionListener {
    const isCurrent = (): boolean => own() !== undefined && own() === this.connection;
    return {
      onOpen: (answers, clientId) => {
        if (isCurrent()) this.onOpen(answers, clientId);
      },
      onEvent: (event) => {
        if (isCurrent()) this.deliver(event);
      },
      onSubscribed: (answer, requestId) => {
        const record = this.subscriptions.get(answer.topic);
        if (isCurrent() && record?.requestId === requestId) this.applyAnswer(answer);
      },
      onSubscribeFailed: (topic, error, requestId) => {
        const record = this.subscriptions.get(topic);
        if (!isCurrent() || record?.requestId !== requestId) return;
        // UNAVAILABLE is temporary (the gateway cannot reach its engine): asked again later.
        if (error.code === StatusCode.unavailable) this.retrySubscribe(record);
        else this.dropSubscription(record, error);
      },
      onUnsubscribed: (topic) => {
        const record = this.subscriptions.get(topic);
        if (!isCurrent() || !record) return;
        clearTimeout(record.retryTimer);
        this.subscriptions.delete(topic);
        this.callHandler(() => record.handlers.onUnsubscribed?.());
      },
      onClose: (code, reason, opened, reconnectAfterMs) => {
        if (!isCurrent()) return;
        this.connection = undefined;
        void this.onClose(new HeraldError(code, reason), opened, reconnectAfterMs);
      },
      onError: (error) => {
        if (isCurrent()) this.emitError(error);
      },
    };
  }

  private onOpen(answers: SubscribeAnswer[], clientId: string): void {
    const connection = this.connection!;
    this.openClientId = clientId;
    this.authRetried = false;
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.backoff.stableAfterMs);
    for (const record of this.subscriptions.values()) {
      record.live = false;
      record.requestId = undefined;
    }
    if (connection instanceof WebSocketConnection) {
      for (const record of this.subscriptions.values()) {
        record.requestId = connection.subscribe(record.topic, record.position);
      }
      this.scheduleTokenRefresh(connection, tokenExpiryMs(this.token));
    }
    this.setState({ state: 'connected', transport: connection.transport });
    if (connection !== this.connection) return;  // A state listener closed it.
    if (connection instanceof SseConnection) {
      for (const answer of answers) this.applyAnswer(answer);
      this.quietSseRestart = false;
    }
    this.resolveWaiting();
  }

  private resolveWaiting(): void {
    const waiting = this.waitingForOpen;
    this.waitingForOpen = [];
    for (const waiter of waiting) waiter.resolve();
  }

  /** Sends the subscribe of `record` again after a growing delay, on the connection current
   *  then (a new connection subscribes every record anyway). */
  private retrySubscribe(record: SubscriptionRecord): void {
    record.requestId = undefined;
    const retries = record.unavailableRetries ?? 0;
    record.unavailableRetries = retries + 1;
    const delay = Math.min(kSubscribeRetryMaxMs, kSubscribeRetryMs * 2 ** retries);
    clearTimeout(record.retryTimer);
    record.retryTimer = setTimeout(() => {
      record.retryTimer = undefined;
      const connection = this.connection;
      if (this.subscriptions.get(record.topic) !== record || record.requestId !== undefined) return;
      if (connection instanceof WebSocketConnection) {
        record.requestId = connection.subscribe(record.topic, record.position);
      }
    }, delay);
  }

  private dropSubscription(record: SubscriptionRecord, error: HeraldError): void {
    clearTimeout(record.retryTimer);
    this.subscriptions.delete(record.topic);
    this.callHandler(() => record.handlers.onError?.(error));
    this.emitError(error);
  }

  /** A subscription is live on the current connection at the answered position. */
  private applyAnswer(answer: SubscribeAnswer): void {
    const record = this.subscriptions.get(answer.topic);
    if (!record) return;
    const resumed = record.resumed;
    record.resumed = true;
    record.unavailableRetries = 0;
    record.live = true;
    record.requestId = undefined;
    // Replayed events follow a recovered answer and move the position themselves; otherwise
    // the subscription continues live from the topic's current position.
    if (record.position === undefined || !answer.recovered) {
      record.position = { epoch: answer.epoch, offset: answer.offset };
    }
    if (!resumed) {
      const position = { epoch: answer.epoch, offset: answer.offset };
      this.callHandler(() => record.handlers.onSubscribed?.(position));
    }
    const quiet = !resumed ? !record.startedSince : this.quietSseRestart && answer.recovered;
    if (!quiet) {
      const result = { recovered: answer.recovered, epoch: answer.epoch, offset: answer.offset };
      this.callHandler(() => record.handlers.onRecovered?.(result));
    }
  }

  /** Hands an event to its subscription once: a replayed event already seen is dropped. */
  private deliver(event: HeraldEvent): void {
    const record = this.subscriptions.get(event.topic);
    if (!record || !record.live) return;
    // The gateway names the epoch only when it is news; otherwise it is the subscription's.
    if (!event.epoch) event.epoch = record.position?.epoch ?? '';
    if (event.offset > 0) {
      const seen = record.position;
      if (seen && seen.epoch === event.epoch && event.offset <= seen.offset) return;
      record.position = { epoch: event.epoch, offset: event.offset };
    } else if ((event.type === 'herald.join' || event.type === 'herald.leave') &&
               (record.handlers.onJoin || record.handlers.onLeave)) {
      const data = (event.data ?? {}) as Record<string, unknown>;
      const member = { clientId: String(data.client_id ?? ''), user: String(data.user ?? '') };
      const handler = event.type === 'herald.join' ? record.handlers.onJoin : record.handlers.onLeave;
      this.callHandler(() => handler?.call(record.handlers, member));
      return;
    }
    this.callHandler(() => record.handlers.onEvent?.(event));
  }

  private async onClose(
    error: HeraldError,
    opened: boolean,
    reconnectAfterMs?: number,
  ): Promise<void> {
    this.stopTimers();
    this.quietSseRestart = false;
    if (!this.wanted) return;
    const attempt = this.attempt;
    let fallback = false;
    if (!opened && error.code === CloseCode.abnormal) {
      const refusal = await this.probeRefusal();
      if (!this.wanted || attempt !== this.attempt || this.connection) return;
      if (refusal === 'upgrade-blocked' && this.mode === 'auto') {
        // The gateway admits the request but the upgrade never arrives (a proxy that does not
        // pass WebSockets): SSE goes through.
        fallback = true;
        this.transport = 'sse';
      } else if (typeof refusal === 'object') {
        error = new HeraldError(refusal.code, refusal.reason);
      } else if (refusal === 'unreachable' && this.mode === 'auto') {
        this.transport = 'websocket';  // When the gateway is back, WebSocket first again.
      }
    }
    // One SSE stream carries every topic: a refusal may be about one of them only, unless the
    // connection itself is refused (its origin): GET /ws, which names no topic, tells them apart.
    if (!opened && this.transport === 'sse' &&
        (error.code === CloseCode.forbidden || error.code === CloseCode.badRequest)) {
      const refusal = error.code === CloseCode.forbidden ? await this.probeRefusal() : undefined;
      if (!this.wanted || attempt !== this.attempt || this.connection) return;
      if (typeof refusal === 'object' && refusal.code === CloseCode.forbidden) {
        error = new HeraldError(refusal.code, refusal.reason);
      } else {
        if (await this.dropRefusedTopics(attempt)) return;
        if (!this.wanted || attempt !== this.attempt || this.connection) return;
      }
    }
    if (isFinalClose(error.code)) {
      // An expired or revoked token (4401) may be replaced once; a refusal (4403, an
      // operator's disconnect) or an application's final code (3500-3999) is not retried.
      if (error.code === CloseCode.unauthorized && this.options.getToken && !this.authRetried) {
        this.authRetried = true;
        this.token = undefined;
        this.scheduleReconnect(error, 0);
        return;
      }
      this.wanted = false;
      this.emitError(error);
      this.rejectWaiting(error);
      this.setState({ state: 'closed', transport: this.transport, error });
      return;
    }
    // A draining gateway spreads its clients' reconnects: its suggestion replaces the backoff,
    // within the backoff's ceiling.
    const suggested =
      reconnectAfterMs === undefined ? undefined : Math.min(reconnectAfterMs, this.backoff.maxDelayMs);
    this.scheduleReconnect(error, fallback ? 0 : suggested, fallback);
  }

  /** Why a connection that never came up failed, asked over plain HTTP (a browser hides the
   *  status and text of a refused upgrade): GET /ws answers what the upgrade was refused with
   *  (its reason as the gateway words it: an origin not allowed, an expired token), or 426 when
   *  the request itself was fine. */
  private async probeRefusal(): Promise<
    { code: number; reason: string } | 'upgrade-blocked' | 'unreachable'
  > {
    const url = new URL(`${this.baseUrl}/ws`);
    if (this.token) url.searchParams.set('token', this.token);
    const fetchImpl = this.options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (!fetchImpl) return 'unreachable';
    try {
      const response = await fetchImpl(url.toString(), { cache: 'no-store' });
      if (response.status === 426) {
        void response.body?.cancel();
        return 'upgrade-blocked';
      }
      if (![400, 401, 403, 429].includes(response.status)) {
        void response.body?.cancel();
        return 'unreachable';
      }
      const body = await response.text().catch(() => '');
      return { code: closeCodeOfHttpStatus(response.status), reason: refusalReason(body, response.status) };
    } catch {
      return 'unreachable';
    }
  }

  /** After an SSE stream was refused 403/400: the topics this credential may not read (each
   *  asked through GET /v1/history) are dropped with an error, and the rest go on. True when
   *  some were dropped and a new stream started. */
  private async dropRefusedTopics(attempt: number): Promise<boolean> {
    const records = [...this.subscriptions.values()];
    const refusals = await Promise.all(
      records.map((record) =>
        this.history(record.topic, 1).then(
          () => undefined,
          (error: HeraldError) => (error.code === StatusCode.permissionDenied ? error : undefined),
        ),
      ),
    );
    if (!this.wanted || attempt !== this.attempt || this.connection) return false;
    let dropped = false;
    records.forEach((record, i) => {
      const refusal = refusals[i];
      if (refusal && this.subscriptions.get(record.topic) === record) {
        this.dropSubscription(record, refusal);
        dropped = true;
      }
    });
    if (dropped) this.scheduleReconnect(new HeraldError(CloseCode.forbidden, 'a topic was refused'), 0);
    return dropped;
  }

  private scheduleReconnect(error: HeraldError, delayMs?: number, fallback = false): void {
    const floor = error.code === CloseCode.rateLimited ? kRateLimitedFloorMs : 0;
    const delay = delayMs ?? this.backoff.next(floor);
    this.setState({ state: 'disconnected', transport: this.transport, delayMs: delay, error, fallback });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.wanted) void this.open();
    }, delay);
  }

  /** Sends a fresh token before the current one expires (WebSocket). */
  private scheduleTokenRefresh(connection: WebSocketConnection, expiresMs: number | undefined): void {
    if (!this.options.getToken || !expiresMs) return;
    const wait = Math.min(kMaxTimerMs, Math.max(1000, expiresMs - Date.now() - kRefreshAheadMs));
    this.refreshTimer = setTimeout(async () => {
      try {
        // A long wait may have been cut short by the timer's limit: wait the rest.
        if (expiresMs - Date.now() - kRefreshAheadMs > 1000) {
          this.scheduleTokenRefresh(connection, expiresMs);
          return;
        }
        const token = await this.options.getToken!();
        if (connection !== this.connection) return;
        const expires = await connection.refresh(token);
        this.token = token;
        this.scheduleTokenRefresh(connection, expires || tokenExpiryMs(token));
      } catch (error) {
        // The gateway closes with 4401 at expiry; the reconnect asks getToken again.
        this.emitError(error instanceof HeraldError ? error : new HeraldError(CloseCode.unauthorized, String(error)));
      }
    }, wait);
  }

  private stopTimers(): void {
    for (const timer of [this.reconnectTimer, this.stableTimer, this.refreshTimer]) {
      if (timer !== undefined) clearTimeout(timer);
    }
    this.reconnectTimer = this.stableTimer = this.refreshTimer = undefined;
  }

  private rejectWaiting(error: HeraldError): void {
    const waiting = this.waitingForOpen;
    this.waitingForOpen = [];
    for (const waiter of waiting) waiter.reject(error);
  }

  private setState(change: StateChange): void {
    this.stateValue = change.state;
    for (const listener of [...this.listeners.state]) this.callHandler(() => listener(change));
  }

  private emitError(error: HeraldError): void {
    for (const listener of [...this.listeners.error]) this.callHandler(() => listener(error));
  }

  /** Runs application code; an exception there is reported, never thrown into the SDK. */
  private callHandler(run: () => void): void {
    try {
      run();
    } catch (error) {
      // The application's own bug: reported like an uncaught exception, without unwinding the
      // SDK (browsers have reportError).
      const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
      if (report) report(error);
      else console.error(error);
    }
  }
}
