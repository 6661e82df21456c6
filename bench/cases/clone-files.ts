import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/host/exec.js';
import type { BenchCase } from '../lib/case.js';
import { timeClones, timeCopies } from '../lib/clones.js';
import { remove, treeCopy } from '../lib/data.js';
import { formatCount, GiB } from '../lib/units.js';

const VOLUME_BYTES = 2 * GiB;
const PER_DIR = 1000;

/** Adds files (1 KiB each, 1,000 per directory) inside a mounted volume until it holds `total`. */
async function addFiles(root: string, from: number, total: number): Promise<void> {
  const content = Buffer.alloc(1024, 'dolly bench\n');
  for (let start = from; start < total;) {
    const dir = join(root, `d${Math.floor(start / PER_DIR)}`);
    await mkdir(dir, { recursive: true });
    const end = Math.min(total, (Math.floor(start / PER_DIR) + 1) * PER_DIR);
    await Promise.all(
      Array.from({ length: end - start }, (_, i) => writeFile(join(dir, `f${start + i}`), content)),
    );
    start = end;
  }
}

export const cloneFiles: BenchCase = {
  name: 'clone-files',
  title: 'Clone and snapshot latency vs file count (2 GiB ext4 volume, in use)',
  measures:
    'A 2 GiB filesystem volume (ext4) is published (staged: loop device, mkfs, mount; published: bind ' +
    'mount) and files of 1 KiB are created in it up to each count, then syncfs. CreateVolume from it ' +
    'and CreateSnapshot of it are timed while it stays mounted (so the driver freezes it for the ' +
    'instant of the copy; p50 of --repeat each); then a copy of its image (cp --sparse=always + fsync) ' +
    "and the hostpath driver's clone of a filesystem volume, cp -a of the tree (+ syncfs).",
  async run({ options, log, world: worldOf }, record) {
    const rows = record.table('clone latency vs file count', [
      { key: 'backend', header: 'pool' },
      { key: 'files', header: 'files' },
      { key: 'cloneP50', header: 'clone p50 ms' },
      { key: 'snapP50', header: 'snapshot p50 ms' },
      { key: 'cpMs', header: 'cp image ms' },
      { key: 'treeMs', header: 'cp -a tree ms' },
    ]);
    const points = record.chart(
      'clone-vs-file-count',
      'Clone vs file count (2 GiB ext4 volume)',
      'files in the volume',
      'milliseconds',
    );
    const counts = [...new Set(options.fileCounts)].sort((a, b) => a - b);
    for (const backend of options.backends) {
      const world = await worldOf(backend);
      const id = await world.createVolume(`bench-files-${backend}`, VOLUME_BYTES, 'mount');
      try {
        const published = await world.publish(id, 'mount');
        try {
          let present = 0;
          for (const [index, count] of counts.entries()) {
            log(`${backend}: ${formatCount(count)} files`);
            await addFiles(published.target, present, count);
            present = count;
            await run('sync', ['-f', published.target]);
            const times = await timeClones(world, id, 'mount', options.repeat, `f${index}`);
            const copies = await timeCopies(world, world.imagePath(id), VOLUME_BYTES, 0);
            const treeCopyDir = join(world.pool, 'bench-tree-copy');
            const treeMs = await treeCopy(published.target, treeCopyDir);
            await remove(treeCopyDir);
            rows.push({
              backend,
              files: count,
              cloneP50: times.clone.p50,
              snapP50: times.snapshot.p50,
              cpMs: copies.cpMs,
              treeMs,
            });
            points.push({ x: count, y: times.clone.p50, method: 'Dolly clone (p50)', pool: backend });
            points.push({ x: count, y: times.snapshot.p50, method: 'Dolly snapshot (p50)', pool: backend });
            points.push({
              x: count,
              y: copies.cpMs,
              method: 'cp --sparse=always of the image',
              pool: backend,
            });
            points.push({ x: count, y: treeMs, method: 'cp -a of the tree (hostpath)', pool: backend });
          }
        } finally {
          await world.unpublish(published);
        }
      } finally {
        await world.deleteVolume(id);
      }
    }
  },
};
