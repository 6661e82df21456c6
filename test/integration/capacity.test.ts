import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Driver } from '../helpers/driver.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { sh } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, hashFile, mountCapability, status, writePattern } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startDriverOnPool } from '../helpers/suite.js';

describe('capacity: what the pool can really provide', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('capacity', GiB)));
  after(async () => sandbox.cleanup());

  const create = (name: string, requiredBytes: number, extra: Record<string, unknown> = {}) =>
    driver.client.createVolume({
      name,
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: requiredBytes },
      ...extra,
    });

  it('GetCapacity drops as data is written; new space that does not fit is RESOURCE_EXHAUSTED, shared space is free', async () => {
    const empty = await driver.client.getCapacity({});
    const source = (await create('source', 100 * MiB)).volume!;
    const filler = (await create('filler', 750 * MiB)).volume!;
    await writePattern(imageOf(pool, 'volumes', source.volume_id), 0, 100 * MiB, 'source');
    await writePattern(imageOf(pool, 'volumes', filler.volume_id), 0, 750 * MiB, 'filler');
    const after = await driver.client.getCapacity({});
    assert.ok(
      empty.available_capacity - after.available_capacity >= 840 * MiB,
      'written data is no longer available',
    );
    assert.ok(after.available_capacity < 150 * MiB, `available ${after.available_capacity}`);

    await expectCode(create('too-much', 200 * MiB), status.RESOURCE_EXHAUSTED, /needs 200 MiB of new space/);
    await expectCode(
      create('clone-too-large', 300 * MiB, {
        volume_content_source: { volume: { volume_id: source.volume_id } },
      }),
      status.RESOURCE_EXHAUSTED,
      /needs 200 MiB of new space/,
    );
    await expectCode(
      driver.client.controllerExpandVolume({
        volume_id: source.volume_id,
        capacity_range: { required_bytes: 400 * MiB },
      }),
      status.RESOURCE_EXHAUSTED,
    );
    // A same-size clone shares every block: it fits although the pool could not hold a copy.
    const clone = await create('clone-free', 750 * MiB, {
      volume_content_source: { volume: { volume_id: filler.volume_id } },
    });
    assert.equal(clone.volume?.capacity_bytes, 750 * MiB);
    const snap = await driver.client.createSnapshot({
      name: 'snap-free',
      source_volume_id: filler.volume_id,
    });
    assert.equal(snap.snapshot?.ready_to_use, true);
    assert.ok((await driver.client.getCapacity({})).available_capacity > after.available_capacity - 16 * MiB);
  });

  it('the space a delete frees is there for the next create at once (btrfs frees a subvolume in the background)', async () => {
    const volumes = (await driver.client.listVolumes({})).entries.map((entry) => entry.volume!.volume_id);
    for (const { snapshot } of (await driver.client.listSnapshots({})).entries) {
      await driver.client.deleteSnapshot({ snapshot_id: snapshot!.snapshot_id });
    }
    for (const id of volumes) await driver.client.deleteVolume({ volume_id: id });
    const { volume } = await create('after-deletes', 800 * MiB);
    assert.equal(volume?.capacity_bytes, 800 * MiB);
    await driver.client.deleteVolume({ volume_id: volume.volume_id });
  });

  it('a first stage on a full pool is RESOURCE_EXHAUSTED and changes nothing; with space again it stages', async () => {
    const { volume } = await create('stage-when-full', 64 * MiB);
    const id = volume!.volume_id;
    const image = imageOf(pool, 'volumes', id);
    await writePattern(image, 0, MiB, 'not a filesystem yet');
    const before = await hashFile(image);
    // Fill the pool beside Dolly's directories until the filesystem says it is full.
    const filler = join(pool, 'filler');
    await sh('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'conv=fsync', 'status=none']).catch(
      () => undefined,
    );
    const staging = sandbox.path('staging-when-full');
    await mkdir(staging);
    const stage = () =>
      driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: mountCapability()[0]!,
      });
    await expectCode(stage(), status.RESOURCE_EXHAUSTED, /needed to make its filesystem/);
    assert.equal(await hashFile(image), before, 'the refused stage did not touch the volume');

    await rm(filler);
    await stage();
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    await driver.client.deleteVolume({ volume_id: id });
  });
});
