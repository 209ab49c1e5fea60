// The Herald client: one connection (WebSocket or SSE) carrying every subscription, reconnecting
// with backoff and resuming each subscription from the last event it delivered.
import { create } from '@bufbuild/protobuf';
import { Backoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import type { Connection, ConnectionListener, Position, SubscribeAnswer } from './connection.js';
import { CloseCode, HeraldError, StatusCode, isAuthClose } from './errors.js';
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
  /** Answered once: later answers are resumptions. */
  resumed: boolean;
}

type Listeners = {
  state: Array<(change: StateChange) => void>;
  error: Array<(error: HeraldError) => void>;
};

const kRateLimitedFloorMs = 5000;
const kRefreshAheadMs = 30000;

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
  private transport: TransportName;
  private stateValue: ConnectionState = 'disconnected';
  private wanted = false;
  private token?: string;
  private authRetried = false;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private stableTimer?: ReturnType<typeof setTimeout>;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private sseRestartPending = false;
  private autoConnectPending = false;
  private waitingForOpen: Array<{ resolve(): void; reject(error: HeraldError): void }> = [];

  constructor(private readonly options: HeraldOptions = {}) {
    this.baseUrl = (options.url ?? defaultBaseUrl()).replace(/\/+$/, '');
    this.backoff = new Backoff(options.backoff);
    this.transport = options.transport === 'sse' ? 'sse' : 'websocket';
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
    const { since, ...handlers } = options;
    const record: SubscriptionRecord = {
      topic,
      handlers,
      position: since && { ...since },
      resumed: false,
      unsubscribe: () => this.unsubscribe(record),
    };
    this.subscriptions.set(topic, record);
    if (this.connection instanceof WebSocketConnection) this.connection.subscribe(topic, record.position);
    else this.restartSse();
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
      void this.open();
    });
  }

  private async open(): Promise<void> {
    this.stopTimers();
    const transport = this.transport;
    this.setState({ state: 'connecting', transport });
    if (this.token === undefined && this.options.getToken) {
      try {
        this.token = await this.options.getToken();
      } catch (error) {
        this.scheduleReconnect(new HeraldError(CloseCode.unauthorized, `getToken failed: ${(error as Error).message}`));
        return;
      }
      if (!this.wanted || this.connection || this.transport !== transport) return;
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
        },
        listener,
      );
    } else {
      // /sse needs at least one topic: without subscriptions there is nothing to stream yet.
      if (this.subscriptions.size === 0) return;
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
      onOpen: (answers) => {
        if (isCurrent()) this.onOpen(answers);
      },
      onEvent: (event) => {
        if (isCurrent()) this.deliver(event);
      },
      onSubscribed: (answer) => {
        if (isCurrent()) this.applyAnswer(answer);
      },
      onSubscribeFailed: (topic, error) => {
        if (!isCurrent()) return;
        const record = this.subscriptions.get(topic);
        if (!record) return;
        this.subscriptions.delete(topic);
        this.callHandler(() => record.handlers.onError?.(error));
        this.emitError(error);
      },
      onClose: (code, reason, opened) => {
        if (!isCurrent()) return;
        this.connection = undefined;
        this.onClose(new HeraldError(code, reason), opened);
      },
      onError: (error) => {
        if (isCurrent()) this.emitError(error);
      },
    };
  }

  private onOpen(answers: SubscribeAnswer[]): void {
    const connection = this.connection!;
    this.authRetried = false;
    this.setState({ state: 'connected', transport: connection.transport });
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.backoff.stableAfterMs);
    if (connection instanceof WebSocketConnection) {
      for (const record of this.subscriptions.values()) connection.subscribe(record.topic, record.position);
      this.scheduleTokenRefresh(connection, tokenExpiryMs(this.token));
    } else {
      for (const answer of answers) this.applyAnswer(answer);
    }
    const waiting = this.waitingForOpen;
    this.waitingForOpen = [];
    for (const waiter of waiting) waiter.resolve();
  }

  /** A subscription is live on the current connection at the answered position. */
  private applyAnswer(answer: SubscribeAnswer): void {
    const record = this.subscriptions.get(answer.topic);
    if (!record) return;
    const resumed = record.resumed;
    record.resumed = true;
    // Replayed events follow a recovered answer and move the position themselves; otherwise
    // the subscription continues live from the topic's current position.
    if (record.position === undefined || !answer.recovered) {
      record.position = { epoch: answer.epoch, offset: answer.offset };
    }
    if (!resumed) {
      const position = { epoch: answer.epoch, offset: answer.offset };
      this.callHandler(() => record.handlers.onSubscribed?.(position));
    } else {
      const result = { recovered: answer.recovered, epoch: answer.epoch, offset: answer.offset };
      this.callHandler(() => record.handlers.onRecovered?.(result));
    }
  }

  /** Hands an event to its subscription once: a replayed event already seen is dropped. */
  private deliver(event: HeraldEvent): void {
    const record = this.subscriptions.get(event.topic);
    if (!record) return;
    if (event.offset > 0) {
      const seen = record.position;
      if (seen && seen.epoch === event.epoch && event.offset <= seen.offset) return;
      record.position = { epoch: event.epoch, offset: event.offset };
    }
    this.callHandler(() => record.handlers.onEvent?.(event));
  }

  private onClose(error: HeraldError, opened: boolean): void {
    this.stopTimers();
    if (!this.wanted) return;
    let fallback = false;
    if (!opened && this.options.transport === 'auto' && !isAuthClose(error.code)) {
      // An upgrade that never came up (a proxy refusing WebSockets): try the other transport.
      fallback = this.transport === 'websocket';
      this.transport = fallback ? 'sse' : 'websocket';
    }
    if (isAuthClose(error.code)) {
      if (this.options.getToken && !this.authRetried) {
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
    this.scheduleReconnect(error, fallback ? 0 : undefined, fallback);
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
    const wait = Math.max(1000, expiresMs - Date.now() - kRefreshAheadMs);
    this.refreshTimer = setTimeout(async () => {
      try {
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
