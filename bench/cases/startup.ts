import { mountCapability } from '../../test/helpers/csi.js';
import type { BenchCase } from '../lib/case.js';
import { processMemory } from '../lib/rss.js';
import { runConcurrently, timed } from '../lib/timing.js';
import { formatCount, GiB, MiB } from '../lib/units.js';
import { World } from '../lib/world.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const VOLUME_BYTES = 16 * MiB;

export const startup: BenchCase = {
  name: 'startup',
  title: 'Start-up time and memory with many volumes',
  measures:
    '--startup-volumes filesystem volumes (16 MiB each) are created through CSI (16 callers); the ' +
    'driver is stopped (SIGTERM) and started again: start-up is the time from spawning `dolly serve` ' +
    'to its "serving" log line, then the first Probe; then ListVolumes of every volume (pages of ' +
    '100) and the RSS 3 s later (1 s in a quick run). On the first backend only.',
  async run({ options, log }, record) {
    const rows = record.table('start-up with many volumes', [
      { key: 'volumes', header: 'volumes' },
      { key: 'startMs', header: 'spawn → serving ms' },
      { key: 'probeMs', header: 'first Probe ms' },
      { key: 'listMs', header: 'ListVolumes (all) ms' },
      { key: 'rss', header: 'RSS MiB' },
      { key: 'hwm', header: 'peak (HWM) MiB' },
    ]);
    const backend = options.backends[0] ?? 'xfs';
    const count = options.startupVolumes;
    const world = await World.create(backend, 'startup', 64 * GiB);
    try {
      const settleMs = options.quick ? 1000 : 3000;
      const emptyStart = await restart(world, settleMs);
      rows.push({ volumes: 0, ...emptyStart });
      log(`startup: creating ${formatCount(count)} volumes`);
      await runConcurrently(count, 16, async (i) => {
        await world.client.createVolume({
          name: `bench-startup-${i}`,
          volume_capabilities: mountCapability(),
          capacity_range: { required_bytes: VOLUME_BYTES },
        });
      });
      const full = await restart(world, settleMs);
      rows.push({ volumes: count, ...full });
      const rssMiB = full.rss;
      record.target({
        what: `driver RSS with ${formatCount(count)} volumes (after a restart and a full ListVolumes), MiB`,
        before: '75 MiB idle',
        target: '< 80 MiB with 1,000 volumes',
        measured: rssMiB.toFixed(1),
        met: count >= 1000 ? rssMiB < 80 : null,
      });
      if (count < 1000) record.skip(`1,000 volumes (ran with ${formatCount(count)}: run without --quick)`);
    } finally {
      await world.close();
    }
  },
};

async function restart(
  world: World,
  settleMs: number,
): Promise<{ startMs: number; probeMs: number; listMs: number; rss: number; hwm: number }> {
  await world.stop();
  const startMs = await world.start();
  const probe = await timed(() => world.client.probe());
  const list = await timed(async () => {
    let token = '';
    do {
      const page = await world.client.listVolumes({ max_entries: 100, starting_token: token });
      token = page.next_token;
    } while (token !== '');
  });
  await sleep(settleMs);
  const memory = await processMemory(world.driver.child.pid ?? -1);
  return {
    startMs,
    probeMs: probe.ms,
    listMs: list.ms,
    rss: memory.rssBytes / MiB,
    hwm: memory.hwmBytes / MiB,
  };
}
