#!/usr/bin/env node
// Example Node.js publisher: publishes many events to Herald through one PublishStream. Every
// line of stdin is one event (or, with --count=N, N generated events "event 1", "event 2", ...).
// The gateway answers every item in order; a refused item does not stop the stream.
//
//   seq 1 5 | node clients/node/publish_stream.mjs --topic=prices.eurusd \
//       --content_type=application/json
//   node clients/node/publish_stream.mjs --topic=chat.room1 --count=100
//
// Prints `<topic> <offset> <epoch>` per published event on stdout, `error <code> <message>` per
// refused one on stderr. Exit status: 0 all published, 1 an item or the call failed.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CONNECTION_USAGE, callMetadata, connectionOptions, grpc, publisherClient } from './herald_grpc.mjs';

const USAGE = 'usage: node publish_stream.mjs --topic=T [--count=N] [--type=T] ' +
  `[--content_type=T] ${CONNECTION_USAGE}\n` +
  '(without --count: one event per line of stdin)';
let flags;
try {
  ({ values: flags } = parseArgs({
    options: {
      ...connectionOptions,
      topic: { type: 'string' },
      count: { type: 'string' }, // publish N generated events instead of reading stdin
      type: { type: 'string', default: '' },
      content_type: { type: 'string', default: '' },
    },
  }));
  if (!flags.topic) throw new Error('--topic is required');
  if (flags.count !== undefined && !/^\d+$/.test(flags.count)) {
    throw new Error('--count must be a number');
  }
} catch (error) {
  console.error(`publish_stream.mjs: ${error.message}\n${USAGE}`);
  process.exit(2);
}

const client = publisherClient(flags);
const metadata = callMetadata(flags);

// The payloads: generated with --count, else the lines of stdin.
async function* payloads() {
  if (flags.count !== undefined) {
    for (let n = 1; n <= Number(flags.count); n++) yield `event ${n}`;
  } else {
    yield* createInterface({ input: process.stdin, crlfDelay: Infinity });
  }
}

const call = client.PublishStream(metadata);
let sent = 0;
// Writes while the loop below reads the answers, pausing when the stream asks to (backpressure).
const writing = (async () => {
  for await (const data of payloads()) {
    const request = {
      topic: flags.topic, type: flags.type, data: Buffer.from(data, 'utf8'),
      content_type: flags.content_type, request_id: String(++sent),
    };
    if (!call.write(request)) await once(call, 'drain');
  }
  call.end();
})();
writing.catch(() => {}); // A broken stream is reported by the reading loop.

let answered = 0;
let failed = false;
try {
  for await (const response of call) {
    answered++;
    if (response.error && response.error.code !== 0) {
      failed = true;
      console.error(`error ${response.error.code} ${response.error.message}`);
    } else {
      console.log(`${response.topic} ${response.offset} ${response.epoch}`);
    }
  }
  await writing;
} catch (error) {
  console.error(`publish_stream.mjs: ${grpc.status[error.code] ?? 'ERROR'}: ` +
                `${error.details ?? error.message}`);
  process.exit(1);
}
client.close();
if (answered !== sent) {
  console.error(`publish_stream.mjs: the stream ended after ${answered} of ${sent} answers`);
  failed = true;
}
process.exitCode = failed ? 1 : 0;
