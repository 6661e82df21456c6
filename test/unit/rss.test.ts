import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { processMemory } from '../../bench/lib/rss.js';

const MiB = 1024 * 1024;

describe('processMemory (bench/lib/rss.ts)', () => {
  it('reads VmRSS and VmHWM of the process it is given, in bytes', async () => {
    // A child that holds 96 MiB of written memory: more than this test process has.
    const child = spawn(
      process.execPath,
      [
        '-e',
        "const b = Buffer.alloc(96 * 1024 * 1024, 1); console.log('ready'); setInterval(() => b[0]++, 1000);",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await once(child.stdout, 'data');
      const held = await processMemory(child.pid ?? -1);
      assert.ok(held.rssBytes > 96 * MiB, `child RSS ${held.rssBytes}`);
      assert.ok(held.hwmBytes >= held.rssBytes);
      const self = await processMemory(process.pid);
      assert.ok(self.rssBytes > 0 && self.rssBytes < held.rssBytes, `own RSS ${self.rssBytes}`);
      assert.equal(self.rssBytes % 1024, 0, 'kB from /proc, as bytes');
    } finally {
      child.kill();
    }
  });

  it('refuses what is not a process ID, and a process that does not exist', async () => {
    for (const pid of [0, -1, 1.5, Number.NaN]) await assert.rejects(processMemory(pid), /not a process ID/);
    await assert.rejects(processMemory(2 ** 30), { code: 'ENOENT' });
  });
});
