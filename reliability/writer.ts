/**
 * Child process of the reliability harness (see Writer in data.ts): writes 64 KiB blocks at
 * random places in one file of 8 MiB, fsyncing each, until killed. Runs inside a published
 * volume, as an application would while its volume is cloned, snapshotted or expanded.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { open } from 'node:fs/promises';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: writer.js <file>');
const handle = await open(file, 'w');
const block = randomBytes(64 * 1024);
for (;;) {
  try {
    await handle.write(block, 0, block.length, randomInt(128) * block.length);
    await handle.datasync();
  } catch {
    // A full pool or a filesystem gone read-only: keep trying, as an application would.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}
