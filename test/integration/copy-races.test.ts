import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { stageAndPublish as stageVolume } from '../helpers/node.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { sh } from '../helpers/sandbox.js';
import { startWriter, writeCompletes } from '../helpers/workload.js';
import {
  GiB,
  MiB,
  blockCapability,
  expectCode,
  hashFile,
  mountCapability,
  status,
  writePattern,
} from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startDriverOnPool } from '../helpers/suite.js';

/**
 * Copies (clones, snapshots) of a volume while something changes it: an expansion, a crash in
 * the freeze window, other copies of the same volume in use.
 */
describe('copies of a volume that is changing', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('copy-races', 8 * GiB)));
  after(async () => sandbox.cleanup());

  const volumeImage = (id: string) => imageOf(pool, 'volumes', id);
  const recordedSize = async (dir: 'volumes' | 'snapshots', id: string) =>
    (JSON.parse(await readFile(join(pool, dir, id, 'meta.json'), 'utf8')) as { sizeBytes: number }).sizeBytes;
  const imageSize = async (dir: 'volumes' | 'snapshots', id: string) =>
    (await stat(imageOf(pool, dir, id))).size;

  const restart = async (env?: Record<string, string>) => {
    await driver.stop();
    driver = await Driver.start(sandbox, { pool, ...(env ? { env } : {}) });
  };

  /** Stages (and publishes) a filesystem volume the way the kubelet does; thawed at cleanup whatever happens. */
  /** Stages and publishes a filesystem volume; thawed at cleanup whatever happens. */
  const stageAndPublish = async (id: string, label: string) => {
    const where = await stageVolume(driver.client, sandbox, id, mountCapability()[0]!, label);
    sandbox.onCleanup(() =>
      sh('fsfreeze', ['--unfreeze', where.staging]).then(
        () => undefined,
        () => undefined,
      ),
    );
    return where;
  };

  it('clones and snapshots racing an expansion of their source record the size of their image', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'growing',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 64 * MiB },
    });
    const source = volume!.volume_id;
    await writePattern(volumeImage(source), 0, 64 * MiB, 'growing');
    const data = await hashFile(volumeImage(source), 64 * MiB);

    const copies = Array.from({ length: 24 }, (_, i) =>
      i % 3 === 2
        ? driver.client
            .createSnapshot({ name: `growing-snap-${i}`, source_volume_id: source, parameters: {} })
            .then(({ snapshot }) => ({
              kind: 'snapshots' as const,
              id: snapshot!.snapshot_id,
              size: Number(snapshot!.size_bytes),
            }))
        : driver.client
            .createVolume({
              name: `growing-clone-${i}`,
              volume_capabilities: blockCapability(),
              volume_content_source: { volume: { volume_id: source } },
            })
            .then(({ volume: clone }) => ({
              kind: 'volumes' as const,
              id: clone!.volume_id,
              size: Number(clone!.capacity_bytes),
            })),
    );
    const expansion = driver.client.controllerExpandVolume({
      volume_id: source,
      capacity_range: { required_bytes: 128 * MiB },
    });
    const [grown, ...made] = await Promise.all([expansion, ...copies]);
    assert.equal(Number(grown.capacity_bytes), 128 * MiB);

    for (const copy of made) {
      const onDisk = await imageSize(copy.kind, copy.id);
      assert.equal(
        onDisk,
        copy.size,
        `${copy.id}: the image is ${onDisk} bytes, the answer said ${copy.size}`,
      );
      assert.equal(await recordedSize(copy.kind, copy.id), onDisk, `${copy.id}: record and image agree`);
      assert.ok([64 * MiB, 128 * MiB].includes(onDisk), `${copy.id} has the size before or after`);
      assert.equal(await hashFile(imageOf(pool, copy.kind, copy.id), 64 * MiB), data);
    }
    assert.equal(await imageSize('volumes', source), 128 * MiB);
  });

  it('a driver killed between growing an image and recording it completes the expansion at restart', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'interrupted-expansion',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 32 * MiB },
    });
    const id = volume!.volume_id;
    await writePattern(volumeImage(id), 0, 32 * MiB, 'interrupted');
    const data = await hashFile(volumeImage(id), 32 * MiB);
    await restart({ DOLLY_FAULT_CRASH: 'expand:image-grown' });
    await assert.rejects(
      driver.client.controllerExpandVolume({ volume_id: id, capacity_range: { required_bytes: 96 * MiB } }),
    );
    // Killed there: the image has grown, the record has not.
    assert.equal(await imageSize('volumes', id), 96 * MiB);
    assert.equal(await recordedSize('volumes', id), 32 * MiB);

    await restart();
    assert.equal(await recordedSize('volumes', id), 96 * MiB, 'the restart completed the record');
    const { volume: listed } = await driver.client.controllerGetVolume({ volume_id: id });
    assert.equal(Number(listed!.capacity_bytes), 96 * MiB);
    // A smaller expansion now is already satisfied: it never shrinks the image.
    const again = await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 64 * MiB },
    });
    assert.equal(Number(again.capacity_bytes), 96 * MiB);
    const { volume: clone } = await driver.client.createVolume({
      name: 'interrupted-expansion-clone',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: id } },
    });
    assert.equal(Number(clone!.capacity_bytes), 96 * MiB);
    assert.equal(await imageSize('volumes', clone!.volume_id), 96 * MiB);
    assert.equal(await hashFile(volumeImage(id), 32 * MiB), data);
  });

  it('a driver killed with a volume in use frozen for a copy: the restart thaws it and the retry succeeds', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'frozen-at-crash',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 128 * MiB },
    });
    const id = volume!.volume_id;
    const { staging, target } = await stageAndPublish(id, 'frozen-at-crash');
    assert.ok(await writeCompletes(target), 'writable before');

    await restart({ DOLLY_FAULT_CRASH: 'clone:frozen' });
    const request = {
      name: 'frozen-at-crash-clone',
      volume_capabilities: mountCapability(),
      volume_content_source: { volume: { volume_id: id } },
    };
    await assert.rejects(driver.client.createVolume(request));
    // Killed inside the window: the filesystem really is frozen now.
    await assert.rejects(sh('fsfreeze', ['--freeze', staging]), /busy/i);

    await restart();
    assert.ok(await writeCompletes(target), 'the restarted driver thawed it');
    assert.deepEqual(await readdir(join(pool, 'frozen')), [], 'no freeze is recorded any more');
    const { volume: clone } = await driver.client.createVolume(request);
    assert.equal(Number(clone!.capacity_bytes), 128 * MiB);
    assert.ok(await writeCompletes(target), 'and thawed again after the retried clone');
  });

  it('16 clones and 4 snapshots of one published volume at once all succeed, taken frozen, and the writer goes on', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'busy-source',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 256 * MiB },
    });
    const id = volume!.volume_id;
    const { target } = await stageAndPublish(id, 'busy-source');
    const writer = startWriter(target);
    const images: string[] = [];
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const results = await Promise.allSettled([
        ...Array.from({ length: 16 }, (_, i) =>
          driver.client
            .createVolume(
              {
                name: `busy-clone-${i}`,
                volume_capabilities: mountCapability(),
                volume_content_source: { volume: { volume_id: id } },
              },
              { timeoutMs: 60_000 },
            )
            .then(({ volume: clone }) => images.push(volumeImage(clone!.volume_id))),
        ),
        ...Array.from({ length: 4 }, (_, i) =>
          driver.client
            .createSnapshot(
              { name: `busy-snap-${i}`, source_volume_id: id, parameters: {} },
              { timeoutMs: 60_000 },
            )
            .then(({ snapshot }) => images.push(imageOf(pool, 'snapshots', snapshot!.snapshot_id))),
        ),
      ]);
      const failures = results.flatMap((result) =>
        result.status === 'rejected' ? [String(result.reason)] : [],
      );
      assert.deepEqual(failures, [], 'every copy succeeded');
      assert.ok(await writeCompletes(target), 'the source is thawed');
      assert.equal(writer.child.exitCode, null, 'the writer is still running');
    } finally {
      await writer.stop();
    }
    for (const image of images) {
      // A mounted ext4 is marked needs_recovery on disk; only a freeze clears it in the copy.
      assert.doesNotMatch(await sh('dumpe2fs', ['-h', image]), /needs_recovery/, `${image} was taken frozen`);
    }
    assert.deepEqual(await readdir(join(pool, 'frozen')), []);
  });

  it('never freezes a filesystem that covers a pool directory: the copy is refused instead of waiting for itself', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'over-the-pool',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 64 * MiB },
    });
    const id = volume!.volume_id;
    const { staging } = await stageAndPublish(id, 'over-the-pool');
    // What a staging path resolving to <pool>/tmp did before such paths were refused.
    const poolTmp = join(pool, 'tmp');
    await sh('mount', ['--bind', staging, poolTmp]);
    try {
      await expectCode(
        driver.client.createVolume(
          {
            name: 'over-the-pool-clone',
            volume_capabilities: mountCapability(),
            volume_content_source: { volume: { volume_id: id } },
          },
          { timeoutMs: 30_000 },
        ),
        status.FAILED_PRECONDITION,
        /holds the pool directory/,
      );
      assert.ok(await writeCompletes(staging), 'nothing was left frozen');
    } finally {
      await sh('umount', [poolTmp]);
    }
  });
});
