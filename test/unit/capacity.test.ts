import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/errors.js';
import {
  MIN_FILESYSTEM_BYTES,
  NO_RANGE,
  chooseVolumeSize,
  fitsRange,
  validateCapacityRange,
  volumeMinimum,
} from '../../src/pool/capacity.js';
import type { CapacityRange } from '../../src/pool/capacity.js';
import { GiB, KiB, MiB, TiB } from '../../src/pool/sizes.js';
import { catchCode, isCode } from './assert-code.js';

const BIG_POOL = 100 * TiB;
const range = (requiredBytes: number, limitBytes: number): CapacityRange => ({ requiredBytes, limitBytes });

describe('validateCapacityRange', () => {
  it('returns a valid range unchanged', () => {
    const valid = range(5, 5);
    assert.equal(validateCapacityRange(valid), valid);
    assert.deepEqual(validateCapacityRange(range(5, 0)), range(5, 0));
    assert.deepEqual(validateCapacityRange(range(0, 7)), range(0, 7));
    assert.deepEqual(validateCapacityRange(NO_RANGE), range(0, 0));
  });

  it('rejects negative sizes', () => {
    assert.throws(
      () => validateCapacityRange(range(-1, 0)),
      isCode(Code.INVALID_ARGUMENT, /required_bytes.*negative/),
    );
    assert.throws(
      () => validateCapacityRange(range(0, -1)),
      isCode(Code.INVALID_ARGUMENT, /limit_bytes.*negative/),
    );
  });

  it('rejects sizes that are not safe integers', () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -(2 ** 60)]) {
      assert.throws(
        () => validateCapacityRange(range(bad, 0)),
        isCode(Code.INVALID_ARGUMENT, /required_bytes/),
        String(bad),
      );
      assert.throws(
        () => validateCapacityRange(range(0, bad)),
        isCode(Code.INVALID_ARGUMENT, /limit_bytes/),
        String(bad),
      );
    }
  });

  it('rejects required_bytes larger than a set limit_bytes', () => {
    assert.throws(
      () => validateCapacityRange(range(10, 5)),
      isCode(Code.INVALID_ARGUMENT, /required_bytes \(10\) is larger than limit_bytes \(5\)/),
    );
  });
});

describe('fitsRange', () => {
  it('checks both bounds, 0 meaning unset', () => {
    assert.equal(fitsRange(10, range(10, 10)), true);
    assert.equal(fitsRange(9, range(10, 0)), false);
    assert.equal(fitsRange(11, range(0, 10)), false);
    assert.equal(fitsRange(10, range(0, 10)), true);
    assert.equal(fitsRange(Number.MAX_SAFE_INTEGER, range(0, 0)), true);
    assert.equal(fitsRange(0, NO_RANGE), true);
  });
});

describe('chooseVolumeSize', () => {
  it('gives 1 GiB when the request has no range', () => {
    assert.equal(chooseVolumeSize(NO_RANGE, undefined, BIG_POOL), GiB);
  });

  it('gives the default capped at limit_bytes when only a limit is set', () => {
    assert.equal(chooseVolumeSize(range(0, 512 * MiB), undefined, BIG_POOL), 512 * MiB);
    assert.equal(chooseVolumeSize(range(0, 5 * GiB), undefined, BIG_POOL), GiB);
  });

  it('aligns to 1 MiB', () => {
    assert.equal(chooseVolumeSize(range(1, 0), undefined, BIG_POOL), MiB);
    assert.equal(chooseVolumeSize(range(MiB, 0), undefined, BIG_POOL), MiB);
    assert.equal(chooseVolumeSize(range(MiB + 1, 0), undefined, BIG_POOL), 2 * MiB);
    assert.equal(chooseVolumeSize(range(5 * GiB - 1, 0), undefined, BIG_POOL), 5 * GiB);
    assert.equal(chooseVolumeSize(range(3 * MiB + 7, 10 * MiB), undefined, BIG_POOL), 4 * MiB);
  });

  it('falls back to 4 KiB alignment when the limit forbids rounding to a whole MiB', () => {
    assert.equal(chooseVolumeSize(range(1, 4 * KiB), undefined, BIG_POOL), 4 * KiB);
    assert.equal(chooseVolumeSize(range(5000, 12288), undefined, BIG_POOL), 8192);
    assert.equal(chooseVolumeSize(range(4097, 8192), undefined, BIG_POOL), 8192);
    assert.equal(chooseVolumeSize(range(MiB + 1, 2 * MiB - 1), undefined, BIG_POOL), MiB + 4 * KiB);
    assert.equal(chooseVolumeSize(range(100 * KiB, 100 * KiB), undefined, BIG_POOL), 100 * KiB);
  });

  it('fails with OUT_OF_RANGE when no whole 4 KiB block count fits in the range', () => {
    assert.throws(
      () => chooseVolumeSize(range(5000, 6000), undefined, BIG_POOL),
      isCode(Code.OUT_OF_RANGE, /4 KiB/),
    );
    assert.throws(() => chooseVolumeSize(range(1, 4095), undefined, BIG_POOL), isCode(Code.OUT_OF_RANGE));
    assert.throws(() => chooseVolumeSize(range(0, 4095), undefined, BIG_POOL), isCode(Code.OUT_OF_RANGE));
    assert.throws(() => chooseVolumeSize(range(0, 1), undefined, BIG_POOL), isCode(Code.OUT_OF_RANGE));
  });

  // BUG: with no required_bytes and a limit that is not a multiple of 4 KiB, the size is the limit
  // rounded *up*, which exceeds the limit, so the request fails although 4 KiB multiples fit.
  it('finds a 4 KiB multiple below an unaligned limit when required_bytes is unset', () => {
    for (const limit of [10_000, 3 * MiB - 1, 5 * GiB + 123]) {
      const size = chooseVolumeSize(range(0, limit), undefined, BIG_POOL);
      assert.equal(size % (4 * KiB), 0, `limit ${limit}: ${size} is not 4 KiB aligned`);
      assert.ok(size > 0 && size <= limit, `limit ${limit}: ${size} is outside the range`);
    }
  });

  it('rejects an invalid range with INVALID_ARGUMENT', () => {
    assert.throws(() => chooseVolumeSize(range(10, 5), undefined, BIG_POOL), isCode(Code.INVALID_ARGUMENT));
    assert.throws(() => chooseVolumeSize(range(-1, 0), undefined, BIG_POOL), isCode(Code.INVALID_ARGUMENT));
  });

  it('fails with OUT_OF_RANGE when the volume would be larger than the pool', () => {
    assert.throws(
      () => chooseVolumeSize(NO_RANGE, undefined, 512 * MiB),
      isCode(Code.OUT_OF_RANGE, /larger than the whole pool/),
    );
    assert.throws(
      () => chooseVolumeSize(range(100 * MiB + 1, 0), undefined, 100 * MiB),
      isCode(Code.OUT_OF_RANGE),
    );
    assert.equal(chooseVolumeSize(range(100 * MiB, 0), undefined, 100 * MiB), 100 * MiB);
  });

  describe('for a clone or restore', () => {
    const source = { sizeBytes: 3 * MiB, what: 'volume vol-00000000000000000000000000000001' };

    it('gives the source size when the request has no range', () => {
      assert.equal(chooseVolumeSize(NO_RANGE, source, BIG_POOL), 3 * MiB);
    });

    it('gives the source size when required_bytes or limit_bytes equal it', () => {
      assert.equal(chooseVolumeSize(range(3 * MiB, 0), source, BIG_POOL), 3 * MiB);
      assert.equal(chooseVolumeSize(range(0, 3 * MiB), source, BIG_POOL), 3 * MiB);
      assert.equal(chooseVolumeSize(range(3 * MiB, 3 * MiB), source, BIG_POOL), 3 * MiB);
    });

    it('gives a larger volume when a larger size is required', () => {
      assert.equal(chooseVolumeSize(range(5 * MiB, 0), source, BIG_POOL), 5 * MiB);
      assert.equal(chooseVolumeSize(range(2 * GiB, 4 * GiB), source, BIG_POOL), 2 * GiB);
    });

    it('fails with OUT_OF_RANGE when required_bytes is smaller than the source', () => {
      const error = catchCode(Code.OUT_OF_RANGE, () => chooseVolumeSize(range(2 * MiB, 0), source, BIG_POOL));
      assert.match(error.message, /smaller than the source volume vol-0+1/);
      assert.throws(() => chooseVolumeSize(range(1, 10 * MiB), source, BIG_POOL), isCode(Code.OUT_OF_RANGE));
    });

    it('fails with OUT_OF_RANGE when limit_bytes is smaller than the source', () => {
      assert.throws(
        () => chooseVolumeSize(range(0, 2 * MiB), source, BIG_POOL),
        isCode(Code.OUT_OF_RANGE, /limit_bytes 2097152 is smaller than the source/),
      );
    });

    it('keeps the exact size of a source that is only 4 KiB aligned when the limit asks for it', () => {
      const odd = { sizeBytes: 3 * MiB + 4 * KiB, what: 'snapshot snap-1' };
      assert.equal(chooseVolumeSize(range(0, odd.sizeBytes), odd, BIG_POOL), odd.sizeBytes);
      assert.equal(chooseVolumeSize(NO_RANGE, odd, BIG_POOL), 4 * MiB);
    });

    it('fails with OUT_OF_RANGE when the source is larger than the pool', () => {
      assert.throws(
        () => chooseVolumeSize(NO_RANGE, { sizeBytes: 2 * GiB, what: 'snapshot s' }, GiB),
        isCode(Code.OUT_OF_RANGE),
      );
    });
  });
});

describe('volumeMinimum and the minimum in chooseVolumeSize', () => {
  it('is the smallest filesystem Dolly makes; block volumes have none', () => {
    assert.equal(MIN_FILESYSTEM_BYTES.xfs, 300 * MiB);
    assert.equal(MIN_FILESYSTEM_BYTES.ext4, 8 * MiB);
    assert.equal(volumeMinimum('mount', 'xfs').bytes, 300 * MiB);
    assert.equal(volumeMinimum('mount', 'ext4').bytes, 8 * MiB);
    assert.equal(volumeMinimum('block', undefined).bytes, 0);
    assert.equal(volumeMinimum('block', 'xfs').bytes, 0);
  });

  it('rounds a smaller request up to the minimum when the range allows it', () => {
    const xfs = volumeMinimum('mount', 'xfs');
    assert.equal(chooseVolumeSize(range(MiB, 0), undefined, BIG_POOL, xfs), 300 * MiB);
    assert.equal(chooseVolumeSize(range(0, 300 * MiB), undefined, BIG_POOL, xfs), 300 * MiB);
    assert.equal(chooseVolumeSize(range(100 * MiB, GiB), undefined, BIG_POOL, xfs), 300 * MiB);
    assert.equal(chooseVolumeSize(range(400 * MiB, 0), undefined, BIG_POOL, xfs), 400 * MiB);
    assert.equal(chooseVolumeSize(NO_RANGE, undefined, BIG_POOL, xfs), GiB);
    // A clone of an older, smaller volume is rounded up too (it grows at stage).
    const source = { sizeBytes: 64 * MiB, what: 'volume v' };
    assert.equal(chooseVolumeSize(NO_RANGE, source, BIG_POOL, xfs), 300 * MiB);
    const ext4 = volumeMinimum('mount', 'ext4');
    assert.equal(chooseVolumeSize(range(4096, 0), undefined, BIG_POOL, ext4), 8 * MiB);
    assert.equal(chooseVolumeSize(range(4096, 8 * MiB + 4096), undefined, BIG_POOL, ext4), 8 * MiB);
  });

  it('is OUT_OF_RANGE, naming the minimum, when limit_bytes is below it', () => {
    const xfs = volumeMinimum('mount', 'xfs');
    const error = catchCode(Code.OUT_OF_RANGE, () =>
      chooseVolumeSize(range(0, 300 * MiB - 4096), undefined, BIG_POOL, xfs),
    );
    assert.match(error.message, /300 MiB \(314572800 bytes\), the smallest xfs filesystem Dolly makes/);
    assert.throws(
      () => chooseVolumeSize(range(MiB, 2 * MiB), undefined, BIG_POOL, volumeMinimum('mount', 'ext4')),
      isCode(Code.OUT_OF_RANGE, /8 MiB/),
    );
  });
});
