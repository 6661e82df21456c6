#!/usr/bin/env node
// Builds the native addon (binding.gyp: src/native/*.c -> build/Release/dolly_kernel.node) with
// the node-gyp that npm ships. `npm ci` runs this as the package's "install" script; run it
// again with `npm run build:native`.
//
// node-gyp needs Node's headers, and without --nodedir it downloads them, which fails on a
// machine without internet access. The running node's own prefix has them (include/node/) when
// it came from a release tarball, the official container image or a distribution's headers
// package, so node-gyp is pointed there unless npm's config (nodedir) already says where.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');

function fail(message) {
  process.stderr.write(`\nbuild-native: ${message}\n\n`);
  process.exit(1);
}

const nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp || !existsSync(nodeGyp)) {
  fail('node-gyp was not found: run this through npm (npm ci, or npm run build:native), which provides it');
}

const args = [nodeGyp, 'rebuild'];
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  fail(
    'the native addon did not build; it needs a C compiler, make and python3 ' +
      '(on Debian/Ubuntu: apt-get install build-essential python3) and Node.js headers',
  );
}
if (!existsSync(join(root, 'build', 'Release', 'dolly_kernel.node'))) {
  fail('node-gyp finished but build/Release/dolly_kernel.node is missing');
}
