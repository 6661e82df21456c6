import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/errors.js';
import {
  MAX_NAME_BYTES,
  isSnapshotId,
  isVolumeId,
  ownSnapshotId,
  ownVolumeId,
  quote,
  requireField,
  snapshotIdForName,
  validateName,
  volumeIdForName,
  legacyIdOf,
  nodeOfId,
} from '../../src/pool/ids.js';
import { catchCode, isCode } from './assert-code.js';

const HEX32 = '0123456789abcdef0123456789abcdef';

/** Values that must never be accepted as the hex part of an ID (nor as a whole ID). */
const BAD_SUFFIXES = [
  '',
  HEX32.slice(1), // 31 digits
  `${HEX32}0`, // 33 digits
  HEX32.toUpperCase(),
  `${HEX32.slice(0, 31)}A`,
  `${HEX32.slice(0, 31)}g`,
  `${HEX32}\n`,
  `${HEX32}\r`,
  `\n${HEX32}`,
  ` ${HEX32}`,
  `${HEX32} `,
  `${HEX32.slice(0, 16)}/${HEX32.slice(17)}`,
  `${HEX32.slice(0, 16)}\\${HEX32.slice(17)}`,
  `${HEX32}/`,
  `${HEX32}\0`,
  `${HEX32.slice(0, 31)}\0`,
  `../${HEX32.slice(3)}`,
];

describe('ownVolumeId', () => {
  it('returns vol- and 32 lowercase hex digits as a VolumeId', () => {
    assert.equal(ownVolumeId(`vol-${HEX32}`), `vol-${HEX32}`);
    assert.equal(ownVolumeId(`vol-${'f'.repeat(32)}`), `vol-${'f'.repeat(32)}`);
  });

  it('rejects the empty string as a missing field, naming it', () => {
    assert.throws(() => ownVolumeId(''), isCode(Code.INVALID_ARGUMENT, /^volume_id is required$/));
    assert.throws(
      () => ownVolumeId('', 'source_volume_id'),
      isCode(Code.INVALID_ARGUMENT, /^source_volume_id is required$/),
    );
  });

  it('finds nothing (undefined) for paths, wrong lengths, uppercase, whitespace, separators and NUL bytes', () => {
    const foreign = [
      '../../etc',
      '/etc/passwd',
      'fake-vol-id-0123456789',
      'vol-',
      `snap-${HEX32}`,
      `VOL-${HEX32}`,
      `vol_${HEX32}`,
      `vol-${HEX32}/../../etc`,
      `../vol-${HEX32}`,
      `./vol-${HEX32}`,
      `vol-${'a'.repeat(100_000)}`,
      ...BAD_SUFFIXES.filter((suffix) => suffix !== '').map((suffix) => `vol-${suffix}`),
    ];
    for (const value of foreign) {
      assert.equal(ownVolumeId(value), undefined, JSON.stringify(value));
      assert.equal(isVolumeId(value), false, JSON.stringify(value));
    }
  });
});

describe('ownSnapshotId', () => {
  it('returns snap- and 32 lowercase hex digits as a SnapshotId', () => {
    assert.equal(ownSnapshotId(`snap-${HEX32}`), `snap-${HEX32}`);
  });

  it('rejects the empty string as a missing field', () => {
    assert.throws(() => ownSnapshotId(''), isCode(Code.INVALID_ARGUMENT, /^snapshot_id is required$/));
  });

  it('finds nothing (undefined) for anything else', () => {
    const foreign = [
      '../../etc',
      'reallyfakesnapshotid',
      'snap-',
      `vol-${HEX32}`,
      `snap-${HEX32}/..`,
      ...BAD_SUFFIXES.filter((suffix) => suffix !== '').map((suffix) => `snap-${suffix}`),
    ];
    for (const value of foreign) {
      assert.equal(ownSnapshotId(value), undefined, JSON.stringify(value));
      assert.equal(isSnapshotId(value), false, JSON.stringify(value));
    }
  });
});

describe('requireField', () => {
  it('returns a value and rejects an empty one, naming the field', () => {
    assert.equal(requireField('/a', 'target_path'), '/a');
    const error = catchCode(Code.INVALID_ARGUMENT, () => requireField('', 'target_path'));
    assert.equal(error.message, 'target_path is required');
  });
});

describe('quote', () => {
  it('shows values up to 80 characters whole, longer ones cut at 80 with an ellipsis', () => {
    assert.equal(quote('abc'), '"abc"');
    assert.equal(quote('x'.repeat(80)), `"${'x'.repeat(80)}"`);
    assert.equal(quote('x'.repeat(81)), `"${'x'.repeat(80)}…"`);
    assert.equal(quote('a\u0000b\n'), '"a\\u0000b\\n"');
  });
});

describe('validateName', () => {
  it('returns a usable name unchanged', () => {
    for (const name of [
      'pvc-1',
      'pvc-d1b0c3e6-8d5c-4c1f-9f0a-3b2f7c1a9e10',
      '日本語の名前',
      'a/b/../c',
      'x'.repeat(MAX_NAME_BYTES),
    ]) {
      assert.equal(validateName(name), name);
    }
  });

  it('rejects the empty name', () => {
    assert.throws(() => validateName(''), isCode(Code.INVALID_ARGUMENT, /^name is required$/));
    assert.throws(
      () => validateName('', 'snapshot name'),
      isCode(Code.INVALID_ARGUMENT, /^snapshot name is required$/),
    );
  });

  it('limits the length in UTF-8 bytes, not characters', () => {
    assert.equal(MAX_NAME_BYTES, 1024);
    assert.throws(() => validateName('x'.repeat(1025)), isCode(Code.INVALID_ARGUMENT, /1025 bytes/));
    assert.equal(validateName('é'.repeat(512)), 'é'.repeat(512)); // 1024 bytes
    assert.throws(() => validateName('é'.repeat(513)), isCode(Code.INVALID_ARGUMENT, /1026 bytes/)); // 513 characters
    assert.equal(validateName('€'.repeat(341)).length, 341); // 1023 bytes
    assert.throws(() => validateName('€'.repeat(342)), isCode(Code.INVALID_ARGUMENT, /1026 bytes/));
    assert.throws(() => validateName('😀'.repeat(257)), isCode(Code.INVALID_ARGUMENT, /1028 bytes/));
  });

  it('rejects control characters', () => {
    for (const control of ['\0', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085']) {
      assert.throws(
        () => validateName(`pvc${control}1`),
        isCode(Code.INVALID_ARGUMENT, /contains control characters/),
        JSON.stringify(control),
      );
    }
  });

  it('does not echo a long name with control characters in full', () => {
    const error = catchCode(Code.INVALID_ARGUMENT, () => validateName(`${'n'.repeat(1000)}\n`));
    assert.ok(error.message.length < 300, `message is ${error.message.length} characters long`);
  });
});

describe('volumeIdForName / snapshotIdForName', () => {
  const node = 'worker-1';

  it('is deterministic', () => {
    assert.equal(volumeIdForName('pvc-1', node), volumeIdForName('pvc-1', node));
    assert.equal(snapshotIdForName('snapshot-1', node), snapshotIdForName('snapshot-1', node));
  });

  it('gives distinct IDs for distinct names, and for one name on distinct nodes', () => {
    const names = Array.from({ length: 2000 }, (_, index) => `pvc-${index}`);
    names.push('pvc-1 ', ' pvc-1', 'PVC-1', 'pvc-1\u00a0');
    const ids = new Set(names.map((name) => volumeIdForName(name, node)));
    assert.equal(ids.size, names.length);
    assert.notEqual(volumeIdForName('pvc-1', 'a'), volumeIdForName('pvc-1', 'b'));
  });

  it('always gives a valid ID, whatever the name', () => {
    const names = [
      '../../x',
      '/etc/passwd',
      '..',
      '.',
      '',
      '\0',
      'a\nb',
      'vol-x',
      'x'.repeat(10_000),
      '日本',
      '😀',
    ];
    for (const name of names) {
      const volumeId = volumeIdForName(name, node);
      assert.match(volumeId, /^vol-[0-9a-f]{32}-worker-1$/);
      assert.equal(ownVolumeId(volumeId), volumeId);
      const snapshotId = snapshotIdForName(name, node);
      assert.match(snapshotId, /^snap-[0-9a-f]{32}-worker-1$/);
      assert.equal(ownSnapshotId(snapshotId), snapshotId);
    }
  });

  // IDs are stored on disk and derived again on every retry: the derivation must never change.
  it('is the SHA-256 of the UTF-8 name, cut to 128 bits, then the node', () => {
    // sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
    assert.equal(volumeIdForName('', node), 'vol-e3b0c44298fc1c149afbf4c8996fb924-worker-1');
    assert.equal(snapshotIdForName('', node), 'snap-e3b0c44298fc1c149afbf4c8996fb924-worker-1');
  });

  it('knows the node of an ID and the Dolly 0.1 form of it', () => {
    const id = volumeIdForName('pvc-1', 'node.a-1_b');
    assert.equal(nodeOfId(id), 'node.a-1_b');
    assert.equal(legacyIdOf(id), id.slice(0, 'vol-'.length + 32));
    const legacy = legacyIdOf(id)!;
    assert.equal(ownVolumeId(legacy), legacy, 'the 0.1 form is still one of ours');
    assert.equal(nodeOfId(legacy), undefined);
    assert.equal(legacyIdOf(legacy), undefined);
    const snap = snapshotIdForName('s', 'n');
    assert.equal(nodeOfId(snap), 'n');
  });

  it('refuses node parts that are not label values (no path can come of them)', () => {
    const hex = 'e3b0c44298fc1c149afbf4c8996fb924';
    for (const bad of ['', '.', '..', '-a', 'a-', 'a/b', '../x', 'a b', 'x'.repeat(64), 'a\n', 'ü']) {
      assert.equal(ownVolumeId(`vol-${hex}-${bad}`), undefined, JSON.stringify(bad));
      assert.equal(ownSnapshotId(`snap-${hex}-${bad}`), undefined, JSON.stringify(bad));
    }
  });
});
