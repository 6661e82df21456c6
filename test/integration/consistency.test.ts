import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkFilesystem } from '../../src/host/filesystem.js';
import type { Driver } from '../helpers/driver.js';
import { stageAndPublish } from '../helpers/node.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { sh } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, mountCapability, status } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startWriter } from '../helpers/workload.js';
import { startDriverOnPool } from '../helpers/suite.js';

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
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('consistency', 2 * GiB)));
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

  it('crash: a clone of a volume under a busy writer needs its journal replayed, stages, and checks clean', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'written',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 64 * MiB },
    });
    const id = volume!.volume_id;
    const { target } = await stageAndPublish(driver.client, sandbox, id, mountCapability()[0]!, 'written');
    const writer = startWriter(target);
    sandbox.onCleanup(() => writer.stop());
    let cloneId: string;
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { volume: clone } = await driver.client.createVolume({
        name: 'written-clone',
        volume_capabilities: mountCapability(),
        volume_content_source: { volume: { volume_id: id } },
        parameters: CRASH,
      });
      cloneId = clone!.volume_id;
      assert.equal(writer.child.exitCode, null, 'the writer is still running');
    } finally {
      await writer.stop();
    }
    // Taken as a power cut would leave it: the journal of a mounted ext4 is still to replay.
    const image = imageOf(pool, 'volumes', cloneId);
    assert.match(await sh('dumpe2fs', ['-h', image]), /needs_recovery/);
    // Staging replays it; afterwards the clone is a clean filesystem with the writer's files.
    const mounted = await stageAndPublish(
      driver.client,
      sandbox,
      cloneId,
      mountCapability()[0]!,
      'written-clone',
    );
    assert.ok(
      (await readdir(mounted.target)).some((name) => /^f\d+$/.test(name)),
      "the writer's files are there",
    );
    await driver.client.nodeUnpublishVolume({ volume_id: cloneId, target_path: mounted.target });
    await driver.client.nodeUnstageVolume({ volume_id: cloneId, staging_target_path: mounted.staging });
    assert.ok(await checkFilesystem(image, 'ext4'), 'the clone checks clean once its journal was replayed');
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
