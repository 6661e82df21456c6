import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from '../../src/errors.js';
import type { Extent } from '../../src/host/extent-map.js';
import { FIEMAP_EXTENT, parseFiemapLine } from '../../src/host/extent-map.js';
import { isCode } from './assert-code.js';

const parseAll = (text: string): Extent[] =>
  text
    .split('\n')
    .slice(0, -1)
    .flatMap((line) => parseFiemapLine(line) ?? []);

// Captured from `xfs_io -r -c 'fiemap -v' /dev/fd/3` (xfsprogs 6.1) on a reflink XFS pool: a
// partly overwritten clone with holes, a shared tail and a preallocated (unwritten) last extent.
const CLONE = `/dev/fd/3:
 EXT: FILE-OFFSET      BLOCK-RANGE      TOTAL FLAGS
   0: [0..8191]:       hole              8192
   1: [8192..8799]:    192..799           608 0x2000
   2: [8800..8807]:    6432..6439           8   0x0
   3: [8808..12287]:   808..4287         3480 0x2000
   4: [12288..81919]:  hole             69632
   5: [81920..83967]:  4288..6335        2048 0x2000
   6: [83968..102399]: hole             18432
   7: [102400..104447]: 24768..26815      2048 0x801
   8: [104448..131071]: hole             26624
`;

// Captured past the 10,000th line, where the index outgrows its 4 columns and the offsets
// outgrow theirs: the columns shift and run closer together.
const FRAGMENTED = `frag:
 EXT: FILE-OFFSET      BLOCK-RANGE      TOTAL FLAGS
   0: [0..7]:          80..87               8   0x0
   1: [8..111]:        hole               104
9998: [559888..559895]: 40304..40311         8   0x0
9999: [559896..559999]: hole               104
10000: [560000..560007]: 40312..40319         8   0x0
10001: [560008..560111]: hole               104
23999: [1343896..2097151]: hole             753256
`;

describe('parseFiemapLine: the extent map printed by xfs_io', () => {
  it('reads extents in bytes (xfs_io counts 512-byte units) with their flags, and skips holes and headers', () => {
    assert.deepEqual(parseAll(CLONE), [
      { logicalBytes: 8192 * 512, physicalBytes: 192 * 512, lengthBytes: 608 * 512, flags: 0x2000 },
      { logicalBytes: 8800 * 512, physicalBytes: 6432 * 512, lengthBytes: 4096, flags: 0 },
      { logicalBytes: 8808 * 512, physicalBytes: 808 * 512, lengthBytes: 3480 * 512, flags: 0x2000 },
      { logicalBytes: 40 * 2 ** 20, physicalBytes: 4288 * 512, lengthBytes: 2 ** 20, flags: 0x2000 },
      {
        logicalBytes: 50 * 2 ** 20,
        physicalBytes: 24768 * 512,
        lengthBytes: 2 ** 20,
        flags: FIEMAP_EXTENT.UNWRITTEN | FIEMAP_EXTENT.LAST,
      },
    ]);
  });

  it('reads the shifted columns of lines past the 10,000th', () => {
    assert.deepEqual(parseAll(FRAGMENTED), [
      { logicalBytes: 0, physicalBytes: 80 * 512, lengthBytes: 4096, flags: 0 },
      { logicalBytes: 559888 * 512, physicalBytes: 40304 * 512, lengthBytes: 4096, flags: 0 },
      { logicalBytes: 560000 * 512, physicalBytes: 40312 * 512, lengthBytes: 4096, flags: 0 },
    ]);
  });

  it('reads an empty or fully sparse file (only the name line) as no extents', () => {
    assert.deepEqual(parseAll('/dev/fd/3:\n'), []);
  });

  it('reads offsets past 2^32 units exactly (a pool larger than 2 TiB)', () => {
    const [extent] = parseAll('   0: [0..7]:  8589934592..8589934599   8 0x2001\n');
    assert.deepEqual(extent, {
      logicalBytes: 0,
      physicalBytes: 8589934592 * 512,
      lengthBytes: 4096,
      flags: FIEMAP_EXTENT.SHARED | FIEMAP_EXTENT.LAST,
    });
  });

  it('ignores a zero-length inline tail (shorter than 512 bytes: no data blocks)', () => {
    assert.equal(
      parseFiemapLine('   0: [0..18446744073709551615]: 0..18446744073709551615     0 0x301'),
      undefined,
    );
  });

  it('rejects anything else, quoting the line, rather than guess at numbers', () => {
    for (const line of [
      'xfs_io: ioctl(FS_IOC_FIEMAP) ["/dev/fd/3"]: Operation not supported',
      '   1: [8192..8799]:    192..799           608',
      '   1: [8192..8799]:    192..799           608 2000',
      '   1: [8192..8799]:    192..799           600 0x2000',
      '   1: [8192..8799]:    192..800           608 0x2000',
      '   4: [12288..81919]:  hole             69000',
      '   1: [8192..8799]:    -192..799           608 0x0',
      `   0: [0..7]:  ${'9'.repeat(20)}..${'9'.repeat(19)}6   8 0x0`,
      '',
    ]) {
      assert.throws(
        () => parseFiemapLine(line),
        isCode(Code.INTERNAL, /unexpected line in the extent map/),
        line,
      );
    }
  });
});
