#!/usr/bin/env node
// Builds the SDK: protobuf code from proto/ (Debian's protoc + protoc-gen-es), type declarations
// (tsc, which also type-checks), and two minified ES modules (esbuild):
//   dist/herald.js        the SDK (new Herald(...))
//   dist/herald.d.ts      its types in one file, to save next to herald.js
//   dist/herald-proto.js  the generated messages alone, for pages that speak /ws themselves
// With --web_root DIR, also copies the bundles, herald.d.ts and the demo app (clients/demo) into
// DIR, which the gateway serves.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * One declaration file for the bundle: the declarations tsc wrote for `entry` and the files it
 * imports, kept module-local, then exactly the entry's export list (so the types promise nothing
 * the bundle does not export). The public types must not reach outside the SDK's own files.
 */
function bundleDeclarations(entry) {
  const types = join(here, 'dist', 'types');
  const localImport = /^import (?:type )?\{[^}]*\} from '\.\/([\w/]+)\.js';\n/gm;
  const reExport = /^export (type )?\{([^}]*)\} from '\.\/([\w/]+)\.js';\n/gm;
  const ordered = [];
  const visit = (name) => {
    if (ordered.includes(name)) return;
    const text = readFileSync(join(types, `${name}.d.ts`), 'utf8');
    for (const [, imported] of text.matchAll(localImport)) visit(imported);
    for (const [, , , imported] of text.matchAll(reExport)) visit(imported);
    if (/^import /m.test(text.replace(localImport, ''))) {
      throw new Error(`${name}.d.ts imports from outside the SDK: herald.d.ts would not stand alone`);
    }
    ordered.push(name);
  };
  visit(entry);
  const body = ordered.filter((name) => name !== entry).map((name) =>
    readFileSync(join(types, `${name}.d.ts`), 'utf8')
      .replace(localImport, '')
      .replace(/^export \{\};\n/gm, '')
      .replace(/^export (?=declare |interface |type )/gm, ''));
  const exports = [...readFileSync(join(types, `${entry}.d.ts`), 'utf8').matchAll(reExport)]
    .map(([, type, names]) => `export ${type ?? ''}{${names}};\n`);
  return '// Herald browser SDK: the types of herald.js. Save next to herald.js.\n' +
    body.join('') + exports.join('');
}

writeFileSync(join(here, 'dist', 'herald.d.ts'), bundleDeclarations('index'));
run(bin('tsc'), ['--noEmit', '--strict', '--lib', 'ES2022,DOM', join('dist', 'herald.d.ts')]);

const webRootFlag = process.argv.indexOf('--web_root');
if (webRootFlag > 0) {
  const webRoot = process.argv[webRootFlag + 1];
  mkdirSync(webRoot, { recursive: true });
  cpSync(join(root, 'clients', 'demo'), webRoot, { recursive: true });
  for (const file of ['herald.js', 'herald.js.map', 'herald.d.ts', 'herald-proto.js',
    'herald-proto.js.map']) {
    cpSync(join(here, 'dist', file), join(webRoot, file));
  }
}
