#!/usr/bin/env node
// Example Node.js publisher: publishes one event to Herald over gRPC (unary Publish) and prints
// `<topic> <offset> <epoch>`. The stubs are made at run time from ../../proto by
// @grpc/proto-loader: nothing is generated beforehand.
//
//   npm ci     # once, at the repository root (installs @grpc/grpc-js and @grpc/proto-loader)
//   node clients/node/publish.mjs --topic=chat.room1 \
//       --content_type=application/json --data='{"text":"hi"}'
//
// A failure prints the gRPC status on stderr and exits 1.
import { parseArgs } from 'node:util';
import { CONNECTION_USAGE, callMetadata, connectionOptions, grpc, publisherClient } from './herald_grpc.mjs';

const USAGE = 'usage: node publish.mjs --topic=T --data=PAYLOAD [--type=T] [--content_type=T] ' +
  CONNECTION_USAGE;
let flags;
try {
  ({ values: flags } = parseArgs({
    options: {
      ...connectionOptions,
      topic: { type: 'string' },
      data: { type: 'string', default: '' },
      type: { type: 'string', default: '' },
      content_type: { type: 'string', default: '' },
    },
  }));
  if (!flags.topic) throw new Error('--topic is required');
} catch (error) {
  console.error(`publish.mjs: ${error.message}\n${USAGE}`);
  process.exit(2);
}

const client = publisherClient(flags);
const metadata = callMetadata(flags);

const request = {
  topic: flags.topic,
  type: flags.type,
  data: Buffer.from(flags.data, 'utf8'),
  content_type: flags.content_type,
};
client.Publish(request, metadata, { deadline: Date.now() + 5000 }, (error, response) => {
  if (error) {
    console.error(`publish.mjs: ${grpc.status[error.code]}: ${error.details}`);
    process.exitCode = 1;
  } else {
    console.log(`${response.topic} ${response.offset} ${response.epoch}`);
  }
  client.close();
});
