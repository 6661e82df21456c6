import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { mountCapability } from '../../test/helpers/csi.js';
import type { BenchCase } from '../lib/case.js';
import { processMemory } from '../lib/rss.js';
import { ReferenceDriver } from '../lib/reference.js';
import { runConcurrently } from '../lib/timing.js';
import { GiB, MiB } from '../lib/units.js';
import { World } from '../lib/world.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS of a bare Node.js process doing nothing: the floor any Node.js driver starts from. */
async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  try {
    await sleep(1000);
    return (await processMemory(child.pid ?? -1)).rssBytes;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

export const memory: BenchCase = {
  name: 'memory',
  title: 'Driver memory (RSS), idle and loaded',
  measures:
    'VmRSS and VmHWM of the `dolly serve` process (/proc/<pid>/status) on a fresh, empty pool: idle ' +
    '(one call of each read-only Controller/Identity RPC, then 3 s of rest; 1 s in a quick run), right after 2 × ' +
    '--rate-ops CreateVolume+DeleteVolume pairs from 16 concurrent callers, and 6 s (2 s) after that load. ' +
    'Next to it, in the same run: a bare Node.js process and the idle hostpath reference. On the ' +
    'first backend only (memory does not depend on the pool filesystem).',
  async run({ options, log }, record) {
    const rows = record.table('resident memory, MiB', [
      { key: 'process', header: 'process' },
      { key: 'state', header: 'state' },
      { key: 'rss', header: 'RSS MiB' },
      { key: 'hwm', header: 'peak (HWM) MiB' },
    ]);
    const backend = options.backends[0] ?? 'xfs';
    // Settling lets the allocator give back what start-up used; a quick run waits less.
    const settleMs = options.quick ? 1000 : 3000;
    const nodeRss = await bareNodeRss();
    rows.push({ process: 'node -e (bare Node.js)', state: 'idle', rss: nodeRss / MiB, hwm: null });
    const world = await World.create(backend, 'memory', 64 * GiB);
    try {
      const pid = world.driver.child.pid ?? -1;
      const ready = Date.now();
      const client = world.client;
      await client.probe();
      await client.getPluginInfo();
      await client.controllerGetCapabilities();
      await client.getCapacity({});
      await client.listVolumes({});
      await client.nodeGetInfo();
      await sleep(settleMs);
      const idle = await processMemory(pid);
      rows.push({
        process: `dolly serve (${backend} pool)`,
        state: 'idle, empty pool',
        rss: idle.rssBytes / MiB,
        hwm: idle.hwmBytes / MiB,
      });
      // V8 keeps the young generation that start-up grew until it has been idle a while (about
      // 30 s), then gives it back by itself: the figure of a driver that sits idle, no GC forced.
      const settledAfterMs = options.quick ? settleMs : 35_000;
      await sleep(Math.max(0, ready + settledAfterMs - Date.now()));
      const settled = await processMemory(pid);
      rows.push({
        process: `dolly serve (${backend} pool)`,
        state: `idle ${settledAfterMs / 1000} s after start, empty pool`,
        rss: settled.rssBytes / MiB,
        hwm: settled.hwmBytes / MiB,
      });

      const ops = options.rateOps * 2;
      log(`memory: ${ops} create+delete pairs, 16 callers`);
      await runConcurrently(ops, 16, async (i) => {
        const { volume } = await client.createVolume({
          name: `bench-memory-${i}`,
          volume_capabilities: mountCapability(),
          capacity_range: { required_bytes: GiB },
        });
        await client.deleteVolume({ volume_id: volume!.volume_id });
      });
      const loaded = await processMemory(pid);
      rows.push({
        process: `dolly serve (${backend} pool)`,
        state: `right after ${ops} pairs, 16 callers`,
        rss: loaded.rssBytes / MiB,
        hwm: loaded.hwmBytes / MiB,
      });
      await sleep(settleMs * 2);
      const after = await processMemory(pid);
      rows.push({
        process: `dolly serve (${backend} pool)`,
        state: `${(settleMs * 2) / 1000} s after the load`,
        rss: after.rssBytes / MiB,
        hwm: after.hwmBytes / MiB,
      });

      const stateDir = world.sandbox.path('reference-state');
      await mkdir(stateDir);
      const reference = await ReferenceDriver.start(
        world.sandbox,
        world.sandbox.path('reference.sock'),
        stateDir,
      );
      await reference.client.probe();
      await sleep(settleMs);
      const referenceIdle = await processMemory(reference.pid);
      rows.push({
        process: 'hostpath reference (Node.js)',
        state: 'idle',
        rss: referenceIdle.rssBytes / MiB,
        hwm: referenceIdle.hwmBytes / MiB,
      });
      await reference.stop();

      record.target({
        what: 'driver RSS idle (fresh start, empty pool), MiB',
        before: '75 MiB (Node.js alone: about 40)',
        target: '< 60 MiB',
        measured: `${(settled.rssBytes / MiB).toFixed(1)} after ${settledAfterMs / 1000} s idle; ${(idle.rssBytes / MiB).toFixed(1)} ${settleMs / 1000} s after its first answers (bare Node.js here: ${(nodeRss / MiB).toFixed(1)})`,
        met: settled.rssBytes < 60 * MiB,
      });
    } finally {
      await world.close();
    }
  },
};
