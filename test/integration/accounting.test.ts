import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code } from '../../src/errors.js';
import type { PoolSpaceReport } from '../../src/pool/accounting.js';
import { measurePoolSpace } from '../../src/pool/accounting.js';
import type { SnapshotId, VolumeId } from '../../src/pool/ids.js';
import { snapshotIdForName, volumeIdForName } from '../../src/pool/ids.js';
import { IMAGE_FILE, PoolLayout } from '../../src/pool/layout.js';
import { isCode } from '../unit/assert-code.js';
import { MiB } from '../helpers/csi.js';
import { Sandbox, sh } from '../helpers/sandbox.js';

const KiB = 1024;

/** Writes `length` bytes of random data at `offset` (random, so nothing could dedupe or compress it). */
async function writeRandom(path: string, offset: number, length: number, sync = true): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const chunk = Buffer.alloc(Math.min(length, 4 * MiB));
    for (let done = 0; done < length; done += chunk.length) {
      randomFillSync(chunk);
      await handle.write(chunk, 0, Math.min(chunk.length, length - done), offset + done);
    }
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A sparse image of `size` bytes, in its volume or snapshot directory like the driver makes it. */
async function sparseImage(path: string, size: number): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const handle = await open(path, 'wx');
  await handle.truncate(size);
  await handle.close();
}

async function reflinkInto(source: string, target: string): Promise<void> {
  await mkdir(join(target, '..'), { recursive: true });
  await copyFile(source, target, constants.COPYFILE_FICLONE_FORCE);
}

const volumeId = (name: string): VolumeId => volumeIdForName(name, 'n1');
const snapshotId = (name: string): SnapshotId => snapshotIdForName(name, 'n1');

function volume(report: PoolSpaceReport, id: VolumeId) {
  const found = report.volumes.find((entry) => entry.id === id);
  assert.ok(found, `volume ${id} is in the report`);
  return found;
}

/**
 * The pool's space from the filesystem's own accounting (FIEMAP through xfs_io), on a real
 * loop-mounted reflink XFS filesystem. Each test lays out its own pool directory on it, so the
 * per-image figures and totals are exactly its own.
 */
describe('pool space accounting: measurePoolSpace', () => {
  let sandbox: Sandbox;
  let xfs: string;

  before(async () => {
    sandbox = await Sandbox.create('accounting');
    xfs = await sandbox.xfsPool('xfs', 4 * 1024 * MiB);
  });
  after(async () => sandbox.cleanup());

  async function poolDir(name: string): Promise<PoolLayout> {
    const layout = new PoolLayout(join(xfs, name));
    for (const dir of [layout.volumesDir, layout.snapshotsDir, layout.tmpDir, layout.trashDir]) {
      await mkdir(dir, { recursive: true });
    }
    return layout;
  }

  it('a 64 MiB image and 3 reflink clones: 256 MiB summed, 64 MiB physical; a 16 MiB overwrite is that clone’s own', async () => {
    const pool = await poolDir('clones');
    const [source, ...clones] = ['source', 'clone-1', 'clone-2', 'clone-3'].map(volumeId) as [
      VolumeId,
      VolumeId,
      VolumeId,
      VolumeId,
    ];
    await sparseImage(join(pool.volumeDir(source), IMAGE_FILE), 64 * MiB);
    await writeRandom(join(pool.volumeDir(source), IMAGE_FILE), 0, 64 * MiB);
    for (const clone of clones)
      await reflinkInto(join(pool.volumeDir(source), IMAGE_FILE), join(pool.volumeDir(clone), IMAGE_FILE));

    const shared = await measurePoolSpace(pool.root);
    assert.equal(shared.root, pool.root);
    assert.deepEqual(
      shared.volumes.map((entry) => entry.id),
      [source, ...clones].sort(),
    );
    for (const entry of shared.volumes) {
      assert.equal(entry.apparentBytes, 64 * MiB);
      assert.equal(entry.allocatedBytes, 64 * MiB);
      assert.equal(entry.sharedBytes, 64 * MiB, `${entry.id}: every block is shared`);
      assert.equal(entry.exclusiveBytes, 0);
    }
    assert.deepEqual(shared.snapshots, []);
    assert.deepEqual(shared.totals, {
      allocatedBytes: 256 * MiB,
      physicalBytes: 64 * MiB,
      savedBytes: 192 * MiB,
    });
    assert.deepEqual(shared.skipped, []);
    // The filesystem's own totals: consistent with each other and with the images' blocks.
    const { filesystem } = shared;
    assert.equal(filesystem.sizeBytes > 4000 * MiB && filesystem.sizeBytes <= 4096 * MiB, true);
    assert.ok(filesystem.usedBytes >= shared.totals.physicalBytes, 'used holds at least the images');
    assert.ok(filesystem.usedBytes + filesystem.availableBytes <= filesystem.sizeBytes);

    const [, rewritten] = clones;
    await writeRandom(join(pool.volumeDir(rewritten), IMAGE_FILE), 16 * MiB, 16 * MiB);
    const diverged = await measurePoolSpace(pool.root);
    const changed = volume(diverged, rewritten);
    assert.equal(changed.allocatedBytes, 64 * MiB);
    assert.equal(changed.exclusiveBytes, 16 * MiB);
    assert.equal(changed.sharedBytes, 48 * MiB);
    for (const other of [source, clones[0], clones[2]]) {
      // Still shared: the old 16 MiB are now held by the other three.
      assert.equal(volume(diverged, other).sharedBytes, 64 * MiB, other);
    }
    assert.deepEqual(diverged.totals, {
      allocatedBytes: 256 * MiB,
      physicalBytes: 80 * MiB,
      savedBytes: 176 * MiB,
    });

    // The exclusive bytes are what deleting it frees: gone from the union with it.
    await rm(pool.volumeDir(rewritten), { recursive: true });
    const deleted = await measurePoolSpace(pool.root);
    assert.equal(deleted.volumes.length, 3);
    assert.deepEqual(deleted.totals, {
      allocatedBytes: 192 * MiB,
      physicalBytes: 64 * MiB,
      savedBytes: 128 * MiB,
    });
  });

  it('a sparse image counts only its written (and preallocated) blocks, also before they reach the disk', async () => {
    const pool = await poolDir('sparse');
    const id = volumeId('sparse');
    const image = join(pool.volumeDir(id), IMAGE_FILE);
    await sparseImage(image, 1024 * MiB);
    assert.equal(
      (await measurePoolSpace(pool.root)).volumes[0]?.allocatedBytes,
      0,
      'an empty image takes nothing',
    );

    // Not synced: delayed allocation, written back by the map's own FIEMAP_FLAG_SYNC.
    await writeRandom(image, 0, 1 * MiB, false);
    await writeRandom(image, 512 * MiB, 4 * KiB, false);
    await writeRandom(image, 1024 * MiB - 8 * KiB, 8 * KiB, false);
    // Preallocated, never written: it takes space all the same.
    await sh('fallocate', ['--offset', String(256 * MiB), '--length', String(2 * MiB), image]);

    const report = await measurePoolSpace(pool.root);
    const entry = volume(report, id);
    assert.equal(entry.apparentBytes, 1024 * MiB);
    assert.equal(entry.allocatedBytes, 3 * MiB + 12 * KiB);
    assert.equal(entry.exclusiveBytes, 3 * MiB + 12 * KiB);
    assert.equal(entry.sharedBytes, 0);
    assert.ok(entry.extents >= 4, `${entry.extents} extents`);
    assert.deepEqual(report.totals, {
      allocatedBytes: 3 * MiB + 12 * KiB,
      physicalBytes: 3 * MiB + 12 * KiB,
      savedBytes: 0,
    });
  });

  it('counts snapshots as images, and nothing in tmp/, trash/ or under names that are not IDs', async () => {
    const pool = await poolDir('snapshots');
    const source = volumeId('snap-source');
    const snapshot = snapshotId('snap');
    await sparseImage(join(pool.volumeDir(source), IMAGE_FILE), 32 * MiB);
    await writeRandom(join(pool.volumeDir(source), IMAGE_FILE), 0, 8 * MiB);
    await reflinkInto(join(pool.volumeDir(source), IMAGE_FILE), join(pool.snapshotDir(snapshot), IMAGE_FILE));
    // Data the report must not count: work in progress, deletes in progress, foreign names.
    for (const stray of [
      join(pool.tmpDir, volumeId('building'), 'disk.img'),
      join(pool.trashDir, volumeId('deleting'), 'disk.img'),
      join(pool.volumesDir, 'not-a-volume-id', 'disk.img'),
      join(pool.volumesDir, snapshotId('wrong-kind'), 'disk.img'),
      join(pool.snapshotsDir, volumeId('wrong-kind'), 'disk.img'),
      join(pool.snapshotsDir, `${snapshot}~`, 'disk.img'),
    ]) {
      await sparseImage(stray, 4 * MiB);
      await writeRandom(stray, 0, 4 * MiB);
    }

    const report = await measurePoolSpace(pool.root);
    assert.deepEqual(
      report.volumes.map((entry) => entry.id),
      [source],
    );
    assert.deepEqual(report.snapshots, [
      {
        id: snapshot,
        apparentBytes: 32 * MiB,
        allocatedBytes: 8 * MiB,
        sharedBytes: 8 * MiB,
        exclusiveBytes: 0,
        extents: report.snapshots[0]?.extents ?? -1,
      },
    ]);
    assert.ok((report.snapshots[0]?.extents ?? 0) >= 1);
    assert.deepEqual(report.totals, {
      allocatedBytes: 16 * MiB,
      physicalBytes: 8 * MiB,
      savedBytes: 8 * MiB,
    });
    assert.deepEqual(report.skipped, []);
  });

  it('an image of 20,000 scattered 4 KiB writes: every extent counted, and its clone shares them all', async () => {
    const pool = await poolDir('fragmented');
    const id = volumeId('fragmented');
    const image = join(pool.volumeDir(id), IMAGE_FILE);
    await sparseImage(image, 1024 * MiB);
    // Even block numbers only, so no two written blocks touch and each is its own extent;
    // drawn with repeats, so some blocks are written twice (and count once).
    let seed = 20261121;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const blocks = new Set<number>();
    const handle = await open(image, 'r+');
    try {
      const block = Buffer.alloc(4 * KiB);
      for (let write = 0; write < 20_000; write += 1) {
        const number = 2 * Math.floor(random() * ((1024 * MiB) / (8 * KiB)));
        blocks.add(number);
        randomFillSync(block);
        await handle.write(block, 0, block.length, number * 4 * KiB);
      }
    } finally {
      await handle.close();
    }
    assert.ok(blocks.size > 18_000 && blocks.size < 20_000, `${blocks.size} distinct blocks`);

    const alone = await measurePoolSpace(pool.root);
    const entry = volume(alone, id);
    assert.equal(entry.allocatedBytes, blocks.size * 4 * KiB);
    assert.equal(entry.extents, blocks.size);
    assert.equal(entry.exclusiveBytes, blocks.size * 4 * KiB);
    assert.equal(alone.totals.physicalBytes, blocks.size * 4 * KiB);

    const snapshot = snapshotId('fragmented-snap');
    await reflinkInto(image, join(pool.snapshotDir(snapshot), IMAGE_FILE));
    const both = await measurePoolSpace(pool.root);
    assert.equal(volume(both, id).sharedBytes, blocks.size * 4 * KiB);
    assert.equal(both.snapshots[0]?.sharedBytes, blocks.size * 4 * KiB);
    assert.equal(both.snapshots[0]?.extents, blocks.size);
    assert.deepEqual(both.totals, {
      allocatedBytes: 2 * blocks.size * 4 * KiB,
      physicalBytes: blocks.size * 4 * KiB,
      savedBytes: blocks.size * 4 * KiB,
    });
  });

  it('images deleted while it measures are left out, never an error', async () => {
    const pool = await poolDir('churn');
    const ids = Array.from({ length: 40 }, (_, index) => volumeId(`churn-${index}`));
    const first = ids[0] as VolumeId;
    await sparseImage(join(pool.volumeDir(first), IMAGE_FILE), 4 * MiB);
    await writeRandom(join(pool.volumeDir(first), IMAGE_FILE), 0, 4 * MiB);
    for (const id of ids.slice(1))
      await reflinkInto(join(pool.volumeDir(first), IMAGE_FILE), join(pool.volumeDir(id), IMAGE_FILE));

    for (let round = 0; round < 3; round += 1) {
      // Deletes as the driver does them, all the while the measurement runs: renamed to trash/, then removed.
      const deletes = (async () => {
        for (const id of ids.slice(1)) {
          const trashed = join(pool.trashDir, `${id}-${round}`);
          await rename(pool.volumeDir(id), trashed);
          await rm(trashed, { recursive: true });
        }
      })();
      const report = await measurePoolSpace(pool.root);
      await deletes;
      // Whatever was counted was counted whole, and the survivor always.
      assert.ok(report.volumes.some((entry) => entry.id === first));
      for (const entry of report.volumes) assert.equal(entry.allocatedBytes, 4 * MiB, entry.id);
      assert.equal(report.totals.physicalBytes, 4 * MiB);
      assert.deepEqual(report.skipped, []);
      for (const id of ids.slice(1))
        await reflinkInto(join(pool.volumeDir(first), IMAGE_FILE), join(pool.volumeDir(id), IMAGE_FILE));
    }
  });

  it('hostile layouts: links out of the pool, a FIFO, a file for a directory are skipped and named; nothing outside is read', async () => {
    const pool = await poolDir('hostile');
    // A canary outside the pool, on another filesystem, and one inside the pool's filesystem but
    // outside its volumes: neither may be counted.
    const canary = sandbox.path('canary.img');
    await writeFile(canary, Buffer.alloc(1 * MiB, 1));
    const elsewhere = join(xfs, 'hostile-elsewhere');
    await sparseImage(join(elsewhere, 'disk.img'), 4 * MiB);
    await writeRandom(join(elsewhere, 'disk.img'), 0, 4 * MiB);

    const linkedImage = volumeId('linked-image');
    await mkdir(pool.volumeDir(linkedImage));
    await symlink(canary, join(pool.volumeDir(linkedImage), IMAGE_FILE));
    const linkedDir = volumeId('linked-dir');
    await symlink(elsewhere, pool.volumeDir(linkedDir));
    const fifo = snapshotId('fifo');
    await mkdir(pool.snapshotDir(fifo));
    await sh('mkfifo', [join(pool.snapshotDir(fifo), IMAGE_FILE)]);
    const fileForDir = volumeId('file-for-dir');
    await writeFile(pool.volumeDir(fileForDir), 'not a directory');
    const directoryForImage = volumeId('directory-for-image');
    await mkdir(join(pool.volumeDir(directoryForImage), IMAGE_FILE), { recursive: true });
    const real = volumeId('real');
    await sparseImage(join(pool.volumeDir(real), IMAGE_FILE), 4 * MiB);
    await writeRandom(join(pool.volumeDir(real), IMAGE_FILE), 0, 1 * MiB);

    // Reached through a link to the pool root: paths are resolved first.
    const viaLink = sandbox.path('pool-link');
    await symlink(pool.root, viaLink);
    const report = await measurePoolSpace(viaLink);
    assert.equal(report.root, pool.root);
    assert.deepEqual(
      report.volumes.map((entry) => entry.id),
      [real],
    );
    assert.deepEqual(report.snapshots, []);
    assert.deepEqual(report.totals, { allocatedBytes: 1 * MiB, physicalBytes: 1 * MiB, savedBytes: 0 });
    const reasons = new Map(report.skipped.map((entry) => [entry.path, entry.reason]));
    assert.match(reasons.get(join(pool.volumeDir(linkedImage), IMAGE_FILE)) ?? '', /symbolic link/);
    assert.match(
      reasons.get(join(pool.volumeDir(linkedDir), IMAGE_FILE)) ?? '',
      /resolves to .*hostile-elsewhere\/disk\.img/,
    );
    assert.match(reasons.get(join(pool.snapshotDir(fifo), IMAGE_FILE)) ?? '', /not a regular file/);
    assert.match(reasons.get(join(pool.volumeDir(fileForDir), IMAGE_FILE)) ?? '', /not a directory/);
    assert.match(
      reasons.get(join(pool.volumeDir(directoryForImage), IMAGE_FILE)) ?? '',
      /not a regular file/,
    );
    assert.equal(report.skipped.length, 5);
  });

  it('a filesystem mounted inside the pool over a volume is skipped and named, never measured', async () => {
    const pool = await poolDir('mounted-over');
    const real = volumeId('real');
    await sparseImage(join(pool.volumeDir(real), IMAGE_FILE), 4 * MiB);
    await writeRandom(join(pool.volumeDir(real), IMAGE_FILE), 0, 2 * MiB);
    const covered = volumeId('covered');
    await mkdir(pool.volumeDir(covered));
    // Another filesystem (here a second XFS) holds what looks like an image.
    const other = await sandbox.xfsPool('other-fs', 512 * MiB);
    await sparseImage(join(other, 'disk.img'), 4 * MiB);
    await writeRandom(join(other, 'disk.img'), 0, 4 * MiB);
    await sh('mount', ['--bind', other, pool.volumeDir(covered)]);
    try {
      const report = await measurePoolSpace(pool.root);
      assert.deepEqual(
        report.volumes.map((entry) => entry.id),
        [real],
      );
      assert.deepEqual(report.totals, { allocatedBytes: 2 * MiB, physicalBytes: 2 * MiB, savedBytes: 0 });
      assert.deepEqual(report.skipped, [
        {
          path: join(pool.volumeDir(covered), IMAGE_FILE),
          reason: `on another filesystem than the pool's (mounted at ${pool.volumeDir(covered)})`,
        },
      ]);
    } finally {
      await sh('umount', [pool.volumeDir(covered)]);
    }
  });

  it('on btrfs, images in subvolumes and their snapshots (each its own st_dev): sharing and the physical union are exact', async () => {
    const btrfs = await sandbox.btrfsPool('btrfs', 1024 * MiB);
    const pool = new PoolLayout(join(btrfs, 'pool'));
    for (const dir of [pool.volumesDir, pool.snapshotsDir, pool.tmpDir, pool.trashDir]) {
      await mkdir(dir, { recursive: true });
    }
    const source = volumeId('source');
    const clone = volumeId('clone');
    const snapshot = snapshotId('snapshot');
    await sh('btrfs', ['subvolume', 'create', pool.volumeDir(source)]);
    await sparseImage(join(pool.volumeDir(source), IMAGE_FILE), 64 * MiB);
    await writeRandom(join(pool.volumeDir(source), IMAGE_FILE), 0, 64 * MiB);
    await sh('btrfs', ['subvolume', 'snapshot', pool.volumeDir(source), pool.volumeDir(clone)]);
    await sh('btrfs', ['subvolume', 'snapshot', pool.volumeDir(source), pool.snapshotDir(snapshot)]);

    const shared = await measurePoolSpace(pool.root);
    assert.deepEqual(shared.skipped, []);
    assert.deepEqual(
      shared.volumes.map((entry) => entry.id),
      [source, clone].sort(),
    );
    for (const entry of [...shared.volumes, ...shared.snapshots]) {
      assert.equal(entry.allocatedBytes, 64 * MiB);
      assert.equal(entry.sharedBytes, 64 * MiB, `${entry.id}: every block is shared`);
    }
    assert.deepEqual(shared.totals, {
      allocatedBytes: 192 * MiB,
      physicalBytes: 64 * MiB,
      savedBytes: 128 * MiB,
    });

    await writeRandom(join(pool.volumeDir(clone), IMAGE_FILE), 0, 16 * MiB);
    const diverged = await measurePoolSpace(pool.root);
    assert.equal(volume(diverged, clone).exclusiveBytes, 16 * MiB);
    assert.equal(volume(diverged, clone).sharedBytes, 48 * MiB);
    assert.deepEqual(diverged.totals, {
      allocatedBytes: 192 * MiB,
      physicalBytes: 80 * MiB,
      savedBytes: 112 * MiB,
    });
  });

  it('a pool that does not exist is NOT_FOUND; a filesystem without extent maps is a clear error', async () => {
    await assert.rejects(
      measurePoolSpace(sandbox.path('no-such-pool')),
      isCode(Code.NOT_FOUND, /pool directory \S+no-such-pool does not exist/),
    );
    await writeFile(sandbox.path('a-file'), '');
    await assert.rejects(
      measurePoolSpace(sandbox.path('a-file')),
      isCode(Code.NOT_FOUND, /is not a directory/),
    );

    // tmpfs has no FIEMAP.
    const tmpfs = sandbox.path('tmpfs');
    await mkdir(tmpfs);
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', tmpfs]);
    const layout = new PoolLayout(tmpfs);
    const id = volumeId('on-tmpfs');
    await sparseImage(join(layout.volumeDir(id), IMAGE_FILE), MiB);
    await assert.rejects(
      measurePoolSpace(tmpfs),
      isCode(
        Code.INTERNAL,
        /^measuring \S+\/disk\.img: `xfs_io -r -c fiemap -v \/dev\/fd\/3` failed: .*Operation not supported/,
      ),
    );
  });
});
