import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase } from '../lib/case.js';
import { fioWrite, fullCopy, remove } from '../lib/data.js';
import { freeBytes, usedBytes } from '../lib/pools.js';
import { formatBytes, GiB, MiB } from '../lib/units.js';

const CLONES = 10;

export const space: BenchCase = {
  name: 'space',
  title: 'Space used by 10 clones',
  measures:
    "A block volume is filled with --space-data through its loop device; the pool filesystem's used " +
    'bytes (statfs after syncfs) are read before and after 10 CreateVolume clones of it, then before ' +
    'and after 10 full copies of its image (cp --sparse=always), what a driver without reflinks stores.',
  async run({ options, log, world: worldOf }, record) {
    const rows = record.table('pool space used by 10 copies of one volume', [
      { key: 'backend', header: 'pool' },
      { key: 'data', header: 'data in the source' },
      { key: 'clonesMiB', header: '10 Dolly clones, MiB' },
      { key: 'copiesMiB', header: '10 cp copies, MiB' },
    ]);
    const size = options.spaceDataBytes;
    for (const backend of options.backends) {
      const world = await worldOf(backend);
      const hostFree = await freeBytes(world.sandbox.dir);
      const copiesFit = size * (CLONES + 1) * 1.1 + 4 * GiB < hostFree;
      const id = await world.createVolume(`bench-space-${backend}`, size, 'block');
      const clones: string[] = [];
      const copies = join(world.pool, 'bench-space-copies');
      try {
        const published = await world.publish(id, 'block');
        await fioWrite({ target: published.target, pattern: 'seq', sizeBytes: size });
        await world.unpublish(published);
        log(`${backend}: 10 clones of ${formatBytes(size)}`);
        const before = await usedBytes(world.pool);
        for (let i = 0; i < CLONES; i += 1)
          clones.push((await world.clone(`bench-space-${backend}-${i}`, id, 'block')).id);
        const afterClones = await usedBytes(world.pool);
        let copiesMiB: number | null = null;
        if (copiesFit) {
          await mkdir(copies);
          const beforeCopies = await usedBytes(world.pool);
          for (let i = 0; i < CLONES; i += 1)
            await fullCopy('cp', world.imagePath(id), join(copies, `${i}.img`));
          copiesMiB = ((await usedBytes(world.pool)) - beforeCopies) / MiB;
        } else {
          record.skip(
            `${backend}: 10 full copies of ${formatBytes(size)} (the host filesystem has ${formatBytes(hostFree)} free)`,
          );
        }
        rows.push({ backend, data: formatBytes(size), clonesMiB: (afterClones - before) / MiB, copiesMiB });
      } finally {
        await remove(copies);
        for (const clone of clones) await world.deleteVolume(clone);
        await world.deleteVolume(id);
      }
    }
  },
};
