import assert from 'node:assert/strict';
import { readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { stageAndPublish as stageVolume } from '../helpers/node.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
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

/**
 * `--expansion node`, the mode of the Kubernetes DaemonSet: the controller does not advertise
 * EXPAND_VOLUME (so the external-resizer only marks the volume resized) and the kubelet's
 * NodeExpandVolume grows the image, the loop device and the filesystem on the volume's node.
 */
describe('expansion on the node (--expansion node)', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('node-expansion');
    pool = await sandbox.pool('pool', 4 * GiB);
    driver = await Driver.start(sandbox, { pool, args: ['--expansion', 'node'] });
  });
  after(async () => sandbox.cleanup());

  const recordedSize = async (id: string) =>
    (JSON.parse(await readFile(join(pool, 'volumes', id, 'meta.json'), 'utf8')) as { sizeBytes: number })
      .sizeBytes;
  const imageSize = async (id: string) => (await stat(imageOf(pool, 'volumes', id))).size;

  const stageAndPublish = (id: string, capability: ReturnType<typeof mountCapability>, label: string) =>
    stageVolume(driver.client, sandbox, id, capability[0]!, label);

  it('advertises no controller expansion (the resizer then takes its node-only path) and refuses ControllerExpandVolume', async () => {
    const { capabilities } = await driver.client.controllerGetCapabilities();
    const types = capabilities.map((capability) => capability.rpc?.type);
    assert.ok(!types.includes('EXPAND_VOLUME'), `controller capabilities: ${types.join(', ')}`);
    assert.ok(types.includes('CLONE_VOLUME'));
    const node = await driver.client.nodeGetCapabilities();
    assert.ok(node.capabilities.some((capability) => capability.rpc?.type === 'EXPAND_VOLUME'));
    await expectCode(
      driver.client.controllerExpandVolume({
        volume_id: `vol-${'a'.repeat(32)}`,
        capacity_range: { required_bytes: GiB },
      }),
      status.UNIMPLEMENTED,
      /--expansion node/,
    );
  });

  it('NodeExpandVolume grows a published XFS volume in place: image, record and filesystem, data kept', async () => {
    const capability = mountCapability('xfs');
    const { volume } = await driver.client.createVolume({
      name: 'grow-on-node',
      volume_capabilities: capability,
      capacity_range: { required_bytes: 300 * MiB },
    });
    const id = volume!.volume_id;
    const { staging, target } = await stageAndPublish(id, capability, 'xfs');
    await writeFile(join(target, 'data'), '');
    await writePattern(join(target, 'data'), 0, 32 * MiB, 'kept');
    const before = await hashFile(join(target, 'data'));

    const grown = await driver.client.nodeExpandVolume({
      volume_id: id,
      volume_path: target,
      staging_target_path: staging,
      capacity_range: { required_bytes: 700 * MiB },
    });
    assert.equal(Number(grown.capacity_bytes), 700 * MiB);
    assert.equal(await recordedSize(id), 700 * MiB);
    assert.equal(await imageSize(id), 700 * MiB);
    const fs = await statfs(target);
    assert.ok(fs.blocks * fs.bsize > 600 * MiB, `the mounted filesystem grew: ${fs.blocks * fs.bsize}`);
    assert.equal(await hashFile(join(target, 'data')), before);

    // The identical retry (the kubelet repeats) and a smaller ask both answer the size it has.
    for (const required of [700 * MiB, 400 * MiB]) {
      const again = await driver.client.nodeExpandVolume({
        volume_id: id,
        volume_path: target,
        capacity_range: { required_bytes: required },
      });
      assert.equal(Number(again.capacity_bytes), 700 * MiB);
    }
    const { volume: listed } = await driver.client.controllerGetVolume({ volume_id: id });
    assert.equal(Number(listed!.capacity_bytes), 700 * MiB);
  });

  it('NodeExpandVolume grows a block volume: the device the pod sees is larger', async () => {
    const capability = blockCapability();
    const { volume } = await driver.client.createVolume({
      name: 'grow-block-on-node',
      volume_capabilities: capability,
      capacity_range: { required_bytes: 64 * MiB },
    });
    const id = volume!.volume_id;
    const { target } = await stageAndPublish(id, capability, 'block');
    const grown = await driver.client.nodeExpandVolume({
      volume_id: id,
      volume_path: target,
      capacity_range: { required_bytes: 128 * MiB },
    });
    assert.equal(Number(grown.capacity_bytes), 128 * MiB);
    assert.equal((await sh('blockdev', ['--getsize64', target])).trim(), String(128 * MiB));
  });

  it('a size beyond the pool is OUT_OF_RANGE and changes nothing', async () => {
    const capability = blockCapability();
    const { volume } = await driver.client.createVolume({
      name: 'too-far',
      volume_capabilities: capability,
      capacity_range: { required_bytes: 16 * MiB },
    });
    const id = volume!.volume_id;
    const { target } = await stageAndPublish(id, capability, 'too-far');
    await expectCode(
      driver.client.nodeExpandVolume({
        volume_id: id,
        volume_path: target,
        capacity_range: { required_bytes: 64 * GiB },
      }),
      status.OUT_OF_RANGE,
    );
    assert.equal(await recordedSize(id), 16 * MiB);
    assert.equal(await imageSize(id), 16 * MiB);
  });
});
