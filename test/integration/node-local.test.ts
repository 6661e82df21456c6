import assert from 'node:assert/strict';
import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB, blockCapability, expectCode, status } from '../helpers/csi.js';

/**
 * Each node serves its own pool, and a volume's ID names its node. A clone or restore asked of
 * a node that does not hold the source is refused with the node that does, the answer the
 * Kubernetes external-provisioner turns into an event on the PVC (and a new scheduling try).
 */
describe('node-local pools: a copy is made where its source is', () => {
  let sandbox: Sandbox;
  let nodeA: Driver;
  let nodeB: Driver;
  let poolA: string;

  before(async () => {
    sandbox = await Sandbox.create('node-local');
    poolA = await sandbox.pool('pool-a', GiB);
    const poolB = await sandbox.pool('pool-b', GiB);
    nodeA = await Driver.start(sandbox, {
      pool: poolA,
      socketPath: sandbox.path('a.sock'),
      args: ['--node-id', 'node-a'],
    });
    nodeB = await Driver.start(sandbox, {
      pool: poolB,
      socketPath: sandbox.path('b.sock'),
      args: ['--node-id', 'node-b'],
    });
  });
  after(async () => sandbox.cleanup());

  it('a volume ID names the node that holds it', async () => {
    const { volume } = await nodeA.client.createVolume({
      name: 'pvc-1',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 16 * MiB },
    });
    assert.match(volume!.volume_id, /^vol-[0-9a-f]{32}-node-a$/);
  });

  it('a clone or restore on another node is RESOURCE_EXHAUSTED naming the source node, and nothing is made there', async () => {
    const { volume } = await nodeA.client.createVolume({
      name: 'source',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 16 * MiB },
    });
    const source = volume!.volume_id;
    const { snapshot } = await nodeA.client.createSnapshot({
      name: 'snap',
      source_volume_id: source,
      parameters: {},
    });
    for (const content of [
      { volume: { volume_id: source } },
      { snapshot: { snapshot_id: snapshot!.snapshot_id } },
    ]) {
      await expectCode(
        nodeB.client.createVolume({
          name: 'clone-of-source',
          volume_capabilities: blockCapability(),
          volume_content_source: content,
        }),
        status.RESOURCE_EXHAUSTED,
        /is on node node-a.*this is node node-b.*kubernetes\.io\/hostname=node-a/,
      );
    }
    await expectCode(
      nodeB.client.createSnapshot({ name: 'snap-elsewhere', source_volume_id: source, parameters: {} }),
      status.NOT_FOUND,
      /it is on node node-a/,
    );
    assert.deepEqual((await nodeB.client.listVolumes({})).entries, []);
    // On the node that holds it, the same clone is made.
    const { volume: clone } = await nodeA.client.createVolume({
      name: 'clone-of-source',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: source } },
    });
    assert.match(clone!.volume_id, /-node-a$/);
  });

  it('a volume of a Dolly 0.1 pool (ID without a node) is still found by its name and by its ID', async () => {
    const { volume } = await nodeA.client.createVolume({
      name: 'old-volume',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 16 * MiB },
    });
    const id = volume!.volume_id;
    const legacy = id.slice(0, 'vol-'.length + 32);
    // Make it look as Dolly 0.1 left it.
    await nodeA.stop();
    await rename(join(poolA, 'volumes', id), join(poolA, 'volumes', legacy));
    const metaPath = join(poolA, 'volumes', legacy, 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as Record<string, unknown>;
    await writeFile(metaPath, JSON.stringify({ ...meta, id: legacy }));
    nodeA = await Driver.start(sandbox, {
      pool: poolA,
      socketPath: sandbox.path('a.sock'),
      args: ['--node-id', 'node-a'],
    });

    const again = await nodeA.client.createVolume({
      name: 'old-volume',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 16 * MiB },
    });
    assert.equal(again.volume!.volume_id, legacy, 'the retry by name finds it; no second volume');
    const { volume: clone } = await nodeA.client.createVolume({
      name: 'clone-of-old',
      volume_capabilities: blockCapability(),
      volume_content_source: { volume: { volume_id: legacy } },
    });
    assert.match(clone!.volume_id, /-node-a$/);
    await nodeA.client.deleteVolume({ volume_id: legacy });
    assert.ok(!(await readdir(join(poolA, 'volumes'))).includes(legacy));
  });
});
