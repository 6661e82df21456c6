#!/usr/bin/env node
// Runs the compiled test files with Node's test runner. The integration tests need root, loop
// devices, mkfs.xfs and mounts; they are never skipped: if the machine cannot run them this
// script says why and fails, so a green run always means they ran.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const testRoot = join(root, 'dist', 'test');

function fail(message) {
  process.stderr.write(`\nrun-tests: ${message}\n\n`);
  process.exit(1);
}

if (process.getuid?.() !== 0) {
  fail('the tests create loop devices, XFS pools and mounts, so they must run as root (sudo npm test)');
}
for (const tool of ['mkfs.xfs', 'mkfs.ext4', 'losetup', 'mount', 'umount', 'findmnt']) {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
  } catch {
    fail(`${tool} is missing; install them (apt-get install -y e2fsprogs mount util-linux xfsprogs)`);
  }
}
try {
  execFileSync('losetup', ['--find'], { stdio: 'ignore' });
} catch {
  fail('no free loop device (losetup --find failed); the tests need loop devices');
}

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const filter = process.argv.slice(2);
const files = findTests(testRoot)
  .filter((file) => filter.length === 0 || filter.some((part) => file.includes(part)))
  .sort();
if (files.length === 0) fail(`no test files found under ${relative(root, testRoot)}`);

const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
