import type { BenchCase } from '../lib/case.js';
import { timeClones, timeCopies } from '../lib/clones.js';
import { fioWrite } from '../lib/data.js';
import { freeBytes } from '../lib/pools.js';
import { formatBytes, GiB, MiB } from '../lib/units.js';

const DATA_BYTES = 16 * MiB;

export const cloneVolumeSize: BenchCase = {
  name: 'clone-volsize',
  title: 'Clone and snapshot latency vs volume size, with 16 MiB of data',
  measures:
    'A block volume of each size is published and its first 16 MiB written (fio, direct, fsync); the ' +
    'rest is never written (a hole). CreateVolume from it and CreateSnapshot of it are timed through ' +
    'the CSI socket (p50 of --repeat each); then cp --sparse=always of the image (skips holes) and dd ' +
    '(writes every byte: only up to --dd-limit and what the host filesystem can hold).',
  async run({ options, log, world: worldOf }, record) {
    const rows = record.table('clone latency vs volume size (16 MiB written)', [
      { key: 'backend', header: 'pool' },
      { key: 'size', header: 'volume size' },
      { key: 'cloneP50', header: 'clone p50 ms' },
      { key: 'snapP50', header: 'snapshot p50 ms' },
      { key: 'cpMs', header: 'cp ms' },
      { key: 'ddMs', header: 'dd ms' },
    ]);
    const points = record.chart(
      'clone-vs-volume-size',
      'Clone vs volume size (16 MiB of data)',
      'volume size (GiB)',
      'milliseconds',
    );
    const sizes = [...new Set(options.volumeSizes)].sort((a, b) => a - b);
    for (const backend of options.backends) {
      const world = await worldOf(backend);
      for (const [index, size] of sizes.entries()) {
        log(`${backend}: a ${formatBytes(size)} volume`);
        const id = await world.createVolume(`bench-volsize-${backend}-${index}`, size, 'block');
        try {
          const published = await world.publish(id, 'block');
          try {
            await fioWrite({
              target: published.target,
              pattern: 'seq',
              sizeBytes: Math.min(DATA_BYTES, size),
            });
            const times = await timeClones(world, id, 'block', options.repeat, `v${index}`);
            const ddFits = size * 1.1 + 4 * GiB < (await freeBytes(world.sandbox.dir));
            const copies = await timeCopies(
              world,
              world.imagePath(id),
              size,
              ddFits ? options.ddLimitBytes : 0,
            );
            if (copies.ddMs === null)
              record.skip(
                `${backend}: dd of a ${formatBytes(size)} image (over --dd-limit or the host's free space)`,
              );
            rows.push({
              backend,
              size: formatBytes(size),
              cloneP50: times.clone.p50,
              snapP50: times.snapshot.p50,
              cpMs: copies.cpMs,
              ddMs: copies.ddMs,
            });
            const x = size / GiB;
            points.push({ x, y: times.clone.p50, method: 'Dolly clone (p50)', pool: backend });
            points.push({ x, y: times.snapshot.p50, method: 'Dolly snapshot (p50)', pool: backend });
            points.push({ x, y: copies.cpMs, method: 'cp --sparse=always', pool: backend });
            if (copies.ddMs !== null) points.push({ x, y: copies.ddMs, method: 'dd', pool: backend });
          } finally {
            await world.unpublish(published);
          }
        } finally {
          await world.deleteVolume(id);
          await world.trim();
        }
      }
    }
  },
};
