// Unit tests of the SDK's state machine: reconnects, resumption without gaps or duplicates,
// close codes, malformed frames, the auto fallback. The gateway side is scripted
// (fake_gateway.mjs); tests against the real gateway are in tests/js/.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { Backoff, Herald } from '../dist/herald.js';
import { FakeWebSocket, event, subscribedReply, until } from './fake_gateway.mjs';

const fast = { minDelayMs: 1, maxDelayMs: 4, stableAfterMs: 50 };

function client(options = {}) {
  const herald = new Herald({
    url: 'http://gateway.test:8080',
    transport: 'websocket',
    WebSocket: FakeWebSocket,
    backoff: fast,
    ...options,
  });
  const states = [];
  const errors = [];
  herald.on('state', (change) => states.push(change));
  herald.on('error', (error) => errors.push(error));
  return { herald, states, errors };
}

beforeEach(() => FakeWebSocket.reset());

test('backoff is full jitter, capped, and resets', () => {
  const backoff = new Backoff({ minDelayMs: 100, maxDelayMs: 1000 }, () => 0.999);
  const delays = Array.from({ length: 6 }, () => backoff.next());
  assert.deepEqual(delays, [99, 199, 399, 799, 999, 999]);
  backoff.reset();
  assert.equal(backoff.next(), 99);
  assert.equal(new Backoff({}, () => 0).next(), 0);
  assert.equal(new Backoff({}, () => 0).next(5000), 5000);
});

test('derives the /ws URL from the base URL and passes the token', async () => {
  client({ url: 'https://example.com:8443/', token: 'abc' });
  await until(() => FakeWebSocket.last);
  assert.equal(FakeWebSocket.last.url, 'wss://example.com:8443/ws?token=abc');
});

test('resumes every subscription from its last event, with no gap and no duplicate', async () => {
  const { herald, states } = client();
  const seen = [];
  const recoveries = [];
  herald.subscribe('chat.a', {
    onEvent: (e) => seen.push(e.offset),
    onRecovered: (r) => recoveries.push(r),
  });
  await until(() => FakeWebSocket.last);
  const first = FakeWebSocket.last;
  first.accept();
  const [subscribe] = first.commands('subscribe');
  assert.equal(subscribe.topic, 'chat.a');
  assert.equal(subscribe.recover, false);
  first.deliver({ replies: [subscribedReply(subscribe.id, 'chat.a', 'E1', 0, false)] });
  first.deliver({ events: [event('chat.a', 1, 'E1', 'one'), event('chat.a', 2, 'E1', 'two')] });
  first.drop(1006);

  await until(() => FakeWebSocket.sockets.length === 2);
  const second = FakeWebSocket.last;
  second.accept();
  const [resume] = second.commands('subscribe');
  assert.deepEqual([resume.recover, resume.epoch, resume.offset], [true, 'E1', 2n]);
  // One frame: the reply and the replay (which overlaps what was seen), then live events.
  second.deliver({
    events: [event('chat.a', 2, 'E1', 'two'), event('chat.a', 3, 'E1', 'three')],
    replies: [subscribedReply(resume.id, 'chat.a', 'E1', 3, true)],
  });
  second.deliver({ events: [event('chat.a', 4, 'E1', 'four')] });

  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.deepEqual(recoveries, [{ recovered: true, epoch: 'E1', offset: 3 }]);
  assert.deepEqual(
    states.map((s) => s.state),
    ['connecting', 'connected', 'disconnected', 'connecting', 'connected'],
  );
  herald.close();
  assert.equal(herald.state, 'closed');
});

test('recovered=false surfaces and the subscription continues live from the new position', async () => {
  const { herald } = client();
  const seen = [];
  const recoveries = [];
  herald.subscribe('chat.a', { onEvent: (e) => seen.push(e.offset), onRecovered: (r) => recoveries.push(r) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  FakeWebSocket.last.deliver({ replies: [subscribedReply(1, 'chat.a', 'E1', 5, false)] });
  FakeWebSocket.last.deliver({ events: [event('chat.a', 6, 'E1', 'six')] });
  FakeWebSocket.last.drop(1001, 'shutdown');
  await until(() => FakeWebSocket.sockets.length === 2);
  FakeWebSocket.last.accept();
  const [resume] = FakeWebSocket.last.commands('subscribe');
  FakeWebSocket.last.deliver({ replies: [subscribedReply(resume.id, 'chat.a', 'E2', 3, false)] });
  FakeWebSocket.last.deliver({ events: [event('chat.a', 3, 'E2', 'old'), event('chat.a', 4, 'E2', 'new')] });
  assert.deepEqual(recoveries, [{ recovered: false, epoch: 'E2', offset: 3 }]);
  assert.deepEqual(seen, [6, 4]);
  herald.close();
});

test('4401 stops reconnecting without getToken', async () => {
  const { herald, states, errors } = client({ token: 'expired' });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  FakeWebSocket.last.deliver({ disconnect: { code: 4401, reason: 'token expired' } });
  assert.equal(herald.state, 'closed');
  assert.equal(states.at(-1).error.code, 4401);
  assert.equal(errors[0].code, 4401);
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(FakeWebSocket.sockets.length, 1);
});

test('4401 asks getToken once, then stops if the new token is refused too', async () => {
  let calls = 0;
  const { herald } = client({ getToken: async () => `token${++calls}` });
  await until(() => FakeWebSocket.last);
  assert.match(FakeWebSocket.last.url, /token=token1/);
  FakeWebSocket.last.drop(4401, 'expired');
  await until(() => FakeWebSocket.sockets.length === 2);
  assert.match(FakeWebSocket.last.url, /token=token2/);
  FakeWebSocket.last.drop(4403, 'forbidden');
  await until(() => herald.state === 'closed');
  assert.equal(calls, 2);
});

test('4429 waits longer before reconnecting; 4408 reconnects', async () => {
  const { herald, states } = client();
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  FakeWebSocket.last.drop(4408, 'slow consumer');
  await until(() => FakeWebSocket.sockets.length === 2);
  FakeWebSocket.last.accept();
  FakeWebSocket.last.drop(4429, 'rate limited');
  const waiting = states.at(-1);
  assert.equal(waiting.state, 'disconnected');
  assert.ok(waiting.delayMs >= 5000, `delay ${waiting.delayMs}`);
  herald.close();
});

test('a malformed frame is reported, closes with 4400 and reconnects; nothing is thrown', async () => {
  const { herald, errors } = client();
  await until(() => FakeWebSocket.last);
  const socket = FakeWebSocket.last;
  socket.accept();
  socket.deliverRaw(new Uint8Array([0x0a, 0xff, 0xff, 0xff]).buffer);
  assert.equal(errors[0].code, 4400);
  assert.equal(socket.closedWith.code, 4400);
  await until(() => FakeWebSocket.sockets.length === 2);
  herald.close();
});

test('an exception in an event handler does not stop delivery', async () => {
  const { herald } = client();
  const seen = [];
  const originalError = console.error;
  console.error = () => {};
  try {
    herald.subscribe('chat.a', {
      onEvent: (e) => {
        seen.push(e.offset);
        if (e.offset === 1) throw new Error('application bug');
      },
    });
    await until(() => FakeWebSocket.last);
    FakeWebSocket.last.accept();
    FakeWebSocket.last.deliver({ events: [event('chat.a', 1, 'E', 'a'), event('chat.a', 2, 'E', 'b')] });
    assert.deepEqual(seen, [1, 2]);
  } finally {
    console.error = originalError;
    herald.close();
  }
});

test('publish waits for the connection and resolves with the offset; errors reject', async () => {
  const { herald } = client();
  const published = herald.publish('chat.a', { text: 'hi' }, { type: 'message' });
  const refused = herald.publish('chat.b', 'x');
  await until(() => FakeWebSocket.last);
  const socket = FakeWebSocket.last;
  socket.accept();
  await until(() => socket.commands('publish').length === 2);
  const [first, second] = socket.commands('publish');
  assert.equal(first.contentType, 'application/json');
  assert.equal(new TextDecoder().decode(first.data), '{"text":"hi"}');
  socket.deliver({
    replies: [
      { id: first.id, result: { case: 'published', value: { topic: 'chat.a', offset: 7n, epoch: 'E' } } },
      { id: second.id, error: { code: 7, message: 'no permission' } },
    ],
  });
  assert.deepEqual(await published, { topic: 'chat.a', offset: 7, epoch: 'E' });
  await assert.rejects(refused, (error) => error.code === 7);
  herald.close();
});

test('a refused subscription reports its error and is dropped', async () => {
  const { herald } = client();
  const failures = [];
  herald.subscribe('secret.a', { onError: (e) => failures.push(e.code) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  const [subscribe] = FakeWebSocket.last.commands('subscribe');
  FakeWebSocket.last.deliver({ replies: [{ id: subscribe.id, error: { code: 7, message: 'forbidden' } }] });
  assert.deepEqual(failures, [7]);
  // It can be subscribed again (it was dropped).
  herald.subscribe('secret.a', {});
  herald.close();
});

test('auto falls back to SSE when the WebSocket upgrade fails', async () => {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, init });
    const body = new ReadableStream({
      start(controller) {
        const text =
          'retry: 2000\n\nevent: herald.connected\ndata: {"client_id":"c","subscriptions":' +
          '[{"topic":"chat.a","epoch":"E","offset":0,"recovered":false}]}\n\n' +
          'id: E-1\nevent: message\ndata: {"topic":"chat.a","offset":1,"epoch":"E","type":"message",' +
          '"data":{"text":"hi"},"content_type":"application/json","time_unix_ms":5}\n\n';
        controller.enqueue(new TextEncoder().encode(text));
      },
    });
    return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
  };
  const { herald, states } = client({ transport: 'auto', fetch, token: 't' });
  const seen = [];
  herald.subscribe('chat.a', { onEvent: (e) => seen.push(e) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.drop(1006);  // The upgrade never came up.
  await until(() => seen.length === 1);
  assert.equal(requests[0].url, 'http://gateway.test:8080/sse?topic=chat.a');
  assert.equal(requests[0].init.headers.Authorization, 'Bearer t');
  assert.deepEqual(seen[0].data, { text: 'hi' });
  assert.ok(states.some((s) => s.fallback && s.transport === 'sse'));
  assert.equal(states.at(-1).state, 'connected');
  assert.equal(states.at(-1).transport, 'sse');
  herald.close();
});
