import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchCase } from '../lib/case.js';
import { countExtents, fioWrite } from '../lib/data.js';
import { stallsFromTimes } from '../lib/stall.js';
import type { Stalls } from '../lib/stall.js';
import { quantile } from '../lib/timing.js';
import { formatCount, GiB } from '../lib/units.js';
import type { World } from '../lib/world.js';

const WRITER = fileURLToPath(new URL('../lib/stall-writer.js', import.meta.url));
const VOLUME_BYTES = 2 * GiB;
const HISTORY_FILE_BYTES = GiB;
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface StallRun extends Stalls {
  cloneMs: number[];
}

/** How the clones are taken: Dolly's default (the source frozen), and crash-consistent. */
const CONSISTENCIES = ['frozen', 'crash'] as const;
type Consistency = (typeof CONSISTENCIES)[number];

/** Runs the writer in `dir` while `clones` clones of `sourceId` are made, one every 300 ms. */
async function stallDuringClones(
  world: World,
  sourceId: string,
  dir: string,
  clones: number,
  tag: string,
  consistency: Consistency,
): Promise<StallRun> {
  const stopFile = world.sandbox.path(`stop-${tag}`);
  const writer = spawn(process.execPath, [WRITER, join(dir, 'stall.dat'), stopFile, '600000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  writer.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = once(writer, 'exit');
  // An interrupted run must not leave the writer holding the volume busy.
  world.sandbox.onCleanup(async () => {
    if (writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
    await exited;
  });
  const windows: [number, number][] = [];
  const cloneMs: number[] = [];
  const ids: string[] = [];
  try {
    await sleep(1000);
    for (let i = 0; i < clones; i += 1) {
      const start = now();
      const { id, ms } = await world.clone(
        `bench-stall-${tag}-${i}`,
        sourceId,
        'mount',
        consistency === 'crash' ? { 'dolly.csi.dev/consistency': 'crash' } : {},
      );
      windows.push([start, now()]);
      ids.push(id);
      cloneMs.push(ms);
      await sleep(300);
    }
  } finally {
    await writeFile(stopFile, '');
    await exited;
    for (const id of ids) await world.deleteVolume(id);
  }
  return { ...stallsFromTimes(JSON.parse(output) as number[], windows), cloneMs };
}

export const writerStall: BenchCase = {
  name: 'writer-stall',
  title: 'Writer stall during a clone',
  measures:
    'A 2 GiB ext4 volume is published; a history of N scattered 4 KiB writes is made inside it (fio, ' +
    'direct I/O, into a 1 GiB file). A separate process then writes 4 KiB + fdatasync in a tight loop ' +
    'in the volume, timestamping each write, while the volume is cloned --repeat times through CSI ' +
    '(one every 300 ms). The normal gap is the median gap between writes outside the clones; a ' +
    "clone's stall is the longest gap overlapping it minus the normal gap. Each point is measured " +
    'with the default copy (the source frozen) and with dolly.csi.dev/consistency: crash (no freeze).',
  async run({ options, log, world: worldOf }, record) {
    const rows = record.table('writer stall while the volume is cloned', [
      { key: 'backend', header: 'pool' },
      { key: 'writes', header: 'history writes' },
      { key: 'extents', header: 'image extents' },
      { key: 'consistency', header: 'copy' },
      { key: 'normal', header: 'normal gap ms', digits: 2 },
      { key: 'p99', header: 'p99 gap ms', digits: 2 },
      { key: 'stallP50', header: 'stall p50 ms' },
      { key: 'stallMax', header: 'stall max ms' },
      { key: 'cloneP50', header: 'clone p50 ms' },
    ]);
    const history = [...new Set(options.stallHistory)].sort((a, b) => a - b);
    for (const backend of options.backends) {
      const world = await worldOf(backend);
      const id = await world.createVolume(`bench-stall-${backend}`, VOLUME_BYTES, 'mount');
      const measured: Record<Consistency, string[]> = { frozen: [], crash: [] };
      const met: Record<Consistency, boolean> = { frozen: true, crash: true };
      try {
        const published = await world.publish(id, 'mount');
        try {
          let written = 0;
          for (const [index, writes] of history.entries()) {
            await fioWrite({
              target: join(published.target, 'history.dat'),
              pattern: 'rand',
              sizeBytes: HISTORY_FILE_BYTES,
              count: writes - written,
            });
            written = writes;
            const extents = await countExtents(world.imagePath(id));
            log(
              `${backend}: writer stall at ${formatCount(writes)} writes of history (${formatCount(extents)} extents)`,
            );
            for (const consistency of CONSISTENCIES) {
              const result = await stallDuringClones(
                world,
                id,
                published.target,
                Math.max(3, options.repeat),
                `${backend}-${index}-${consistency}`,
                consistency,
              );
              const stallMax = Math.max(...result.stalls);
              rows.push({
                backend,
                writes,
                extents,
                consistency,
                normal: result.normalGapMs,
                p99: result.p99GapMs,
                stallP50: quantile(result.stalls, 0.5),
                stallMax,
                cloneP50: quantile(result.cloneMs, 0.5),
              });
              measured[consistency].push(`${formatCount(writes)}: ${stallMax.toFixed(1)}`);
              met[consistency] &&= stallMax < 20;
            }
          }
        } finally {
          await world.unpublish(published);
        }
      } finally {
        await world.deleteVolume(id);
      }
      for (const consistency of CONSISTENCIES) {
        record.target({
          what:
            consistency === 'frozen'
              ? `${backend}: longest stall of a writer inside a volume while it is cloned (default: frozen), ms (history writes: ms)`
              : `${backend}: the same with dolly.csi.dev/consistency: crash (no freeze), ms`,
          before: 'stalls 75 / 249 ms at 10k / 50k writes of history',
          target: '< 20 ms',
          measured: measured[consistency].join(', '),
          met: met[consistency],
        });
      }
    }
  },
};
