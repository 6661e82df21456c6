import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FilesystemType } from '../../src/host/filesystem.js';
import { checkFilesystem, makeFilesystem } from '../../src/host/filesystem.js';
import { attachLoop, detachLoop } from '../../src/host/loop.js';
import { mountDevice, unmount } from '../../src/host/mount.js';
import type { Driver } from '../helpers/driver.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { sh } from '../helpers/sandbox.js';
import { startWriter } from '../helpers/workload.js';
import { GiB, MiB, expectCode, mountCapability, status } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startDriverOnPool } from '../helpers/suite.js';

/**
 * A volume in use on this node (attached to a loop device and mounted, as staging does) cannot
 * be deleted, and a clone of it is taken with its filesystem frozen: a consistent point in time.
 */
describe('volumes in use on this node', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('in-use', 4 * GiB)));
  after(async () => sandbox.cleanup());

  const image = (id: string) => imageOf(pool, 'volumes', id);

  /** What NodeStageVolume will do: attach, make the filesystem, mount. */
  async function stage(
    id: string,
    fsType: FilesystemType,
    name: string,
  ): Promise<{ device: string; mountPoint: string }> {
    const device = await attachLoop(image(id));
    await makeFilesystem(device, fsType);
    const mountPoint = sandbox.path(name);
    await mkdir(mountPoint);
    await mountDevice(device, mountPoint, fsType);
    return { device, mountPoint };
  }

  it('DeleteVolume of a volume in use is FAILED_PRECONDITION and deletes nothing', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'busy',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 64 * MiB },
    });
    const id = volume!.volume_id;
    const { device, mountPoint } = await stage(id, 'ext4', 'busy-mnt');
    await expectCode(
      driver.client.deleteVolume({ volume_id: id }),
      status.FAILED_PRECONDITION,
      /in use on this node.*mounted at/,
    );
    assert.ok((await readdir(join(pool, 'volumes'))).includes(id));
    await unmount(mountPoint);
    await expectCode(
      driver.client.deleteVolume({ volume_id: id }),
      status.FAILED_PRECONDITION,
      /attached to/,
    );
    await detachLoop(device);
    await driver.client.deleteVolume({ volume_id: id });
    assert.ok(!(await readdir(join(pool, 'volumes'))).includes(id));
  });

  for (const fsType of ['ext4', 'xfs'] as FilesystemType[]) {
    it(`${fsType}: clones of a volume under continuous writes are clean, and the writes go on`, async () => {
      const { volume } = await driver.client.createVolume({
        name: `hot-${fsType}`,
        volume_capabilities: mountCapability(fsType),
        capacity_range: { required_bytes: 512 * MiB },
      });
      const id = volume!.volume_id;
      const { device, mountPoint } = await stage(id, fsType, `hot-${fsType}-mnt`);
      const writer = startWriter(mountPoint);
      const clones: string[] = [];
      try {
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (let i = 0; i < 3; i += 1) {
          const clone = await driver.client.createVolume(
            {
              name: `hot-${fsType}-clone-${i}`,
              volume_capabilities: mountCapability(fsType),
              volume_content_source: { volume: { volume_id: id } },
            },
            { timeoutMs: 60_000 },
          );
          clones.push(clone.volume!.volume_id);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        // The source was thawed: the writer is still making progress.
        const before = (await readdir(mountPoint)).length;
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.ok(before > 0 && writer.child.exitCode === null, 'the writer is still running');
      } finally {
        await writer.stop();
      }
      await unmount(mountPoint);
      await detachLoop(device);

      for (const [i, clone] of clones.entries()) {
        if (fsType === 'xfs') {
          // A frozen XFS keeps a log to replay: mount the clone once, as staging will.
          const { device: cloneDevice, mountPoint: cloneMount } = await (async () => {
            const cloneDevice = await attachLoop(image(clone));
            const cloneMount = sandbox.path(`hot-xfs-clone-${i}`);
            await mkdir(cloneMount);
            await mountDevice(cloneDevice, cloneMount, 'xfs');
            return { device: cloneDevice, mountPoint: cloneMount };
          })();
          assert.ok((await readdir(cloneMount)).length > 0, 'the clone has the files written before it');
          await unmount(cloneMount);
          await detachLoop(cloneDevice);
        }
        if (fsType === 'ext4') {
          // A mounted ext4 is marked needs_recovery on disk; only a freeze clears it. So this
          // shows the clone was taken frozen, not merely that it happened to check clean.
          const superblock = await sh('dumpe2fs', ['-h', image(clone)]);
          assert.doesNotMatch(superblock, /needs_recovery/, `clone ${i} was taken frozen`);
        }
        assert.ok(await checkFilesystem(image(clone), fsType), `clone ${i} checks clean`);
      }
    });
  }
});
