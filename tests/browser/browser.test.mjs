// Real-browser tests: Debian's Chromium, headless, driven by playwright-core. The gateway serves
// the demo app, the SDK bundle and the test pages (tests/browser/pages); events are published
// from outside the browser over gRPC (herald-publish, herald-ticker). Connections are cut on the
// gateway's side of the page by a proxy the page is loaded through.
//
//   HERALD_BIN=build/bin/herald HERALD_PUBLISH=build/bin/herald-publish \
//   HERALD_TICKER=build/bin/herald-ticker HERALD_WEB_ROOT=build/share/herald/web \
//   HERALD_TEST_OUTPUT=build/test-output node --test tests/browser/browser.test.mjs
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { CutProxy } from '../support/js/cut_proxy.mjs';
import { Gateway, publishWithCli, run } from '../support/js/gateway.mjs';

const pagesDir = fileURLToPath(new URL('./pages/', import.meta.url));
// The rules scripts/demo starts herald with: presence and join/leave on the chat room.
const demoRules = fileURLToPath(new URL('../../deploy/demo/topic_rules.yaml', import.meta.url));
const outputDir = process.env.HERALD_TEST_OUTPUT ?? join(tmpdir(), 'herald-test-output');
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let webRoot;
let gateway;
let browser;

before(async () => {
  assert.ok(process.env.HERALD_WEB_ROOT, 'set HERALD_WEB_ROOT to the built web root');
  // The built web root (demo app + SDK bundles) plus the test pages.
  webRoot = mkdtempSync(join(tmpdir(), 'herald-web-'));
  cpSync(process.env.HERALD_WEB_ROOT, webRoot, { recursive: true });
  cpSync(pagesDir, join(webRoot, 'test'), { recursive: true });
  mkdirSync(outputDir, { recursive: true });
  gateway = await Gateway.start([`--web_root=${webRoot}`, `--topic_rules_file=${demoRules}`]);
  browser = await chromium.launch({
    executablePath: process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  const code = await gateway?.stop();
  rmSync(webRoot, { recursive: true, force: true });
  assert.equal(code, 0, gateway?.log());
});

/** A fresh page (own profile context), closed after test `t`; page errors are collected. */
async function openPage(t, url) {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error));
  await page.goto(url);
  return { page, pageErrors };
}

const publish = (topic, n) => publishWithCli(gateway, topic, JSON.stringify({ n }));

describe('SDK in the browser', () => {
  for (const transport of ['websocket', 'sse']) {
    test(`${transport}: cut from the gateway side, the page resumes with no gap and no duplicate`, async (t) => {
      const proxy = await CutProxy.start(gateway.httpPort);
      t.after(() => proxy.close());
      const { page, pageErrors } = await openPage(t, `${proxy.url}/test/sdk.html`);
      const topic = `browser.${transport}`;
      await page.evaluate((options) => window.heraldTest.start(options), { transport, topic });
      await page.waitForFunction(() => window.heraldTest.record.live);
      for (const n of range(1, 5)) await publish(topic, n);
      await page.waitForFunction(() => window.heraldTest.record.offsets.length === 5);

      proxy.hold();
      for (const n of range(6, 10)) await publish(topic, n);
      proxy.release();
      await page.waitForFunction(() => window.heraldTest.record.offsets.length >= 10, null, { timeout: 15_000 });
      for (const n of range(11, 12)) await publish(topic, n);
      await page.waitForFunction(() => window.heraldTest.record.offsets.length >= 12);

      const record = await page.evaluate(() => window.heraldTest.record);
      assert.deepEqual(record.offsets, range(1, 12));
      assert.deepEqual(record.texts, range(1, 12));
      assert.ok(record.states.some((s) => s.state === 'disconnected'), JSON.stringify(record.states));
      assert.ok(record.recoveries.length >= 1 && record.recoveries.every((r) => r.recovered));
      assert.ok(record.states.every((s) => s.transport === transport));
      assert.deepEqual(pageErrors, []);
    });
  }

  test('auto: behind a proxy that refuses WebSocket upgrades, the page falls back to SSE', async (t) => {
    const proxy = await CutProxy.start(gateway.httpPort, { refuseUpgrades: true });
    t.after(() => proxy.close());
    const { page } = await openPage(t, `${proxy.url}/test/sdk.html`);
    const topic = 'browser.auto';
    await page.evaluate((options) => window.heraldTest.start(options), { transport: 'auto', topic });
    await page.waitForFunction(() => window.heraldTest.record.live);
    await publish(topic, 1);
    await page.waitForFunction(() => window.heraldTest.record.offsets.length === 1);
    const record = await page.evaluate(() => window.heraldTest.record);
    assert.equal(record.states.at(-1).transport, 'sse');
  });
});

test('plain new WebSocket with the generated decoder, and plain new EventSource', async (t) => {
  const { page, pageErrors } = await openPage(t, `${gateway.httpUrl}/test/plain.html`);
  const topic = 'browser.plain';
  await page.evaluate((t) => {
    window.openPlainWebSocket(t);
    window.openPlainEventSource(t);
  }, topic);
  await page.waitForFunction(() => window.plain.connected.websocket && window.plain.connected.eventSource);
  for (const n of range(1, 3)) await publish(topic, n);
  await page.waitForFunction(() => window.plain.websocket.length === 3 && window.plain.eventSource.length === 3);
  const plain = await page.evaluate(() => window.plain);
  assert.deepEqual(plain.websocket.map((e) => e.offset), [1, 2, 3]);
  assert.deepEqual(plain.websocket.map((e) => JSON.parse(e.text).n), [1, 2, 3]);
  assert.deepEqual(plain.eventSource.map((e) => e.data.n), [1, 2, 3]);
  assert.ok(plain.eventSource.every((e) => e.id.endsWith(`-${e.offset}`)), JSON.stringify(plain.eventSource));
  assert.deepEqual(pageErrors, []);
});

describe('demo app', () => {
  test('chat, notifications and prices work, and survive a cut connection', async (t) => {
    const proxy = await CutProxy.start(gateway.httpPort);
      t.after(() => proxy.close());
    const { page, pageErrors } = await openPage(t, `${proxy.url}/`);
    for (const panel of ['chat', 'notifications', 'prices']) {
      await page.waitForFunction((id) => /\bconnected\b/.test(document.getElementById(id)?.textContent ?? ''),
        `status-${panel}`);
    }

    // Chat from the page, and from a service over gRPC.
    await page.fill('#chat-name', 'ada');
    await page.fill('#chat-input', 'hello from the browser');
    await page.click('#chat-send');
    await page.waitForFunction(() => document.querySelector('#chat-messages')?.textContent.includes('hello from the browser'));
    await publishWithCli(gateway, 'chat.lobby', JSON.stringify({ from: 'grace', text: 'hello from gRPC' }), ['--type=message']);
    await page.waitForFunction(() => document.querySelector('#chat-messages')?.textContent.includes('hello from gRPC'));

    // Notifications over SSE, published with herald-publish.
    await publishWithCli(gateway, 'notifications', JSON.stringify({ title: 'Build 42', body: 'passed' }), ['--type=build']);
    await page.waitForFunction(() => document.querySelector('#notifications')?.textContent.includes('Build 42'));

    // Prices from the example ticker service (PublishStream).
    const ticker = await run(process.env.HERALD_TICKER, [`--target=${gateway.grpcTarget}`, '--count=20', '--interval=20ms']);
    assert.equal(ticker.code, 0, ticker.stderr);
    await page.waitForFunction(() => document.querySelectorAll('#prices tr[data-symbol]').length >= 2);

    // A cut: a message published while the page is away shows up once.
    proxy.hold();
    await publishWithCli(gateway, 'chat.lobby', JSON.stringify({ from: 'grace', text: 'sent during the cut' }), ['--type=message']);
    proxy.release();
    await page.waitForFunction(() => document.querySelector('#chat-messages')?.textContent.includes('sent during the cut'),
      null, { timeout: 15_000 });
    for (const panel of ['chat', 'notifications', 'prices']) {
      await page.waitForFunction((id) => /\bconnected\b/.test(document.getElementById(id)?.textContent ?? ''), `status-${panel}`);
    }
    const offsets = await page.$$eval('#chat-messages li[data-offset]', (items) => items.map((li) => Number(li.dataset.offset)));
    assert.deepEqual(offsets, [...new Set(offsets)].sort((a, b) => a - b), `chat offsets ${offsets}`);
    assert.equal(offsets.length, 3);

    // A second visitor sees the history, and sees "ada is typing…" (an ephemeral event).
    const second = await openPage(t, `${proxy.url}/`);
    await second.page.waitForFunction(() => document.querySelectorAll('#chat-messages li[data-offset]').length === 3);
    await second.page.waitForFunction(() => /\bconnected\b/.test(document.getElementById('status-chat').textContent));
    await second.page.fill('#chat-name', 'grace');
    await page.type('#chat-input', 'still typ');
    await second.page.waitForFunction(() => document.getElementById('typing').textContent.includes('ada is typing'));
    assert.equal(await page.textContent('#typing'), '', 'a page does not show its own typing');

    // A reload shows the same messages once each.
    await page.reload();
    await page.waitForFunction(() => /\bconnected\b/.test(document.getElementById('status-chat').textContent));
    const afterReload = await page.$$eval('#chat-messages li[data-offset]', (items) => items.map((li) => Number(li.dataset.offset)));
    assert.deepEqual(afterReload, offsets);

    const screenshot = join(outputDir, 'demo.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`# demo screenshot: ${screenshot}`);
    assert.deepEqual(pageErrors, []);
  });
});

test('demo app: the chat shows who is in the room, by name, live', async (t) => {
  const chatConnected = (page) =>
    page.waitForFunction(() => /\bconnected\b/.test(document.getElementById('status-chat').textContent));
  const members = (page) => page.$$eval('#room-members li', (items) => items.map((li) => li.textContent));
  const { page: ada, pageErrors } = await openPage(t, `${gateway.httpUrl}/`);
  await chatConnected(ada);
  await ada.fill('#chat-name', 'ada');
  await ada.waitForFunction(() => document.querySelector('#room-members li.me')?.textContent === 'ada (you)');

  const grace = await openPage(t, `${gateway.httpUrl}/`);
  await chatConnected(grace.page);
  await grace.page.fill('#chat-name', 'grace');
  // Each sees the other by name: grace's hello when her name changed, ada's greeting.
  await ada.waitForFunction(() => [...document.querySelectorAll('#room-members li')].some((li) => li.textContent === 'grace'));
  await grace.page.waitForFunction(() => [...document.querySelectorAll('#room-members li')].some((li) => li.textContent === 'ada'));
  assert.deepEqual(await members(ada), ['ada (you)', 'grace']);
  assert.equal(await ada.textContent('#room-count'), '(2)');
  assert.deepEqual(await members(grace.page), ['grace (you)', 'ada']);

  // grace closes her tab: she is gone from ada's list (a herald.leave event).
  await grace.page.close();
  await ada.waitForFunction(() => document.querySelectorAll('#room-members li').length === 1);
  assert.deepEqual(await members(ada), ['ada (you)']);
  // A reload asks the gateway who is there (GET /v1/presence): ada, and an anonymous client
  // that joined before the reload (no event could tell the reloaded page of it).
  const lurker = new WebSocket(`ws://127.0.0.1:${gateway.httpPort}/ws?topic=chat.lobby`);
  t.after(() => lurker.close());
  await once(lurker, 'open');
  await ada.waitForFunction(() => document.querySelectorAll('#room-members li').length === 2);
  await ada.reload();
  await chatConnected(ada);
  await ada.waitForFunction(() => document.querySelectorAll('#room-members li').length === 2);
  const afterReload = await members(ada);
  assert.equal(afterReload[0], 'ada (you)');
  assert.match(afterReload[1], /^guest [0-9a-f]{4}$/);
  assert.equal(await ada.textContent('#room-count'), '(2)');
  assert.ok(await ada.isHidden('#room-off'));
  assert.deepEqual(pageErrors, []);
});

test('demo app: a restarted gateway (history lost) is reconnected to, and chat goes on', async (t) => {
  const first = await Gateway.start([`--web_root=${webRoot}`]);
  t.after(() => first.stop());
  const proxy = await CutProxy.start(first.httpPort);
  t.after(() => proxy.close());
  const { page, pageErrors } = await openPage(t, `${proxy.url}/`);
  const connected = (panel) =>
    page.waitForFunction((id) => /\bconnected\b/.test(document.getElementById(id)?.textContent ?? ''),
      `status-${panel}`, { timeout: 15_000 });
  await connected('chat');
  await connected('notifications');
  await publishWithCli(first, 'chat.lobby', JSON.stringify({ from: 'grace', text: 'before the restart' }), ['--type=message']);
  await page.waitForFunction(() => document.querySelector('#chat-messages').textContent.includes('before the restart'));

  assert.equal(await first.stop(), 0, first.log());
  await page.waitForFunction(() => /disconnected/.test(document.getElementById('status-chat').textContent));
  const second = await Gateway.start([`--web_root=${webRoot}`]);
  t.after(() => second.stop());
  proxy.retarget(second.httpPort);
  await connected('chat');
  await connected('notifications');
  await publishWithCli(second, 'chat.lobby', JSON.stringify({ from: 'grace', text: 'after the restart' }), ['--type=message']);
  await page.waitForFunction(() => document.querySelector('#chat-messages').textContent.includes('after the restart'));
  await publishWithCli(second, 'notifications', JSON.stringify({ title: 'Back', body: 'up' }), ['--type=info']);
  await page.waitForFunction(() => document.querySelector('#notifications').textContent.includes('Back'));
  const texts = await page.$$eval('#chat-messages li', (items) => items.map((li) => li.textContent));
  assert.equal(texts.filter((text) => text.includes('after the restart')).length, 1, texts.join('|'));
  assert.deepEqual(pageErrors, []);
});

describe('the README', () => {
  // The README's html block marked <!-- snippet: sdk --> (tests/docs checks the markers).
  function readmeSdkSnippet() {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const block = /<!-- snippet: sdk -->\n```html\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'the README has the html block marked <!-- snippet: sdk -->');
    return block[1];
  }

  test('the SDK snippet works as pasted, in a page of its own next to herald.js', async (t) => {
    // What the README says to do: the snippet as index.html, the SDK copied next to it.
    const mypage = mkdtempSync(join(tmpdir(), 'herald-mypage-'));
    t.after(() => rmSync(mypage, { recursive: true, force: true }));
    writeFileSync(join(mypage, 'index.html'), readmeSdkSnippet());
    for (const file of ['herald.js', 'herald.js.map']) {
      cpSync(join(process.env.HERALD_WEB_ROOT, file), join(mypage, file));
    }
    const own = await Gateway.start([`--web_root=${mypage}`]);
    t.after(() => own.stop());
    const { page, pageErrors } = await openPage(t, `http://127.0.0.1:${own.httpPort}/`);
    // Its own publish comes back through its subscription, then one from a backend.
    await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 1);
    await publishWithCli(own, 'chat.lobby', JSON.stringify({ from: 'backend', text: 'hello' }));
    await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 2);
    const items = await page.$$eval('#messages li', (list) => list.map((item) => item.textContent));
    assert.deepEqual(items, ['{"from":"ada","text":"hi"}', '{"from":"backend","text":"hello"}']);
    assert.deepEqual(pageErrors, []);
  });
});
