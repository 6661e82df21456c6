import type { BenchCase } from '../lib/case.js';
import { timeClones, timeCopies } from '../lib/clones.js';
import { fioWrite } from '../lib/data.js';
import { freeBytes } from '../lib/pools.js';
import { formatBytes, GiB } from '../lib/units.js';

export const cloneSize: BenchCase = {
  name: 'clone-size',
  title: 'Clone and snapshot latency vs data size',
  measures:
    'A block volume of exactly the data size is published and filled through its loop device (fio, ' +
    'sequential 1 MiB direct writes, fsync); CreateVolume from it and CreateSnapshot of it are timed ' +
    'through the CSI socket (p50 of --repeat each), then a full copy of its image with cp ' +
    '--sparse=always and with dd bs=1M (each + fsync), what a driver without reflinks does. Sizes that ' +
    'the host filesystem cannot hold twice (source and copy, with 10% and 4 GiB spare) are skipped.',
  async run({ options, log, world: worldOf }, record) {
    const rows = record.table('clone latency vs data size', [
      { key: 'backend', header: 'pool' },
      { key: 'data', header: 'data' },
      { key: 'cloneP50', header: 'clone p50 ms' },
      { key: 'snapP50', header: 'snapshot p50 ms' },
      { key: 'cpMs', header: 'cp ms' },
      { key: 'ddMs', header: 'dd ms' },
      { key: 'speedup', header: 'cp / clone', digits: 0 },
    ]);
    const points = record.chart(
      'clone-vs-data-size',
      'Clone vs data size (block volume, full of data)',
      'data in the volume (MiB)',
      'milliseconds',
    );
    const sizes = [...new Set(options.dataSizes)].sort((a, b) => a - b);
    for (const backend of options.backends) {
      const world = await worldOf(backend);
      for (const [index, size] of sizes.entries()) {
        const hostFree = await freeBytes(world.sandbox.dir);
        if (size * 2.2 + 4 * GiB > hostFree) {
          record.skip(
            `${backend}: ${formatBytes(size)} (the host filesystem has ${formatBytes(hostFree)} free)`,
          );
          continue;
        }
        const id = await world.createVolume(`bench-size-${backend}-${index}`, size, 'block');
        try {
          const published = await world.publish(id, 'block');
          try {
            log(`${backend}: writing ${formatBytes(size)}`);
            await fioWrite({ target: published.target, pattern: 'seq', sizeBytes: size });
            const times = await timeClones(world, id, 'block', options.repeat, `s${index}`);
            const copies = await timeCopies(world, world.imagePath(id), size, options.ddLimitBytes);
            rows.push({
              backend,
              data: formatBytes(size),
              cloneP50: times.clone.p50,
              snapP50: times.snapshot.p50,
              cpMs: copies.cpMs,
              ddMs: copies.ddMs,
              speedup: copies.cpMs / times.clone.p50,
            });
            const x = size / 2 ** 20;
            points.push({ x, y: times.clone.p50, method: 'Dolly clone (p50)', pool: backend });
            points.push({ x, y: times.snapshot.p50, method: 'Dolly snapshot (p50)', pool: backend });
            points.push({ x, y: copies.cpMs, method: 'cp --sparse=always', pool: backend });
            if (copies.ddMs !== null) points.push({ x, y: copies.ddMs, method: 'dd', pool: backend });
            else record.skip(`${backend}: dd of ${formatBytes(size)} (over --dd-limit)`);
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
