// Runs the Node.js publisher examples (clients/node/*.mjs) as users do, against the real gateway,
// and checks over SSE that their events arrive in order with the offsets they printed.
//
//   HERALD_BIN=build/bin/herald node --test tests/node/publish.test.mjs
//
// Run by CTest (node_publish). Needs the npm packages installed at the repository root (npm ci).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Gateway, run } from '../support/js/gateway.mjs';

const CLIENTS_DIR = fileURLToPath(new URL('../../clients/node/', import.meta.url));
const EVENT_TIMEOUT_MS = 10_000;
const EXAMPLE_TIMEOUT_MS = 60_000;

// GET /sse?topic=... read as a text/event-stream; events are parsed into {id, event, data}.
class SseStream {
  static open(port, topic) {
    return new Promise((resolve, reject) => {
      const request = http.get({
        host: '127.0.0.1', port, path: `/sse?topic=${encodeURIComponent(topic)}`,
        headers: { Accept: 'text/event-stream' },
      });
      request.on('response', (response) => resolve(new SseStream(request, response)));
      request.on('error', reject);
    });
  }

  constructor(request, response) {
    this.request = request;
    this.response = response;
    this.events = [];
    this.ended = false;
    this.wake = null;
    let pending = '';
    let fields = {};
    let data = [];
    response.setEncoding('utf8');
    response.on('data', (chunk) => {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).replace(/\r$/, '');
        pending = pending.slice(newline + 1);
        if (line === '') { // A blank line ends an event.
          if (data.length > 0 || Object.keys(fields).length > 0) {
            this.events.push({ id: fields.id, event: fields.event ?? 'message',
                               data: data.join('\n') });
          }
          fields = {};
          data = [];
        } else if (!line.startsWith(':')) { // ':' starts a comment (": ping").
          const colon = line.indexOf(':');
          const name = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (name === 'data') data.push(value);
          else fields[name] = value;
        }
      }
      this.notify();
    });
    const end = () => { this.ended = true; this.notify(); };
    response.on('end', end);
    response.on('error', end);
    request.on('error', end);
  }

  notify() {
    if (this.wake) this.wake();
  }

  // The next event matching predicate; fails on timeout or when the stream ends.
  async next(predicate = () => true) {
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    for (;;) {
      while (this.events.length > 0) {
        const event = this.events.shift();
        if (predicate(event)) return event;
      }
      if (this.ended) throw new Error('SSE stream ended');
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no matching SSE event within ${EVENT_TIMEOUT_MS} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
      this.wake = null;
    }
  }

  close() {
    this.request.destroy();
  }
}

const isAppEvent = (event) => !event.event.startsWith('herald.');

let gateway;
let ports;

before(async () => {
  gateway = await Gateway.start();
  ports = { httpPort: gateway.httpPort, grpcPort: gateway.grpcPort };
});

after(async () => {
  if (!gateway) return;
  const code = await gateway.stop();
  assert.equal(code, 0, `gateway exit code after SIGTERM (null: killed)\n${gateway.log()}`);
});

// Runs clients/node/<script> against the gateway; resolves {code, stdout, stderr}.
function runExample(script, args, stdin = '') {
  return run(process.execPath, [CLIENTS_DIR + script, `--target=${gateway.grpcTarget}`, ...args],
             { stdin, timeoutMs: EXAMPLE_TIMEOUT_MS });
}

// The `<topic> <offset> <epoch>` lines an example printed, as [offset, epoch] pairs.
function printed(result, topic) {
  return result.stdout.split('\n').filter((line) => line !== '').map((line) => {
    const match = /^(\S+) (\d+) (\S+)$/.exec(line);
    assert.ok(match, `unexpected output line ${JSON.stringify(line)}\n${result.stderr}`);
    assert.equal(match[1], topic);
    return [Number(match[2]), match[3]];
  });
}

// An SSE stream on topic, live (its herald.connected event seen), closed after the test.
async function subscribe(t, topic) {
  const sse = await SseStream.open(ports.httpPort, topic);
  t.after(() => sse.close());
  assert.equal(sse.response.statusCode, 200, gateway.log());
  assert.match(sse.response.headers['content-type'], /^text\/event-stream/);
  const connected = await sse.next((event) => event.event === 'herald.connected');
  // Events name their epoch only when it is news: this one until one does.
  sse.epoch = JSON.parse(connected.data).subscriptions[0].epoch;
  return sse;
}

// The JSON of the next count application events, each with an id (kept in history) and its
// epoch filled in as a client knows it.
async function received(sse, count) {
  const events = [];
  for (let i = 0; i < count; i++) {
    const event = await sse.next(isAppEvent);
    assert.ok(event.id, 'events kept in history carry an id');
    const payload = JSON.parse(event.data);
    payload.epoch ??= sse.epoch;
    sse.epoch = payload.epoch;
    events.push(payload);
  }
  return events;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('publish.mjs prints the offset subscribers see', async (t) => {
  const sse = await subscribe(t, 'nodeex.unary');
  const result = await runExample('publish.mjs', [
    '--topic=nodeex.unary', '--type=tick', '--content_type=application/json', '--data={"n":1}',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const [[offset, epoch], ...rest] = printed(result, 'nodeex.unary');
  assert.equal(rest.length, 0);
  assert.equal(offset, 1);
  const [event] = await received(sse, 1);
  assert.deepEqual([event.offset, event.epoch], [offset, epoch]);
  assert.equal(event.type, 'tick');
  assert.deepEqual(event.data, { n: 1 });
  assert.equal(event.content_type, 'application/json');
});

test('publish_stream.mjs publishes stdin lines in order', async (t) => {
  const sse = await subscribe(t, 'nodeex.lines');
  const lines = range(1, 20).map((n) => JSON.stringify({ n }));
  const result = await runExample('publish_stream.mjs',
                                  ['--topic=nodeex.lines', '--content_type=application/json'],
                                  lines.map((line) => `${line}\n`).join(''));
  assert.equal(result.code, 0, result.stderr);
  const positions = printed(result, 'nodeex.lines');
  assert.deepEqual(positions.map(([offset]) => offset), range(1, 20));
  assert.equal(new Set(positions.map(([, epoch]) => epoch)).size, 1);
  const events = await received(sse, 20);
  assert.deepEqual(events.map((event) => [event.offset, event.epoch]), positions);
  assert.deepEqual(events.map((event) => event.data), range(1, 20).map((n) => ({ n })));
});

test('publish_stream.mjs --count publishes generated events in order', async (t) => {
  const sse = await subscribe(t, 'nodeex.count');
  const result = await runExample('publish_stream.mjs', ['--topic=nodeex.count', '--count=300']);
  assert.equal(result.code, 0, result.stderr);
  const positions = printed(result, 'nodeex.count');
  assert.deepEqual(positions.map(([offset]) => offset), range(1, 300));
  const events = await received(sse, 300);
  assert.deepEqual(events.map((event) => [event.offset, event.epoch]), positions);
  assert.deepEqual(events.map((event) => event.data), range(1, 300).map((n) => `event ${n}`));
});

test('publish_stream.mjs reports a refused item and goes on', async (t) => {
  const sse = await subscribe(t, 'nodeex.bad_item');
  const result = await runExample('publish_stream.mjs',
                                  ['--topic=nodeex.bad_item', '--content_type=application/json'],
                                  '{"n":1}\nnot json\n{"n":3}\n');
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stderr, /^error 3 .*JSON/m);
  const positions = printed(result, 'nodeex.bad_item');
  assert.deepEqual(positions.map(([offset]) => offset), [1, 2]);
  const events = await received(sse, 2);
  assert.deepEqual(events.map((event) => [event.offset, event.epoch]), positions);
  assert.deepEqual(events.map((event) => event.data), [{ n: 1 }, { n: 3 }]);
});

test('publish.mjs with an invalid topic fails with INVALID_ARGUMENT and exit code 1', async () => {
  const result = await runExample('publish.mjs', ['--topic=bad topic!', '--data=x']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^publish\.mjs: INVALID_ARGUMENT: .*topic/m);
});

test('the examples without --topic print their usage and exit code 2', async () => {
  for (const script of ['publish.mjs', 'publish_stream.mjs']) {
    const result = await runExample(script, []);
    assert.equal(result.code, 2, `${script}: ${result.stderr}`);
    assert.match(result.stderr, /--topic is required[\s\S]*usage:/);
  }
});

test('publish.mjs speaks TLS to a gateway with a certificate, and plaintext is refused', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-node-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=herald',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  assert.equal(made.code, 0, made.stderr);
  const secure = await Gateway.start([`--tls_cert_file=${cert}`, `--tls_key_file=${key}`]);
  t.after(() => secure.stop());
  const example = (...args) => run(process.execPath,
    [CLIENTS_DIR + 'publish.mjs', `--target=${secure.grpcTarget}`, '--topic=nodeex.tls', ...args],
    { timeoutMs: EXAMPLE_TIMEOUT_MS });
  const result = await example(`--tls_ca=${cert}`, '--data=secure');
  assert.equal(result.code, 0, result.stderr + secure.log());
  assert.match(result.stdout, /^nodeex\.tls 1 \S+\n$/);
  const plain = await example('--data=plain');
  assert.equal(plain.code, 1, plain.stderr);
  assert.match(plain.stderr, /UNAVAILABLE/);
});
