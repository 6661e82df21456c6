import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/errors.js';
import type { CapacityRange__Output } from '../../src/generated/csi/v1/CapacityRange.js';
import type { TopologyRequirement__Output } from '../../src/generated/csi/v1/TopologyRequirement.js';
import type { VolumeCapability__Output } from '../../src/generated/csi/v1/VolumeCapability.js';
import type { VolumeContentSource__Output } from '../../src/generated/csi/v1/VolumeContentSource.js';
import {
  SUPPORTED_ACCESS_MODES,
  checkTopology,
  parseCapabilities,
  parseCapacity,
  parseContentSource,
  parseMaxEntries,
  parseParameters,
  unsupportedReason,
} from '../../src/csi/validate.js';
import { catchCode, isCode } from './assert-code.js';

type Mode = NonNullable<VolumeCapability__Output['access_mode']>['mode'];

function mount(
  mode: Mode = 'SINGLE_NODE_WRITER',
  fsType = '',
  volumeMountGroup = '',
): VolumeCapability__Output {
  return {
    access_type: 'mount',
    mount: { fs_type: fsType, mount_flags: [], volume_mount_group: volumeMountGroup },
    access_mode: { mode },
  };
}

function block(mode: Mode = 'SINGLE_NODE_WRITER'): VolumeCapability__Output {
  return { access_type: 'block', block: {}, access_mode: { mode } };
}

const HEX32 = '0123456789abcdef0123456789abcdef';
const TOPOLOGY_KEY = 'topology.dolly.csi/node';
const OWN = { [TOPOLOGY_KEY]: 'node-a' };

function requirement(
  requisite: Record<string, string>[],
  preferred: Record<string, string>[] = [],
): TopologyRequirement__Output {
  return {
    requisite: requisite.map((segments) => ({ segments })),
    preferred: preferred.map((segments) => ({ segments })),
  };
}

describe('parseCapabilities', () => {
  it('requires at least one capability', () => {
    assert.throws(
      () => parseCapabilities([]),
      isCode(Code.INVALID_ARGUMENT, /volume_capabilities is required/),
    );
  });

  it('reads mount access with no, ext4 or xfs filesystem type', () => {
    assert.deepEqual(parseCapabilities([mount()]), { mode: 'mount', fsType: undefined });
    assert.deepEqual(parseCapabilities([mount('SINGLE_NODE_WRITER', 'ext4')]), {
      mode: 'mount',
      fsType: 'ext4',
    });
    assert.deepEqual(parseCapabilities([mount('SINGLE_NODE_READER_ONLY', 'xfs')]), {
      mode: 'mount',
      fsType: 'xfs',
    });
    assert.deepEqual(
      parseCapabilities([
        mount('SINGLE_NODE_WRITER', ''),
        mount('SINGLE_NODE_READER_ONLY', 'xfs'),
        mount('SINGLE_NODE_MULTI_WRITER', 'xfs'),
      ]),
      { mode: 'mount', fsType: 'xfs' },
    );
  });

  it('reads block access', () => {
    assert.deepEqual(parseCapabilities([block()]), { mode: 'block', fsType: undefined });
    assert.deepEqual(parseCapabilities([block('SINGLE_NODE_WRITER'), block('SINGLE_NODE_READER_ONLY')]), {
      mode: 'block',
      fsType: undefined,
    });
  });

  it('accepts every single-node access mode', () => {
    for (const mode of SUPPORTED_ACCESS_MODES) {
      assert.deepEqual(parseCapabilities([mount(mode)]), { mode: 'mount', fsType: undefined }, mode);
      assert.deepEqual(parseCapabilities([block(mode)]), { mode: 'block', fsType: undefined }, mode);
    }
  });

  it('requires an access mode', () => {
    const missing: VolumeCapability__Output = {
      access_type: 'mount',
      mount: { fs_type: '', mount_flags: [], volume_mount_group: '' },
      access_mode: null,
    };
    assert.throws(
      () => parseCapabilities([missing]),
      isCode(Code.INVALID_ARGUMENT, /volume_capabilities\[0\]\.access_mode is required/),
    );
    assert.throws(
      () => parseCapabilities([mount('UNKNOWN')]),
      isCode(Code.INVALID_ARGUMENT, /access_mode is required/),
    );
    assert.throws(
      () => parseCapabilities([mount(), block('UNKNOWN')]),
      isCode(Code.INVALID_ARGUMENT, /volume_capabilities\[1\]\.access_mode is required/),
    );
  });

  it('rejects multi-node access modes', () => {
    for (const mode of [
      'MULTI_NODE_READER_ONLY',
      'MULTI_NODE_SINGLE_WRITER',
      'MULTI_NODE_MULTI_WRITER',
    ] as const) {
      assert.throws(
        () => parseCapabilities([mount(mode)]),
        isCode(Code.INVALID_ARGUMENT, new RegExp(`access mode ${mode} is not supported`)),
      );
      assert.throws(
        () => parseCapabilities([block(), block(mode)]),
        isCode(Code.INVALID_ARGUMENT, /volume_capabilities\[1\]/),
      );
    }
  });

  it('rejects a mix of block and mount access', () => {
    assert.throws(
      () => parseCapabilities([mount(), block()]),
      isCode(Code.INVALID_ARGUMENT, /mix block and mount/),
    );
    assert.throws(
      () => parseCapabilities([block(), mount('SINGLE_NODE_WRITER', 'xfs')]),
      isCode(Code.INVALID_ARGUMENT, /mix block and mount/),
    );
  });

  it('rejects unsupported filesystem types, quoting them', () => {
    for (const fsType of ['ntfs', 'btrfs', 'EXT4', 'ext4 ', 'xfs,ext4']) {
      assert.throws(
        () => parseCapabilities([mount('SINGLE_NODE_WRITER', fsType)]),
        isCode(
          Code.INVALID_ARGUMENT,
          new RegExp(`filesystem type ${JSON.stringify(fsType)} is not supported`),
        ),
      );
    }
  });

  it('does not echo a huge filesystem type in full', () => {
    const error = catchCode(Code.INVALID_ARGUMENT, () =>
      parseCapabilities([mount('SINGLE_NODE_WRITER', 'f'.repeat(100_000))]),
    );
    assert.ok(error.message.length < 400, `message is ${error.message.length} characters long`);
  });

  it('rejects two different filesystem types', () => {
    assert.throws(
      () => parseCapabilities([mount('SINGLE_NODE_WRITER', 'ext4'), mount('SINGLE_NODE_WRITER', 'xfs')]),
      isCode(Code.INVALID_ARGUMENT, /two filesystems \(ext4 and xfs\)/),
    );
  });

  it('rejects volume_mount_group', () => {
    assert.throws(
      () => parseCapabilities([mount('SINGLE_NODE_WRITER', 'xfs', '1000')]),
      isCode(Code.INVALID_ARGUMENT, /volume_mount_group is not supported/),
    );
  });

  it('requires an access type', () => {
    const neither: VolumeCapability__Output = { access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    assert.throws(
      () => parseCapabilities([neither]),
      isCode(Code.INVALID_ARGUMENT, /access_type \(block or mount\) is required/),
    );
  });
});

describe('unsupportedReason', () => {
  it('returns undefined for supported capabilities', () => {
    assert.equal(unsupportedReason(mount(), 0), undefined);
    assert.equal(unsupportedReason(mount('SINGLE_NODE_SINGLE_WRITER', 'ext4'), 0), undefined);
    assert.equal(unsupportedReason(block('SINGLE_NODE_READER_ONLY'), 0), undefined);
  });

  it('explains what is unsupported, naming the capability by index', () => {
    assert.match(
      unsupportedReason(mount('MULTI_NODE_MULTI_WRITER'), 3) ?? '',
      /^volume_capabilities\[3\]: access mode MULTI_NODE_MULTI_WRITER is not supported/,
    );
    assert.match(
      unsupportedReason(mount('SINGLE_NODE_WRITER', 'ntfs'), 1) ?? '',
      /^volume_capabilities\[1\]: filesystem type "ntfs"/,
    );
    assert.match(unsupportedReason(mount('SINGLE_NODE_WRITER', '', 'g'), 0) ?? '', /volume_mount_group/);
    assert.match(
      unsupportedReason({ access_mode: null }, 2) ?? '',
      /^volume_capabilities\[2\]\.access_mode is required/,
    );
    assert.match(unsupportedReason({ access_mode: { mode: 'SINGLE_NODE_WRITER' } }, 0) ?? '', /access_type/);
  });
});

describe('parseCapacity', () => {
  it('reads a missing range as zeros', () => {
    assert.deepEqual(parseCapacity(null), { requiredBytes: 0, limitBytes: 0 });
  });

  it('converts a range and validates it', () => {
    const range: CapacityRange__Output = { required_bytes: 1024, limit_bytes: 4096 };
    assert.deepEqual(parseCapacity(range), { requiredBytes: 1024, limitBytes: 4096 });
    assert.deepEqual(parseCapacity({ required_bytes: 0, limit_bytes: 0 }), {
      requiredBytes: 0,
      limitBytes: 0,
    });
    assert.throws(() => parseCapacity({ required_bytes: 10, limit_bytes: 5 }), isCode(Code.INVALID_ARGUMENT));
    assert.throws(() => parseCapacity({ required_bytes: -1, limit_bytes: 0 }), isCode(Code.INVALID_ARGUMENT));
    assert.throws(
      () => parseCapacity({ required_bytes: 2 ** 63, limit_bytes: 0 }),
      isCode(Code.INVALID_ARGUMENT),
    );
  });
});

describe('parseContentSource', () => {
  it('reads a missing source as undefined', () => {
    assert.equal(parseContentSource(null), undefined);
  });

  it('reads a volume source', () => {
    const source: VolumeContentSource__Output = { type: 'volume', volume: { volume_id: `vol-${HEX32}` } };
    assert.deepEqual(parseContentSource(source), { kind: 'volume', volumeId: `vol-${HEX32}` });
  });

  it('reads a snapshot source', () => {
    const source: VolumeContentSource__Output = {
      type: 'snapshot',
      snapshot: { snapshot_id: `snap-${HEX32}` },
    };
    assert.deepEqual(parseContentSource(source), { kind: 'snapshot', snapshotId: `snap-${HEX32}` });
  });

  it('rejects an empty ID as a missing field, naming it', () => {
    assert.throws(
      () => parseContentSource({ type: 'volume', volume: { volume_id: '' } }),
      isCode(Code.INVALID_ARGUMENT, /^volume_content_source\.volume\.volume_id is required$/),
    );
    assert.throws(
      () => parseContentSource({ type: 'snapshot', snapshot: { snapshot_id: '' } }),
      isCode(Code.INVALID_ARGUMENT, /^volume_content_source\.snapshot\.snapshot_id is required$/),
    );
  });

  it("answers NOT_FOUND for an ID that is not Dolly's: it names a source that does not exist", () => {
    for (const volumeId of ['../../etc', 'fake-vol-id-1', `snap-${HEX32}`, `vol-${HEX32.toUpperCase()}`]) {
      assert.throws(
        () => parseContentSource({ type: 'volume', volume: { volume_id: volumeId } }),
        isCode(Code.NOT_FOUND, /^source volume .* does not exist$/),
        JSON.stringify(volumeId),
      );
    }
    for (const snapshotId of ['/etc/passwd', 'non-existing-snapshot-id', `vol-${HEX32}`, `snap-${HEX32}\n`]) {
      assert.throws(
        () => parseContentSource({ type: 'snapshot', snapshot: { snapshot_id: snapshotId } }),
        isCode(Code.NOT_FOUND, /^snapshot .* does not exist$/),
        JSON.stringify(snapshotId),
      );
    }
  });

  it('rejects a source that names neither a volume nor a snapshot', () => {
    const sources: VolumeContentSource__Output[] = [
      {},
      { type: 'volume' },
      { type: 'volume', volume: null },
      { type: 'snapshot', snapshot: null },
      { type: 'snapshot', volume: { volume_id: `vol-${HEX32}` } },
      { type: 'volume', snapshot: { snapshot_id: `snap-${HEX32}` } },
    ];
    for (const source of sources) {
      assert.throws(
        () => parseContentSource(source),
        isCode(Code.INVALID_ARGUMENT, /neither a volume nor a snapshot/),
        JSON.stringify(source),
      );
    }
  });
});

describe('parseParameters', () => {
  it('accepts the csi.storage.k8s.io/ keys and returns a copy', () => {
    const parameters = {
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': 'default',
      'csi.storage.k8s.io/pv/name': 'pvc-1',
    };
    const parsed = parseParameters(parameters);
    assert.deepEqual(parsed, parameters);
    assert.notEqual(parsed, parameters);
    assert.deepEqual(parseParameters({}), {});
  });

  it('rejects any other key with INVALID_ARGUMENT, listing them', () => {
    assert.throws(
      () => parseParameters({ 'csi.storage.k8s.io/pvc/name': 'x', fsType: 'xfs', replicas: '3' }),
      isCode(Code.INVALID_ARGUMENT, /unknown parameters "fsType", "replicas"/),
    );
    assert.throws(() => parseParameters({ 'csi.storage.k8s.io': 'x' }), isCode(Code.INVALID_ARGUMENT));
    assert.throws(
      () => parseParameters({ 'CSI.storage.k8s.io/pvc/name': 'x' }),
      isCode(Code.INVALID_ARGUMENT),
    );
    assert.throws(() => parseParameters({ 'x/csi.storage.k8s.io/': 'x' }), isCode(Code.INVALID_ARGUMENT));
    assert.throws(() => parseParameters({ '': 'x' }), isCode(Code.INVALID_ARGUMENT));
    assert.throws(
      () => parseParameters({ typo: 'x' }, 'mutable_parameters'),
      isCode(Code.INVALID_ARGUMENT, /^unknown mutable_parameters "typo"/),
    );
  });
});

describe('checkTopology', () => {
  it('accepts a missing requirement and empty lists', () => {
    assert.doesNotThrow(() => checkTopology(null, OWN));
    assert.doesNotThrow(() => checkTopology(requirement([]), OWN));
  });

  it('accepts a requisite list that contains this node', () => {
    assert.doesNotThrow(() => checkTopology(requirement([{ [TOPOLOGY_KEY]: 'node-a' }]), OWN));
    assert.doesNotThrow(() =>
      checkTopology(
        requirement(
          [{ [TOPOLOGY_KEY]: 'node-b' }, { [TOPOLOGY_KEY]: 'node-a' }],
          [{ [TOPOLOGY_KEY]: 'node-b' }],
        ),
        OWN,
      ),
    );
  });

  it('fails with RESOURCE_EXHAUSTED when the requisite list excludes this node', () => {
    assert.throws(
      () =>
        checkTopology(
          requirement(
            [{ [TOPOLOGY_KEY]: 'node-b' }, { [TOPOLOGY_KEY]: 'node-c' }],
            [{ [TOPOLOGY_KEY]: 'node-a' }],
          ),
          OWN,
        ),
      isCode(Code.RESOURCE_EXHAUSTED, /node-b.*node-c/),
    );
  });

  it('fails with INVALID_ARGUMENT for a key Dolly never reported', () => {
    assert.throws(
      () => checkTopology(requirement([{ 'topology.kubernetes.io/zone': 'z1' }]), OWN),
      isCode(Code.INVALID_ARGUMENT, /topology\.kubernetes\.io\/zone/),
    );
    assert.throws(() => checkTopology(requirement([], [{ zone: 'z1' }]), OWN), isCode(Code.INVALID_ARGUMENT));
    assert.throws(
      () => checkTopology(requirement([{ [TOPOLOGY_KEY]: 'node-a', zone: 'z1' }]), OWN),
      isCode(Code.INVALID_ARGUMENT),
    );
    // Inherited properties are not keys.
    assert.throws(() => checkTopology(requirement([{ toString: 'x' }]), OWN), isCode(Code.INVALID_ARGUMENT));
  });

  it('treats preferred topologies as a preference only', () => {
    assert.doesNotThrow(() => checkTopology(requirement([], [{ [TOPOLOGY_KEY]: 'node-b' }]), OWN));
  });
});

describe('parseMaxEntries', () => {
  it('accepts zero and positive integers', () => {
    assert.equal(parseMaxEntries(0), 0);
    assert.equal(parseMaxEntries(1), 1);
    assert.equal(parseMaxEntries(2 ** 31 - 1), 2 ** 31 - 1);
  });

  it('rejects negative and non-integer values', () => {
    for (const value of [-1, -(2 ** 31), 1.5, Number.NaN, 2 ** 53]) {
      assert.throws(
        () => parseMaxEntries(value),
        isCode(Code.INVALID_ARGUMENT, /max_entries/),
        String(value),
      );
    }
  });
});
