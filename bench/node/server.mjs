// The Node.js server bench/run compares Herald with: what a team would hand-write with Express
// and ws, in one process. POST /pub/:topic sends the request body to every subscriber of the
// topic: WebSocket clients of /ws/:topic (one message each) and SSE clients of /sse/:topic (one
// `data:` event each). No history, no auth.
//
//   PORT=0 node server.mjs   -> logs "node-bench listening http=127.0.0.1:<port>"
import http from 'node:http';

import express from 'express';
import { WebSocket, WebSocketServer } from 'ws';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);

// topic -> Set of subscribers (WebSocket or http.ServerResponse).
const wsTopics = new Map();
const sseTopics = new Map();

// Adds `subscriber` to `topic` in `topics`; returns the function that removes it.
function subscribe(topics, topic, subscriber) {
  let subscribers = topics.get(topic);
  if (!subscribers) {
    subscribers = new Set();
    topics.set(topic, subscribers);
  }
  subscribers.add(subscriber);
  return () => {
    subscribers.delete(subscriber);
    if (subscribers.size === 0 && topics.get(topic) === subscribers) topics.delete(topic);
  };
}

// One SSE event: every line of the payload as a `data:` line.
function sseEvent(text) {
  return `data: ${text.split('\n').join('\ndata: ')}\n\n`;
}

const app = express();
app.disable('x-powered-by');
app.disable('etag');

app.get('/sse/:topic', (req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  res.write(': connected\n\n');
  const unsubscribe = subscribe(sseTopics, req.params.topic, res);
  req.on('close', unsubscribe);
});

app.post('/pub/:topic', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
  const body = req.body;
  if (!Buffer.isBuffer(body)) {
    res.status(400).json({ error: 'the body is the message' });
    return;
  }
  let delivered = 0;
  for (const ws of wsTopics.get(req.params.topic) ?? []) {
    if (ws.readyState !== WebSocket.OPEN) continue;
    ws.send(body, { binary: false });
    ++delivered;
  }
  const sse = sseTopics.get(req.params.topic);
  if (sse) {
    const event = sseEvent(body.toString('utf8'));
    for (const subscriber of sse) subscriber.write(event);
    delivered += sse.size;
  }
  res.json({ delivered });
});

const server = http.createServer(app);
// Publishers keep their connections; the 5 s default drops one whose next request is queued
// behind a busy event loop.
server.keepAliveTimeout = 60_000;
const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', (req, socket, head) => {
  const match = /^\/ws\/([^/?]+)/.exec(req.url);
  if (!match) {
    socket.destroy();
    return;
  }
  const topic = decodeURIComponent(match[1]);
  wss.handleUpgrade(req, socket, head, (ws) => {
    const unsubscribe = subscribe(wsTopics, topic, ws);
    ws.on('close', unsubscribe);
    ws.on('error', unsubscribe);
  });
});

server.listen(port, host, () => {
  console.log(`node-bench listening http=${host}:${server.address().port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
