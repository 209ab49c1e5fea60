// Unit tests of the SDK's state machine: reconnects, resumption without gaps or duplicates,
// close codes, malformed frames, the auto fallback. The gateway side is scripted
// (fake_gateway.mjs); tests against the real gateway are in tests/js/.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { Backoff, Herald } from '../dist/herald.js';
import {
  FakeWebSocket,
  event,
  fakeFetch,
  jsonResponse,
  sseResponse,
  subscribedReply,
  tokenExpiringAt,
  until,
} from './fake_gateway.mjs';

const fast = { minDelayMs: 1, maxDelayMs: 4, stableAfterMs: 50 };

// By default the gateway answers the SDK's plain GET /ws probe with 426: it is up and would
// admit the request, so a failed connection is a network matter.
const gatewayUp = () => fakeFetch({ '/ws': () => new Response('', { status: 426 }) });

function client(options = {}) {
  const herald = new Herald({
    url: 'http://gateway.test:8080',
    transport: 'websocket',
    WebSocket: FakeWebSocket,
    fetch: gatewayUp(),
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
  const { herald } = client({ url: 'https://example.com:8443/', token: 'abc' });
  await until(() => FakeWebSocket.last);
  assert.equal(FakeWebSocket.last.url, 'wss://example.com:8443/ws?token=abc');
  herald.close();
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

test('an event without its epoch gets the subscription\'s, and one naming a new epoch moves it', async () => {
  const { herald } = client();
  const seen = [];
  herald.subscribe('chat.a', { onEvent: (e) => seen.push(`${e.epoch}:${e.offset}`) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  const [subscribe] = FakeWebSocket.last.commands('subscribe');
  FakeWebSocket.last.deliver({
    replies: [subscribedReply(subscribe.id, 'chat.a', 'E1', 5, false)],
    events: [event('chat.a', 6, '', 'six')],
  });
  FakeWebSocket.last.deliver({ events: [event('chat.a', 1, 'E2', 'one'), event('chat.a', 2, '', 'two')] });
  assert.deepEqual(seen, ['E1:6', 'E2:1', 'E2:2']);
  FakeWebSocket.last.drop(1006);
  await until(() => FakeWebSocket.sockets.length === 2);
  FakeWebSocket.last.accept();
  const [resume] = FakeWebSocket.last.commands('subscribe');
  assert.deepEqual([resume.recover, resume.epoch, resume.offset], [true, 'E2', 2n]);
  herald.close();
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

test('a drain\'s suggested delay replaces the backoff before reconnecting, within its ceiling', async () => {
  const { herald, states } = client({ backoff: { ...fast, maxDelayMs: 1000 } });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  const started = Date.now();
  FakeWebSocket.last.deliver({ disconnect: { code: 1001, reason: 'shutdown', reconnectAfterMs: 150 } });
  assert.equal(states.at(-1).state, 'disconnected');
  assert.equal(states.at(-1).delayMs, 150);
  await until(() => FakeWebSocket.sockets.length === 2);
  assert.ok(Date.now() - started >= 140, `reconnected after ${Date.now() - started} ms`);
  // A suggestion past the backoff's ceiling waits the ceiling.
  FakeWebSocket.last.accept();
  FakeWebSocket.last.deliver({ disconnect: { code: 1001, reason: 'shutdown', reconnectAfterMs: 4000000000 } });
  assert.equal(states.at(-1).delayMs, 1000);
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

test('an operator\'s 4403 on a live connection is final, even with getToken', async () => {
  let calls = 0;
  const { herald, states } = client({ getToken: async () => `token${++calls}` });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  FakeWebSocket.last.drop(4403, 'banned');
  await until(() => herald.state === 'closed');
  assert.equal(calls, 1);
  assert.equal(states.at(-1).error.message, 'banned');
  assert.equal(FakeWebSocket.sockets.length, 1);
});

test('application close codes: 3000-3499 reconnect, 3500-3999 stop', async () => {
  const { herald } = client();
  const errors = [];
  herald.on('error', (error) => errors.push(error.code));
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  FakeWebSocket.last.drop(3001, 'moved to another shard');
  await until(() => FakeWebSocket.sockets.length === 2);
  FakeWebSocket.last.accept();
  FakeWebSocket.last.drop(3500, 'account closed');
  await until(() => herald.state === 'closed');
  assert.equal(FakeWebSocket.sockets.length, 2);
  assert.ok(errors.includes(3500), JSON.stringify(errors));
});

test('a topic the gateway takes off is dropped, told, and not asked for again', async () => {
  const { herald } = client();
  let unsubscribed = 0;
  herald.subscribe('chat.a', { onUnsubscribed: () => unsubscribed++ });
  herald.subscribe('chat.b', {});
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  const subscribes = FakeWebSocket.last.commands('subscribe');
  FakeWebSocket.last.deliver({
    replies: subscribes.map((command) => subscribedReply(command.id, command.topic, 'E', 0, false)),
    unsubscribed: [{ topic: 'chat.a' }],
  });
  await until(() => unsubscribed === 1);
  FakeWebSocket.last.drop(1006);
  await until(() => FakeWebSocket.sockets.length === 2);
  FakeWebSocket.last.accept();
  await until(() => FakeWebSocket.last.commands('subscribe').length === 1);
  assert.deepEqual(FakeWebSocket.last.commands('subscribe').map((command) => command.topic), ['chat.b']);
  herald.close();
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
    const [subscribe] = FakeWebSocket.last.commands('subscribe');
    FakeWebSocket.last.deliver({
      replies: [subscribedReply(subscribe.id, 'chat.a', 'E', 0, false)],
      events: [event('chat.a', 1, 'E', 'a'), event('chat.a', 2, 'E', 'b')],
    });
    assert.deepEqual(seen, [1, 2]);
  } finally {
    console.error = originalError;
    herald.close();
  }
});

test('herald.join / herald.leave go to onJoin / onLeave when set, else to onEvent; clientId is the connection\'s', async () => {
  const { herald } = client();
  const members = [];
  const roomEvents = [];
  const plainEvents = [];
  herald.subscribe('room.a', {
    onJoin: (member) => members.push(['join', member]),
    onLeave: (member) => members.push(['leave', member]),
    onEvent: (e) => roomEvents.push(e.type),
  });
  herald.subscribe('room.b', { onEvent: (e) => plainEvents.push(e.type) });
  await until(() => FakeWebSocket.last);
  assert.equal(herald.clientId, undefined);
  FakeWebSocket.last.accept({ clientId: 'me-1' });
  assert.equal(herald.clientId, 'me-1');
  const replies = FakeWebSocket.last.commands('subscribe').map((c) => subscribedReply(c.id, c.topic, 'E', 0, false));
  const presenceEvent = (topic, type, clientId) => ({
    topic,
    offset: 0n,
    type,
    data: new TextEncoder().encode(JSON.stringify({ client_id: clientId, user: 'ada' })),
    contentType: 'application/json',
    timeUnixMs: 1n,
  });
  FakeWebSocket.last.deliver({
    replies,
    events: [presenceEvent('room.a', 'herald.join', 'x1'), presenceEvent('room.b', 'herald.join', 'x1'),
      event('room.a', 1, 'E', 'hi'), presenceEvent('room.a', 'herald.leave', 'x1')],
  });
  assert.deepEqual(members, [['join', { clientId: 'x1', user: 'ada' }], ['leave', { clientId: 'x1', user: 'ada' }]]);
  assert.deepEqual(roomEvents, ['message']);
  assert.deepEqual(plainEvents, ['herald.join']);
  FakeWebSocket.last.drop(1006);
  await until(() => herald.state === 'disconnected');
  assert.equal(herald.clientId, undefined);
  herald.close();
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

test('auto (the default) falls back to SSE when the gateway admits the request but the upgrade fails', async () => {
  const connected =
    'retry: 2000\n\nevent: herald.connected\ndata: {"client_id":"c","subscriptions":' +
    '[{"topic":"chat.a","epoch":"E","offset":0,"recovered":false}]}\n\n' +
    'id: E-1\nevent: message\ndata: {"topic":"chat.a","offset":1,"epoch":"E","type":"message",' +
    '"data":{"text":"hi"},"content_type":"application/json","time_unix_ms":5}\n\n';
  const fetch = fakeFetch({
    '/ws': () => new Response('', { status: 426 }),
    '/sse': () => sseResponse(connected),
  });
  const { herald, states } = client({ transport: undefined, fetch, token: 't' });
  const seen = [];
  herald.subscribe('chat.a', { onEvent: (e) => seen.push(e) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.drop(1006);  // The upgrade never came up.
  await until(() => seen.length === 1);
  const sse = fetch.requests.find((r) => r.url.includes('/sse'));
  assert.equal(sse.url, 'http://gateway.test:8080/sse?topic=chat.a');
  assert.equal(sse.init.headers.Authorization, 'Bearer t');
  assert.deepEqual(seen[0].data, { text: 'hi' });
  assert.ok(states.some((s) => s.fallback && s.transport === 'sse'));
  assert.equal(states.at(-1).state, 'connected');
  assert.equal(states.at(-1).transport, 'sse');
  herald.close();
});

test('auto stays on WebSocket while the gateway is unreachable', async () => {
  const { herald } = client({ transport: 'auto', fetch: fakeFetch() });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.drop(1006);
  await until(() => FakeWebSocket.sockets.length === 2);
  assert.equal(herald.transportName, 'websocket');
  herald.close();
});

test('a refused upgrade (1006 in a browser) is explained by GET /ws: 401 stops, or asks getToken', async () => {
  const refused = fakeFetch({ '/ws': () => jsonResponse(401, { code: 16, message: 'token expired' }) });
  const { herald, states } = client({ token: 'old', fetch: refused });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.drop(1006);
  await until(() => herald.state === 'closed');
  assert.equal(states.at(-1).error.code, 4401);
  assert.match(refused.requests[0].url, /\/ws\?token=old$/);

  FakeWebSocket.reset();
  let calls = 0;
  const second = client({ fetch: refused, getToken: () => `token${++calls}` });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.drop(1006);
  await until(() => FakeWebSocket.sockets.length === 2);
  assert.match(FakeWebSocket.last.url, /token=token2/);
  second.herald.close();
});

test('a refused origin stops with the gateway\'s reason, not a silent loop', async () => {
  const message = 'origin https://a.io is not allowed: the gateway\'s --allowed_origins must name it';
  const refused = fakeFetch({ '/ws': () => jsonResponse(403, { code: 7, message }) });
  const { herald, states } = client({ fetch: refused });
  const errors = [];
  herald.on('error', (error) => errors.push(error));
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.drop(1006);
  await until(() => herald.state === 'closed');
  assert.equal(states.at(-1).error.code, 4403);
  assert.equal(states.at(-1).error.message, message);
  assert.deepEqual(errors.map((error) => error.message), [message]);
  assert.equal(FakeWebSocket.sockets.length, 1);  // No reconnect loop.
});

test('a token expired during an outage is replaced through getToken before the reconnect', async () => {
  const expiring = tokenExpiringAt(Math.floor(Date.now() / 1000) + 2, 'old');
  const fresh = tokenExpiringAt(Math.floor(Date.now() / 1000) + 3600, 'new');
  const tokens = [expiring, fresh];
  const { herald } = client({ getToken: () => tokens.shift() });
  await until(() => FakeWebSocket.last);
  assert.ok(FakeWebSocket.last.url.includes(expiring));
  FakeWebSocket.last.drop(1006);
  await until(() => FakeWebSocket.sockets.length === 2);
  assert.ok(FakeWebSocket.last.url.includes(fresh), 'the expired token was used again');
  herald.close();
});

test('a token valid for months does not make the refresh timer spin', async () => {
  let calls = 0;
  const longLived = tokenExpiringAt(Math.floor(Date.now() / 1000) + 90 * 86400);
  const { herald } = client({ getToken: () => (calls++, longLived) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(calls, 1);
  assert.equal(FakeWebSocket.last.commands('refresh').length, 0);
  herald.close();
});

test('connect() after an auth close starts over with a fresh token', async () => {
  let calls = 0;
  const { herald } = client({ getToken: () => `token${++calls}` });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.drop(4401);
  await until(() => FakeWebSocket.sockets.length === 2);
  FakeWebSocket.last.drop(4401);
  await until(() => herald.state === 'closed');
  herald.connect();
  await until(() => FakeWebSocket.sockets.length === 3);
  assert.match(FakeWebSocket.last.url, /token=token3/);
  herald.close();
});

test('an answer to an earlier subscribe of the same topic is not taken for the new one', async () => {
  const { herald } = client();
  const first = [];
  const sub = herald.subscribe('chat.a', { onSubscribed: (p) => first.push(p) });
  await until(() => FakeWebSocket.last);
  const socket = FakeWebSocket.last;
  socket.accept();
  const [old] = socket.commands('subscribe');
  sub.unsubscribe();
  const second = { subscribed: [], recovered: [], events: [] };
  herald.subscribe('chat.a', {
    onSubscribed: (p) => second.subscribed.push(p),
    onRecovered: (r) => second.recovered.push(r),
    onEvent: (e) => second.events.push(e.offset),
  });
  const [, fresh] = socket.commands('subscribe');
  // The old subscription's answer and event arrive late, then the new answer.
  socket.deliver({ replies: [subscribedReply(old.id, 'chat.a', 'E', 5, false)] });
  socket.deliver({ events: [event('chat.a', 6, 'E', 'old')] });
  socket.deliver({ replies: [subscribedReply(fresh.id, 'chat.a', 'E', 6, false)] });
  socket.deliver({ events: [event('chat.a', 7, 'E', 'new')] });
  assert.deepEqual(first, []);
  assert.deepEqual(second.subscribed, [{ epoch: 'E', offset: 6 }]);
  assert.deepEqual(second.recovered, []);
  assert.deepEqual(second.events, [7]);
  herald.close();
});

test('subscribe refuses an invalid topic at once', () => {
  const { herald } = client({ autoConnect: false });
  for (const topic of ['', 'a..b', '.a', 'a b', 'x'.repeat(256)]) {
    assert.throws(() => herald.subscribe(topic), (error) => error.code === 3, topic);
  }
});

test('subscribe since a position reports whether it was recovered', async () => {
  const { herald } = client();
  const recoveries = [];
  herald.subscribe('chat.a', { since: { epoch: 'E', offset: 3, events: ['big'] }, onRecovered: (r) => recoveries.push(r) });
  await until(() => FakeWebSocket.last);
  FakeWebSocket.last.accept();
  const [subscribe] = FakeWebSocket.last.commands('subscribe');
  assert.deepEqual([subscribe.recover, subscribe.epoch, subscribe.offset], [true, 'E', 3n]);
  FakeWebSocket.last.deliver({ replies: [subscribedReply(subscribe.id, 'chat.a', 'E2', 9, false)] });
  assert.deepEqual(recoveries, [{ recovered: false, epoch: 'E2', offset: 9 }]);
  herald.close();
});

test('sse: a topic this credential may not read is dropped with its error; the others go on', async () => {
  const connected =
    'event: herald.connected\ndata: {"client_id":"c","subscriptions":' +
    '[{"topic":"chat.ok","epoch":"E","offset":0,"recovered":false}]}\n\n';
  const fetch = fakeFetch({
    '/sse': (url) =>
      url.searchParams.getAll('topic').includes('chat.secret')
        ? new Response('this token may not subscribe to chat.secret', { status: 403 })
        : sseResponse(connected),
    '/v1/history': (url) =>
      url.searchParams.get('topic') === 'chat.secret'
        ? jsonResponse(403, { code: 7, message: 'no' })
        : jsonResponse(200, { topic: 'chat.ok', epoch: 'E', offset: 0, events: [] }),
  });
  const { herald } = client({ transport: 'sse', fetch });
  const failures = [];
  let okLive = false;
  herald.subscribe('chat.ok', { onSubscribed: () => (okLive = true) });
  herald.subscribe('chat.secret', { onError: (e) => failures.push(e.code) });
  await until(() => okLive);
  assert.deepEqual(failures, [7]);
  assert.equal(herald.state, 'connected');
  herald.close();
});

test('sse: a refused origin stops the client instead of dropping its topics', async () => {
  const message = 'origin https://a.io is not allowed: the gateway\'s --allowed_origins must name it';
  const fetch = fakeFetch({
    '/sse': () => jsonResponse(403, { code: 7, message }),
    '/ws': () => jsonResponse(403, { code: 7, message }),
    '/v1/history': () => jsonResponse(403, { code: 7, message }),
  });
  const { herald, states } = client({ transport: 'sse', fetch });
  const dropped = [];
  herald.subscribe('chat.a', { onError: (e) => dropped.push(e.code) });
  await until(() => herald.state === 'closed');
  assert.equal(states.at(-1).error.code, 4403);
  assert.equal(states.at(-1).error.message, message);
  assert.deepEqual(dropped, []);
});

test('sse with no subscription is connected and publishes over HTTP', async () => {
  const fetch = fakeFetch({
    '/v1/publish': (url, init) => jsonResponse(200, { topic: 'chat.a', offset: '4', epoch: 'E', body: init.body }),
  });
  const { herald } = client({ transport: 'sse', fetch });
  const result = await herald.publish('chat.a', { text: 'hi' });
  assert.deepEqual(result, { topic: 'chat.a', offset: 4, epoch: 'E' });
  const body = JSON.parse(fetch.requests[0].init.body);
  assert.equal(body.contentType, 'application/json');
  assert.equal(atob(body.data), '{"text":"hi"}');
  assert.equal(herald.state, 'connected');
  herald.close();
});
