import assert from 'node:assert/strict';
import { mkdir, readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver, startExpectingFailure } from '../helpers/driver.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, hashFile, mountCapability, status, writePattern } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';

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
  /** The pool of the Probe test: the default kind. */
  let poolDir: string;

  before(async () => {
    sandbox = await Sandbox.create('embedded');
    ext4 = await sandbox.ext4Dir('host', 2 * GiB);
    poolDir = join(ext4, 'dolly-btrfs');
  });
  after(async () => sandbox.cleanup());

  for (const fs of ['btrfs', 'xfs'] as const) {
    const embeddedDir = (): string => join(ext4, `dolly-${fs}`);
    // btrfs is the default: no option. Restarts name the other filesystem, which must not matter.
    const choice = fs === 'btrfs' ? [] : ['--embedded-fs', 'xfs'];
    const other = ['--embedded-fs', fs === 'btrfs' ? 'xfs' : 'btrfs'];

    it(`creates a sparse ${fs} image${fs === 'btrfs' ? ' (the default)' : ''}, mounts it over the pool directory, and clones on it`, async () => {
      const driver = await Driver.start(sandbox, {
        pool: embeddedDir(),
        args: ['--pool-size', '3G', ...choice],
      });
      const serving = await driver.waitForLog((line) => line.msg === 'dolly is serving CSI');
      assert.equal(serving.poolKind, 'embedded');
      assert.equal(serving.poolFs, fs);
      assert.equal(serving.backend, fs === 'btrfs' ? 'btrfs' : 'reflink');
      const mount = await mountOf(embeddedDir());
      assert.equal(mount?.fstype, fs);
      assert.match(mount?.source ?? '', /^\/dev\/loop\d+$/);
      const loop = (mount?.source ?? '').replace('/dev/', '');
      const backing = (await readFile(`/sys/block/${loop}/loop/backing_file`, 'utf8')).trim();
      assert.equal(backing, join(embeddedDir(), 'embedded-pool.img'));

      const { volume } = await driver.client.createVolume({
        name: 'on-embedded',
        volume_capabilities: mountCapability(),
        capacity_range: { required_bytes: 64 * MiB },
      });
      await writePattern(imageOf(embeddedDir(), 'volumes', volume!.volume_id), 0, 64 * MiB, 'embedded');
      const clone = await driver.client.createVolume({
        name: 'on-embedded-clone',
        volume_capabilities: mountCapability(),
        volume_content_source: { volume: { volume_id: volume!.volume_id } },
      });
      assert.equal(
        await hashFile(imageOf(embeddedDir(), 'volumes', clone.volume!.volume_id)),
        await hashFile(imageOf(embeddedDir(), 'volumes', volume!.volume_id)),
      );
      assert.ok((await poolBytes(embeddedDir())) > 2.5 * GiB, 'the pool has the size asked for');
      // What can be made is bounded by the host filesystem that holds the sparse image, too.
      const capacity = await driver.client.getCapacity({});
      assert.ok((capacity.maximum_volume_size?.value ?? 0) <= capacity.available_capacity);
      assert.equal(await driver.stop(), 0);
    });

    it(`${fs}: a restart while mounted keeps using the same pool, whatever --embedded-fs says`, async () => {
      const driver = await Driver.start(sandbox, {
        pool: embeddedDir(),
        args: ['--pool-size', '3G', ...other],
      });
      assert.equal((await driver.client.listVolumes({})).entries.length, 2);
      assert.equal(await driver.stop(), 0);
    });

    it(`${fs}: after the mount is gone (a reboot) it mounts the image again, and grows it to a larger --pool-size`, async () => {
      await sh('umount', [embeddedDir()]);
      assert.equal(await mountOf(embeddedDir()), undefined);
      assert.ok((await stat(join(embeddedDir(), 'embedded-pool.img'))).isFile());

      const driver = await Driver.start(sandbox, {
        pool: embeddedDir(),
        args: ['--pool-size', '5G', ...other],
      });
      assert.equal((await mountOf(embeddedDir()))?.fstype, fs);
      assert.equal((await driver.client.listVolumes({})).entries.length, 2);
      assert.ok((await poolBytes(embeddedDir())) > 4.5 * GiB, 'the pool grew to the new size');
      assert.equal(await driver.stop(), 0);
    });
  }

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
