#!/usr/bin/env node
// Builds the SDK: protobuf code from proto/ (Debian's protoc + protoc-gen-es), type declarations
// (tsc, which also type-checks), and two minified ES modules (esbuild):
//   dist/herald.js        the SDK (new Herald(...))
//   dist/herald-proto.js  the generated messages alone, for pages that speak /ws themselves
// With --web_root DIR, also copies both bundles and the demo app (clients/demo) into DIR, which
// the gateway serves.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (command, args) => execFileSync(command, args, { stdio: 'inherit', cwd: here });

const generated = join(here, 'src', 'gen');
rmSync(generated, { recursive: true, force: true });
mkdirSync(generated, { recursive: true });
const protos = ['event', 'publisher', 'subscriber', 'websocket'].map((name) =>
  join(root, 'proto', 'herald', 'v1', `${name}.proto`),
);
run('protoc', [
  `-I${join(root, 'proto')}`,
  `--plugin=protoc-gen-es=${bin('protoc-gen-es')}`,
  `--es_out=${generated}`,
  '--es_opt=target=ts,import_extension=js',
  ...protos,
]);

rmSync(join(here, 'dist'), { recursive: true, force: true });
run(bin('tsc'), ['-p', 'tsconfig.json']);
for (const [entry, out] of [
  ['src/index.ts', 'dist/herald.js'],
  ['src/proto.ts', 'dist/herald-proto.js'],
]) {
  run(bin('esbuild'), [entry, '--bundle', '--format=esm', '--minify', '--sourcemap',
    '--target=es2022', '--log-level=warning', `--outfile=${out}`]);
  const bytes = readFileSync(join(here, out));
  console.log(`${out}: ${bytes.length} bytes, ${gzipSync(bytes).length} gzipped`);
}

const webRootFlag = process.argv.indexOf('--web_root');
if (webRootFlag > 0) {
  const webRoot = process.argv[webRootFlag + 1];
  mkdirSync(webRoot, { recursive: true });
  cpSync(join(root, 'clients', 'demo'), webRoot, { recursive: true });
  for (const file of ['herald.js', 'herald.js.map', 'herald-proto.js', 'herald-proto.js.map']) {
    cpSync(join(here, 'dist', file), join(webRoot, file));
  }
}
