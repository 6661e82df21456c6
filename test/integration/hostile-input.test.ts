import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB, expectCode, mountCapability, status } from '../helpers/csi.js';

/**
 * Another Node.js CSI driver joins the request's volume ID onto its base directory, so
 * DeleteVolume("../../../../etc") deletes the host's /etc. Every hostile ID here aims at a
 * canary directory this test creates beside the pool, never at a real system path.
 */
describe('hostile IDs never reach a path', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;
  let canary: string;

  const canaryFiles = async () => (await readdir(canary, { recursive: true })).sort();

  before(async () => {
    sandbox = await Sandbox.create('hostile');
    pool = await sandbox.pool('pool', 2 * GiB);
    // The canary sits two levels above <pool>/volumes/<id>, where a naive join would land.
    canary = sandbox.path('canary');
    await mkdir(join(canary, 'disk.img'), { recursive: true });
    await writeFile(join(canary, 'meta.json'), '{"keep":"me"}');
    await writeFile(join(canary, 'disk.img', 'data'), 'precious');
    driver = await Driver.start(sandbox, { pool });
  });
  after(async () => sandbox.cleanup());

  const hostile = (): string[] => [
    '../../canary',
    '../../../canary',
    `../../${'canary'}/`,
    canary,
    `${canary}/../canary`,
    'vol-../../canary',
    `vol-${'0'.repeat(32)}/../../../canary`,
    `vol-${'0'.repeat(31)}/`,
    `vol-${'0'.repeat(32)}\n`,
    `vol-${'0'.repeat(32)}\0`,
    `VOL-${'A'.repeat(32)}`,
    '.',
    '..',
    '/',
    '%2e%2e%2fcanary',
    'x'.repeat(5000),
  ];

  it('DeleteVolume and DeleteSnapshot answer OK (the ID of nothing) and touch nothing', async () => {
    const before = await canaryFiles();
    for (const id of hostile()) {
      await driver.client.deleteVolume({ volume_id: id });
      await driver.client.deleteSnapshot({ snapshot_id: id });
    }
    assert.deepEqual(await canaryFiles(), before);
  });

  it('lookups by a hostile ID are NOT_FOUND and touch nothing', async () => {
    const before = await canaryFiles();
    const staging = sandbox.path('staging');
    await mkdir(staging);
    for (const id of hostile()) {
      await expectCode(driver.client.controllerGetVolume({ volume_id: id }), status.NOT_FOUND);
      await expectCode(
        driver.client.validateVolumeCapabilities({ volume_id: id, volume_capabilities: mountCapability() }),
        status.NOT_FOUND,
      );
      await expectCode(
        driver.client.controllerExpandVolume({ volume_id: id, capacity_range: { required_bytes: GiB } }),
        status.NOT_FOUND,
      );
      await expectCode(
        driver.client.createSnapshot({ name: 'of-hostile', source_volume_id: id }),
        status.NOT_FOUND,
      );
      await expectCode(
        driver.client.nodeStageVolume({
          volume_id: id,
          staging_target_path: staging,
          volume_capability: mountCapability()[0]!,
        }),
        status.NOT_FOUND,
      );
      await expectCode(
        driver.client.nodeGetVolumeStats({ volume_id: id, volume_path: canary }),
        status.NOT_FOUND,
      );
      await expectCode(
        driver.client.nodeExpandVolume({ volume_id: id, volume_path: canary }),
        status.NOT_FOUND,
      );
      // Undoing what was never done is OK, and undoes nothing.
      await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: join(canary, 'disk.img') });
      await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: canary });
    }
    assert.deepEqual(await canaryFiles(), before);
    assert.deepEqual(await readdir(join(pool, 'snapshots')), []);
  });

  it('CreateVolume from a hostile source ID is NOT_FOUND; a hostile name is only a name', async () => {
    const before = await canaryFiles();
    for (const id of hostile()) {
      await expectCode(
        driver.client.createVolume({
          name: 'clone-of-hostile',
          volume_capabilities: mountCapability(),
          volume_content_source: { volume: { volume_id: id } },
        }),
        status.NOT_FOUND,
      );
      await expectCode(
        driver.client.createVolume({
          name: 'restore-of-hostile',
          volume_capabilities: mountCapability(),
          volume_content_source: { snapshot: { snapshot_id: id } },
        }),
        status.NOT_FOUND,
      );
    }
    const { volume } = await driver.client.createVolume({
      name: '../../canary',
      volume_capabilities: mountCapability(),
    });
    assert.match(volume!.volume_id, /^vol-[0-9a-f]{32}-test-node$/);
    await driver.client.deleteVolume({ volume_id: volume!.volume_id });
    assert.deepEqual(await canaryFiles(), before);
    assert.deepEqual(await readdir(join(pool, 'volumes')), []);
  });

  it('a hostile ListVolumes token is ABORTED', async () => {
    for (const token of hostile()) {
      await expectCode(driver.client.listVolumes({ starting_token: token }), status.ABORTED);
    }
  });
});
