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
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

const USAGE = 'usage: node publish.mjs --topic=T --data=PAYLOAD [--type=T] [--content_type=T] ' +
  '[--target=HOST:PORT] [--token=TOKEN]';
let flags;
try {
  ({ values: flags } = parseArgs({
    options: {
      target: { type: 'string', default: '127.0.0.1:50051' },
      topic: { type: 'string' },
      data: { type: 'string', default: '' },
      type: { type: 'string', default: '' },
      content_type: { type: 'string', default: '' },
      token: { type: 'string', default: '' }, // sent as 'authorization: Bearer <token>'
    },
  }));
  if (!flags.topic) throw new Error('--topic is required');
} catch (error) {
  console.error(`publish.mjs: ${error.message}\n${USAGE}`);
  process.exit(2);
}

// keepCase: fields keep their .proto names (content_type); longs: String: offset is a string.
const definition = protoLoader.loadSync('herald/v1/publisher.proto', {
  includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true,
});
const { Publisher } = grpc.loadPackageDefinition(definition).herald.v1;
const client = new Publisher(flags.target, grpc.credentials.createInsecure());

const metadata = new grpc.Metadata();
if (flags.token) metadata.set('authorization', `Bearer ${flags.token}`);

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
