import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { volumeIdForName } from '../../src/pool/ids.js';
import { Driver } from '../helpers/driver.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
import { GiB, MiB, blockCapability, hashFile, writePattern } from '../helpers/csi.js';

/** The inode number of a btrfs subvolume's root directory. */
const SUBVOLUME_ROOT_INODE = 256;

/**
 * What is particular to the btrfs backend, on a real loop-mounted btrfs pool (every other test
 * also runs on one: scripts/run-tests.mjs). Each volume and snapshot is a subvolume, a copy is a
 * subvolume snapshot, a delete removes the subvolume, work a crash leaves is removed at start.
 */
describe('btrfs backend: a subvolume per volume', () => {
  let sandbox: Sandbox;
  let pool: string;
  let driver: Driver;

  before(async () => {
    sandbox = await Sandbox.create('btrfs-backend');
    pool = await sandbox.btrfsPool('pool', 4 * GiB);
    driver = await Driver.start(sandbox, { pool });
  });
  after(async () => sandbox.cleanup());

  const restart = async (env?: Record<string, string>) => {
    await driver.stop();
    driver = await Driver.start(sandbox, { pool, ...(env ? { env } : {}) });
  };
  const isSubvolume = async (path: string) => (await stat(path)).ino === SUBVOLUME_ROOT_INODE;
  /** The subvolumes of the pool, as paths relative to it (btrfs's own list, not our layout). */
  const subvolumes = async () =>
    (await sh('btrfs', ['subvolume', 'list', '-o', pool]))
      .split('\n')
      .filter(Boolean)
      .map((line) => line.replace(/^.* path /, ''))
      .sort();
  const image = (dir: 'volumes' | 'snapshots', id: string) => join(pool, dir, id, 'disk.img');

  it('volumes, clones, snapshots and restores are subvolumes; a fragmented image is copied whole; deletes remove them', async () => {
    const info = await driver.client.getPluginInfo();
    assert.equal(info.manifest['dolly.csi.dev/backend'], 'btrfs');
    assert.equal(driver.logs.find((line) => line.msg === 'dolly is serving CSI')?.backend, 'btrfs');

    const { volume: source } = await driver.client.createVolume({
      name: 'source',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 256 * MiB },
    });
    const sourceId = source!.volume_id;
    // Scattered writes: thousands of extents, which a reflink would remap one by one.
    for (let block = 0; block < 2000; block += 1) {
      await writePattern(image('volumes', sourceId), ((block * 7919) % 65536) * 4096, 4096, `b${block}`);
    }
    await sh('sync', []);
    const sourceHash = await hashFile(image('volumes', sourceId));

    const { volume: clone } = await driver.client.createVolume({
      name: 'clone',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: sourceId } },
    });
    const { snapshot } = await driver.client.createSnapshot({ name: 'snap', source_volume_id: sourceId });
    const { volume: restored } = await driver.client.createVolume({
      name: 'restored',
      volume_capabilities: blockCapability(),
      volume_content_source: { snapshot: { snapshot_id: snapshot!.snapshot_id } },
    });
    const cloneId = clone!.volume_id;
    const restoredId = restored!.volume_id;
    for (const dir of [
      join(pool, 'volumes', sourceId),
      join(pool, 'volumes', cloneId),
      join(pool, 'volumes', restoredId),
      join(pool, 'snapshots', snapshot!.snapshot_id),
    ]) {
      assert.ok(await isSubvolume(dir), `${dir} is a subvolume`);
    }
    assert.deepEqual(await subvolumes(), [
      `snapshots/${snapshot!.snapshot_id}`,
      ...[sourceId, cloneId, restoredId].map((id) => `volumes/${id}`).sort(),
    ]);
    assert.equal(await hashFile(image('volumes', cloneId)), sourceHash);
    assert.equal(await hashFile(image('volumes', restoredId)), sourceHash);
    assert.equal((await stat(image('snapshots', snapshot!.snapshot_id))).mode & 0o777, 0o400);
    assert.equal((await stat(image('volumes', restoredId))).mode & 0o777, 0o600);

    // Independent: writing the clone changes neither the source nor the snapshot.
    await writePattern(image('volumes', cloneId), 0, 4 * MiB, 'clone only');
    assert.equal(await hashFile(image('volumes', sourceId)), sourceHash);
    assert.equal(await hashFile(image('snapshots', snapshot!.snapshot_id)), sourceHash);

    await driver.client.deleteVolume({ volume_id: sourceId });
    await driver.client.deleteSnapshot({ snapshot_id: snapshot!.snapshot_id });
    assert.equal(await hashFile(image('volumes', restoredId)), sourceHash, 'the restore outlives both');
    await driver.client.deleteVolume({ volume_id: cloneId });
    await driver.client.deleteVolume({ volume_id: restoredId });
    assert.deepEqual(await subvolumes(), []);
    assert.deepEqual(await readdir(join(pool, 'trash')), []);
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
  });

  it('a driver killed before the rename leaves a subvolume in tmp/; the next start removes it and the retry makes one volume', async () => {
    const { volume: source } = await driver.client.createVolume({
      name: 'crash-source',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 16 * MiB },
    });
    await restart({ DOLLY_FAULT_CRASH: 'build:before-rename' });
    await assert.rejects(
      driver.client.createVolume({
        name: 'crash-clone',
        volume_capabilities: blockCapability(),
        volume_content_source: { volume: { volume_id: source!.volume_id } },
      }),
    );
    const [leftover, ...more] = await readdir(join(pool, 'tmp'));
    assert.ok(leftover !== undefined && more.length === 0, 'the half-made clone is in tmp/');
    assert.ok(await isSubvolume(join(pool, 'tmp', leftover)));

    await restart();
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
    const { volume: clone } = await driver.client.createVolume({
      name: 'crash-clone',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: source!.volume_id } },
    });
    assert.deepEqual(
      await subvolumes(),
      [`volumes/${clone!.volume_id}`, `volumes/${source!.volume_id}`].sort(),
    );
    await driver.client.deleteVolume({ volume_id: clone!.volume_id });
    await driver.client.deleteVolume({ volume_id: source!.volume_id });
  });

  it('a volume the reflink backend made on this pool (a plain directory) still clones, snapshots and deletes', async () => {
    const name = 'made-by-reflink-backend';
    const id = volumeIdForName(name, 'test-node');
    const dir = join(pool, 'volumes', id);
    await mkdir(dir, { mode: 0o700 });
    await writeFile(join(dir, 'disk.img'), Buffer.alloc(0), { mode: 0o600 });
    await sh('truncate', ['-s', String(32 * MiB), join(dir, 'disk.img')]);
    await writePattern(join(dir, 'disk.img'), 0, 32 * MiB, 'old volume');
    const meta = {
      version: 1,
      id,
      name,
      sizeBytes: 32 * MiB,
      mode: 'block',
      parameters: {},
      createdAt: new Date().toISOString(),
    };
    await writeFile(join(dir, 'meta.json'), JSON.stringify(meta), { mode: 0o600 });
    const hash = await hashFile(join(dir, 'disk.img'));

    const { volume: clone } = await driver.client.createVolume({
      name: 'clone-of-old',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: id } },
    });
    const { snapshot } = await driver.client.createSnapshot({ name: 'snap-of-old', source_volume_id: id });
    assert.ok(await isSubvolume(join(pool, 'volumes', clone!.volume_id)));
    assert.ok(await isSubvolume(join(pool, 'snapshots', snapshot!.snapshot_id)));
    assert.equal(await hashFile(image('volumes', clone!.volume_id)), hash);
    assert.equal(await hashFile(image('snapshots', snapshot!.snapshot_id)), hash);

    await driver.client.deleteVolume({ volume_id: id });
    await assert.rejects(stat(dir), { code: 'ENOENT' });
    assert.equal(await hashFile(image('volumes', clone!.volume_id)), hash);
    await driver.client.deleteVolume({ volume_id: clone!.volume_id });
    await driver.client.deleteSnapshot({ snapshot_id: snapshot!.snapshot_id });
    assert.deepEqual(await subvolumes(), []);
  });
});
