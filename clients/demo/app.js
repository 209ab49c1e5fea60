// The Herald demo app: a chat room (WebSocket), notifications (SSE) and live prices (WebSocket),
// each on its own Herald client. Everything on screen comes from events: sending a message or a
// notification publishes it, and it appears when the gateway delivers it back. The SDK resumes
// each subscription from its last position after a reconnect; across a page reload, the chat and
// the notifications keep their recent items and position in sessionStorage and resume from there.
import { Herald } from './herald.js';

const CHAT_TOPIC = 'chat.lobby';
const NOTIFICATIONS_TOPIC = 'notifications';
const DEFAULT_SYMBOLS = ['HRLD', 'ACME', 'GLBX', 'NOVA'];

const CHAT_KEPT = 50; // messages kept across a reload
const NOTIFICATIONS_KEPT = 30;
const TYPING_SEND_EVERY_MS = 2000; // at most one "typing" event per this interval
const TYPING_SHOWN_MS = 3000; // "… is typing" stays this long after the last one
const ROOM_REFRESH_MS = 30000; // who is in the room is asked for again this often
const HELLO_AFTER_RENAME_MS = 1000; // a changed name is told once typing it paused this long
const HELLO_ROOM_MOST = 20; // in a larger room, a newcomer is not greeted by everyone

const $ = (id) => document.getElementById(id);

// Identifies this page among the chat's participants (two tabs may share a name).
const PAGE_ID = randomId();

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function formatTime(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// Storage can be unavailable (private modes, quotas): the demo then just forgets.
function readStored(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) ?? 'null');
  } catch {
    return null;
  }
}

function writeStored(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // Not kept; fine for a demo.
  }
}

// ---------------------------------------------------------------------------------------------
// Connection status badge: the state word, the transport, and the countdown to the next attempt.

function showStatus(herald, badge) {
  let countdown;
  herald.on('state', ({ state, transport, delayMs, error }) => {
    clearInterval(countdown);
    const via = transport === 'sse' ? 'SSE' : 'WebSocket';
    badge.dataset.state = state;
    badge.dataset.transport = transport ?? '';
    badge.title = error ? `${error.message} (code ${error.code})` : '';
    if (state === 'disconnected') {
      const retryAt = Date.now() + (delayMs ?? 0);
      const render = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        badge.textContent = `disconnected · reconnecting in ${seconds}s`;
      };
      render();
      countdown = setInterval(render, 250);
    } else if (state === 'closed') {
      badge.textContent = error ? `closed · ${error.message}` : 'closed';
    } else {
      badge.textContent = `${state} · ${via}`;
    }
  });
  herald.on('error', (error) => console.warn(`herald (${badge.id}):`, error.code, error.message));
}

// ---------------------------------------------------------------------------------------------
// A feed kept across reloads: the most recent items (each keyed by epoch and offset, so nothing
// is shown twice) and the position to resume from.

class Feed {
  constructor(storageKey, limit) {
    this.storageKey = storageKey;
    this.limit = limit;
    const stored = readStored(sessionStorage, storageKey);
    this.items = Array.isArray(stored?.items) ? stored.items : [];
    this.position = stored?.position?.epoch !== undefined ? stored.position : undefined;
    this.keys = new Set(this.items.map((item) => item.key));
  }

  static key(event) {
    return `${event.epoch}:${event.offset}`;
  }

  has(event) {
    return this.keys.has(Feed.key(event));
  }

  // Keeps `item` (made from an event kept in history). False when it was already there.
  add(item) {
    if (this.keys.has(item.key)) return false;
    this.items.push(item);
    this.keys.add(item.key);
    // Live events come in order; re-fetched ones may be older than the last shown.
    const before = this.items[this.items.length - 2];
    if (before && Feed.compare(before, item) > 0) this.items.sort(Feed.compare);
    while (this.items.length > this.limit) this.keys.delete(this.items.shift().key);
    return true;
  }

  // Oldest first: by the gateway's time, then by offset within an epoch.
  static compare(a, b) {
    return a.time - b.time || (a.epoch === b.epoch ? a.offset - b.offset : 0);
  }

  // The last position seen: from an event, or from the gateway's answer to a subscribe.
  advance(epoch, offset) {
    this.position = { epoch, offset };
  }

  save() {
    writeStored(sessionStorage, this.storageKey, { position: this.position, items: this.items });
  }
}

// ---------------------------------------------------------------------------------------------
// Chat room over WebSocket, with who is in the room.

function startChat() {
  const list = $('chat-messages');
  const empty = $('chat-empty');
  const notice = $('chat-notice');
  const typingLine = $('typing');
  const nameInput = $('chat-name');
  const input = $('chat-input');
  const form = $('chat-form');

  nameInput.value = localStorage.getItem('herald-demo.name') || `guest-${randomId().slice(0, 4)}`;
  localStorage.setItem('herald-demo.name', nameInput.value);
  nameInput.addEventListener('input', () => {
    const name = nameInput.value.trim();
    if (name) localStorage.setItem('herald-demo.name', name);
  });
  const myName = () => nameInput.value.trim() || localStorage.getItem('herald-demo.name');

  const herald = new Herald({ transport: 'websocket' });
  let connected = false;
  herald.on('state', ({ state }) => {
    connected = state === 'connected';
  });
  showStatus(herald, $('status-chat'));

  // What this page's events carry in `meta`: the page (to recognize its own events) and its
  // connection's client id (the id presence and herald.join / herald.leave name it by).
  const pageMeta = () => ({ page: PAGE_ID, client: herald.clientId ?? '' });

  let noticeTimer;
  const setNotice = (text) => {
    clearTimeout(noticeTimer);
    notice.textContent = text;
    notice.hidden = !text;
    if (text) noticeTimer = setTimeout(() => setNotice(''), 15000);
  };

  // Messages ------------------------------------------------------------------------------------

  const feed = new Feed('herald-demo.chat', CHAT_KEPT);

  function messageOf(event) {
    const data = event.data;
    let from = '';
    let text;
    if (data && typeof data === 'object' && !(data instanceof Uint8Array)) {
      from = typeof data.from === 'string' ? data.from : '';
      text = typeof data.text === 'string' ? data.text : JSON.stringify(data);
    } else if (data instanceof Uint8Array) {
      text = `(${data.length} bytes of ${event.contentType || 'binary data'})`;
    } else {
      text = String(data ?? '');
    }
    return {
      key: Feed.key(event),
      epoch: event.epoch,
      offset: event.offset,
      from,
      text,
      page: event.meta?.page ?? '',
      time: event.time.getTime(),
    };
  }

  function renderMessage(message) {
    const item = document.createElement('li');
    item.className = 'message';
    item.dataset.offset = String(message.offset);
    item.dataset.epoch = message.epoch;
    if (message.page === PAGE_ID || (message.from && message.from === myName())) {
      item.classList.add('mine');
    }
    const head = document.createElement('div');
    head.className = 'message-head';
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = message.from || 'anonymous';
    const time = document.createElement('time');
    time.dateTime = new Date(message.time).toISOString();
    time.textContent = formatTime(new Date(message.time));
    head.append(from, time);
    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = message.text;
    item.append(head, text);

    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    // In offset order: a re-fetched message goes before the later ones of its epoch.
    const later = [...list.children].find(
      (other) => other.dataset.epoch === message.epoch && Number(other.dataset.offset) > message.offset,
    );
    list.insertBefore(item, later ?? null);
    while (list.childElementCount > CHAT_KEPT * 4) list.firstElementChild.remove();
    empty.hidden = true;
    if (atBottom || item.classList.contains('mine')) list.scrollTop = list.scrollHeight;
  }

  for (const message of feed.items) renderMessage(message);

  function onEvent(event) {
    if (event.type === 'typing') {
      onTyping(event);
      return;
    }
    if (event.type === 'hello') {
      learnName(event, typeof event.data?.from === 'string' ? event.data.from : '');
      return;
    }
    const message = messageOf(event);
    learnName(event, message.from);
    if (event.offset > 0) {
      feed.advance(event.epoch, event.offset);
      if (feed.add(message)) renderMessage(message);
      feed.save();
    } else {
      renderMessage(message); // An ephemeral message: shown, not kept.
    }
    stopTyping(message.from);
  }

  // Re-fetches recent messages after events were missed (GET /v1/history through the SDK, when
  // the gateway offers it); messages already shown are skipped.
  async function refetch() {
    if (typeof herald.history === 'function') {
      try {
        const page = await herald.history(CHAT_TOPIC, CHAT_KEPT);
        const missing = page.events.filter((event) => event.type !== 'typing' && !feed.has(event));
        for (const event of missing) {
          const message = messageOf(event);
          feed.add(message);
          renderMessage(message);
        }
        feed.save();
        setNotice(missing.length ? `Reconnected: fetched ${missing.length} missed message(s).` : '');
        return;
      } catch (error) {
        console.warn('herald: history unavailable:', error.message);
      }
    }
    setNotice('Reconnected, but some messages sent meanwhile may be missing.');
  }

  const handlers = {
    onEvent,
    onJoin(member) {
      changesDuringRefresh?.push(['join', member]);
      members.set(member.clientId, member.user);
      renderRoom();
      // A small room greets a newcomer by name (in a large one that would be a flood).
      if (member.clientId !== herald.clientId && members.size <= HELLO_ROOM_MOST) {
        setTimeout(sayHello, Math.random() * 500);
      }
    },
    onLeave(member) {
      changesDuringRefresh?.push(['leave', member]);
      leave(member);
      renderRoom();
    },
    onSubscribed(position) {
      void refreshRoom();
      greet();
      // With a stored position, a different epoch means the gateway lost that history.
      if (feed.position && feed.position.epoch && feed.position.epoch !== position.epoch) {
        setNotice('The chat history was reset since you were last here.');
      }
      if (!feed.position || feed.position.epoch !== position.epoch) {
        feed.advance(position.epoch, position.offset);
        feed.save();
      }
    },
    onRecovered({ recovered, epoch, offset }) {
      // A new connection, with a new client id: the room is asked for again.
      void refreshRoom();
      greet();
      if (recovered) {
        setNotice('');
        return;
      }
      feed.advance(epoch, offset);
      feed.save();
      void refetch();
    },
    onError(error) {
      setNotice(`Cannot follow ${CHAT_TOPIC}: ${error.message}`);
    },
  };

  // Resume from the stored position; on a first visit, show recent history when the gateway
  // offers it, else start live.
  async function subscribe() {
    let since = feed.position;
    if (!since && typeof herald.history === 'function') {
      try {
        const page = await herald.history(CHAT_TOPIC, CHAT_KEPT);
        for (const event of page.events) {
          if (event.type === 'typing') continue;
          const message = messageOf(event);
          if (feed.add(message)) renderMessage(message);
        }
        feed.advance(page.epoch, page.offset);
        feed.save();
        since = feed.position;
      } catch {
        // No history endpoint: live from now.
      }
    }
    chat = herald.subscribe(CHAT_TOPIC, since ? { ...handlers, since } : handlers);
  }

  // Who is here -----------------------------------------------------------------------------------
  // The gateway's presence answer (GET /v1/presence, through the SDK) at each (re)subscribe and
  // every 30 s, kept current in between by herald.join / herald.leave events (onJoin, onLeave).
  // Connections are anonymous in the open demo: names come from each page's ephemeral `hello`
  // (sent when it joins, when its name changes and to greet a newcomer) and from messages, all
  // carrying the page's client id in `meta.client`.

  const roomMembers = $('room-members');
  const roomCount = $('room-count');
  const roomOff = $('room-off');
  const members = new Map(); // client id -> user (empty when anonymous)
  const names = new Map(); // client id -> the name its page uses
  let unlisted = 0; // subscribers the presence answer counted but did not list
  let chat; // the subscription
  let changesDuringRefresh = null; // joins and leaves that came while a presence read was out
  let greetedAs; // the client id this page last said hello as

  function leave(member) {
    if (members.delete(member.clientId)) names.delete(member.clientId);
    else if (unlisted > 0) unlisted -= 1;
  }

  function renderRoom() {
    const own = herald.clientId;
    const entries = [...members.keys()].map((id) => {
      const name = (id === own ? myName() : names.get(id) || members.get(id)) || '';
      return { id, name: name || `guest ${id.slice(0, 4)}`, me: id === own, guest: !name };
    });
    entries.sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name));
    roomMembers.replaceChildren(
      ...entries.map((entry) => {
        const item = document.createElement('li');
        item.dataset.clientId = entry.id;
        item.textContent = entry.me ? `${entry.name} (you)` : entry.name;
        if (entry.me) item.className = 'me';
        else if (entry.guest) item.className = 'guest';
        return item;
      }),
    );
    roomCount.textContent = members.size + unlisted ? `(${members.size + unlisted})` : '';
  }

  // The answer replaces the list; joins and leaves that came while it was out are applied again
  // on top (the answer may predate them).
  async function refreshRoom() {
    if (!chat || !connected || changesDuringRefresh) return;
    changesDuringRefresh = [];
    try {
      const page = await chat.presence(100);
      members.clear();
      for (const client of page.clients) members.set(client.clientId, client.user);
      unlisted = page.count - page.clients.length;
      for (const [change, member] of changesDuringRefresh) {
        if (change === 'join') members.set(member.clientId, member.user);
        else leave(member);
      }
      roomOff.hidden = true;
    } catch (error) {
      // 403 (code 7): the gateway runs without the demo's topic rules. Anything else (busy,
      // the engine down) keeps the list as it is until the next try.
      if (error.code === 7) {
        members.clear();
        unlisted = 0;
        roomOff.hidden = false;
        roomOff.textContent = 'not shown: presence is off for this topic (scripts/demo turns it on)';
      }
    } finally {
      changesDuringRefresh = null;
    }
    renderRoom();
  }
  setInterval(() => void refreshRoom(), ROOM_REFRESH_MS);

  function learnName(event, from) {
    const id = event.meta?.client;
    if (!id || !from || names.get(id) === from) return;
    names.set(id, from);
    // Messages from history name connections long gone: those are forgotten now and then.
    if (names.size > members.size + 100) {
      for (const known of names.keys()) if (!members.has(known)) names.delete(known);
    }
    renderRoom();
  }

  function sayHello() {
    if (!connected) return;
    herald
      .publish(CHAT_TOPIC, { from: myName() }, { type: 'hello', ephemeral: true, meta: pageMeta() })
      .catch(() => {}); // Best effort.
  }

  // Once per connection (a reload with a stored position is both subscribed and recovered).
  function greet() {
    if (!herald.clientId || greetedAs === herald.clientId) return;
    greetedAs = herald.clientId;
    sayHello();
  }

  let renameTimer;
  nameInput.addEventListener('input', () => {
    renderRoom();
    clearTimeout(renameTimer);
    renameTimer = setTimeout(sayHello, HELLO_AFTER_RENAME_MS);
  });

  void subscribe();

  // Sending ----------------------------------------------------------------------------------------

  const pending = $('chat-pending');
  let sending = 0;
  let lastTypingSent = 0; // when this page last published a "typing" event
  // A message that failed keeps its idempotency key: sending the same text again cannot deliver
  // it twice if the first attempt did reach the gateway.
  let retry = { text: '', key: '' };
  const showSending = () => {
    pending.hidden = sending === 0;
    pending.textContent = connected ? `sending ${sending}…` : `waiting for the connection (${sending})…`;
  };
  herald.on('state', showSending);

  form.addEventListener('submit', async (submit) => {
    submit.preventDefault();
    const text = input.value.trim();
    const from = myName();
    if (!text || !from) return;
    const key = retry.text === text ? retry.key : randomId();
    input.value = '';
    lastTypingSent = 0;
    sending += 1;
    showSending();
    try {
      await herald.publish(
        CHAT_TOPIC,
        { from, text },
        { type: 'message', meta: pageMeta(), idempotencyKey: key },
      );
      retry = { text: '', key: '' };
    } catch (error) {
      retry = { text, key };
      if (!input.value) input.value = text;
      setNotice(`Not sent: ${error.message}`);
    } finally {
      sending -= 1;
      showSending();
    }
  });

  // Who is typing ----------------------------------------------------------------------------------

  input.addEventListener('input', () => {
    // Only while connected: a typing event queued for later would be stale when it arrives.
    if (!input.value.trim() || !connected) return;
    const now = Date.now();
    if (now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
    lastTypingSent = now;
    herald
      .publish(CHAT_TOPIC, { from: myName() }, { type: 'typing', ephemeral: true, meta: pageMeta() })
      .catch(() => {}); // Best effort.
  });

  const typers = new Map(); // name -> time its indicator ends
  let typingTimer;

  function onTyping(event) {
    const from = typeof event.data?.from === 'string' ? event.data.from : '';
    const page = event.meta?.page;
    const mine = page ? page === PAGE_ID : from === myName();
    if (!from || mine) return;
    learnName(event, from);
    typers.set(from, Date.now() + TYPING_SHOWN_MS);
    renderTyping();
  }

  function stopTyping(from) {
    if (typers.delete(from)) renderTyping();
  }

  function renderTyping() {
    clearTimeout(typingTimer);
    const now = Date.now();
    for (const [name, until] of typers) if (until <= now) typers.delete(name);
    const names = [...typers.keys()];
    if (names.length === 0) typingLine.textContent = '';
    else if (names.length === 1) typingLine.textContent = `${names[0]} is typing…`;
    else if (names.length === 2) typingLine.textContent = `${names[0]} and ${names[1]} are typing…`;
    else typingLine.textContent = `${names.length} people are typing…`;
    if (names.length) typingTimer = setTimeout(renderTyping, Math.min(...typers.values()) - now);
  }

  return herald;
}

// ---------------------------------------------------------------------------------------------
// Notifications over SSE, and a form that publishes one through POST /v1/publish.

function startNotifications() {
  const list = $('notifications');
  const empty = $('notifications-empty');
  const herald = new Herald({ transport: 'sse' });
  showStatus(herald, $('status-notifications'));

  const feed = new Feed('herald-demo.notifications', NOTIFICATIONS_KEPT);

  function notificationOf(event) {
    const data = event.data;
    let title = '';
    let body;
    if (data instanceof Uint8Array) {
      body = `(${data.length} bytes of ${event.contentType || 'binary data'})`;
    } else if (data && typeof data === 'object' && typeof data.title === 'string') {
      title = data.title;
      body = data.body === undefined ? '' : typeof data.body === 'string' ? data.body : JSON.stringify(data.body);
    } else if (typeof data === 'string') {
      body = data;
    } else {
      body = JSON.stringify(data);
    }
    return {
      key: Feed.key(event),
      epoch: event.epoch,
      offset: event.offset,
      type: event.type,
      title,
      body,
      time: event.time.getTime(),
    };
  }

  function renderNotification(notification) {
    const item = document.createElement('li');
    item.className = 'notification';
    item.dataset.offset = String(notification.offset);
    item.dataset.type = notification.type;
    const head = document.createElement('div');
    head.className = 'notification-head';
    const type = document.createElement('span');
    type.className = 'tag';
    type.textContent = notification.type || 'event';
    const title = document.createElement('strong');
    title.className = 'title';
    title.textContent = notification.title;
    const time = document.createElement('time');
    time.dateTime = new Date(notification.time).toISOString();
    time.textContent = formatTime(new Date(notification.time));
    head.append(type, title, time);
    item.append(head);
    if (notification.body) {
      const body = document.createElement('p');
      body.className = 'body';
      body.textContent = notification.body;
      item.append(body);
    }
    list.prepend(item); // Newest first.
    while (list.childElementCount > NOTIFICATIONS_KEPT * 4) list.lastElementChild.remove();
    empty.hidden = true;
  }

  for (const notification of feed.items) renderNotification(notification);

  herald.subscribe(NOTIFICATIONS_TOPIC, {
    since: feed.position,
    onEvent(event) {
      const notification = notificationOf(event);
      if (event.offset > 0) {
        feed.advance(event.epoch, event.offset);
        if (feed.add(notification)) renderNotification(notification);
        feed.save();
      } else {
        renderNotification(notification);
      }
    },
    onSubscribed(position) {
      if (!feed.position || feed.position.epoch !== position.epoch) {
        feed.advance(position.epoch, position.offset);
        feed.save();
      }
    },
    onRecovered({ recovered, epoch, offset }) {
      if (!recovered) {
        feed.advance(epoch, offset);
        feed.save();
      }
    },
  });

  // The form: POST /v1/publish with a proto3 JSON PublishRequest (bytes travel as base64).
  const form = $('notify-form');
  const typeInput = $('notify-type');
  const titleInput = $('notify-title');
  const bodyInput = $('notify-body');
  const result = $('notify-result');

  const payload = () => {
    const data = { title: titleInput.value.trim() };
    if (bodyInput.value.trim()) data.body = bodyInput.value.trim();
    return JSON.stringify(data);
  };
  const type = () => typeInput.value.trim();

  form.addEventListener('submit', async (submit) => {
    submit.preventDefault();
    const request = {
      topic: NOTIFICATIONS_TOPIC,
      type: type(),
      data: base64(payload()),
      contentType: 'application/json',
    };
    result.className = 'form-result';
    result.textContent = 'publishing…';
    try {
      const response = await fetch('/v1/publish', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(request),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
      result.textContent = `published at offset ${answer.offset}`;
      titleInput.value = '';
      bodyInput.value = '';
      updateHints();
    } catch (error) {
      result.classList.add('failed');
      result.textContent = `failed: ${error.message}`;
    }
  });

  // The same publish from a shell, kept in step with the form.
  function updateHints() {
    const data = titleInput.value.trim() ? payload() : '{"title":"Deploy finished","body":"v1.4.2 is live"}';
    const typeFlag = type() ? ` --type=${shellQuote(type())}` : '';
    $('notify-cli').textContent =
      `build/bin/herald-publish --topic=${NOTIFICATIONS_TOPIC}${typeFlag} \\\n` +
      `  --content_type=application/json --data=${shellQuote(data)}`;
    const body = JSON.stringify({
      topic: NOTIFICATIONS_TOPIC,
      type: type(),
      data: base64(data),
      contentType: 'application/json',
    });
    $('notify-curl').textContent = `curl -s -XPOST ${location.origin}/v1/publish \\\n  -d ${shellQuote(body)}`;
  }
  for (const field of [typeInput, titleInput, bodyInput]) field.addEventListener('input', updateHints);
  updateHints();

  return herald;
}

// UTF-8 text -> base64, as proto3 JSON writes bytes.
function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// Quotes for a POSIX shell: 'it'\''s'.
function shellQuote(text) {
  return /^[A-Za-z0-9_.,:=@%+\/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------
// Live prices over WebSocket: one topic per symbol, fed by herald-ticker. `?symbols=A,B` in the
// page's address picks other symbols.

function startPrices() {
  const requested = new URLSearchParams(location.search).get('symbols');
  const symbols = (requested ? requested.split(',') : DEFAULT_SYMBOLS)
    .map((symbol) => symbol.trim())
    .filter((symbol) => /^[A-Za-z0-9_-]{1,32}$/.test(symbol));

  const herald = new Herald({ transport: 'websocket' });
  showStatus(herald, $('status-prices'));
  const body = $('prices').tBodies[0];

  for (const symbol of symbols) {
    const row = body.insertRow();
    row.dataset.symbol = symbol;
    const cells = {};
    for (const name of ['symbol', 'price', 'change']) {
      cells[name] = row.insertCell();
      cells[name].className = name;
    }
    cells.symbol.textContent = symbol;
    cells.price.textContent = '—';
    cells.change.textContent = '';
    let previous;

    herald.subscribe(`prices.${symbol}`, {
      onEvent(event) {
        const price = Number(event.data?.price);
        if (!Number.isFinite(price)) return;
        const change = Number.isFinite(Number(event.data?.change))
          ? Number(event.data.change)
          : previous === undefined ? 0 : price - previous;
        const direction = change > 0 ? 'up' : change < 0 ? 'down' : 'flat';

        cells.price.textContent = price.toFixed(2);
        row.dataset.price = String(price);
        cells.change.textContent = `${change > 0 ? '+' : change < 0 ? '−' : '±'}${Math.abs(change).toFixed(2)}`;
        cells.change.dataset.direction = direction;
        if (previous !== undefined && price !== previous) flash(row, direction);
        previous = price;
      },
    });
  }

  return herald;
}

// Restarts the row's highlight animation.
function flash(row, direction) {
  row.classList.remove('flash-up', 'flash-down');
  void row.offsetWidth; // Reflow, so that the same class animates again.
  row.classList.add(direction === 'up' ? 'flash-up' : 'flash-down');
}

// ---------------------------------------------------------------------------------------------

// For the browser console and tests: window.heraldDemo.chat.close() / .connect(), ...
window.heraldDemo = {
  chat: startChat(),
  notifications: startNotifications(),
  prices: startPrices(),
};
