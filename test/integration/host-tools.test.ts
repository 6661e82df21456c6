import assert from 'node:assert/strict';
import { mkdir, readFile, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FilesystemType } from '../../src/host/filesystem.js';
import {
  checkFilesystem,
  freezeFilesystem,
  growMountedFilesystem,
  growUnmountedExt4,
  makeFilesystem,
  probeFilesystem,
  thawFilesystem,
} from '../../src/host/filesystem.js';
import { LOOP_SECTOR_BYTES, attachLoop, detachLoop, loopsFor, refreshLoopSize } from '../../src/host/loop.js';
import { bindMount, mountDevice, unmount } from '../../src/host/mount.js';
import { reflink } from '../../src/pool/reflink.js';
import { createSparseFile, growFile } from '../../src/util/sparse-file.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB } from '../helpers/csi.js';

/** The host tool wrappers the node service is built on, against real loop devices and mounts. */
describe('host tools: loop devices, filesystems, mounts, freeze', () => {
  let sandbox: Sandbox;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('host-tools');
    pool = await sandbox.pool('pool', 4 * GiB);
    // The sandbox detaches the loop devices of its images and undoes its mounts, even on failure.
  });
  after(async () => sandbox.cleanup());

  for (const fsType of ['ext4', 'xfs'] as FilesystemType[]) {
    it(`${fsType}: attach with direct I/O, mkfs, mount, clone while frozen, mount both, grow`, async () => {
      const image = join(pool, `${fsType}-source.img`);
      await createSparseFile(image, 512 * MiB);
      const device = await attachLoop(image);
      assert.equal(await attachLoop(image), device, 'attaching an attached image reuses its device');
      const [loop] = await loopsFor(image);
      assert.equal(loop?.name, device);
      assert.equal(loop?.directIo, true);
      assert.equal(loop?.sizeBytes, 512 * MiB);
      assert.equal(loop?.logicalSectorBytes, LOOP_SECTOR_BYTES);

      assert.equal(await probeFilesystem(device), undefined);
      await makeFilesystem(device, fsType);
      assert.equal(await probeFilesystem(device), fsType);

      const sourceMount = sandbox.path(`${fsType}-source-mnt`);
      await mkdir(sourceMount);
      await mountDevice(device, sourceMount, fsType);
      await writeFile(join(sourceMount, 'hello.txt'), 'before the clone');

      await freezeFilesystem(sourceMount);
      const cloneImage = join(pool, `${fsType}-clone.img`);
      try {
        await reflink(image, cloneImage);
      } finally {
        await thawFilesystem(sourceMount);
      }
      await writeFile(join(sourceMount, 'hello.txt'), 'after the clone');

      const cloneDevice = await attachLoop(cloneImage);
      assert.notEqual(cloneDevice, device);
      const cloneMount = sandbox.path(`${fsType}-clone-mnt`);
      await mkdir(cloneMount);
      await mountDevice(cloneDevice, cloneMount, fsType);
      assert.equal(await readFile(join(cloneMount, 'hello.txt'), 'utf8'), 'before the clone');
      assert.equal(await readFile(join(sourceMount, 'hello.txt'), 'utf8'), 'after the clone');

      const sizeBefore = (await statfs(cloneMount)).blocks * (await statfs(cloneMount)).bsize;
      await growFile(cloneImage, 1024 * MiB);
      await refreshLoopSize(cloneDevice);
      if (fsType === 'xfs') {
        await growMountedFilesystem(cloneDevice, cloneMount, fsType);
      } else {
        // Online ext4 growth needs CAP_SYS_RESOURCE, which this sandbox lacks: grow it unmounted.
        await unmount(cloneMount);
        await growUnmountedExt4(cloneDevice);
        await mountDevice(cloneDevice, cloneMount, fsType);
      }
      const grown = await statfs(cloneMount);
      assert.ok(grown.blocks * grown.bsize > sizeBefore + 400 * MiB, 'the filesystem grew');
      assert.equal(await readFile(join(cloneMount, 'hello.txt'), 'utf8'), 'before the clone');

      const readOnly = sandbox.path(`${fsType}-ro`);
      await mkdir(readOnly);
      await bindMount(cloneMount, readOnly, true);
      await assert.rejects(writeFile(join(readOnly, 'nope.txt'), 'x'), { code: 'EROFS' });
      assert.equal(await readFile(join(readOnly, 'hello.txt'), 'utf8'), 'before the clone');

      for (const target of [readOnly, cloneMount, sourceMount]) await unmount(target);
      // The clone mounted (XFS replayed the log a frozen filesystem keeps) and checks clean.
      assert.ok(await checkFilesystem(cloneImage, fsType), 'a clone taken while frozen is clean');
      await detachLoop(cloneDevice);
      await detachLoop(device);
      assert.deepEqual(await loopsFor(image), []);
      assert.deepEqual(await loopsFor(cloneImage), []);
    });
  }
});
