import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Driver } from '../helpers/driver.js';
import { NODE_ID, TOPOLOGY_KEY } from '../helpers/driver.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB, blockCapability, expectCode, mountCapability, status } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startDriverOnPool } from '../helpers/suite.js';

describe('CreateVolume', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('create', 4 * GiB)));
  after(async () => sandbox.cleanup());

  const create = (name: string, extra: Record<string, unknown> = {}) =>
    driver.client.createVolume({ name, volume_capabilities: mountCapability(), ...extra });

  const poolEntries = async () => ({
    volumes: (await readdir(join(pool, 'volumes'))).sort(),
    tmp: await readdir(join(pool, 'tmp')),
  });

  describe('bad input is INVALID_ARGUMENT and creates nothing', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['empty name', { name: '' }, /name is required/],
      ['name over 1024 bytes', { name: 'x'.repeat(1025) }, /1025 bytes/],
      ['no capabilities', { volume_capabilities: [] }, /volume_capabilities is required/],
      ['capability without access mode', { volume_capabilities: [{ mount: {} }] }, /access_mode is required/],
      [
        'multi-node access mode',
        { volume_capabilities: [{ access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' }, mount: {} }] },
        /MULTI_NODE_MULTI_WRITER is not supported/,
      ],
      ['unsupported filesystem', { volume_capabilities: mountCapability('ntfs') }, /"ntfs" is not supported/],
      [
        'block and mount mixed',
        { volume_capabilities: [...mountCapability(), ...blockCapability()] },
        /mix block and mount/,
      ],
      ['negative required_bytes', { capacity_range: { required_bytes: -1 } }, /must not be negative/],
      ['negative limit_bytes', { capacity_range: { limit_bytes: -5 } }, /must not be negative/],
      [
        'required above limit',
        { capacity_range: { required_bytes: 2 * MiB, limit_bytes: MiB } },
        /larger than limit_bytes/,
      ],
      [
        'absurd size (2^62)',
        { capacity_range: { required_bytes: '4611686018427387904' } },
        /not a usable size/,
      ],
      ['unknown parameter', { parameters: { replicas: '3' } }, /unknown parameters "replicas"/],
      ['mutable parameters', { mutable_parameters: { iops: '5' } }, /mutable_parameters/],
      [
        'empty source volume ID',
        { volume_content_source: { volume: { volume_id: '' } } },
        /volume_content_source\.volume\.volume_id is required/,
      ],
      ['empty content source', { volume_content_source: {} }, /neither a volume nor a snapshot/],
      [
        'topology key Dolly never reported',
        { accessibility_requirements: { requisite: [{ segments: { 'kubernetes.io/hostname': NODE_ID } }] } },
        /topology key/,
      ],
    ];
    for (const [title, fields, pattern] of cases) {
      it(title, async () => {
        const before = await poolEntries();
        await expectCode(create('bad-input', fields), status.INVALID_ARGUMENT, pattern);
        assert.deepEqual(await poolEntries(), before);
      });
    }
  });

  it("a source ID that is not Dolly's names a source that does not exist: NOT_FOUND, nothing made", async () => {
    const before = await poolEntries();
    await expectCode(
      create('from-foreign-volume', { volume_content_source: { volume: { volume_id: '../../../../etc' } } }),
      status.NOT_FOUND,
      /source volume "\.\.\/\.\.\/\.\.\/\.\.\/etc" does not exist/,
    );
    await expectCode(
      create('from-foreign-snapshot', {
        volume_content_source: { snapshot: { snapshot_id: 'snap-../../x' } },
      }),
      status.NOT_FOUND,
      /snapshot "snap-\.\.\/\.\.\/x" does not exist/,
    );
    assert.deepEqual(await poolEntries(), before);
  });

  it('a filesystem volume is at least the smallest filesystem Dolly makes (ext4 8 MiB, xfs 300 MiB); block has no minimum', async () => {
    const small = await create('min-ext4', { capacity_range: { required_bytes: MiB } });
    assert.equal(small.volume?.capacity_bytes, 8 * MiB);
    const xfs = await create('min-xfs', {
      volume_capabilities: mountCapability('xfs'),
      capacity_range: { required_bytes: 100 * MiB },
    });
    assert.equal(xfs.volume?.capacity_bytes, 300 * MiB);
    const xfsLimit = await create('min-xfs-limit', {
      volume_capabilities: mountCapability('xfs'),
      capacity_range: { limit_bytes: 300 * MiB },
    });
    assert.equal(xfsLimit.volume?.capacity_bytes, 300 * MiB);
    const before = await poolEntries();
    await expectCode(
      create('min-xfs-too-tight', {
        volume_capabilities: mountCapability('xfs'),
        capacity_range: { required_bytes: 100 * MiB, limit_bytes: 200 * MiB },
      }),
      status.OUT_OF_RANGE,
      /below 300 MiB \(314572800 bytes\), the smallest xfs filesystem/,
    );
    await expectCode(
      create('min-ext4-too-tight', { capacity_range: { limit_bytes: 4 * MiB } }),
      status.OUT_OF_RANGE,
      /8 MiB/,
    );
    assert.deepEqual(await poolEntries(), before);
    const block = await create('min-block', {
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 4096, limit_bytes: 4096 },
    });
    assert.equal(block.volume?.capacity_bytes, 4096);
  });

  it("without a capacity range makes a 1 GiB volume with this node's topology", async () => {
    const { volume } = await create('default-size');
    assert.ok(volume);
    assert.equal(volume.capacity_bytes, GiB);
    assert.match(volume.volume_id, /^vol-[0-9a-f]{32}-test-node$/);
    assert.deepEqual(volume.accessible_topology, [{ segments: { [TOPOLOGY_KEY]: NODE_ID } }]);
    assert.equal(volume.content_source, null);
    const image = await stat(imageOf(pool, 'volumes', volume.volume_id));
    assert.equal(image.size, GiB);
    assert.equal(image.blocks, 0, 'a new volume is sparse: it occupies no blocks');
  });

  it('honours required_bytes and limit_bytes, rounding to whole MiB only when the limit allows', async () => {
    const rounded = await create('range-rounded', { capacity_range: { required_bytes: 10 * MiB + 1 } });
    assert.equal(rounded.volume?.capacity_bytes, 11 * MiB);
    const tight = await create('range-tight', {
      capacity_range: { required_bytes: 10 * MiB + 1, limit_bytes: 10 * MiB + 4096 },
    });
    assert.equal(tight.volume?.capacity_bytes, 10 * MiB + 4096);
    const limitOnly = await create('range-limit-only', { capacity_range: { limit_bytes: 64 * MiB } });
    assert.equal(limitOnly.volume?.capacity_bytes, 64 * MiB);
    await expectCode(
      create('range-impossible', { capacity_range: { required_bytes: 4097, limit_bytes: 4100 } }),
      status.OUT_OF_RANGE,
    );
  });

  it('a volume larger than the whole pool is OUT_OF_RANGE', async () => {
    await expectCode(
      create('too-big', { capacity_range: { required_bytes: 1024 * GiB } }),
      status.OUT_OF_RANGE,
      /larger than the whole pool/,
    );
  });

  it('accepts the parameters Kubernetes adds', async () => {
    const parameters = {
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': 'default',
    };
    const { volume } = await create('k8s-params', { parameters });
    assert.ok(volume);
  });

  it('is idempotent by name; an incompatible retry is ALREADY_EXISTS', async () => {
    const request = { capacity_range: { required_bytes: 32 * MiB } };
    const first = await create('idem', request);
    const again = await create('idem', request);
    assert.deepEqual(again, first);
    const relaxed = await create('idem', {
      capacity_range: { required_bytes: 16 * MiB, limit_bytes: 64 * MiB },
    });
    assert.equal(relaxed.volume?.volume_id, first.volume?.volume_id);
    await expectCode(
      create('idem', { capacity_range: { required_bytes: 64 * MiB } }),
      status.ALREADY_EXISTS,
      /outside the requested range/,
    );
    await expectCode(
      driver.client.createVolume({ name: 'idem', volume_capabilities: blockCapability(), ...request }),
      status.ALREADY_EXISTS,
      /filesystem volume/,
    );
    await expectCode(
      create('idem', { ...request, volume_capabilities: mountCapability('xfs') }),
      status.ALREADY_EXISTS,
      /filesystem is ext4/,
    );
    await expectCode(
      create('idem', { ...request, parameters: { 'csi.storage.k8s.io/pvc/name': 'other' } }),
      status.ALREADY_EXISTS,
      /other parameters/,
    );
  });

  it('requisite topology: this node is OK, another node is RESOURCE_EXHAUSTED', async () => {
    const here = {
      requisite: [{ segments: { [TOPOLOGY_KEY]: 'elsewhere' } }, { segments: { [TOPOLOGY_KEY]: NODE_ID } }],
    };
    assert.ok((await create('topo-here', { accessibility_requirements: here })).volume);
    const before = await poolEntries();
    await expectCode(
      create('topo-elsewhere', {
        accessibility_requirements: { requisite: [{ segments: { [TOPOLOGY_KEY]: 'elsewhere' } }] },
      }),
      status.RESOURCE_EXHAUSTED,
      /own node/,
    );
    assert.deepEqual(await poolEntries(), before);
    const preferredElsewhere = { preferred: [{ segments: { [TOPOLOGY_KEY]: 'elsewhere' } }] };
    assert.ok((await create('topo-preferred', { accessibility_requirements: preferredElsewhere })).volume);
  });

  describe('from a volume source (clone)', () => {
    let source: string;
    let blockSource: string;

    before(async () => {
      source = (await create('clone-source', { capacity_range: { required_bytes: 100 * MiB } })).volume!
        .volume_id;
      blockSource = (
        await driver.client.createVolume({
          name: 'clone-block-source',
          volume_capabilities: blockCapability(),
          capacity_range: { required_bytes: 50 * MiB },
        })
      ).volume!.volume_id;
    });

    const fromSource = (volumeId: string) => ({ volume_content_source: { volume: { volume_id: volumeId } } });

    it("echoes the content source and has the source's size by default", async () => {
      const { volume } = await create('clone-1', fromSource(source));
      assert.ok(volume);
      assert.equal(volume.capacity_bytes, 100 * MiB);
      assert.equal(volume.content_source?.volume?.volume_id, source);
      assert.deepEqual(volume.accessible_topology, [{ segments: { [TOPOLOGY_KEY]: NODE_ID } }]);
    });

    it('a missing source is NOT_FOUND, checked before anything is allocated', async () => {
      const before = await poolEntries();
      await expectCode(
        create('clone-missing', fromSource(`vol-${'0'.repeat(32)}`)),
        status.NOT_FOUND,
        /does not exist/,
      );
      await expectCode(
        create('clone-missing-snap', {
          volume_content_source: { snapshot: { snapshot_id: `snap-${'0'.repeat(32)}` } },
        }),
        status.NOT_FOUND,
      );
      assert.deepEqual(await poolEntries(), before);
    });

    it('block versus filesystem mismatch is INVALID_ARGUMENT', async () => {
      const before = await poolEntries();
      await expectCode(
        driver.client.createVolume({
          name: 'clone-mode',
          volume_capabilities: blockCapability(),
          ...fromSource(source),
        }),
        status.INVALID_ARGUMENT,
        /same volume mode/,
      );
      await expectCode(
        create('clone-mode-2', fromSource(blockSource)),
        status.INVALID_ARGUMENT,
        /same volume mode/,
      );
      await expectCode(
        create('clone-fs', { ...fromSource(source), volume_capabilities: mountCapability('xfs') }),
        status.INVALID_ARGUMENT,
        /holds ext4/,
      );
      assert.deepEqual(await poolEntries(), before);
    });

    it('smaller than the source is OUT_OF_RANGE', async () => {
      const before = await poolEntries();
      await expectCode(
        create('clone-small', { ...fromSource(source), capacity_range: { required_bytes: 50 * MiB } }),
        status.OUT_OF_RANGE,
        /smaller than the source/,
      );
      await expectCode(
        create('clone-small-limit', { ...fromSource(source), capacity_range: { limit_bytes: 50 * MiB } }),
        status.OUT_OF_RANGE,
      );
      assert.deepEqual(await poolEntries(), before);
    });

    it('larger than the source really is larger', async () => {
      const { volume } = await create('clone-large', {
        ...fromSource(source),
        capacity_range: { required_bytes: 300 * MiB },
      });
      assert.equal(volume?.capacity_bytes, 300 * MiB);
      const image = await stat(imageOf(pool, 'volumes', volume.volume_id));
      assert.equal(image.size, 300 * MiB);
    });

    it('a block volume clones into a block volume', async () => {
      const { volume } = await driver.client.createVolume({
        name: 'clone-block',
        volume_capabilities: blockCapability(),
        ...fromSource(blockSource),
      });
      assert.equal(volume?.capacity_bytes, 50 * MiB);
    });

    it('retries with the same source are OK; another or no source is ALREADY_EXISTS', async () => {
      const first = await create('clone-idem', fromSource(source));
      assert.deepEqual(await create('clone-idem', fromSource(source)), first);
      await expectCode(
        create('clone-idem', fromSource(blockSource)),
        status.ALREADY_EXISTS,
        /created from source volume/,
      );
      await expectCode(create('clone-idem'), status.ALREADY_EXISTS, /not no source/);
      await expectCode(
        create('clone-idem', {
          volume_content_source: { snapshot: { snapshot_id: `snap-${'1'.repeat(32)}` } },
        }),
        status.ALREADY_EXISTS,
      );
      // And a plain volume retried with a source.
      await create('plain-idem');
      await expectCode(
        create('plain-idem', fromSource(source)),
        status.ALREADY_EXISTS,
        /created from no source/,
      );
    });
  });
});
