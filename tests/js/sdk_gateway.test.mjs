// The SDK (the built bundle, clients/js/dist/herald.js) against the real gateway, in Node.js:
// over WebSocket and SSE, events published over gRPC arrive in order; connections cut from the
// gateway's side resume with no gap and no duplicate; token refresh and expiry; the `auto`
// fallback behind a proxy that refuses WebSocket upgrades.
//
//   HERALD_BIN=build/bin/herald HERALD_PUBLISH=build/bin/herald-publish node --test tests/js/
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Herald } from '../../clients/js/dist/herald.js';
import { CutProxy } from '../support/js/cut_proxy.mjs';
import { Gateway, publishWithCli, run, until } from '../support/js/gateway.mjs';
import { RedisServer } from '../support/js/redis.mjs';

const sourceDir = fileURLToPath(new URL('../..', import.meta.url));
const fastBackoff = { minDelayMs: 50, maxDelayMs: 200, stableAfterMs: 1000 };
const secret = 'herald-sdk-test-secret-of-at-least-32-bytes';

function sign(claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

// Every client a test made is closed after it, whether it passed or not.
const clients = [];
afterEach(() => {
  for (const herald of clients.splice(0)) herald.close();
});

function client(url, transport, options = {}) {
  const herald = new Herald({ url, transport, WebSocket, backoff: fastBackoff, ...options });
  clients.push(herald);
  const states = [];
  herald.on('state', (change) => states.push(change));
  return { herald, states };
}

/** Subscribes and collects the event offsets and recoveries of `topic`. */
function follow(herald, topic) {
  const seen = { offsets: [], texts: [], recoveries: [], errors: [], live: false };
  herald.subscribe(topic, {
    onSubscribed: () => (seen.live = true),
    onEvent: (event) => {
      seen.offsets.push(event.offset);
      seen.texts.push(event.data.n);
    },
    onRecovered: (result) => seen.recoveries.push(result),
    onError: (error) => seen.errors.push(error),
  });
  return seen;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('open gateway', () => {
  let gateway;
  before(async () => {
    gateway = await Gateway.start();
  });
  after(async () => {
    assert.equal(await gateway.stop(), 0, gateway.log());
  });

  for (const transport of ['websocket', 'sse']) {
    test(`${transport}: a cut connection resumes with no gap and no duplicate`, async (t) => {
      const proxy = await CutProxy.start(gateway.httpPort);
      t.after(() => proxy.close());
      const topic = `sdk.resume.${transport}`;
      const { herald, states } = client(proxy.url, transport);
      const seen = follow(herald, topic);
      await until(() => seen.live, 10_000, 'subscribed');
      for (const n of range(1, 5)) await publishWithCli(gateway, topic, JSON.stringify({ n }));
      await until(() => seen.offsets.length === 5, 10_000, 'first five events');

      proxy.hold();
      // Published while the client cannot be connected: the resume must replay them.
      for (const n of range(6, 10)) await publishWithCli(gateway, topic, JSON.stringify({ n }));
      proxy.release();
      await until(() => seen.offsets.length >= 10, 15_000, 'ten events after the cut');
      for (const n of range(11, 12)) await publishWithCli(gateway, topic, JSON.stringify({ n }));
      await until(() => seen.offsets.length >= 12, 10_000, 'live events after the resume');

      assert.deepEqual(seen.offsets, range(1, 12));
      assert.deepEqual(seen.texts, range(1, 12));
      assert.ok(seen.recoveries.length >= 1 && seen.recoveries.every((r) => r.recovered), JSON.stringify(seen.recoveries));
      assert.ok(states.some((s) => s.state === 'disconnected'), 'the cut was seen');
      herald.close();
    });
  }

  test('a TypeScript page typed by the served /herald.d.ts compiles, and a misuse does not', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-types-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    for (const file of ['herald.js', 'herald.d.ts']) {
      const served = await fetch(`${gateway.httpUrl}/${file}`);
      assert.equal(served.status, 200, file);
      assert.match(served.headers.get('content-type'), file.endsWith('.ts') ? /^text\/plain/ : /^text\/javascript/);
      await writeFile(join(dir, file), Buffer.from(await served.arrayBuffer()));
    }
    const page = (body) => `import { Herald, HeraldError, CloseCode, type HeraldEvent } from './herald.js';
const herald = new Herald({ url: 'https://push.example.com', transport: 'auto' });
${body}
`;
    const compile = async (body) => {
      await writeFile(join(dir, 'page.ts'), page(body));
      return run(join(sourceDir, 'node_modules', '.bin', 'tsc'), ['--noEmit', '--strict',
        '--target', 'ES2022', '--module', 'ES2022', '--moduleResolution', 'bundler', 'page.ts'],
        { cwd: dir });
    };
    const good = await compile(`const sub = herald.subscribe('chat.lobby', {
  onEvent: (event: HeraldEvent) => console.log(event.offset, event.data),
  onError: (error: HeraldError) => console.log(error.code === CloseCode.forbidden),
});
herald.publish('chat.lobby', { text: 'hi' }).then((answer) => console.log(answer.offset));
sub.unsubscribe();`);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    const misuse = await compile(`herald.subscribe('chat.lobby', { onEvent: (event: HeraldEvent) => event.ofset });`);
    assert.notEqual(misuse.code, 0);
    assert.match(misuse.stdout, /ofset/);
  });

  test('websocket: publish, ephemeral events, and a refused publish', async (t) => {
    const { herald } = client(gateway.httpUrl, 'websocket');
    const topic = 'sdk.publish';
    const events = [];
    let live = false;
    herald.subscribe(topic, { onEvent: (event) => events.push(event), onSubscribed: () => (live = true) });
    await until(() => live);
    const first = await herald.publish(topic, { text: 'hi' }, { type: 'message', meta: { k: 'v' } });
    assert.equal(first.offset, 1);
    const typing = await herald.publish(topic, 'typing', { ephemeral: true, type: 'typing' });
    assert.equal(typing.offset, 0);
    await assert.rejects(herald.publish('bad topic', 'x'), (error) => error.code === 3);
    await assert.rejects(herald.publish(topic, 'x', { type: 'herald.fake' }), (error) => error.code === 3);
    await until(() => events.length === 2);
    assert.deepEqual(events[0].data, { text: 'hi' });
    assert.deepEqual(events[0].meta, { k: 'v' });
    assert.equal(events[0].type, 'message');
    assert.ok(Math.abs(events[0].time.getTime() - Date.now()) < 60_000);
    assert.deepEqual([events[1].offset, events[1].data, events[1].type], [0, 'typing', 'typing']);
    herald.close();
  });

  test('sse: publish goes through POST /v1/publish', async (t) => {
    const { herald } = client(gateway.httpUrl, 'sse');
    const topic = 'sdk.sse.publish';
    const events = [];
    herald.subscribe(topic, { onEvent: (event) => events.push(event) });
    await until(() => herald.state === 'connected');
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const result = await herald.publish(topic, bytes, { contentType: 'application/octet-stream' });
    assert.equal(result.offset, 1);
    await assert.rejects(herald.publish('bad topic', 'x'), (error) => error.code === 3);
    await until(() => events.length === 1);
    assert.deepEqual([...events[0].data], [0, 1, 2, 255]);
    herald.close();
  });

  for (const transport of ['websocket', 'sse']) {
    test(`${transport}: history, then subscribe since its position: no gap, no duplicate`, async (t) => {
      const { herald } = client(gateway.httpUrl, transport);
      const topic = `sdk.history.${transport}`;
      for (const n of range(1, 3)) await publishWithCli(gateway, topic, JSON.stringify({ n }));
      const page = await herald.history(topic, 2);
      assert.deepEqual(page.events.map((e) => e.data.n), [2, 3]);
      assert.deepEqual(page.events.map((e) => e.offset), [2, 3]);
      assert.equal(page.offset, 3);
      // Published between the render and the subscription.
      await publishWithCli(gateway, topic, JSON.stringify({ n: 4 }));
      const seen = { offsets: [] };
      herald.subscribe(topic, { since: page, onEvent: (e) => seen.offsets.push(e.offset) });
      await until(() => seen.offsets.length === 1);
      await publishWithCli(gateway, topic, JSON.stringify({ n: 5 }));
      await until(() => seen.offsets.length === 2);
      assert.deepEqual(seen.offsets, [4, 5]);
      const empty = await herald.history('sdk.history.never');
      assert.deepEqual([empty.events, empty.offset], [[], 0]);
      herald.close();
    });
  }

  test('GET /v1/history answers bad requests with a status and a JSON error', async (t) => {
    const cases = [
      ['/v1/history', 400],
      ['/v1/history?topic=a&topic=b', 400],
      ['/v1/history?topic=bad%20topic', 400],
      ['/v1/history?topic=a&limit=ten', 400],
      ['/v1/history?topic=a&limit=-1', 400],
    ];
    for (const [path, status] of cases) {
      const response = await fetch(`${gateway.httpUrl}${path}`);
      assert.equal(response.status, status, path);
      assert.equal((await response.json()).code, 3, path);
    }
    const post = await fetch(`${gateway.httpUrl}/v1/history?topic=a`, { method: 'POST' });
    assert.equal(post.status, 405);
    const preflight = await fetch(`${gateway.httpUrl}/v1/history?topic=a`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(preflight.status, 204);
  });

  test('auto falls back to SSE behind a proxy that refuses WebSocket upgrades', async (t) => {
    const proxy = await CutProxy.start(gateway.httpPort, { refuseUpgrades: true });
    t.after(() => proxy.close());
    const { herald, states } = client(proxy.url, 'auto');
    const topic = 'sdk.fallback';
    const seen = follow(herald, topic);
    await until(() => seen.live);
    assert.equal(herald.transportName, 'sse');
    assert.ok(states.some((s) => s.fallback === true && s.transport === 'sse'));
    await publishWithCli(gateway, topic, JSON.stringify({ n: 1 }));
    await until(() => seen.offsets.length === 1);
    const published = await herald.publish(topic, { n: 2 });
    assert.equal(published.offset, 2);
    await until(() => seen.offsets.length === 2);
    herald.close();
  });
});

describe('gateway on Redis while Redis is down', () => {
  let redis;
  let gateway;
  before(async () => {
    redis = await RedisServer.start();
    gateway = await Gateway.start([`--broker=${redis.url}`, '--redis_timeout=1s']);
  });
  after(async () => {
    await gateway.stop();
    await redis.stop();
  });

  // The gateway answers what needs Redis with UNAVAILABLE (a subscribe command) or closes with
  // 1013 (an SSE stream's topics): temporary, so the SDK asks again and the subscription comes
  // back with Redis, where a final refusal would have dropped it.
  for (const transport of ['websocket', 'sse']) {
    test(`${transport}: subscriptions refused while Redis is down are retried`, async (t) => {
      const port = redis.port;
      await redis.stop();
      const { herald, states } = client(gateway.httpUrl, transport);
      const topic = `sdk.outage.${transport}`;
      const seen = follow(herald, topic);
      if (transport === 'websocket') {
        await until(() => states.some((s) => s.state === 'connected'), 10_000, 'connected');
      } else {
        await until(
          () => states.some((s) => s.state === 'disconnected' && s.error?.code === 1013),
          10_000, 'the SSE stream closed with 1013');
      }
      // Long enough for a subscribe (WebSocket) to be refused and retried at least once.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(seen.live, false);
      assert.deepEqual(seen.errors, [], 'a temporary refusal is not reported as final');

      redis = new RedisServer(process.env.REDIS_SERVER || 'redis-server', port, []);
      await redis.ready();
      await until(() => seen.live, 20_000, 'subscribed once Redis is back');
      await publishWithCli(gateway, topic, JSON.stringify({ n: 1 }));
      await until(() => seen.offsets.length === 1, 10_000, 'the event after the outage');
      assert.deepEqual(seen.texts, [1]);
      herald.close();
    });
  }
});

describe('gateway with JWT auth', () => {
  let gateway;
  let keysDir;
  const adminKey = 'sdk-test-admin-key-0123456789';
  before(async () => {
    keysDir = await mkdtemp(join(tmpdir(), 'herald-sdk-admin-'));
    await writeFile(join(keysDir, 'admin_keys'), `${adminKey}\n`);
    await writeFile(join(keysDir, 'rules.yaml'),
      '- pattern: "auth.lobby.*"\n  presence: true\n  join_leave: true\n');
    gateway = await Gateway.start([`--jwt_hs256_secret=${secret}`, '--jwt_leeway=0s',
      `--admin_keys_file=${join(keysDir, 'admin_keys')}`,
      `--topic_rules_file=${join(keysDir, 'rules.yaml')}`]);
  });
  after(async () => {
    await rm(keysDir, { recursive: true, force: true });
    assert.equal(await gateway.stop(), 0, gateway.log());
  });

  /** Runs herald-admin against the gateway; its JSON answer. */
  async function admin(...args) {
    const result = await run(join(dirname(process.env.HERALD_BIN), 'herald-admin'),
      [`--target=${gateway.grpcTarget}`, `--key=${adminKey}`, ...args]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  }

  for (const transport of ['websocket', 'sse']) {
    test(`${transport}: an operator's unsubscribe and disconnect reach the SDK, which stays down`, async () => {
      const user = `operated-${transport}`;
      let tokens = 0;
      const { herald, states } = client(gateway.httpUrl, transport, {
        getToken: async () => {
          tokens++;
          return sign({ ...claims(60), sub: user });
        },
      });
      let removed = 0;
      herald.subscribe('auth.room', { onUnsubscribed: () => removed++ });
      const kept = follow(herald, 'auth.kept');
      await until(() => kept.live, 10_000, 'subscribed');
      assert.equal((await admin('unsubscribe', `--user=${user}`, '--topic=auth.room')).unsubscribed, '1');
      await until(() => removed === 1, 10_000, 'told of the unsubscribe');
      assert.equal((await admin('presence', '--topic=auth.room')).count, '0');
      assert.equal((await admin('presence', '--topic=auth.kept')).count, '1');

      assert.equal((await admin('disconnect', `--user=${user}`, '--reason=banned')).disconnected, '1');
      await until(() => herald.state === 'closed', 10_000, 'closed by the operator');
      assert.equal(states.at(-1).error.code, 4403);
      assert.equal(states.at(-1).error.message, 'banned');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(tokens, 1);  // Not even a new token brings it back.
      assert.equal((await admin('connections', `--user=${user}`)).count, '0');
    });
  }

  for (const transport of ['websocket', 'sse']) {
    test(`${transport}: sub.presence() lists who is there; onJoin and onLeave tell who comes and goes`, async () => {
      const topic = `auth.lobby.${transport}`;
      const token = (sub) => sign({ ...claims(60), sub });
      const { herald: ada } = client(gateway.httpUrl, transport, { token: token('ada') });
      const joined = [];
      const left = [];
      const events = [];
      let live = false;
      const lobby = ada.subscribe(topic, {
        onSubscribed: () => (live = true),
        onJoin: (member) => joined.push(member),
        onLeave: (member) => left.push(member),
        onEvent: (event) => events.push(event),
      });
      await until(() => live, 10_000, 'ada subscribed');
      const { herald: bob } = client(gateway.httpUrl, 'websocket', { token: token('bob') });
      let bobLive = false;
      bob.subscribe(topic, { onSubscribed: () => (bobLive = true) });
      await until(() => bobLive && joined.some((member) => member.user === 'bob'), 10_000, 'bob joined');
      const bobId = joined.find((member) => member.user === 'bob').clientId;
      assert.match(bobId, /.+/);

      const page = await lobby.presence();
      assert.equal(page.topic, topic);
      assert.equal(page.count, 2);
      assert.deepEqual(page.clients.map((c) => c.user).sort(), ['ada', 'bob']);
      const bobEntry = page.clients.find((c) => c.user === 'bob');
      assert.equal(bobEntry.clientId, bobId);
      assert.equal(bobEntry.transport, 'websocket');
      assert.ok(bobEntry.connectedAtMs > Date.now() - 60_000 && bobEntry.connectedAtMs <= Date.now());
      const adaEntry = page.clients.find((c) => c.user === 'ada');
      assert.equal(adaEntry.transport, transport);
      assert.equal(adaEntry.clientId, ada.clientId);  // The page knows which entry is its own.
      assert.ok(joined.some((member) => member.clientId === ada.clientId));
      assert.deepEqual(page.unansweredNodes, []);
      assert.equal((await lobby.presence(1)).clients.length, 1);

      bob.close();
      await until(() => left.some((member) => member.clientId === bobId), 10_000, 'bob left');
      assert.equal((await ada.presence(topic)).count, 1);
      assert.deepEqual(events, []);  // Joins and leaves are not application events.

      // Presence is a topic rule's choice, and needs the right to subscribe.
      await assert.rejects(ada.presence('auth.kept'),
        (error) => error.code === 7 && /presence is off for auth.kept/.test(error.message));
      await assert.rejects(ada.presence('other.lobby.x'),
        (error) => error.code === 7 && /may not subscribe to other.lobby.x/.test(error.message));
    });
  }

  const claims = (lifeSeconds) => ({
    sub: 'ada',
    exp: Math.floor(Date.now() / 1000) + lifeSeconds,
    subscribe: ['auth.>'],
    publish: ['auth.>'],
  });

  test('websocket: getToken refreshes the token before it expires; the connection stays', async (t) => {
    let tokens = 0;
    const { herald, states } = client(gateway.httpUrl, 'websocket', {
      getToken: async () => {
        tokens++;
        return sign(claims(3));
      },
    });
    const seen = follow(herald, 'auth.refresh');
    await until(() => seen.live);
    // Past the first token's expiry, the same connection still publishes and receives.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    const result = await herald.publish('auth.refresh', { n: 1 });
    assert.equal(result.offset, 1);
    await until(() => seen.offsets.length === 1);
    assert.ok(tokens >= 2, `getToken calls: ${tokens}`);
    assert.equal(states.filter((s) => s.state === 'connected').length, 1, JSON.stringify(states));
    herald.close();
  });

  // Whether the token expires on the open connection (the gateway closes with 4401) or before
  // the upgrade (refused with 401, which the SDK learns through GET /ws), the end is the same.
  test('an expired token without getToken ends with 4401 and no reconnect', async (t) => {
    const { herald, states } = client(gateway.httpUrl, 'websocket', { token: sign(claims(1)) });
    follow(herald, 'auth.expiry');
    await until(() => herald.state === 'closed', 10_000, 'closed at expiry');
    assert.equal(states.at(-1).error.code, 4401);
  });

  test('a forbidden subscription reports 7 and the others go on', async (t) => {
    const { herald } = client(gateway.httpUrl, 'websocket', { token: sign(claims(60)) });
    const forbidden = follow(herald, 'other.topic');
    const allowed = follow(herald, 'auth.allowed');
    await until(() => forbidden.errors.length === 1);
    assert.equal(forbidden.errors[0].code, 7);
    await herald.publish('auth.allowed', { n: 1 });
    await until(() => allowed.offsets.length === 1);
    herald.close();
  });

  test('history needs a credential that may read the topic', async (t) => {
    const noToken = await fetch(`${gateway.httpUrl}/v1/history?topic=auth.h`);
    assert.equal(noToken.status, 401);
    const token = sign(claims(60));
    const forbidden = await fetch(`${gateway.httpUrl}/v1/history?topic=other.h`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(forbidden.status, 403);
    assert.equal((await forbidden.json()).code, 7);
    const { herald } = client(gateway.httpUrl, 'websocket', { token });
    await herald.publish('auth.h', { n: 1 });
    const page = await herald.history('auth.h');
    assert.deepEqual(page.events.map((e) => e.data), [{ n: 1 }]);
    herald.close();
  });

  test('websocket: a token refused at the upgrade stops with 4401 (learned through GET /ws)', async (t) => {
    const refused = await fetch(`${gateway.httpUrl}/ws?token=not-a-token`);
    assert.equal(refused.status, 401);
    const admitted = await fetch(`${gateway.httpUrl}/ws?token=${sign(claims(60))}`);
    assert.equal(admitted.status, 426);
    const { herald, states } = client(gateway.httpUrl, 'websocket', { token: 'not-a-token' });
    follow(herald, 'auth.ws');
    await until(() => herald.state === 'closed');
    assert.equal(states.at(-1).error.code, 4401);
    assert.equal(states.filter((s) => s.state === 'connecting').length, 1, JSON.stringify(states));
  });

  test('sse: a forbidden topic is dropped with its error and the allowed one streams', async (t) => {
    const { herald } = client(gateway.httpUrl, 'sse', { token: sign(claims(60)) });
    const forbidden = follow(herald, 'other.sse');
    const allowed = follow(herald, 'auth.sse2');
    await until(() => allowed.live && forbidden.errors.length === 1);
    assert.equal(forbidden.errors[0].code, 7);
    await publishWithCli(gateway, 'auth.sse2', JSON.stringify({ n: 1 }), [`--token=${sign(claims(60))}`]);
    await until(() => allowed.offsets.length === 1);
    assert.equal(herald.state, 'connected');
  });

  test('sse: a refused token (401) stops with 4401', async (t) => {
    const { herald, states } = client(gateway.httpUrl, 'sse', { token: 'not-a-token' });
    follow(herald, 'auth.sse');
    await until(() => herald.state === 'closed');
    assert.equal(states.at(-1).error.code, 4401);
  });
});
