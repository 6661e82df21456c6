import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB, blockCapability, hashFile, writePattern } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';

/**
 * How a pool makes its changes durable depends on whether it has its filesystem to itself
 * (pool/durability.ts): one shared syncfs for a pool that is a mount of its own, fsyncs of its
 * own files and directories for a pool inside a filesystem others use. Both must build whole
 * objects, survive a crash before the rename and converge on retry.
 */
describe('durability: shared syncfs for a pool of its own, fsyncs inside a shared filesystem', () => {
  let sandbox: Sandbox;
  let mount: string;

  before(async () => {
    sandbox = await Sandbox.create('durability');
    mount = await sandbox.pool('pool', 2 * GiB);
  });
  after(async () => sandbox.cleanup());

  const serving = (driver: Driver) => driver.logs.find((line) => line.msg === 'dolly is serving CSI');

  /** Volumes, a clone, a snapshot and a restore made at once, then a crash before a rename and the retry. */
  const exercise = async (pool: string, tag: string) => {
    let driver = await Driver.start(sandbox, { pool });
    try {
      const made = await Promise.all(
        Array.from({ length: 12 }, (_, index) =>
          driver.client.createVolume({
            name: `${tag}-${index}`,
            volume_capabilities: blockCapability(),
            capacity_range: { required_bytes: 8 * MiB },
          }),
        ),
      );
      const source = made[0]!.volume!.volume_id;
      await writePattern(imageOf(pool, 'volumes', source), 0, 8 * MiB, tag);
      const hash = await hashFile(imageOf(pool, 'volumes', source));
      const [clone, snapshot] = await Promise.all([
        driver.client.createVolume({
          name: `${tag}-clone`,
          volume_capabilities: blockCapability(),
          volume_content_source: { volume: { volume_id: source } },
        }),
        driver.client.createSnapshot({ name: `${tag}-snap`, source_volume_id: source }),
      ]);
      const { volume: restored } = await driver.client.createVolume({
        name: `${tag}-restored`,
        volume_capabilities: blockCapability(),
        volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot!.snapshot_id } },
      });
      assert.equal(await hashFile(imageOf(pool, 'volumes', clone.volume!.volume_id)), hash);
      assert.equal(await hashFile(imageOf(pool, 'volumes', restored!.volume_id)), hash);
      await Promise.all(
        made.slice(1).map(({ volume }) => driver.client.deleteVolume({ volume_id: volume!.volume_id })),
      );

      // Killed after the work is durable, before its rename: nothing is made, the retry makes it once.
      await driver.stop();
      driver = await Driver.start(sandbox, { pool, env: { DOLLY_FAULT_CRASH: 'build:before-rename' } });
      await assert.rejects(
        driver.client.createVolume({
          name: `${tag}-crash`,
          volume_capabilities: blockCapability(),
          volume_content_source: { volume: { volume_id: source } },
        }),
      );
      assert.equal((await readdir(join(pool, 'tmp'))).length, 1, 'the killed build is left in tmp/');
      await driver.stop();
      driver = await Driver.start(sandbox, { pool });
      assert.deepEqual(await readdir(join(pool, 'tmp')), []);
      const { volume: retried } = await driver.client.createVolume({
        name: `${tag}-crash`,
        volume_capabilities: blockCapability(),
        volume_content_source: { volume: { volume_id: source } },
      });
      assert.equal(await hashFile(imageOf(pool, 'volumes', retried!.volume_id)), hash);
      const ids = (await driver.client.listVolumes({})).entries
        .map((entry) => entry.volume!.volume_id)
        .sort();
      assert.deepEqual(
        ids,
        [source, clone.volume!.volume_id, restored!.volume_id, retried!.volume_id].sort(),
      );
      return driver;
    } catch (error) {
      await driver.stop();
      throw error;
    }
  };

  it('a pool that is a mount of its own: one syncfs shared by the operations in flight', async () => {
    const driver = await exercise(mount, 'own');
    assert.equal(serving(driver)?.durability, 'filesystem');
    await driver.stop();
  });

  it('a pool inside a filesystem others use: its own files and directories are fsynced', async () => {
    const pool = join(mount, 'shared', 'dolly');
    await mkdir(pool, { recursive: true });
    const driver = await exercise(pool, 'inside');
    assert.equal(serving(driver)?.durability, 'files');
    await driver.stop();
  });
});
