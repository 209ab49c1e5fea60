// In-memory stand-ins for the browser's WebSocket and fetch, scripted by the unit tests of the
// SDK's state machine. Frames are real protobuf, encoded with the generated messages.
import {
  ClientMessageSchema,
  ServerMessageSchema,
  create,
  fromBinary,
  toBinary,
} from '../dist/herald-proto.js';

export class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static sockets = [];

  constructor(url) {
    this.url = url;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = [];
    this.closedWith = undefined;
    FakeWebSocket.sockets.push(this);
  }

  static reset() {
    FakeWebSocket.sockets = [];
  }

  static get last() {
    return FakeWebSocket.sockets.at(-1);
  }

  send(bytes) {
    this.sent.push(fromBinary(ClientMessageSchema, bytes));
  }

  close(code = 1000, reason = '') {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.closedWith = { code, reason };
    this.readyState = FakeWebSocket.CLOSED;
  }

  // What the gateway does:
  accept(connected = {}) {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.({});
    this.deliver({ connected: { clientId: 'c1', node: 'n1', ...connected } });
  }

  deliver(serverMessage) {
    const bytes = toBinary(ServerMessageSchema, create(ServerMessageSchema, serverMessage));
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) });
  }

  deliverRaw(arrayBuffer) {
    this.onmessage?.({ data: arrayBuffer });
  }

  drop(code, reason = '') {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason });
  }

  commands(kind) {
    return this.sent.filter((m) => m.command.case === kind).map((m) => ({ id: m.id, ...m.command.value }));
  }
}

export function event(topic, offset, epoch, text) {
  return {
    topic,
    offset: BigInt(offset),
    epoch,
    type: 'message',
    data: new TextEncoder().encode(JSON.stringify({ text })),
    contentType: 'application/json',
    timeUnixMs: 1n,
  };
}

export function subscribedReply(id, topic, epoch, offset, recovered) {
  return { id, result: { case: 'subscribed', value: { topic, epoch, offset: BigInt(offset), recovered } } };
}

/** Resolves once `check()` is true (polling the event loop), or rejects after `ms`. */
export async function until(check, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A scripted fetch: `routes` maps a path (without query) to a function of (url, init) that
 *  returns a Response; anything else is a network failure. Every request is recorded. */
export function fakeFetch(routes = {}) {
  const requests = [];
  const fetch = async (url, init = {}) => {
    requests.push({ url: String(url), init });
    const path = new URL(url).pathname;
    const route = routes[path];
    if (!route) throw new TypeError('fetch failed');
    return route(new URL(url), init);
  };
  fetch.requests = requests;
  return fetch;
}

/** An SSE response carrying `text` (and staying open). */
export function sseResponse(text) {
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

export function jsonResponse(status, value) {
  return new Response(JSON.stringify(value), { status, headers: { 'Content-Type': 'application/json' } });
}

/** A JWT-shaped token (unsigned; the SDK only reads `exp`) expiring at `expSeconds`. */
export function tokenExpiringAt(expSeconds, tag = 'x') {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'HS256' })}.${encode({ sub: tag, exp: expSeconds })}.sig`;
}
