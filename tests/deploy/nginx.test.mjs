// The example nginx configuration (deploy/nginx/herald.conf) in front of two Herald nodes that
// share one Redis: the file itself is run, with only its upstream servers and listen address
// replaced. Through nginx, a WebSocket client (the SDK bundle) and an SSE stream on one topic get
// every event once, in offset order, whichever node it was published on; SSE is not buffered;
// and when the node holding both clients is killed, they reconnect through nginx to the other
// node and resume with nothing lost and nothing repeated. In front of one node with keys and
// --allowed_origins, a page of the gateway's own origin on nginx's port gets in, and the access log
// keeps no ?token=.
//
//   HERALD_BIN=build/bin/herald node --test tests/deploy/
//
// HERALD_PUBLISH (default: herald-publish next to HERALD_BIN), NGINX (default: nginx on the
// PATH or /usr/sbin/nginx) and REDIS_SERVER (default: redis-server) name the other programs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Herald } from '../../clients/js/dist/herald.js';
import { Gateway, publishWithCli, until } from '../support/js/gateway.mjs';
import { RedisServer, freePort } from '../support/js/redis.mjs';

const sourceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const exampleConfig = path.join(sourceDir, 'deploy/nginx/herald.conf');

if (!process.env.HERALD_PUBLISH && process.env.HERALD_BIN) {
  process.env.HERALD_PUBLISH = path.join(path.dirname(process.env.HERALD_BIN), 'herald-publish');
}

const fastBackoff = { minDelayMs: 50, maxDelayMs: 200, stableAfterMs: 1000 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * The example configuration with its `upstream herald` servers replaced by `servers` (each keeps
 * the parameters of the example's first server line) and its one `listen` by `listen`.
 */
function configFromExample(example, servers, listen) {
  const upstream = /(upstream\s+herald\s*\{)([^}]*)\}/.exec(example);
  assert.ok(upstream, 'the example has an `upstream herald { ... }` block');
  const serverLine = /^([ \t]*)server[ \t]+[^ \t;]+([^;]*);[ \t]*$/;
  const lines = [];
  let written = false;
  for (const line of upstream[2].split('\n')) {
    const match = serverLine.exec(line);
    if (!match) {
      lines.push(line);
    } else if (!written) {
      const [, indent, parameters] = match;
      for (const server of servers) lines.push(`${indent}server ${server}${parameters};`);
      written = true;
    }
  }
  assert.ok(written, 'the upstream block has server lines');
  let config = example.slice(0, upstream.index) + upstream[1] + lines.join('\n') + '}' +
    example.slice(upstream.index + upstream[0].length);

  const listenLine = /^([ \t]*)listen[ \t]+[^;\n]+;/gm;
  assert.equal([...config.matchAll(listenLine)].length, 1, 'the example has one listen line');
  config = config.replace(listenLine, (_, indent) => `${indent}listen ${listen};`);
  return config;
}

function nginxBinary() {
  if (process.env.NGINX) return process.env.NGINX;
  const onPath = (process.env.PATH ?? '').split(path.delimiter)
    .map((dir) => path.join(dir, 'nginx')).find((file) => existsSync(file));
  return onPath ?? '/usr/sbin/nginx';
}

/** nginx on the example configuration, in a directory of its own, in the foreground. */
class Nginx {
  static async start(servers) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-nginx-'));
    // Run as root, nginx's workers become `nobody`: they must reach the temp directories.
    await chmod(dir, 0o755);
    await mkdir(path.join(dir, 'logs'));
    const port = await freePort();
    const config = configFromExample(
      await readFile(exampleConfig, 'utf8'), servers, `127.0.0.1:${port}`);
    await writeFile(path.join(dir, 'nginx.conf'), config);
    const nginx = new Nginx(dir, port);
    try {
      await nginx.ready();
    } catch (error) {
      await nginx.stop();
      throw error;
    }
    return nginx;
  }

  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.output = '';
    this.process = spawn(nginxBinary(), [
      '-p', `${dir}/`,
      '-c', path.join(dir, 'nginx.conf'),
      '-g', `daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.process.stdout, this.process.stderr]) {
      stream.setEncoding('utf8').on('data', (chunk) => (this.output += chunk));
    }
    this.exited = new Promise((resolve) => {
      this.process.on('error', (error) => resolve(`cannot run nginx: ${error.message}`));
      this.process.on('exit', (code, signal) => resolve(signal ?? code));
    });
  }

  async ready() {
    let exited = null;
    this.exited.then((how) => (exited = how));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (exited !== null) throw new Error(`nginx exited (${exited})\n${await this.log()}`);
      try {
        const response = await fetch(`${this.url}/healthz`);
        if (response.status === 200 && (await response.text()) === 'ok\n') return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`nginx did not answer /healthz\n${await this.log()}`);
      await sleep(50);
    }
  }

  async log() {
    const errors = await readFile(path.join(this.dir, 'error.log'), 'utf8').catch(() => '');
    return `${this.output}${errors}`.split('\n').slice(-40).join('\n');
  }

  /** Fast shutdown (SIGTERM closes the open streams), then the directory is removed. */
  async stop() {
    if (this.process.pid !== undefined && this.process.exitCode === null &&
        this.process.signalCode === null) {
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * An SSE stream read with fetch, as a browser's EventSource would: after the stream ends it
 * connects again with the last `id:` it saw as Last-Event-ID.
 */
class SseFollower {
  constructor(url) {
    this.url = url;
    this.events = [];    // {offset, epoch, n, at}
    this.connected = []; // The `herald.connected` payloads, one per stream.
    this.streamsEnded = 0;
    this.lastEventId = '';
    this.closed = false;
    this.loop = this.run();
  }

  get live() {
    return this.connected.length > 0;
  }

  async run() {
    while (!this.closed) {
      try {
        await this.readOneStream();
      } catch {
        // Cut (a node died) or refused: connect again below, as EventSource does.
      }
      if (this.closed) return;
      this.streamsEnded++;
      await sleep(200);
    }
  }

  async readOneStream() {
    this.controller = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    const response = await fetch(this.url, { headers, signal: this.controller.signal });
    if (response.status !== 200) throw new Error(`GET /sse answered ${response.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') this.lastEventId = value;
      else if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    const payload = JSON.parse(data.join('\n'));
    if (type === 'herald.connected') {
      this.connected.push(payload);
      // Events name their epoch only when it is news: this one until one does.
      this.epoch = payload.subscriptions[0]?.epoch;
    } else if (!type.startsWith('herald.')) {
      if (payload.epoch) this.epoch = payload.epoch;
      this.events.push({ offset: payload.offset, epoch: this.epoch, n: payload.data.n, at: Date.now() });
    }
  }

  async close() {
    this.closed = true;
    this.controller?.abort();
    await this.loop;
  }
}

/** The Herald SDK over WebSocket, collecting the events of `topic`. */
function sdkFollower(url, topic) {
  const herald = new Herald({ url, transport: 'websocket', WebSocket, backoff: fastBackoff });
  const seen = { herald, events: [], recoveries: [], errors: [], states: [], live: false };
  herald.on('state', (change) => seen.states.push(change.state));
  herald.subscribe(topic, {
    onSubscribed: () => (seen.live = true),
    onEvent: (event) => seen.events.push({ offset: event.offset, epoch: event.epoch, n: event.data.n }),
    onRecovered: (result) => seen.recoveries.push(result),
    onError: (error) => seen.errors.push(error),
  });
  return seen;
}

/** herald_connections{transport} of one node, read from its own port (not through nginx). */
async function connections(gateway, transport) {
  const text = await (await fetch(`${gateway.httpUrl}/metrics`)).text();
  const match = new RegExp(`^herald_connections\\{transport="${transport}"\\} (\\d+)$`, 'm').exec(text);
  assert.ok(match, `herald_connections{transport="${transport}"} in /metrics`);
  return Number(match[1]);
}

/** The index of the node holding the one `transport` connection of the test. */
async function nodeHolding(nodes, transport) {
  let holder = -1;
  await until(async () => {
    const counts = await Promise.all(nodes.map((node) => connections(node, transport)));
    holder = counts.indexOf(1);
    return counts.reduce((a, b) => a + b, 0) === 1;
  }, 10_000, `one ${transport} connection across the nodes`);
  return holder;
}

async function publishOverHttp(baseUrl, topic, n) {
  const response = await fetch(`${baseUrl}/v1/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      topic,
      type: 'message',
      data: Buffer.from(JSON.stringify({ n })).toString('base64'),
      content_type: 'application/json',
    }),
  });
  const body = await response.text();
  assert.equal(response.status, 200, body);
  return Number(JSON.parse(body).offset);
}

/** Every event once, in offset order 1..count, under one epoch, carrying n = offset. */
function assertComplete(events, count, what) {
  const summary = JSON.stringify(events.map((e) => [e.offset, e.n]));
  assert.deepEqual(events.map((e) => e.offset), range(1, count), `${what} offsets: ${summary}`);
  assert.deepEqual(events.map((e) => e.n), range(1, count), `${what} payloads: ${summary}`);
  assert.equal(new Set(events.map((e) => e.epoch)).size, 1, `${what}: one epoch`);
  assert.ok(events.every((e) => typeof e.epoch === 'string' && e.epoch !== ''), `${what}: epochs`);
}

test('two nodes on one Redis behind the example nginx configuration', { timeout: 90_000 }, async (t) => {
  // Cleanup runs in reverse order of registration, whether the test passed or not.
  const redis = await RedisServer.start();
  t.after(() => redis.stop());
  const nodes = [];
  t.after(() => Promise.all(nodes.map((node) => node.stop())));
  for (const name of ['node1', 'node2']) {
    nodes.push(await Gateway.start([`--broker=${redis.url}`, `--node=${name}`]));
  }
  const nginx = await Nginx.start(nodes.map((node) => `127.0.0.1:${node.httpPort}`));
  t.after(() => nginx.stop());
  const followers = [];
  t.after(() => Promise.all(followers.map((close) => close())));

  const topic = 'deploy.nginx';

  // The SDK over WebSocket, through nginx; the node it landed on is the one killed later.
  const ws = sdkFollower(nginx.url, topic);
  followers.push(async () => ws.herald.close());
  await until(() => ws.live, 10_000, 'the WebSocket subscription');
  const victim = await nodeHolding(nodes, 'ws');
  const survivor = 1 - victim;

  // An SSE stream through nginx, on the same node (round robin: open again until it is).
  let sse;
  for (let attempt = 1; ; ++attempt) {
    const follower = new SseFollower(`${nginx.url}/sse?topic=${topic}`);
    followers.push(() => follower.close());
    await until(() => follower.live, 10_000, 'the SSE stream');
    if ((await nodeHolding(nodes, 'sse')) === victim) {
      sse = follower;
      break;
    }
    await follower.close();
    assert.ok(attempt < 10, 'nginx never sent the SSE stream to the WebSocket client\'s node');
  }

  // SSE is not buffered by nginx: an event published now arrives at once, on the open stream.
  const publishedAt = Date.now();
  assert.equal(await publishWithCli(nodes[victim], topic, JSON.stringify({ n: 1 })), 1);
  await until(() => sse.events.length === 1, 5_000, 'the first event over SSE');
  const delay = sse.events[0].at - publishedAt;
  assert.ok(delay < 2_000, `the first event took ${delay} ms to arrive through nginx`);
  assert.equal(sse.streamsEnded, 0, 'the stream is still open');

  // Published over gRPC on either node, and over HTTP through nginx (either node).
  for (const n of range(2, 10)) {
    const node = nodes[n % 2];
    assert.equal(await publishWithCli(node, topic, JSON.stringify({ n })), n);
  }
  for (const n of range(11, 20)) assert.equal(await publishOverHttp(nginx.url, topic, n), n);
  await until(() => ws.events.length >= 20 && sse.events.length >= 20, 10_000, 'twenty events');
  await sleep(200); // Room for a duplicate to show.
  assertComplete(ws.events, 20, 'WebSocket');
  assertComplete(sse.events, 20, 'SSE');
  assert.equal(sse.streamsEnded, 0, 'one SSE stream all along');
  assert.equal(sse.connected.length, 1);

  // Kill the node holding both clients. Events published meanwhile on the other node must reach
  // them once they are back through nginx: the SDK reconnects by itself, the SSE stream with
  // Last-Event-ID as a browser does.
  nodes[victim].process.kill('SIGKILL');
  await nodes[victim].exited;
  for (const n of range(21, 25)) {
    assert.equal(await publishWithCli(nodes[survivor], topic, JSON.stringify({ n })), n);
  }
  await until(() => ws.recoveries.length >= 1 && sse.connected.length >= 2, 15_000,
    'both clients reconnected through nginx');
  for (const n of range(26, 28)) {
    assert.equal(await publishWithCli(nodes[survivor], topic, JSON.stringify({ n })), n);
  }
  // nginx skips the dead node for HTTP publishes too.
  for (const n of range(29, 30)) assert.equal(await publishOverHttp(nginx.url, topic, n), n);
  await until(() => ws.events.length >= 30 && sse.events.length >= 30, 10_000, 'thirty events');
  await sleep(200);
  assertComplete(ws.events, 30, 'WebSocket');
  assertComplete(sse.events, 30, 'SSE');

  assert.deepEqual(ws.errors, []);
  assert.ok(ws.recoveries.every((r) => r.recovered), JSON.stringify(ws.recoveries));
  assert.ok(ws.states.includes('disconnected'), 'the WebSocket saw its node go');
  const resumed = sse.connected.at(-1).subscriptions;
  assert.deepEqual(resumed.map((s) => [s.topic, s.recovered]), [[topic, true]], JSON.stringify(resumed));
  assert.equal(await connections(nodes[survivor], 'ws'), 1);
  assert.equal(await connections(nodes[survivor], 'sse'), 1);

  // The clients go first, so that the surviving node drains with nothing to tell them.
  await Promise.all(followers.splice(0).map((close) => close()));
  assert.equal(await nodes[survivor].stop(), 0, nodes[survivor].log());
});

test('one node behind the example nginx configuration on a port of its own', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-nginx-keys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = 'deploy-test-key-0123456789';
  await writeFile(path.join(dir, 'keys'), `${key} deploy.> subscribe:deploy.>\n`);
  const node = await Gateway.start([`--publisher_keys_file=${path.join(dir, 'keys')}`,
    '--allowed_origins=https://app.example.com']);
  t.after(() => node.stop());
  const nginx = await Nginx.start([`127.0.0.1:${node.httpPort}`]);
  t.after(() => nginx.stop());

  // A page the gateway serves, opened through nginx on a port other than 80: nginx passes the
  // Host with its port, so the gateway knows the page's Origin for its own and lets it in.
  const ownOrigin = await new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${nginx.port}/ws?topic=deploy.one&token=${key}`,
      { headers: { Origin: nginx.url } });
    socket.on('open', () => { socket.close(); resolve(101); });
    socket.on('unexpected-response', (_, response) => resolve(response.statusCode));
    socket.on('error', () => resolve(0));
  });
  assert.equal(ownOrigin, 101, 'the gateway\'s own origin through nginx');
  const foreign = await fetch(`${nginx.url}/v1/history?topic=deploy.one&token=${key}`,
    { headers: { Origin: 'https://evil.example' } });
  assert.equal(foreign.status, 403);

  // The access log keeps the path of each request, never its query (a ?token= is a credential).
  const history = await fetch(`${nginx.url}/v1/history?topic=deploy.one&token=${key}`);
  assert.equal(history.status, 200);
  await history.text();
  const accessLog = path.join(nginx.dir, 'logs', 'access.log');
  await until(async () => (await readFile(accessLog, 'utf8')).includes('/v1/history'), 5_000,
    'the access log line');
  const logged = await readFile(accessLog, 'utf8');
  assert.ok(!logged.includes(key), `the access log holds the token:\n${logged}`);
  assert.ok(!logged.includes('token='), logged);
});

test('behind the example nginx configuration each client counts under its own address', { timeout: 60_000 }, async (t) => {
  // nginx appends the client's address to X-Forwarded-For; the gateway believes it from nginx
  // only (--trusted_proxies), so one client per address is one per browser, not one in all.
  const node = await Gateway.start(['--trusted_proxies=127.0.0.1', '--max_connections_per_ip=1']);
  t.after(() => node.stop());
  const nginx = await Nginx.start([`127.0.0.1:${node.httpPort}`]);
  t.after(() => nginx.stop());
  const sockets = [];
  t.after(() => sockets.forEach((socket) => socket.close()));
  const connectFrom = (localAddress) => new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${nginx.port}/ws?topic=deploy.addresses`, { localAddress });
    sockets.push(socket);
    socket.on('open', () => resolve(101));
    socket.on('unexpected-response', (_, response) => resolve(response.statusCode));
    socket.on('error', () => resolve(0));
  });
  assert.equal(await connectFrom('127.0.0.2'), 101);
  assert.equal(await connectFrom('127.0.0.3'), 101, 'a second client address through nginx');
  assert.equal(await connectFrom('127.0.0.2'), 429, 'the first address holds its one connection');
});
