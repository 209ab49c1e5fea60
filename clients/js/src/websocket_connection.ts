// One WebSocket connection to /ws: protobuf ClientMessage / ServerMessage frames.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Connection, ConnectionListener, Position, SubscribeAnswer } from './connection.js';
import { CloseCode, HeraldError, StatusCode } from './errors.js';
import type { HeraldEvent } from './event.js';
import { decodeData } from './event.js';
import type { Event, PublishRequest, PublishResponse } from './gen/herald/v1/event_pb.js';
import type { Reply, SubscribeResult } from './gen/herald/v1/websocket_pb.js';
import { ClientMessageSchema, ServerMessageSchema } from './gen/herald/v1/websocket_pb.js';

type Command = MessageInitShape<typeof ClientMessageSchema>['command'];
type PendingReply = { resolve(reply: Reply): void; reject(error: HeraldError): void };

export interface WebSocketOptions {
  url: string;
  WebSocket: typeof WebSocket;
  /** Silence after which the client pings, and how long it then waits for any frame. */
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** How long the upgrade and the `connected` message may take. */
  connectTimeoutMs: number;
}

export function toHeraldEvent(event: Event): HeraldEvent {
  return {
    topic: event.topic,
    offset: Number(event.offset),
    epoch: event.epoch,
    type: event.type,
    data: decodeData(event.data, event.contentType),
    contentType: event.contentType,
    meta: { ...event.meta },
    time: new Date(Number(event.timeUnixMs)),
  };
}

function toAnswer(result: SubscribeResult): SubscribeAnswer {
  return {
    topic: result.topic,
    epoch: result.epoch,
    offset: Number(result.offset),
    recovered: result.recovered,
  };
}

export class WebSocketConnection implements Connection {
  readonly transport = 'websocket';
  private readonly socket: WebSocket;
  private opened = false;
  private closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, PendingReply>();
  private readonly subscribing = new Map<number, string>();
  private idleTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly options: WebSocketOptions,
    private readonly listener: ConnectionListener,
  ) {
    this.socket = new options.WebSocket(options.url);
    this.socket.binaryType = 'arraybuffer';
    this.socket.onmessage = (message) => this.onFrame(message.data);
    this.socket.onclose = (close) => this.finish(close.code, close.reason);
    // An error is always followed by a close event, which carries the code.
    this.socket.onerror = () => {};
    this.idleTimer = setTimeout(
      () => this.close(CloseCode.abnormal, 'no connection within the connect timeout'),
      options.connectTimeoutMs,
    );
  }

  /** Sends a subscribe command; its id, which the answer carries (undefined when closed). */
  subscribe(topic: string, position: Position | undefined): number | undefined {
    const id = this.send({
      case: 'subscribe',
      value: {
        topic,
        recover: position !== undefined,
        epoch: position?.epoch ?? '',
        offset: BigInt(position?.offset ?? 0),
      },
    });
    if (id !== undefined) this.subscribing.set(id, topic);
    return id;
  }

  unsubscribe(topic: string): void {
    this.send({ case: 'unsubscribe', value: { topic } });
  }

  /** Sends a publish and resolves with the gateway's answer. */
  async publish(request: PublishRequest): Promise<PublishResponse> {
    const reply = await this.request({ case: 'publish', value: request });
    if (reply.result.case !== 'published') {
      throw new HeraldError(StatusCode.unavailable, 'publish answered without a result');
    }
    return reply.result.value;
  }

  /** Hands the gateway a fresh token; resolves with its expiry (ms since epoch, 0: never). */
  async refresh(token: string): Promise<number> {
    const reply = await this.request({ case: 'refresh', value: { token } });
    return reply.result.case === 'refreshed' ? Number(reply.result.value.expiresUnixMs) : 0;
  }

  get isOpen(): boolean {
    return this.opened && !this.closed;
  }

  /** Closes the socket; onClose follows with `code`. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    try {
      this.socket.close(code, reason);
    } catch {
      // Codes a browser refuses to send still end the connection.
      this.socket.close();
    }
    this.finish(code, reason);
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopIdleTimer();
    this.socket.onmessage = this.socket.onclose = null;
    this.socket.close(CloseCode.normal);
    this.rejectPending();
  }

  private request(command: Command): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const id = this.send(command);
      if (id === undefined) {
        reject(new HeraldError(StatusCode.unavailable, 'not connected'));
        return;
      }
      this.pending.set(id, { resolve, reject });
    }).then((reply) => {
      const r = reply as Reply;
      if (r.error) throw new HeraldError(r.error.code, r.error.message);
      return r;
    });
  }

  private send(command: Command): number | undefined {
    if (!this.isOpen) return undefined;
    const id = this.nextId++;
    this.socket.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, { id, command })));
    return id;
  }

  private onFrame(data: unknown): void {
    this.restartIdleTimer();
    if (!(data instanceof ArrayBuffer)) {
      this.fail('the gateway sent a text frame');
      return;
    }
    let message;
    try {
      message = fromBinary(ServerMessageSchema, new Uint8Array(data));
    } catch (error) {
      this.fail(`malformed frame: ${(error as Error).message}`);
      return;
    }
    if (message.connected && !this.opened) {
      this.opened = true;
      this.listener.onOpen(message.connected.subscriptions.map(toAnswer), message.connected.clientId);
    }
    // A frame may merge replies and events: replies first, so a subscription knows its
    // position before its replayed events arrive.
    for (const reply of message.replies) this.onReply(reply);
    for (const event of message.events) this.listener.onEvent(toHeraldEvent(event));
    for (const removed of message.unsubscribed) this.listener.onUnsubscribed(removed.topic);
    if (message.disconnect) {
      const { code, reason, reconnectAfterMs } = message.disconnect;
      this.finish(code, reason, reconnectAfterMs || undefined);
    }
  }

  private onReply(reply: Reply): void {
    const topic = this.subscribing.get(reply.id);
    if (topic !== undefined) {
      this.subscribing.delete(reply.id);
      if (reply.error) {
        const error = new HeraldError(reply.error.code, reply.error.message);
        this.listener.onSubscribeFailed(topic, error, reply.id);
      } else if (reply.result.case === 'subscribed') {
        this.listener.onSubscribed(toAnswer(reply.result.value), reply.id);
      }
      return;
    }
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    pending.resolve(reply);
  }

  /** The gateway broke the protocol: report it and start over on a new connection. */
  private fail(reason: string): void {
    this.listener.onError(new HeraldError(CloseCode.badRequest, reason));
    this.close(CloseCode.badRequest, 'malformed frame');
  }

  private restartIdleTimer(): void {
    this.stopIdleTimer();
    if (this.closed) return;
    this.idleTimer = setTimeout(() => {
      // Silent for a while: ask for a pong; a dead network gets no frame back.
      this.send({ case: 'ping', value: {} });
      this.idleTimer = setTimeout(
        () => this.close(CloseCode.abnormal, 'no answer to ping'),
        this.options.pongTimeoutMs,
      );
    }, this.options.pingIntervalMs);
  }

  private stopIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private rejectPending(): void {
    const error = new HeraldError(StatusCode.unavailable, 'connection closed before an answer');
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  private finish(code: number, reason: string, reconnectAfterMs?: number): void {
    if (this.closed) return;
    this.closed = true;
    this.stopIdleTimer();
    this.socket.onmessage = this.socket.onclose = null;
    if (this.socket.readyState === this.options.WebSocket.OPEN) this.socket.close();
    this.rejectPending();
    this.listener.onClose(code, reason, this.opened, reconnectAfterMs);
  }
}
