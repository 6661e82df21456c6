import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountImage, unmount } from '../../src/host/mount.js';
import { makeXfsWithReflink } from '../../src/host/xfs.js';
import { createSparseFile } from '../../src/util/sparse-file.js';
import { Driver } from '../helpers/driver.js';
import { mountCapability, GiB, hashFile, writePattern } from '../helpers/csi.js';
import { stageAndPublish } from '../helpers/node.js';
import { Sandbox, sh } from '../helpers/sandbox.js';

/** The loop device mounted at `dir`, e.g. "loop7". */
async function loopAt(dir: string): Promise<string> {
  const source = (await sh('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', dir])).trim();
  assert.match(source, /^\/dev\/loop\d+$/, `${dir} is a loop mount`);
  return basename(source);
}

const loopFlag = async (loop: string, flag: 'dio' | 'autoclear' | 'backing_file') =>
  (await readFile(`/sys/block/${loop}/loop/${flag}`, 'utf8').catch(() => '')).trim();

describe('data path: the embedded pool’s own loop device', () => {
  let sandbox: Sandbox;

  before(async () => {
    sandbox = await Sandbox.create('data-path');
  });
  after(async () => sandbox.cleanup());

  it('has direct I/O on, still clears itself on unmount, and carries a volume’s data', async () => {
    const poolDir = join(await sandbox.ext4Dir('host', 2 * GiB), 'dolly');
    const image = join(poolDir, 'embedded-pool.img');
    for (const start of ['first start (mkfs)', 'after an unmount (a reboot)']) {
      const driver = await Driver.start(sandbox, { pool: poolDir, args: ['--pool-size', '1G'] });
      const loop = await loopAt(poolDir);
      assert.equal(await loopFlag(loop, 'dio'), '1', `${start}: direct I/O is on`);
      assert.equal(await loopFlag(loop, 'autoclear'), '1', `${start}: mount's autoclear is kept`);
      assert.equal(await loopFlag(loop, 'backing_file'), image);

      // Data written inside a published volume goes through both loop devices with direct I/O,
      // and is read back from the device after unstaging (no page cache holds it any more).
      const client = driver.client;
      const name = `data-${start.length}`;
      const { volume } = await client.createVolume({
        name,
        volume_capabilities: mountCapability(),
        capacity_range: { required_bytes: 256 * 1024 * 1024 },
      });
      const id = volume!.volume_id;
      const [capability] = mountCapability();
      const { staging, target } = await stageAndPublish(client, sandbox, id, capability!, name);
      const file = join(target, 'data.bin');
      await writeFile(file, '');
      await writePattern(file, 0, 64 * 1024 * 1024, name);
      const written = await hashFile(file);
      await client.nodeUnpublishVolume({ volume_id: id, target_path: target });
      await client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
      await client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: capability,
      });
      assert.equal(await hashFile(join(staging, 'data.bin')), written, `${start}: the data reads back`);
      await client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
      assert.equal(await driver.stop(), 0);

      // The mount stays when the driver stops; unmounting it frees the loop device.
      await sh('umount', [poolDir]);
      for (let wait = 0; (await loopFlag(loop, 'backing_file')) === image && wait < 100; wait += 1)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.notEqual(await loopFlag(loop, 'backing_file'), image, `${start}: the loop device was freed`);
    }
  });

  it('where the kernel refuses direct I/O, the image is mounted buffered and the reason is given', async () => {
    // A host filesystem on a disk with 4 KiB sectors: a loop device of the pool with 512-byte
    // sectors cannot do direct I/O there, and the kernel says EINVAL.
    const disk = sandbox.path('4k-disk.img');
    await createSparseFile(disk, 1 * GiB);
    const device = (await sh('losetup', ['--find', '--show', '--sector-size', '4096', disk])).trim();
    await sh('mkfs.ext4', ['-q', '-F', device]);
    const host = sandbox.path('4k-host');
    await mkdir(host);
    await sh('mount', [device, host]);
    const image = join(host, 'pool.img');
    await createSparseFile(image, 1 * GiB);
    await makeXfsWithReflink(image, 'dolly-test');
    const pool = sandbox.path('4k-pool');
    await mkdir(pool);

    const state = await mountImage(image, pool, 'xfs');
    assert.equal(state.on, false);
    assert.match(state.on ? '' : state.reason, /direct io failed|Invalid argument/i);
    const loop = await loopAt(pool);
    assert.equal(await loopFlag(loop, 'dio'), '0');
    await writeFile(join(pool, 'works.txt'), 'buffered');
    assert.equal(await readFile(join(pool, 'works.txt'), 'utf8'), 'buffered');
    await unmount(pool);
    await sh('umount', [host]);
    await sh('losetup', ['--detach', device]);
  });
});
