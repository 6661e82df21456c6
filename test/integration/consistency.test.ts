import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { stageAndPublish } from '../helpers/node.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, mountCapability, status } from '../helpers/csi.js';

const CRASH = { 'dolly.csi.dev/consistency': 'crash' };

/**
 * `dolly.csi.dev/consistency: crash` (a StorageClass's parameter for clones into it, a
 * VolumeSnapshotClass's for snapshots) copies a volume in use without freezing its filesystem:
 * its writers never wait. Shown by copying a source another program keeps frozen, which a
 * frozen copy must refuse: the crash-consistent copy does not even try to freeze it.
 */
describe('copy consistency: frozen (default) or crash', () => {
  let sandbox: Sandbox;
  let driver: Driver;

  before(async () => {
    sandbox = await Sandbox.create('consistency');
    driver = await Driver.start(sandbox, { pool: await sandbox.pool('pool', 2 * GiB) });
  });
  after(async () => sandbox.cleanup());

  it('crash: a clone and a snapshot of a mounted source are taken without freezing it, and hold its synced data', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'busy',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 64 * MiB },
    });
    const id = volume!.volume_id;
    const { staging, target } = await stageAndPublish(
      driver.client,
      sandbox,
      id,
      mountCapability()[0]!,
      'busy',
    );
    sandbox.onCleanup(() =>
      sh('fsfreeze', ['--unfreeze', staging]).then(
        () => undefined,
        () => undefined,
      ),
    );
    await writeFile(join(target, 'synced.txt'), 'written and fsynced before the copy');
    await sh('sync', ['-f', join(target, 'synced.txt')]);

    await sh('fsfreeze', ['--freeze', staging]);
    try {
      // The default freezes, and cannot while another program holds the freeze.
      await expectCode(
        driver.client.createVolume({
          name: 'frozen-clone',
          volume_capabilities: mountCapability(),
          volume_content_source: { volume: { volume_id: id } },
        }),
        status.FAILED_PRECONDITION,
        /frozen by another program/,
      );
      const { volume: clone } = await driver.client.createVolume({
        name: 'crash-clone',
        volume_capabilities: mountCapability(),
        volume_content_source: { volume: { volume_id: id } },
        parameters: CRASH,
      });
      const { snapshot } = await driver.client.createSnapshot({
        name: 'crash-snapshot',
        source_volume_id: id,
        parameters: CRASH,
      });
      assert.deepEqual(clone!.volume_context, volume!.volume_context);
      assert.equal(snapshot!.ready_to_use, true);

      await sh('fsfreeze', ['--unfreeze', staging]);
      const { volume: restored } = await driver.client.createVolume({
        name: 'crash-restored',
        volume_capabilities: mountCapability(),
        volume_content_source: { snapshot: { snapshot_id: snapshot!.snapshot_id } },
      });
      for (const [copy, label] of [
        [clone!.volume_id, 'clone'],
        [restored!.volume_id, 'restored'],
      ] as const) {
        const mounted = await stageAndPublish(driver.client, sandbox, copy, mountCapability()[0]!, label);
        assert.equal(
          await readFile(join(mounted.target, 'synced.txt'), 'utf8'),
          'written and fsynced before the copy',
        );
      }
    } finally {
      await sh('fsfreeze', ['--unfreeze', staging]).catch(() => undefined);
    }
  });

  it('a consistency Dolly does not know, or a dolly.csi.dev key it does not know, is INVALID_ARGUMENT', async () => {
    await expectCode(
      driver.client.createVolume({
        name: 'bad-consistency',
        volume_capabilities: mountCapability(),
        capacity_range: { required_bytes: 16 * MiB },
        parameters: { 'dolly.csi.dev/consistency': 'application' },
      }),
      status.INVALID_ARGUMENT,
      /parameters "dolly\.csi\.dev\/consistency" is "application"; it must be one of "frozen", "crash"/,
    );
    await expectCode(
      driver.client.createSnapshot({
        name: 'bad-key',
        source_volume_id: 'vol-00000000000000000000000000000000-test-node',
        parameters: { 'dolly.csi.dev/freeze': 'no' },
      }),
      status.INVALID_ARGUMENT,
      /unknown parameters "dolly\.csi\.dev\/freeze"; Dolly accepts "dolly\.csi\.dev\/consistency" and csi\.storage\.k8s\.io\/\* keys/,
    );
  });
});
