import assert from 'node:assert/strict';
import { mkdir, open, readFile, readdir, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listLoops } from '../../src/host/loop.js';
import { Driver, NODE_ID, TOPOLOGY_KEY } from '../helpers/driver.js';
import { Sandbox, mountsUnder, sh } from '../helpers/sandbox.js';
import type { VolumeCapability } from '../../src/generated/csi/v1/VolumeCapability.js';
import { GiB, MiB, blockCapability, expectCode, mountCapability, status } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';

describe('Node service: stage and publish for real', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;
  let pods: string;

  before(async () => {
    sandbox = await Sandbox.create('node');
    pool = await sandbox.pool('pool', 6 * GiB);
    pods = sandbox.path('pods');
    await mkdir(pods);
    driver = await Driver.start(sandbox, { pool });
  });
  after(async () => sandbox.cleanup());

  const loopsOfPool = async () =>
    (await listLoops()).filter((loop) => loop.backingFile.startsWith(`${pool}/`));
  const create = async (name: string, capability: VolumeCapability[], sizeBytes: number, source?: string) => {
    const { volume } = await driver.client.createVolume({
      name,
      volume_capabilities: capability,
      capacity_range: { required_bytes: sizeBytes },
      volume_content_source: source ? { volume: { volume_id: source } } : null,
    });
    return volume!.volume_id;
  };
  const paths = async (label: string) => {
    const staging = sandbox.path(`staging-${label}`);
    await mkdir(staging);
    return { staging, target: join(pods, label) };
  };
  const stageAndPublish = async (
    id: string,
    capability: VolumeCapability[],
    label: string,
    readonly = false,
  ) => {
    const { staging, target } = await paths(label);
    const volume_capability = capability[0]!;
    await driver.client.nodeStageVolume({ volume_id: id, staging_target_path: staging, volume_capability });
    await driver.client.nodePublishVolume({
      volume_id: id,
      staging_target_path: staging,
      target_path: target,
      volume_capability,
      readonly,
    });
    return { staging, target };
  };
  const unpublishAndUnstage = async (id: string, where: { staging: string; target: string }) => {
    await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: where.target });
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: where.staging });
  };

  it('NodeGetInfo and NodeGetCapabilities', async () => {
    const info = await driver.client.nodeGetInfo();
    assert.equal(info.node_id, NODE_ID);
    assert.deepEqual(info.accessible_topology, { segments: { [TOPOLOGY_KEY]: NODE_ID } });
    const { capabilities } = await driver.client.nodeGetCapabilities();
    assert.deepEqual(capabilities.map((capability) => capability.rpc?.type).sort(), [
      'EXPAND_VOLUME',
      'GET_VOLUME_STATS',
      'STAGE_UNSTAGE_VOLUME',
    ]);
  });

  for (const fsType of ['ext4', 'xfs']) {
    it(`${fsType}: write, clone, use source and clone side by side, independent afterwards`, async () => {
      const capability = mountCapability(fsType);
      const source = await create(`fs-${fsType}`, capability, 300 * MiB);
      const first = await stageAndPublish(source, capability, `${fsType}-source`);
      await writeFile(join(first.target, 'data.txt'), `hello from ${fsType}`);
      await unpublishAndUnstage(source, first);
      assert.deepEqual(await mountsUnder(sandbox.path(`staging-${fsType}-source`)), []);
      assert.deepEqual(await readdir(pods).then((entries) => entries.includes(`${fsType}-source`)), false);
      assert.deepEqual(await loopsOfPool(), []);

      const clone = await create(`fs-${fsType}-clone`, capability, 600 * MiB, source);
      const src = await stageAndPublish(source, capability, `${fsType}-src-2`);
      const cln = await stageAndPublish(clone, capability, `${fsType}-clone`);
      assert.equal(await readFile(join(src.target, 'data.txt'), 'utf8'), `hello from ${fsType}`);
      assert.equal(await readFile(join(cln.target, 'data.txt'), 'utf8'), `hello from ${fsType}`);
      await writeFile(join(cln.target, 'data.txt'), 'changed in the clone');
      assert.equal(await readFile(join(src.target, 'data.txt'), 'utf8'), `hello from ${fsType}`);

      // The clone was asked larger than its source: its filesystem shows it.
      const sourceFs = await statfs(src.target);
      const cloneFs = await statfs(cln.target);
      assert.ok(sourceFs.blocks * sourceFs.bsize < 300 * MiB);
      assert.ok(
        cloneFs.blocks * cloneFs.bsize > 500 * MiB,
        `clone filesystem is ${cloneFs.blocks * cloneFs.bsize} bytes`,
      );

      const stats = await driver.client.nodeGetVolumeStats({ volume_id: clone, volume_path: cln.target });
      const bytes = stats.usage.find((usage) => usage.unit === 'BYTES');
      const inodes = stats.usage.find((usage) => usage.unit === 'INODES');
      assert.equal(bytes?.total, cloneFs.blocks * cloneFs.bsize, "stats are the volume's own filesystem");
      assert.ok((inodes?.total ?? 0) > 0);
      await expectCode(
        driver.client.nodeGetVolumeStats({ volume_id: clone, volume_path: src.target }),
        status.NOT_FOUND,
      );

      await expectCode(
        driver.client.deleteVolume({ volume_id: source }),
        status.FAILED_PRECONDITION,
        /in use/,
      );
      await unpublishAndUnstage(source, src);
      await unpublishAndUnstage(clone, cln);
      await driver.client.deleteVolume({ volume_id: source });
      await driver.client.deleteVolume({ volume_id: clone });
      assert.deepEqual(await loopsOfPool(), []);
    });
  }

  it('block: write through the published device, read it back from a clone', async () => {
    const capability = blockCapability();
    const source = await create('block', capability, 64 * MiB);
    const src = await stageAndPublish(source, capability, 'block-source');
    const pattern = Buffer.alloc(MiB, 0xa5);
    const device = await open(src.target, 'r+');
    await device.write(pattern, 0, pattern.length, 8 * MiB);
    await device.sync();
    await device.close();

    const clone = await create('block-clone', capability, 64 * MiB, source);
    const cln = await stageAndPublish(clone, capability, 'block-clone');
    const read = Buffer.alloc(MiB);
    const cloneDevice = await open(cln.target, 'r');
    await cloneDevice.read(read, 0, read.length, 8 * MiB);
    await cloneDevice.close();
    assert.ok(read.equals(pattern));
    const stats = await driver.client.nodeGetVolumeStats({ volume_id: clone, volume_path: cln.target });
    assert.deepEqual(
      stats.usage.map((usage) => [usage.unit, usage.total]),
      [['BYTES', 64 * MiB]],
    );
    await unpublishAndUnstage(source, src);
    await unpublishAndUnstage(clone, cln);
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('stage and publish ten times are OK; conflicting publishes are ALREADY_EXISTS; read-only refuses writes', async () => {
    const capability = mountCapability('ext4');
    const id = await create('idem-node', capability, 64 * MiB);
    const { staging, target } = await paths('idem');
    const volume_capability = capability[0]!;
    for (let i = 0; i < 10; i += 1) {
      await driver.client.nodeStageVolume({ volume_id: id, staging_target_path: staging, volume_capability });
    }
    await expectCode(
      driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: { ...volume_capability, mount: { fs_type: 'ext4', mount_flags: ['ro'] } },
      }),
      status.ALREADY_EXISTS,
      /read-write, not read-only/,
    );
    for (let i = 0; i < 10; i += 1) {
      await driver.client.nodePublishVolume({
        volume_id: id,
        staging_target_path: staging,
        target_path: target,
        volume_capability,
      });
    }
    await expectCode(
      driver.client.nodePublishVolume({
        volume_id: id,
        staging_target_path: staging,
        target_path: target,
        volume_capability,
        readonly: true,
      }),
      status.ALREADY_EXISTS,
    );
    const readOnlyTarget = join(pods, 'idem-ro');
    await driver.client.nodePublishVolume({
      volume_id: id,
      staging_target_path: staging,
      target_path: readOnlyTarget,
      volume_capability,
      readonly: true,
    });
    await assert.rejects(writeFile(join(readOnlyTarget, 'nope'), 'x'), { code: 'EROFS' });
    await writeFile(join(target, 'yes'), 'x');
    await expectCode(
      driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging }),
      status.FAILED_PRECONDITION,
      /still published/,
    );
    // A mount that disappears under the driver shows as an abnormal volume condition.
    const healthy = await driver.client.nodeGetVolumeStats({ volume_id: id, volume_path: readOnlyTarget });
    assert.equal(healthy.volume_condition?.abnormal, false);
    await sh('umount', [readOnlyTarget]);
    const broken = await driver.client.nodeGetVolumeStats({ volume_id: id, volume_path: readOnlyTarget });
    assert.equal(broken.volume_condition?.abnormal, true);
    assert.match(broken.volume_condition?.message ?? '', /nothing is mounted/);
    for (const path of [target, readOnlyTarget, target]) {
      await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: path });
    }
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    assert.deepEqual(await loopsOfPool(), []);
  });

  it('errors: not staged, no staging path, unknown volume, wrong mode, hostile paths', async () => {
    const capability = mountCapability('ext4');
    const id = await create('errors-node', capability, 64 * MiB);
    const { staging, target } = await paths('errors');
    const volume_capability = capability[0]!;
    await expectCode(
      driver.client.nodePublishVolume({
        volume_id: id,
        staging_target_path: staging,
        target_path: target,
        volume_capability,
      }),
      status.FAILED_PRECONDITION,
      /not staged/,
    );
    await expectCode(
      driver.client.nodePublishVolume({
        volume_id: id,
        staging_target_path: '',
        target_path: target,
        volume_capability,
      }),
      status.FAILED_PRECONDITION,
      /staging_target_path is required/,
    );
    await expectCode(
      driver.client.nodeStageVolume({
        volume_id: `vol-${'e'.repeat(32)}`,
        staging_target_path: staging,
        volume_capability,
      }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: blockCapability()[0]!,
      }),
      status.INVALID_ARGUMENT,
      /filesystem volume/,
    );
    await expectCode(
      driver.client.nodeStageVolume({ volume_id: id, staging_target_path: staging }),
      status.INVALID_ARGUMENT,
    );
    // Hostile paths aim at a canary in the sandbox, never at a system path.
    const canary = sandbox.path('canary');
    await mkdir(canary);
    await writeFile(join(canary, 'keep'), 'keep');
    const hostile = [
      'canary',
      `${staging}/../canary`,
      `${canary}/.`,
      `${canary}//keep`,
      join(pool, 'volumes'),
      pool,
      '/',
    ];
    for (const bad of hostile) {
      await expectCode(
        driver.client.nodeStageVolume({ volume_id: id, staging_target_path: bad, volume_capability }),
        status.INVALID_ARGUMENT,
      );
      await expectCode(
        driver.client.nodeUnpublishVolume({ volume_id: id, target_path: bad }),
        status.INVALID_ARGUMENT,
      );
      await expectCode(
        driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: bad }),
        status.INVALID_ARGUMENT,
      );
    }
    assert.deepEqual(await readdir(canary), ['keep']);
    assert.deepEqual(await mountsUnder(canary), []);
    await expectCode(
      driver.client.nodeStageVolume({
        volume_id: id,
        staging_target_path: staging,
        volume_capability: { ...volume_capability, mount: { fs_type: 'ext4', mount_flags: ['ro,exec'] } },
      }),
      status.INVALID_ARGUMENT,
      /single mount option/,
    );
    // Never staged or published here: nothing to undo.
    await driver.client.nodeUnpublishVolume({ volume_id: id, target_path: target });
    await driver.client.nodeUnstageVolume({ volume_id: id, staging_target_path: staging });
  });

  it('ControllerExpandVolume: grows the image; unknown, shrinking and absurd requests fail', async () => {
    const id = await create('expand-rules', mountCapability('ext4'), 64 * MiB);
    await expectCode(
      driver.client.controllerExpandVolume({
        volume_id: `vol-${'f'.repeat(32)}`,
        capacity_range: { required_bytes: GiB },
      }),
      status.NOT_FOUND,
    );
    await expectCode(driver.client.controllerExpandVolume({ volume_id: id }), status.INVALID_ARGUMENT);
    await expectCode(
      driver.client.controllerExpandVolume({
        volume_id: id,
        capacity_range: { required_bytes: MiB, limit_bytes: 32 * MiB },
      }),
      status.OUT_OF_RANGE,
      /cannot shrink/,
    );
    await expectCode(
      driver.client.controllerExpandVolume({ volume_id: id, capacity_range: { required_bytes: 1024 * GiB } }),
      status.OUT_OF_RANGE,
    );
    const same = await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 32 * MiB },
    });
    assert.equal(same.capacity_bytes, 64 * MiB);
    const grown = await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 100 * MiB },
    });
    assert.equal(grown.capacity_bytes, 100 * MiB);
    assert.equal(grown.node_expansion_required, true);
    assert.equal(
      (await driver.client.controllerGetVolume({ volume_id: id })).volume?.capacity_bytes,
      100 * MiB,
    );
    assert.equal((await stat(imageOf(pool, 'volumes', id))).size, 100 * MiB);
  });

  it('xfs: online expansion of a mounted volume shows in df without remounting', async () => {
    const capability = mountCapability('xfs');
    const id = await create('expand-xfs', capability, 300 * MiB);
    const where = await stageAndPublish(id, capability, 'expand-xfs');
    await writeFile(join(where.target, 'kept'), 'kept');
    const before = await statfs(where.target);
    await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 900 * MiB },
    });
    const expanded = await driver.client.nodeExpandVolume({
      volume_id: id,
      volume_path: where.target,
      capacity_range: { required_bytes: 900 * MiB },
    });
    assert.equal(expanded.capacity_bytes, 900 * MiB);
    const after = await statfs(where.target);
    assert.ok(after.blocks * after.bsize > before.blocks * before.bsize + 500 * MiB, 'df shows the new size');
    assert.equal(await readFile(join(where.target, 'kept'), 'utf8'), 'kept');
    await unpublishAndUnstage(id, where);
  });

  it('ext4: expansion grows online where the driver may (CAP_SYS_RESOURCE), else at the next stage', async () => {
    const capability = mountCapability('ext4');
    const id = await create('expand-ext4', capability, 128 * MiB);
    let where = await stageAndPublish(id, capability, 'expand-ext4');
    await writeFile(join(where.target, 'kept'), 'kept');
    await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 512 * MiB },
    });
    const capabilities =
      (await readFile('/proc/self/status', 'utf8')).match(/^CapEff:\s+([0-9a-f]+)$/m)?.[1] ?? '0';
    const canResizeOnline = (BigInt(`0x${capabilities}`) >> 24n) & 1n; // CAP_SYS_RESOURCE
    const expand = driver.client.nodeExpandVolume({ volume_id: id, volume_path: where.target });
    if (canResizeOnline === 1n) {
      await expand;
    } else {
      await expectCode(expand, status.FAILED_PRECONDITION, /CAP_SYS_RESOURCE/);
      await unpublishAndUnstage(id, where);
      where = await stageAndPublish(id, capability, 'expand-ext4-again');
    }
    const after = await statfs(where.target);
    assert.ok(after.blocks * after.bsize > 400 * MiB, `df shows ${after.blocks * after.bsize} bytes`);
    assert.equal(await readFile(join(where.target, 'kept'), 'utf8'), 'kept');
    await unpublishAndUnstage(id, where);
  });

  it('block: expansion reaches the published device', async () => {
    const capability = blockCapability();
    const id = await create('expand-block', capability, 64 * MiB);
    const where = await stageAndPublish(id, capability, 'expand-block');
    await driver.client.controllerExpandVolume({
      volume_id: id,
      capacity_range: { required_bytes: 128 * MiB },
    });
    await driver.client.nodeExpandVolume({ volume_id: id, volume_path: where.target });
    const stats = await driver.client.nodeGetVolumeStats({ volume_id: id, volume_path: where.target });
    assert.equal(stats.usage[0]?.total, 128 * MiB);
    await unpublishAndUnstage(id, where);
  });

  it('a restart keeps staged and published volumes working, and they can still be cleaned up', async () => {
    const capability = mountCapability('xfs');
    const id = await create('restart-node', capability, 300 * MiB);
    const where = await stageAndPublish(id, capability, 'restart');
    await writeFile(join(where.target, 'before'), 'restart');
    assert.equal(await driver.stop(), 0);
    driver = await Driver.start(sandbox, { pool });
    assert.equal(await readFile(join(where.target, 'before'), 'utf8'), 'restart');
    const stats = await driver.client.nodeGetVolumeStats({ volume_id: id, volume_path: where.target });
    assert.ok(stats.usage.length > 0);
    const expanded = await driver.client.nodeExpandVolume({ volume_id: id, volume_path: where.target });
    assert.equal(expanded.capacity_bytes, 300 * MiB);
    await unpublishAndUnstage(id, where);
    assert.deepEqual(await loopsOfPool(), []);
  });
});
