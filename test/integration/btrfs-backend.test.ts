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
 * also runs on one: scripts/run-tests.mjs). Each volume and snapshot keeps its image in a
 * subvolume data/ beside its meta.json, a copy is a snapshot of data/ (read-only for a CSI
 * snapshot) that nothing writes into afterwards, a delete removes the subvolume, work a crash
 * leaves is removed at start, and objects of older versions (a plain directory, or a subvolume
 * holding image and meta.json) still clone, snapshot and delete.
 */
describe('btrfs backend: the image of each volume in its own subvolume', () => {
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
  const image = (dir: 'volumes' | 'snapshots', id: string) => join(pool, dir, id, 'data', 'disk.img');
  /** btrfs's own record of a subvolume: its last transaction and the one that created it. */
  const generations = async (path: string) => {
    const show = await sh('btrfs', ['subvolume', 'show', path]);
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(show)?.[1]);
    return { last: field('Generation'), created: field('Gen at creation') };
  };
  const readOnly = async (path: string) =>
    (await sh('btrfs', ['property', 'get', '-ts', path, 'ro'])).trim() === 'ro=true';

  /**
   * A 32 MiB block volume as an earlier version left it: a plain directory (the reflink
   * backend's) or one subvolume, holding disk.img and meta.json. Returns its ID, directory and
   * the hash of its image.
   */
  const olderVolume = async (name: string, dirKind: 'directory' | 'subvolume') => {
    const id = volumeIdForName(name, 'test-node');
    const dir = join(pool, 'volumes', id);
    if (dirKind === 'subvolume') await sh('btrfs', ['subvolume', 'create', dir]);
    else await mkdir(dir, { mode: 0o700 });
    await writeFile(join(dir, 'disk.img'), Buffer.alloc(0), { mode: 0o600 });
    await sh('truncate', ['-s', String(32 * MiB), join(dir, 'disk.img')]);
    await writePattern(join(dir, 'disk.img'), 0, 32 * MiB, name);
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
    return { id, dir, hash: await hashFile(join(dir, 'disk.img')) };
  };

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
    // Checked before the restore: the source of a snapshot gets a new generation.
    const snapshotGenerations = await generations(join(pool, 'snapshots', snapshot!.snapshot_id, 'data'));
    assert.equal(
      snapshotGenerations.last,
      snapshotGenerations.created,
      'the snapshot was not changed after it was made',
    );
    const { volume: restored } = await driver.client.createVolume({
      name: 'restored',
      volume_capabilities: blockCapability(),
      volume_content_source: { snapshot: { snapshot_id: snapshot!.snapshot_id } },
    });
    const cloneId = clone!.volume_id;
    const restoredId = restored!.volume_id;
    const snapshotData = join(pool, 'snapshots', snapshot!.snapshot_id, 'data');
    for (const dir of [
      join(pool, 'volumes', sourceId),
      join(pool, 'volumes', cloneId),
      join(pool, 'volumes', restoredId),
      join(pool, 'snapshots', snapshot!.snapshot_id),
    ]) {
      assert.ok(!(await isSubvolume(dir)), `${dir} is a plain directory`);
      assert.deepEqual((await readdir(dir)).sort(), ['data', 'meta.json']);
      assert.ok(await isSubvolume(join(dir, 'data')), `${dir}/data is a subvolume`);
    }
    assert.deepEqual(await subvolumes(), [
      `snapshots/${snapshot!.snapshot_id}/data`,
      ...[sourceId, cloneId, restoredId].map((id) => `volumes/${id}/data`).sort(),
    ]);
    // Nothing was written into a copy after its snapshot (made just before): it shares every
    // tree block with its source, so no transaction has to copy the source's extent records.
    for (const data of [join(pool, 'volumes', cloneId, 'data'), join(pool, 'volumes', restoredId, 'data')]) {
      const { last, created } = await generations(data);
      assert.equal(last, created, `${data} was not changed after it was made`);
    }
    assert.equal(await hashFile(image('volumes', cloneId)), sourceHash);
    assert.equal(await hashFile(image('volumes', restoredId)), sourceHash);
    // The snapshot's image cannot be written, not even by root: its subvolume is read-only.
    assert.ok(await readOnly(snapshotData));
    assert.ok(!(await readOnly(join(pool, 'volumes', restoredId, 'data'))));
    await assert.rejects(writeFile(image('snapshots', snapshot!.snapshot_id), 'x'), { code: 'EROFS' });
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
    assert.ok(await isSubvolume(join(pool, 'tmp', leftover, 'data')));

    await restart();
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
    const { volume: clone } = await driver.client.createVolume({
      name: 'crash-clone',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: source!.volume_id } },
    });
    assert.deepEqual(
      await subvolumes(),
      [`volumes/${clone!.volume_id}/data`, `volumes/${source!.volume_id}/data`].sort(),
    );
    await driver.client.deleteVolume({ volume_id: clone!.volume_id });
    await driver.client.deleteVolume({ volume_id: source!.volume_id });
  });

  it('a volume the reflink backend made on this pool (a plain directory) still clones, snapshots and deletes', async () => {
    const { id, dir, hash } = await olderVolume('made-by-reflink-backend', 'directory');

    const { volume: clone } = await driver.client.createVolume({
      name: 'clone-of-old',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: id } },
    });
    const { snapshot } = await driver.client.createSnapshot({ name: 'snap-of-old', source_volume_id: id });
    // The copies have this version's layout.
    assert.ok(await isSubvolume(join(pool, 'volumes', clone!.volume_id, 'data')));
    assert.ok(await readOnly(join(pool, 'snapshots', snapshot!.snapshot_id, 'data')));
    assert.equal(await hashFile(image('volumes', clone!.volume_id)), hash);
    assert.equal(await hashFile(image('snapshots', snapshot!.snapshot_id)), hash);
    assert.deepEqual(await readdir(join(pool, 'volumes', clone!.volume_id, 'data')), ['disk.img']);

    await driver.client.deleteVolume({ volume_id: id });
    await assert.rejects(stat(dir), { code: 'ENOENT' });
    assert.equal(await hashFile(image('volumes', clone!.volume_id)), hash);
    await driver.client.deleteVolume({ volume_id: clone!.volume_id });
    await driver.client.deleteSnapshot({ snapshot_id: snapshot!.snapshot_id });
    assert.deepEqual(await subvolumes(), []);
  });

  it('a volume of the subvolume-per-object version (image and meta.json in one subvolume) still clones, snapshots, restores, grows and deletes', async () => {
    const { id, dir, hash } = await olderVolume('made-as-one-subvolume', 'subvolume');

    const { volume: clone } = await driver.client.createVolume({
      name: 'clone-of-subvolume',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: id } },
    });
    const { snapshot } = await driver.client.createSnapshot({
      name: 'snap-of-subvolume',
      source_volume_id: id,
    });
    const { volume: restored } = await driver.client.createVolume({
      name: 'restore-of-subvolume',
      volume_capabilities: blockCapability(),
      volume_content_source: { snapshot: { snapshot_id: snapshot!.snapshot_id } },
    });
    // The copies hold only the image in data/ (the old meta.json is not carried along).
    for (const data of [
      join(pool, 'volumes', clone!.volume_id, 'data'),
      join(pool, 'snapshots', snapshot!.snapshot_id, 'data'),
      join(pool, 'volumes', restored!.volume_id, 'data'),
    ]) {
      assert.deepEqual(await readdir(data), ['disk.img'], data);
      assert.equal(await hashFile(join(data, 'disk.img')), hash);
    }
    assert.ok(await readOnly(join(pool, 'snapshots', snapshot!.snapshot_id, 'data')));

    // It still grows (its record is rewritten inside its own subvolume) and reads back.
    await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 64 * MiB },
    });
    assert.equal((await stat(join(dir, 'disk.img'))).size, 64 * MiB);
    const listed = (await driver.client.listVolumes({})).entries.map((entry) => entry.volume?.volume_id);
    assert.ok(listed.includes(id));

    await driver.client.deleteVolume({ volume_id: id });
    await assert.rejects(stat(dir), { code: 'ENOENT' });
    assert.equal(await hashFile(image('volumes', clone!.volume_id)), hash);
    await driver.client.deleteVolume({ volume_id: clone!.volume_id });
    await driver.client.deleteVolume({ volume_id: restored!.volume_id });
    await driver.client.deleteSnapshot({ snapshot_id: snapshot!.snapshot_id });
    assert.deepEqual(await subvolumes(), []);
  });
});
