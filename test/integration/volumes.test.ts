import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
// Registers google/protobuf/descriptor.proto, which csi.proto imports, with protobufjs (the driver
// itself no longer loads proto-loader: it reads the generated descriptor).
import '@grpc/proto-loader';
import { PROTO_PATH } from '../../src/csi/proto.js';
import { Driver, NODE_ID, TOPOLOGY_KEY } from '../helpers/driver.js';
import { POOL_FS, Sandbox } from '../helpers/sandbox.js';
import {
  GiB,
  MiB,
  blockCapability,
  expectCode,
  mountCapability,
  status,
  writePattern,
} from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';

/** Enum value names marked (alpha_enum_value) in the proto: never to be advertised. */
function alphaValues(enumPath: string): Set<string> {
  const root = protobuf.loadSync(PROTO_PATH);
  const type = root.lookupEnum(enumPath);
  return new Set(
    Object.keys(type.values).filter((name) => type.valuesOptions?.[name]?.['(alpha_enum_value)'] === true),
  );
}

describe('Identity and the Controller RPCs around volumes', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('volumes');
    pool = await sandbox.pool('pool', 2 * GiB);
    driver = await Driver.start(sandbox, { pool, args: ['--driver-name', 'dolly.example.org'] });
  });
  after(async () => sandbox.cleanup());

  it('GetPluginInfo reports the configured name, the package version, the pool and the node', async () => {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    const info = await driver.client.getPluginInfo();
    assert.equal(info.name, 'dolly.example.org');
    assert.equal(info.vendor_version, pkg.version);
    assert.deepEqual(info.manifest, {
      'dolly.csi.dev/pool': pool,
      'dolly.csi.dev/node': NODE_ID,
      'dolly.csi.dev/backend': POOL_FS === 'btrfs' ? 'btrfs' : 'reflink',
    });
  });

  it('GetPluginCapabilities: controller service and topology, nothing alpha', async () => {
    const { capabilities } = await driver.client.getPluginCapabilities();
    const types = capabilities
      .map((capability) => capability.service?.type)
      .filter((type) => type !== undefined);
    assert.deepEqual(types.sort(), ['CONTROLLER_SERVICE', 'VOLUME_ACCESSIBILITY_CONSTRAINTS']);
    assert.deepEqual(
      capabilities
        .filter((capability) => capability.volume_expansion)
        .map((capability) => capability.volume_expansion?.type),
      ['ONLINE'],
    );
    const alpha = alphaValues('csi.v1.PluginCapability.Service.Type');
    assert.ok(alpha.has('SNAPSHOT_METADATA_SERVICE'), 'the proto marks alpha values');
    for (const type of types) assert.ok(!alpha.has(type ?? ''), `${type} is alpha`);
  });

  it('Probe is ready while the pool is usable', async () => {
    assert.deepEqual(await driver.client.probe(), { ready: { value: true } });
  });

  it('ControllerGetCapabilities lists what is implemented, each once, nothing alpha', async () => {
    const { capabilities } = await driver.client.controllerGetCapabilities();
    const types = capabilities.map((capability) => capability.rpc?.type ?? 'none');
    assert.deepEqual([...types].sort(), [
      'CLONE_VOLUME',
      'CREATE_DELETE_SNAPSHOT',
      'CREATE_DELETE_VOLUME',
      'EXPAND_VOLUME',
      'GET_CAPACITY',
      'LIST_SNAPSHOTS',
      'LIST_VOLUMES',
    ]);
    assert.equal(new Set(types).size, types.length);
    const alpha = alphaValues('csi.v1.ControllerServiceCapability.RPC.Type');
    assert.ok(alpha.has('GET_SNAPSHOT'), 'the proto marks alpha values');
    for (const type of types) assert.ok(!alpha.has(type), `${type} is alpha`);
  });

  it('ListVolumes pages with max_entries and next_token; a bad token is ABORTED', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const { volume } = await driver.client.createVolume({
        name: `list-${i}`,
        volume_capabilities: mountCapability(),
        capacity_range: { required_bytes: MiB },
      });
      ids.push(volume!.volume_id);
    }
    const pages: string[][] = [];
    let token = '';
    do {
      const page = await driver.client.listVolumes({ max_entries: 3, starting_token: token });
      pages.push(page.entries.map((entry) => entry.volume!.volume_id));
      for (const entry of page.entries) {
        assert.deepEqual(entry.volume?.accessible_topology, [{ segments: { [TOPOLOGY_KEY]: NODE_ID } }]);
        // A MiB was asked for; 8 MiB is the smallest ext4 filesystem Dolly makes.
        assert.equal(entry.volume?.capacity_bytes, 8 * MiB);
      }
      token = page.next_token;
    } while (token !== '');
    assert.deepEqual(
      pages.map((page) => page.length),
      [3, 3, 1],
    );
    assert.deepEqual(pages.flat(), [...ids].sort());

    const all = await driver.client.listVolumes({});
    assert.equal(all.entries.length, 7);
    assert.equal(all.next_token, '');

    await expectCode(
      driver.client.listVolumes({ starting_token: 'page-2' }),
      status.ABORTED,
      /not issued by Dolly/,
    );
    await expectCode(driver.client.listVolumes({ max_entries: -1 }), status.INVALID_ARGUMENT);

    // A volume deleted between pages does not shift the next page.
    const first = await driver.client.listVolumes({ max_entries: 3 });
    await driver.client.deleteVolume({ volume_id: first.entries[2]!.volume!.volume_id });
    const rest = await driver.client.listVolumes({ starting_token: first.next_token });
    assert.deepEqual(
      rest.entries.map((entry) => entry.volume!.volume_id),
      [...ids].sort().slice(3),
    );
  });

  it('ControllerGetVolume: the volume, NOT_FOUND for an unknown or foreign ID, INVALID_ARGUMENT for none', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'get-me',
      volume_capabilities: blockCapability(),
    });
    const got = await driver.client.controllerGetVolume({ volume_id: volume!.volume_id });
    assert.equal(got.volume?.volume_id, volume!.volume_id);
    assert.equal(got.volume?.capacity_bytes, GiB);
    assert.ok(got.status);
    await expectCode(
      driver.client.controllerGetVolume({ volume_id: `vol-${'a'.repeat(32)}` }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.controllerGetVolume({ volume_id: 'pvc-1234' }),
      status.NOT_FOUND,
      /"pvc-1234" does not exist/,
    );
    await expectCode(
      driver.client.controllerGetVolume({ volume_id: '' }),
      status.INVALID_ARGUMENT,
      /required/,
    );
  });

  it('DeleteVolume: gone afterwards, unknown or repeated deletes are OK', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'delete-me',
      volume_capabilities: mountCapability(),
    });
    const id = volume!.volume_id;
    await driver.client.deleteVolume({ volume_id: id });
    await expectCode(driver.client.controllerGetVolume({ volume_id: id }), status.NOT_FOUND);
    await driver.client.deleteVolume({ volume_id: id });
    await driver.client.deleteVolume({ volume_id: `vol-${'b'.repeat(32)}` });
    await expectCode(driver.client.deleteVolume({ volume_id: '' }), status.INVALID_ARGUMENT);
    // The name can be used again after the delete.
    const again = await driver.client.createVolume({
      name: 'delete-me',
      volume_capabilities: mountCapability(),
    });
    assert.equal(again.volume?.volume_id, id);
  });

  it('ValidateVolumeCapabilities confirms what fits and explains what does not', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'validate',
      volume_capabilities: mountCapability('xfs'),
    });
    const id = volume!.volume_id;
    const ok = await driver.client.validateVolumeCapabilities({
      volume_id: id,
      volume_capabilities: mountCapability('xfs'),
    });
    assert.ok(ok.confirmed);
    assert.equal(ok.confirmed.volume_capabilities.length, 1);
    const anyFs = await driver.client.validateVolumeCapabilities({
      volume_id: id,
      volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_READER_ONLY' }, mount: {} }],
    });
    assert.ok(anyFs.confirmed);

    const block = await driver.client.validateVolumeCapabilities({
      volume_id: id,
      volume_capabilities: blockCapability(),
    });
    assert.equal(block.confirmed, null);
    assert.match(block.message, /block access/);
    const ext4 = await driver.client.validateVolumeCapabilities({
      volume_id: id,
      volume_capabilities: mountCapability('ext4'),
    });
    assert.equal(ext4.confirmed, null);
    assert.match(ext4.message, /holds xfs/);
    const multi = await driver.client.validateVolumeCapabilities({
      volume_id: id,
      volume_capabilities: [{ access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, mount: {} }],
    });
    assert.equal(multi.confirmed, null);

    await expectCode(
      driver.client.validateVolumeCapabilities({
        volume_id: `vol-${'c'.repeat(32)}`,
        volume_capabilities: mountCapability(),
      }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.validateVolumeCapabilities({ volume_id: id, volume_capabilities: [] }),
      status.INVALID_ARGUMENT,
    );
  });

  it('GetCapacity reports the pool; another node or an unsupported capability gets 0', async () => {
    const capacity = await driver.client.getCapacity({});
    assert.ok(capacity.available_capacity > GiB, `available ${capacity.available_capacity}`);
    assert.ok(capacity.available_capacity <= 2 * GiB);
    assert.ok((capacity.maximum_volume_size?.value ?? 0) >= capacity.available_capacity);
    const here = await driver.client.getCapacity({
      accessible_topology: { segments: { [TOPOLOGY_KEY]: NODE_ID } },
    });
    assert.equal(here.available_capacity, capacity.available_capacity);
    const elsewhere = await driver.client.getCapacity({
      accessible_topology: { segments: { [TOPOLOGY_KEY]: 'other' } },
    });
    assert.equal(elsewhere.available_capacity, 0);
    assert.equal(elsewhere.maximum_volume_size?.value ?? 0, 0, 'the scheduler trusts the maximum: 0 too');
    const multi = await driver.client.getCapacity({
      volume_capabilities: [{ access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, mount: {} }],
    });
    assert.equal(multi.available_capacity, 0);
    assert.equal(multi.maximum_volume_size?.value ?? 0, 0);
  });

  it('GetCapacity asked the way the external-provisioner capacity controller asks: the real space, and a maximum that fits in it', async () => {
    // One mount capability with access mode UNKNOWN, the StorageClass parameters, this node's topology.
    const ask = (fsType: string) =>
      driver.client.getCapacity({
        volume_capabilities: [{ access_mode: { mode: 'UNKNOWN' }, mount: { fs_type: fsType } }],
        parameters: { 'csi.storage.k8s.io/fstype': fsType },
        accessible_topology: { segments: { [TOPOLOGY_KEY]: NODE_ID } },
      });
    const plain = await driver.client.getCapacity({});
    for (const fsType of ['ext4', 'xfs', '']) {
      const capacity = await ask(fsType);
      assert.ok(
        capacity.available_capacity > GiB / 2,
        `${fsType || 'default'}: ${capacity.available_capacity} available`,
      );
      assert.ok(Math.abs(capacity.available_capacity - plain.available_capacity) < 16 * MiB);
      const maximum = capacity.maximum_volume_size?.value ?? 0;
      assert.ok(
        maximum > 0 && maximum <= capacity.available_capacity,
        `maximum ${maximum} fits in what is available`,
      );
    }
    // Space used shows at once: a volume filled with data lowers both figures.
    const before = await ask('ext4');
    const { volume } = await driver.client.createVolume({
      name: 'capacity-filler',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 256 * MiB },
    });
    await writePattern(imageOf(pool, 'volumes', volume!.volume_id), 0, 256 * MiB, 'filler');
    const after = await ask('ext4');
    assert.ok(after.available_capacity <= before.available_capacity - 200 * MiB);
    assert.ok((after.maximum_volume_size?.value ?? 0) <= after.available_capacity);
    await driver.client.deleteVolume({ volume_id: volume!.volume_id });
  });

  it('RPCs whose capability is not advertised are UNIMPLEMENTED with a message', async () => {
    await expectCode(
      new Promise((resolve, reject) =>
        driver.client.controller.ControllerPublishVolume(
          { volume_id: `vol-${'d'.repeat(32)}`, node_id: 'n' },
          (error, response) => (error ? reject(error) : resolve(response)),
        ),
      ),
      status.UNIMPLEMENTED,
      /not implemented/,
    );
  });
});
