import assert from 'node:assert/strict';
import { mkdir, readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver, startExpectingFailure } from '../helpers/driver.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, hashFile, mountCapability, status, writePattern } from '../helpers/csi.js';

async function mountOf(path: string): Promise<{ fstype: string; source: string } | undefined> {
  try {
    const out = await sh('findmnt', ['-J', '-n', '-o', 'FSTYPE,SOURCE', '--mountpoint', path]);
    const parsed = JSON.parse(out) as { filesystems: { fstype: string; source: string }[] };
    return parsed.filesystems[0];
  } catch {
    return undefined;
  }
}

describe('embedded default pool on a filesystem without reflinks', () => {
  let sandbox: Sandbox;
  let ext4: string;
  let poolDir: string;

  before(async () => {
    sandbox = await Sandbox.create('embedded');
    ext4 = await sandbox.ext4Dir('host', 2 * GiB);
    poolDir = join(ext4, 'dolly');
  });
  after(async () => sandbox.cleanup());

  it('creates a sparse XFS image, mounts it over the pool directory, and clones by reflink', async () => {
    const driver = await Driver.start(sandbox, { pool: poolDir, args: ['--pool-size', '3G'] });
    const serving = await driver.waitForLog((line) => line.msg === 'dolly is serving CSI');
    assert.equal(serving.poolKind, 'embedded');
    const mount = await mountOf(poolDir);
    assert.equal(mount?.fstype, 'xfs');
    assert.match(mount?.source ?? '', /^\/dev\/loop\d+$/);
    const loop = (mount?.source ?? '').replace('/dev/', '');
    const backing = (await readFile(`/sys/block/${loop}/loop/backing_file`, 'utf8')).trim();
    assert.equal(backing, join(poolDir, 'embedded-pool.img'));

    const { volume } = await driver.client.createVolume({
      name: 'on-embedded',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 64 * MiB },
    });
    await writePattern(join(poolDir, 'volumes', volume!.volume_id, 'disk.img'), 0, 64 * MiB, 'embedded');
    const clone = await driver.client.createVolume({
      name: 'on-embedded-clone',
      volume_capabilities: mountCapability(),
      volume_content_source: { volume: { volume_id: volume!.volume_id } },
    });
    assert.equal(
      await hashFile(join(poolDir, 'volumes', clone.volume!.volume_id, 'disk.img')),
      await hashFile(join(poolDir, 'volumes', volume!.volume_id, 'disk.img')),
    );
    assert.ok((await poolBytes(poolDir)) > 2.5 * GiB, 'the pool has the size asked for');
    // What can be made is bounded by the host filesystem that holds the sparse image, too.
    const capacity = await driver.client.getCapacity({});
    assert.ok((capacity.maximum_volume_size?.value ?? 0) <= capacity.available_capacity);
    assert.equal(await driver.stop(), 0);
  });

  it('a restart while mounted keeps using the same pool', async () => {
    const driver = await Driver.start(sandbox, { pool: poolDir, args: ['--pool-size', '3G'] });
    assert.equal((await driver.client.listVolumes({})).entries.length, 2);
    assert.equal(await driver.stop(), 0);
  });

  it('after the mount is gone (a reboot) it mounts the image again, and grows it to a larger --pool-size', async () => {
    await sh('umount', [poolDir]);
    assert.equal(await mountOf(poolDir), undefined);
    assert.ok((await stat(join(poolDir, 'embedded-pool.img'))).isFile());

    const driver = await Driver.start(sandbox, { pool: poolDir, args: ['--pool-size', '5G'] });
    assert.equal((await mountOf(poolDir))?.fstype, 'xfs');
    assert.equal((await driver.client.listVolumes({})).entries.length, 2);
    assert.ok((await poolBytes(poolDir)) > 4.5 * GiB, 'the pool grew to the new size');
    assert.equal(await driver.stop(), 0);
  });

  it('Probe is FAILED_PRECONDITION once the pool is unmounted under the driver', async () => {
    const driver = await Driver.start(sandbox, { pool: poolDir });
    assert.deepEqual(await driver.client.probe(), { ready: { value: true } });
    await sh('umount', [poolDir]);
    await expectCode(driver.client.probe(), status.FAILED_PRECONDITION, /no longer mounted/);
    assert.equal(await driver.stop(), 0);
  });

  it('a non-empty directory that cannot reflink is refused with what to do', async () => {
    const occupied = join(ext4, 'occupied');
    await mkdir(occupied);
    await writeFile(join(occupied, 'notes.txt'), 'mine');
    const result = await startExpectingFailure(sandbox, { pool: occupied });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot reflink/);
    assert.match(result.stderr, /not empty/);
    assert.match(result.stderr, /--pool/);
    assert.equal(await readFile(join(occupied, 'notes.txt'), 'utf8'), 'mine');
    assert.equal(await mountOf(occupied), undefined);
  });

  it('a pool path that is a file is refused', async () => {
    const file = join(ext4, 'a-file');
    await writeFile(file, 'x');
    const result = await startExpectingFailure(sandbox, { pool: file });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot use .* as the pool directory/);
  });
});

/** The size of the filesystem mounted at `dir`. */
async function poolBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.blocks * fs.bsize;
}
