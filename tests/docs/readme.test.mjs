// The README's snippets, as a user pastes them. Every fenced sh, js, html or python block in the
// README is preceded by a marker: `<!-- snippet: NAME -->` when a test runs it as written (here,
// or in the test named in RUN_ELSEWHERE), or `<!-- excerpt: why -->` when it is shown on purpose
// without being run. A block without a marker, a marker no test knows, or a snippet that no
// longer works fails the suite.
//
//   HERALD_BIN=build/bin/herald node --test tests/docs/readme.test.mjs
//
// The tour runs against a gateway on the README's own addresses (127.0.0.1:8080 and :50051), in a
// scratch directory where `build`, `proto` and `clients` lead to the real ones.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Gateway, run } from '../support/js/gateway.mjs';

const sourceDir = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(sourceDir, 'README.md'), 'utf8');
const CHECKED_LANGUAGES = new Set(['sh', 'js', 'html', 'python', 'yaml']);
// Other names for code a user would paste: refused, so no snippet escapes the check.
const UNCHECKED_CODE = new Set(['bash', 'shell', 'console', 'javascript', 'mjs', 'ts', 'typescript',
  'py', 'python3', 'go', 'cpp', 'c++', 'yml']);
// Snippets another test runs as written.
const RUN_ELSEWHERE = { sdk: 'tests/browser/browser.test.mjs ("the README")' };
// Snippets this file runs.
const RUN_HERE = new Set(['tour-follow', 'tour-publish', 'tour-stream', 'tour-http', 'stubs-python',
  'stubs-cpp', 'token', 'token-python', 'token-node', 'production-keys', 'production',
  'production-clients', 'topic-rules']);

/** Every fenced block of a checked language: {language, code, marker, line}. A fence may be
 *  indented (in a list) and carry more words after its language. */
function snippets() {
  const found = [];
  const lines = readme.split('\n');
  const opening = /^\s*```\s*([\w-]*)/;
  const closing = /^\s*```\s*$/;
  for (let i = 0; i < lines.length; i++) {
    const fence = opening.exec(lines[i]);
    if (!fence) continue;
    let end = i + 1;
    while (end < lines.length && !closing.test(lines[end])) end++;
    assert.ok(end < lines.length, `README line ${i + 1}: a fence that does not close`);
    const language = fence[1].toLowerCase();
    assert.ok(!UNCHECKED_CODE.has(language),
      `README line ${i + 1}: write ${language} blocks as sh, js, python or yaml, which are checked`);
    if (CHECKED_LANGUAGES.has(language)) {
      const marker = /^\s*<!-- (snippet|excerpt): (.+?) -->\s*$/.exec(lines[i - 1] ?? '');
      found.push({ language, code: lines.slice(i + 1, end).join('\n') + '\n',
                   marker: marker && { kind: marker[1], value: marker[2] }, line: i + 1 });
    }
    i = end;
  }
  return found;
}

function snippet(name) {
  const found = snippets().filter((s) => s.marker?.kind === 'snippet' && s.marker.value === name);
  assert.equal(found.length, 1, `one README snippet named ${name}`);
  return found[0].code;
}

test('every snippet is run by a test or marked as an excerpt on purpose', () => {
  for (const { marker, line, language } of snippets()) {
    assert.ok(marker, `README line ${line}: a ${language} block with neither <!-- snippet: NAME --> ` +
      'nor <!-- excerpt: why --> before it');
    if (marker.kind === 'snippet') {
      assert.ok(RUN_HERE.has(marker.value) || marker.value in RUN_ELSEWHERE,
        `README line ${line}: no test runs the snippet ${marker.value}`);
    }
  }
  for (const name of [...RUN_HERE, ...Object.keys(RUN_ELSEWHERE)]) snippet(name);
});

test('every refusal message the README explains is one the gateway says', () => {
  const start = readme.indexOf('<!-- refusals:');
  assert.ok(start > 0, 'the refusals table');
  const table = readme.slice(start, readme.indexOf('\n\n', readme.indexOf('| message', start)));
  const messages = [...table.matchAll(/^\| (.+?) \|/gm)].slice(2)
    .flatMap(([, cell]) => [...cell.matchAll(/`([^`]+)`/g)].map(([, message]) => message));
  assert.ok(messages.length >= 20, `${messages.length} messages`);
  const said = execFileSync('grep', ['-rhoE', '"[^"]*"', join(sourceDir, 'gateway')], { encoding: 'utf8' });
  const jwt = readFileSync(join(sourceDir, 'gateway/auth/jwt.cc'), 'utf8');
  for (const message of messages) {
    if (message === 'no HS256 key') {  // Built from the algorithm's name.
      assert.match(jwt, /StrCat\("no ", AlgName\(\*alg\), " key"\)/, message);
      continue;
    }
    // `…` stands for the topic or the limit.
    const quoted = message.endsWith(' …') ? `"${message.slice(0, -1)}` : `"${message}"`;
    assert.ok(said.includes(quoted), `the gateway never says "${message}"`);
  }
});

let workspace;
let gateway;

before(async () => {
  assert.ok(process.env.HERALD_BIN, 'set HERALD_BIN to build/bin/herald');
  workspace = mkdtempSync(join(tmpdir(), 'herald-readme-'));
  symlinkSync(dirname(dirname(process.env.HERALD_BIN)), join(workspace, 'build'));
  for (const dir of ['proto', 'clients']) symlinkSync(join(sourceDir, dir), join(workspace, dir));
});

after(async () => {
  const code = await gateway?.stop();
  rmSync(workspace, { recursive: true, force: true });
  if (gateway) assert.equal(code, 0, gateway.log());
});

/** Runs `code` with bash in the workspace; resolves {code, stdout, stderr}. */
const shell = (code, stdin = '') => run('bash', ['-euo', 'pipefail', '-c', code], { stdin, cwd: workspace });

/** Starts `code` with bash in the workspace and collects its stdout (and stderr apart) until
 *  stopped. */
function background(code, env = process.env) {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', code], { cwd: workspace, detached: true, env });
  const started = { output: '', errors: '', stop: () => { try { process.kill(-child.pid, 'SIGTERM'); } catch {} } };
  child.stdout.setEncoding('utf8').on('data', (chunk) => (started.output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (started.errors += chunk));
  return started;
}

/** A port nothing listens on now. */
async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(check, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Fails at once, naming what holds it, when a README address is taken (a gateway left running). */
async function assertFree(port) {
  const { createServer } = await import('node:net');
  await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', () => reject(new Error(
      `127.0.0.1:${port} is taken (a herald from scripts/run still running?): the tour needs it`)));
    server.listen(port, '127.0.0.1', () => server.close(resolve));
  });
}

test('the Flags section documents every flag herald has, and no flag it does not', async () => {
  const section = readme.slice(readme.indexOf('\n## Flags\n'), readme.indexOf('\n## ', readme.indexOf('\n## Flags\n') + 1));
  const help = await run(process.env.HERALD_BIN, ['--help']);
  const flags = [...(help.stdout + help.stderr).matchAll(/^ {4}--([a-z0-9_]+) \(/gm)].map((match) => match[1]);
  assert.ok(flags.length > 40, help.stdout + help.stderr);
  const undocumented = flags.filter((flag) => !section.includes(`\`--${flag}\``));
  assert.deepEqual(undocumented, [], 'flags `herald --help` lists that the README\'s Flags section does not name');
  const rows = [...section.matchAll(/^\| `--([a-z0-9_]+)`/gm)].map((match) => match[1]);
  assert.deepEqual(rows.filter((flag) => !flags.includes(flag)), [], 'README flag rows herald does not have');
});

test('the five-minute tour, on the README\'s own addresses', async (t) => {
  await assertFree(8080);
  await assertFree(50051);
  // `scripts/run` builds and starts herald with its defaults: the built one, as is.
  gateway = await Gateway.start([], process.env.HERALD_BIN, { defaultAddresses: true });
  const follow = background(snippet('tour-follow'));
  t.after(() => follow.stop());
  await until(() => follow.output.includes('herald.connected'), 'the SSE stream of the tour');
  assert.match(follow.output, /retry: 2000/);

  const published = await shell(snippet('tour-publish'));
  assert.equal(published.code, 0, published.stderr);
  assert.match(published.stdout, /^chat\.lobby 1 \S+\n$/);
  const epoch = published.stdout.trim().split(' ')[2];
  await until(() => follow.output.includes('"text":"hello"'), 'the published event over SSE');
  assert.match(follow.output, new RegExp(`id: ${epoch}-1\nevent: message\ndata: \\{"topic":"chat\\.lobby","offset":1,"type":"message","data":\\{"from":"ada","text":"hello"\\},"content_type":"application/json","time_unix_ms":`));

  const streamed = await shell(snippet('tour-stream'));
  assert.equal(streamed.code, 0, streamed.stderr);
  assert.deepEqual(streamed.stdout.trim().split('\n').map((line) => line.split(' ')[1]),
    ['2', '3', '4', '5', '6']);

  const http = await shell(snippet('tour-http'));
  assert.equal(http.code, 0, http.stderr);
  assert.match(http.stdout, /"offset":"7"/);
  await until(() => follow.output.includes('"offset":7'), 'the HTTP publish over SSE');
});

test('client stubs as the README generates them', async () => {
  await until(() => gateway !== undefined, 'the tour\'s gateway');
  const python = await shell(snippet('stubs-python'));
  assert.equal(python.code, 0, python.stderr);
  assert.match(python.stdout, /^chat\.lobby \d+ \S+\n$/);
  const cpp = await shell(snippet('stubs-cpp'));
  assert.equal(cpp.code, 0, cpp.stderr);
  assert.ok(existsSync(join(workspace, 'gen/cpp/herald/v1/publisher.grpc.pb.h')));
});

test('a token minted as the README says is taken by a gateway with that secret', async (t) => {
  const minted = await shell(snippet('token'));
  assert.equal(minted.code, 0, minted.stderr);
  const token = minted.stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const secured = await Gateway.start([`--jwt_hs256_secret_file=${join(workspace, 'secret')}`]);
  t.after(() => secured.stop());
  const allowed = await fetch(`http://127.0.0.1:${secured.httpPort}/v1/history?topic=chat.lobby&token=${token}`);
  assert.equal(allowed.status, 200, await allowed.text());
  const refused = await fetch(`http://127.0.0.1:${secured.httpPort}/v1/history?topic=chat.lobby`);
  assert.equal(refused.status, 401);

  // The backend snippets sign with the same secret file, for a gateway that asks for `aud`.
  const strict = await Gateway.start([`--jwt_hs256_secret_file=${join(workspace, 'secret')}`,
    '--jwt_audience=herald', '--jwt_require_exp']);
  t.after(() => strict.stop());
  writeFileSync(join(workspace, 'mint.py'), snippet('token-python'));
  writeFileSync(join(workspace, 'mint.mjs'), snippet('token-node'));
  for (const [program, file] of [['/usr/bin/python3', 'mint.py'], [process.execPath, 'mint.mjs']]) {
    const backend = await run(program, [file], { cwd: workspace });
    assert.equal(backend.code, 0, backend.stderr);
    const history = (topic) => fetch(`http://127.0.0.1:${strict.httpPort}/v1/history?topic=${topic}` +
      `&token=${backend.stdout.trim()}`);
    const allowed = await history('user:ada.inbox');
    assert.equal(allowed.status, 200, `${file}: ${await allowed.text()}`);
    assert.equal((await history('user:bob.inbox')).status, 403, file);
  }
  // herald-token's, without `aud`, is refused there, as the README says.
  assert.equal((await fetch(`http://127.0.0.1:${strict.httpPort}/v1/history?topic=chat.lobby` +
    `&token=${token}`)).status, 401);
});

test('the production set-up: keys, the gateway with TLS, a user\'s token and a publishing service', async (t) => {
  // What a production machine has and a test does not: /etc/herald, the two names, a certificate
  // from a CA the clients trust. Everything else runs as written.
  const etc = join(workspace, 'etc', 'herald');
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const local = (code) => code
    .replaceAll('/etc/herald', etc)
    .replaceAll('0.0.0.0:443', `127.0.0.1:${httpPort}`)
    .replaceAll('herald.example.com', `localhost:${httpPort}`)
    .replaceAll('10.0.0.5:50051', `127.0.0.1:${grpcPort}`);
  const keys = await shell(local(snippet('production-keys')));
  assert.equal(keys.code, 0, keys.stderr);
  const tls = await shell(`mkdir -p ${etc}/tls && cd ${etc}/tls && ` +
    'openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 ' +
    '-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 ' +
    '-keyout key.pem -out fullchain.pem 2>/dev/null');
  assert.equal(tls.code, 0, tls.stderr);
  const env = { ...process.env, PATH: `${dirname(process.env.HERALD_BIN)}:${process.env.PATH}`,
    CURL_CA_BUNDLE: join(etc, 'tls', 'fullchain.pem'),
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: join(etc, 'tls', 'fullchain.pem') };

  const herald = background(local(snippet('production')), env);
  t.after(() => herald.stop());
  await until(() => herald.errors.includes('herald listening') || / (ERROR|FATAL) /.test(herald.errors),
    'the production gateway', 15_000);
  assert.match(herald.errors, /herald listening/);
  const clients = background(local(snippet('production-clients')), env);
  t.after(() => clients.stop());
  await until(() => (/chat\.lobby 1 /.test(clients.output) && clients.output.includes('order shipped')) ||
    clients.errors.length > 0,
    'the published event on the token\'s stream', 15_000);
  assert.equal(clients.errors, '', herald.errors);
  assert.match(clients.output, /id: \S+-1\ndata: \{"topic":"chat\.lobby","offset":1,"data":\{"text":"order shipped"\}/);
  assert.match(clients.output, /chat\.lobby 1 \S+\n/);  // herald-publish's answer

  // The set-up refuses what it should: no token, a page from an origin not listed, a plaintext
  // publisher.
  const status = async (url, ...headers) => (await run('curl', ['-s', '-o', '/dev/null',
    '-w', '%{http_code}', '--max-time', '2', '--cacert', env.CURL_CA_BUNDLE,
    ...headers.flatMap((header) => ['-H', header]), url])).stdout;
  const stream = `https://localhost:${httpPort}/sse?topic=chat.lobby`;
  const token = readFileSync(join(workspace, 'ada.jwt'), 'utf8').trim();
  assert.equal(await status(stream), '401');
  assert.equal(await status(`${stream}&token=${token}`, 'Origin: https://evil.example.net'), '403');
  assert.equal(await status(`${stream}&token=${token}`, 'Origin: https://app.example.com'), '200');
  const plaintext = await run(join(dirname(process.env.HERALD_BIN), 'herald-publish'),
    [`--target=127.0.0.1:${grpcPort}`, `--token=${readFileSync(join(etc, 'orders_service.key'), 'utf8').trim()}`,
      '--topic=chat.lobby', '--data=x', '--timeout=3s']);
  assert.notEqual(plaintext.code, 0);
  assert.match(plaintext.stderr, /UNAVAILABLE/);
});

test('the topic rules example is a file the gateway takes, rule by rule', async (t) => {
  writeFileSync(join(workspace, 'topics.yaml'), snippet('topic-rules'));
  const ruled = await Gateway.start([`--topic_rules_file=${join(workspace, 'topics.yaml')}`]);
  t.after(() => ruled.stop());
  for (const line of ['topic rules (3, first match wins):', 'ticker.> history_size=1 history_ttl=1h',
    'chat.* history_size=500 history_ttl=10m presence join_leave max_subscribers=200',
    'news.> history_size=1000 history_ttl=10m client_publish=false']) {
    assert.ok(ruled.log().includes(line), `${line}\n${ruled.log()}`);
  }
  // Presence as the Presence section shows it: on chat rooms, not on news.
  const room = await fetch(`${ruled.httpUrl}/v1/presence?topic=chat.lobby`);
  assert.equal(room.status, 200);
  assert.deepEqual(Object.keys(await room.json()), ['topic', 'count', 'clients', 'unanswered_nodes']);
  assert.equal((await fetch(`${ruled.httpUrl}/v1/presence?topic=news.world`)).status, 403);
});
