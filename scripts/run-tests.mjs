#!/usr/bin/env node
// Runs the compiled test files with Node's test runner. The integration tests need root, loop
// devices, mkfs.xfs, mkfs.btrfs and mounts; they are never skipped: if the machine cannot run
// them this script says why and fails, so a green run always means they ran.
//
// Two passes, one per pool backend: every file runs on an XFS pool (reflink backend), then every
// file that makes its pool with Sandbox.pool() (directly, or through startDriverOnPool() of
// test/helpers/suite.ts) runs again on a btrfs pool (subvolume backend).
// DOLLY_TEST_POOL_FS=xfs or =btrfs runs only that backend's pass.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const testRoot = join(root, 'dist', 'test');
/** How a test file makes the pool whose filesystem the pass chooses. */
const POOL_MAKERS = /sandbox\.pool\(|startDriverOnPool\(/;

function fail(message) {
  process.stderr.write(`\nrun-tests: ${message}\n\n`);
  process.exit(1);
}

if (process.getuid?.() !== 0) {
  fail('the tests create loop devices, XFS pools and mounts, so they must run as root (sudo npm test)');
}
for (const tool of [
  'mkfs.xfs',
  'mkfs.ext4',
  'mkfs.btrfs',
  'btrfs',
  'losetup',
  'mount',
  'umount',
  'findmnt',
]) {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
  } catch {
    fail(
      `${tool} is missing; install them (apt-get install -y btrfs-progs e2fsprogs mount util-linux xfsprogs)`,
    );
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

const only = process.env.DOLLY_TEST_POOL_FS;
if (only !== undefined && only !== 'xfs' && only !== 'btrfs')
  fail(`DOLLY_TEST_POOL_FS must be xfs or btrfs, not ${only}`);
const passes = [
  { fs: 'xfs', files },
  // The files that make a pool of the backend under test (the rest do not depend on it).
  { fs: 'btrfs', files: files.filter((file) => POOL_MAKERS.test(readFileSync(file, 'utf8'))) },
].filter((pass) => only === undefined || pass.fs === only);

let status = 0;
for (const pass of passes) {
  if (pass.files.length === 0) continue;
  process.stdout.write(`\nrun-tests: ${pass.files.length} files on ${pass.fs} pools\n\n`);
  const result = spawnSync(
    process.execPath,
    ['--test', '--test-concurrency=2', '--test-reporter=spec', ...pass.files],
    { stdio: 'inherit', cwd: root, env: { ...process.env, DOLLY_TEST_POOL_FS: pass.fs } },
  );
  if (result.status !== 0) status = result.status ?? 1;
}
process.exit(status);
