import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { Sandbox, mountsUnder } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, mountCapability, status } from '../helpers/csi.js';

/**
 * IDs Dolly never issued, as csi-sanity sends them: an ID that is not Dolly's is the ID of
 * nothing, so each RPC answers what the spec says for a missing object. Missing required
 * fields are still INVALID_ARGUMENT, and are checked first.
 */
describe('IDs that Dolly never issued get the spec’s answers for missing objects', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;
  let staging: string;
  let target: string;

  const fakeVolume = 'fake-vol-id-0123456789';
  const fakeSnapshot = 'reallyfakesnapshotid';
  const capability = mountCapability()[0]!;

  before(async () => {
    sandbox = await Sandbox.create('foreign');
    pool = await sandbox.pool('pool', 2 * GiB);
    driver = await Driver.start(sandbox, { pool });
    staging = sandbox.path('staging');
    await mkdir(staging);
    target = sandbox.path('pods');
    await mkdir(target);
  });
  after(async () => sandbox.cleanup());

  const poolEntries = async () => ({
    volumes: await readdir(join(pool, 'volumes')),
    snapshots: await readdir(join(pool, 'snapshots')),
    tmp: await readdir(join(pool, 'tmp')),
  });

  it('controller: deletes are OK, lookups and sources are NOT_FOUND, tokens ABORTED, filters empty', async () => {
    const before = await poolEntries();
    await driver.client.deleteVolume({ volume_id: fakeVolume });
    await driver.client.deleteVolume({ volume_id: 'fake-vol-id' });
    await driver.client.deleteSnapshot({ snapshot_id: fakeSnapshot });
    await expectCode(
      driver.client.createVolume({
        name: 'from-fake-snapshot',
        volume_capabilities: [capability],
        volume_content_source: { snapshot: { snapshot_id: 'non-existing-snapshot-id' } },
      }),
      status.NOT_FOUND,
      /non-existing-snapshot-id/,
    );
    await expectCode(
      driver.client.createVolume({
        name: 'from-fake-volume',
        volume_capabilities: [capability],
        volume_content_source: { volume: { volume_id: fakeVolume } },
      }),
      status.NOT_FOUND,
      /does not exist/,
    );
    await expectCode(
      driver.client.validateVolumeCapabilities({ volume_id: fakeVolume, volume_capabilities: [capability] }),
      status.NOT_FOUND,
    );
    await expectCode(driver.client.controllerGetVolume({ volume_id: fakeVolume }), status.NOT_FOUND);
    await expectCode(
      driver.client.controllerExpandVolume({
        volume_id: fakeVolume,
        capacity_range: { required_bytes: GiB },
      }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.createSnapshot({ name: 'of-fake', source_volume_id: fakeVolume }),
      status.NOT_FOUND,
    );
    assert.deepEqual((await driver.client.listSnapshots({ snapshot_id: 'none-exist-id' })).entries, []);
    assert.deepEqual((await driver.client.listSnapshots({ source_volume_id: fakeVolume })).entries, []);
    await expectCode(driver.client.listSnapshots({ starting_token: 'invalid-token' }), status.ABORTED);
    await expectCode(driver.client.listVolumes({ starting_token: 'invalid-token' }), status.ABORTED);
    assert.deepEqual(await poolEntries(), before, 'nothing was made');
  });

  it('controller: missing required fields are INVALID_ARGUMENT, before any lookup', async () => {
    await expectCode(driver.client.deleteVolume({}), status.INVALID_ARGUMENT, /volume_id is required/);
    await expectCode(driver.client.deleteSnapshot({}), status.INVALID_ARGUMENT, /snapshot_id is required/);
    await expectCode(driver.client.validateVolumeCapabilities({}), status.INVALID_ARGUMENT, /volume_id/);
    await expectCode(
      driver.client.validateVolumeCapabilities({ volume_id: fakeVolume }),
      status.INVALID_ARGUMENT,
      /volume_capabilities is required/,
    );
    await expectCode(driver.client.controllerGetVolume({}), status.INVALID_ARGUMENT, /volume_id/);
    await expectCode(
      driver.client.controllerExpandVolume({ volume_id: fakeVolume }),
      status.INVALID_ARGUMENT,
      /capacity_range is required/,
    );
    await expectCode(
      driver.client.controllerExpandVolume({ capacity_range: { required_bytes: GiB } }),
      status.INVALID_ARGUMENT,
      /volume_id is required/,
    );
    await expectCode(
      driver.client.createSnapshot({ source_volume_id: 'testId' }),
      status.INVALID_ARGUMENT,
      /name is required/,
    );
    await expectCode(
      driver.client.createSnapshot({ name: 'name' }),
      status.INVALID_ARGUMENT,
      /source_volume_id is required/,
    );
    await expectCode(
      driver.client.createVolume({
        name: '',
        volume_content_source: { volume: { volume_id: fakeVolume } },
      }),
      status.INVALID_ARGUMENT,
      /name is required/,
    );
    await expectCode(
      driver.client.createVolume({
        name: 'no-capabilities',
        volume_content_source: { volume: { volume_id: fakeVolume } },
      }),
      status.INVALID_ARGUMENT,
      /volume_capabilities is required/,
    );
    await expectCode(
      driver.client.createVolume({
        name: 'empty-source-id',
        volume_capabilities: [capability],
        volume_content_source: { volume: { volume_id: '' } },
      }),
      status.INVALID_ARGUMENT,
      /volume_id is required/,
    );
  });

  it('node: stage, publish, stats and expand are NOT_FOUND; unstage and unpublish are OK and touch nothing', async () => {
    await expectCode(
      driver.client.nodeStageVolume({
        volume_id: fakeVolume,
        staging_target_path: staging,
        volume_capability: capability,
      }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.nodePublishVolume({
        volume_id: fakeVolume,
        staging_target_path: staging,
        target_path: join(target, 'target'),
        volume_capability: capability,
      }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.nodeGetVolumeStats({ volume_id: fakeVolume, volume_path: 'some/path' }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.nodeGetVolumeStats({ volume_id: fakeVolume, volume_path: staging }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.nodeExpandVolume({ volume_id: fakeVolume, volume_path: 'some/path' }),
      status.NOT_FOUND,
    );
    const empty = join(target, 'empty-dir');
    await mkdir(empty);
    await driver.client.nodeUnpublishVolume({ volume_id: fakeVolume, target_path: empty });
    await driver.client.nodeUnstageVolume({ volume_id: fakeVolume, staging_target_path: staging });
    assert.deepEqual(await readdir(target), ['empty-dir'], 'nothing of a foreign volume is removed');
    assert.deepEqual(await readdir(staging), []);
    assert.deepEqual(await mountsUnder(sandbox.path('staging')), []);
  });

  it('node: missing required fields are INVALID_ARGUMENT, before any lookup (csi-sanity order)', async () => {
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['publish without volume_id', () => driver.client.nodePublishVolume({}), /volume_id is required/],
      [
        'publish without target_path',
        () => driver.client.nodePublishVolume({ volume_id: fakeVolume }),
        /target_path is required/,
      ],
      [
        'publish without volume_capability',
        () => driver.client.nodePublishVolume({ volume_id: fakeVolume, target_path: join(target, 'target') }),
        /volume_capability is required/,
      ],
      ['unpublish without volume_id', () => driver.client.nodeUnpublishVolume({}), /volume_id is required/],
      [
        'unpublish without target_path',
        () => driver.client.nodeUnpublishVolume({ volume_id: fakeVolume }),
        /target_path is required/,
      ],
      [
        'stage without volume_id',
        () => driver.client.nodeStageVolume({ staging_target_path: staging, volume_capability: capability }),
        /volume_id is required/,
      ],
      [
        'stage without staging_target_path',
        () => driver.client.nodeStageVolume({ volume_id: fakeVolume, volume_capability: capability }),
        /staging_target_path is required/,
      ],
      [
        'stage without volume_capability',
        () => driver.client.nodeStageVolume({ volume_id: fakeVolume, staging_target_path: staging }),
        /volume_capability is required/,
      ],
      [
        'unstage without volume_id',
        () => driver.client.nodeUnstageVolume({ staging_target_path: staging }),
        /volume_id is required/,
      ],
      [
        'unstage without staging_target_path',
        () => driver.client.nodeUnstageVolume({ volume_id: fakeVolume }),
        /staging_target_path is required/,
      ],
      [
        'stats without volume_id',
        () => driver.client.nodeGetVolumeStats({ volume_path: 'some/path' }),
        /volume_id is required/,
      ],
      [
        'stats without volume_path',
        () => driver.client.nodeGetVolumeStats({ volume_id: fakeVolume }),
        /volume_path is required/,
      ],
      [
        'expand without volume_id',
        () => driver.client.nodeExpandVolume({ volume_path: target, volume_capability: capability }),
        /volume_id is required/,
      ],
      [
        'expand without volume_path',
        () => driver.client.nodeExpandVolume({ volume_id: fakeVolume, volume_capability: capability }),
        /volume_path is required/,
      ],
      [
        'expand with a bad capacity_range',
        () =>
          driver.client.nodeExpandVolume({
            volume_id: fakeVolume,
            volume_path: target,
            capacity_range: { required_bytes: 2 * MiB, limit_bytes: MiB },
          }),
        /larger than limit_bytes/,
      ],
    ];
    for (const [what, call, pattern] of cases) {
      await expectCode(call(), status.INVALID_ARGUMENT, pattern).catch((error: unknown) => {
        throw new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
  });
});
