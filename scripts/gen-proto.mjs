#!/usr/bin/env node
// Generates the TypeScript types for proto/csi.proto into src/generated/ (never edited by hand).
// The runtime loader (src/csi/proto.ts) reads the same proto/loader-options.json, so the types
// always describe exactly the objects the loader produces.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const options = JSON.parse(readFileSync(join(root, 'proto/loader-options.json'), 'utf8'));
const outDir = join(root, 'src/generated');
rmSync(outDir, { recursive: true, force: true });

const flags = [
  `--longs=${options.longs}`,
  `--enums=${options.enums}`,
  ...(options.keepCase ? ['--keepCase'] : []),
  ...(options.defaults ? ['--defaults'] : []),
  ...(options.oneofs ? ['--oneofs'] : []),
  '--grpcLib=@grpc/grpc-js',
  // ESM with NodeNext resolution wants explicit extensions on relative imports.
  '--importFileExtension=.js',
  `--outDir=${outDir}`,
  'csi.proto',
];
execFileSync(join(root, 'node_modules/.bin/proto-loader-gen-types'), flags, {
  cwd: join(root, 'proto'),
  stdio: 'inherit',
});
