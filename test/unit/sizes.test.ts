import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/errors.js';
import { GiB, KiB, MiB, TiB, formatSize, parseSize, roundUp } from '../../src/pool/sizes.js';
import { catchCode, isCode } from './assert-code.js';

describe('parseSize', () => {
  it('reads plain byte counts', () => {
    assert.equal(parseSize('0'), 0);
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseSize('4096B'), 4096);
    assert.equal(parseSize('4096b'), 4096);
  });

  it('reads every unit with and without i / iB, in any case, as binary units', () => {
    const cases: [string, number][] = [
      ['K', KiB],
      ['M', MiB],
      ['G', GiB],
      ['T', TiB],
    ];
    for (const [letter, factor] of cases) {
      for (const suffix of ['', 'i', 'iB']) {
        for (const unit of [`${letter}${suffix}`, `${letter}${suffix}`.toLowerCase()]) {
          assert.equal(parseSize(`3${unit}`), 3 * factor, `3${unit}`);
        }
      }
    }
    assert.equal(parseSize('10G'), 10 * 1024 * 1024 * 1024);
    assert.equal(parseSize('512Mi'), 512 * 1024 * 1024);
  });

  it('accepts whitespace around the number and the unit', () => {
    assert.equal(parseSize(' 10 G '), 10 * GiB);
    assert.equal(parseSize('\t2Gi\n'), 2 * GiB);
  });

  it('reads decimals and rounds fractional bytes down', () => {
    assert.equal(parseSize('1.5TiB'), 1.5 * TiB);
    assert.equal(parseSize('0.5K'), 512);
    assert.equal(parseSize('2.25M'), 2.25 * MiB);
    assert.equal(parseSize('1.0000001K'), 1024);
    assert.equal(parseSize('1.5'), 1);
  });

  it('rejects anything that is not a number with an optional known unit (INVALID_ARGUMENT)', () => {
    for (const bad of [
      '',
      ' ',
      'abc',
      'G',
      '10X',
      '10GB',
      '10KB',
      '-1G',
      '+1G',
      '1e3',
      '1,5G',
      '.5G',
      '5.G',
      '10 G B',
      '0x10',
      'Infinity',
      'NaN',
    ]) {
      assert.throws(
        () => parseSize(bad),
        isCode(Code.INVALID_ARGUMENT, /is not a size/),
        JSON.stringify(bad),
      );
    }
  });

  it('names the rejected text in the message', () => {
    const error = catchCode(Code.INVALID_ARGUMENT, () => parseSize('12 parsecs'));
    assert.match(error.message, /"12 parsecs"/);
  });

  it('rejects sizes beyond Number.MAX_SAFE_INTEGER bytes', () => {
    assert.equal(parseSize('8191T'), 8191 * TiB); // 2^53 - 2^40: still exact
    assert.throws(() => parseSize('8192T'), isCode(Code.INVALID_ARGUMENT, /too large/)); // 2^53
    assert.throws(() => parseSize('9007199254740993'), isCode(Code.INVALID_ARGUMENT, /too large/));
    assert.throws(() => parseSize('9'.repeat(400)), isCode(Code.INVALID_ARGUMENT, /too large/)); // Infinity
    assert.throws(() => parseSize(`${'9'.repeat(400)}T`), isCode(Code.INVALID_ARGUMENT, /too large/));
  });
});

describe('formatSize', () => {
  it('uses the largest binary unit that fits', () => {
    assert.equal(formatSize(0), '0 B');
    assert.equal(formatSize(1), '1 B');
    assert.equal(formatSize(1023), '1023 B');
    assert.equal(formatSize(KiB), '1 KiB');
    assert.equal(formatSize(MiB), '1 MiB');
    assert.equal(formatSize(10 * GiB), '10 GiB');
    assert.equal(formatSize(3 * TiB), '3 TiB');
    assert.equal(formatSize(2048 * TiB), '2048 TiB');
  });

  it('shows one decimal for sizes that are not whole units', () => {
    assert.equal(formatSize(1536), '1.5 KiB');
    assert.equal(formatSize(1.5 * TiB), '1.5 TiB');
    assert.equal(formatSize(GiB + 100 * MiB), '1.1 GiB');
  });

  it('round-trips through parseSize for whole units', () => {
    for (const size of [KiB, 7 * MiB, 20 * GiB, 2 * TiB]) {
      assert.equal(parseSize(formatSize(size).replace(' ', '')), size);
    }
  });
});

describe('roundUp', () => {
  it('rounds up to a multiple of the alignment', () => {
    assert.equal(roundUp(0, 4096), 0);
    assert.equal(roundUp(1, 4096), 4096);
    assert.equal(roundUp(4095, 4096), 4096);
    assert.equal(roundUp(4096, 4096), 4096);
    assert.equal(roundUp(4097, 4096), 8192);
    assert.equal(roundUp(MiB + 1, MiB), 2 * MiB);
    assert.equal(roundUp(5 * GiB, MiB), 5 * GiB);
  });
});
