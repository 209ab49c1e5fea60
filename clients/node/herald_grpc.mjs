// What Herald's example Node.js publishers share: the connection flags, the Publisher client
// (stubs made at run time from ../../proto by @grpc/proto-loader) over a plaintext or TLS
// channel, and the call metadata.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

/** The parseArgs options every example takes: where the gateway is and how to reach it. */
export const connectionOptions = {
  target: { type: 'string', default: '127.0.0.1:50051' },
  token: { type: 'string', default: '' }, // sent as 'authorization: Bearer <token>'
  // TLS, trusting the system's CAs (a gateway with a certificate on its gRPC port, as in the
  // README's production set-up), or --tls_ca=ca.pem to trust that CA file.
  tls: { type: 'boolean', default: false },
  tls_ca: { type: 'string', default: '' },
};

export const CONNECTION_USAGE = '[--target=HOST:PORT] [--token=TOKEN] [--tls] [--tls_ca=CA.pem]';

/** A Publisher client for the parsed `flags`. */
export function publisherClient(flags) {
  // keepCase: fields keep their .proto names (content_type); longs: String: offset is a string.
  const definition = protoLoader.loadSync('herald/v1/publisher.proto', {
    includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true,
  });
  const { Publisher } = grpc.loadPackageDefinition(definition).herald.v1;
  const credentials = flags.tls || flags.tls_ca
    ? grpc.credentials.createSsl(flags.tls_ca ? readFileSync(flags.tls_ca) : null)
    : grpc.credentials.createInsecure();
  return new Publisher(flags.target, credentials);
}

/** The call metadata: the token, when there is one. */
export function callMetadata(flags) {
  const metadata = new grpc.Metadata();
  if (flags.token) metadata.set('authorization', `Bearer ${flags.token}`);
  return metadata;
}

export { grpc };
