import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteRanges } from '../../src/pool/byte-ranges.js';

function covered(ranges: [number, number][]): number {
  const set = new ByteRanges();
  for (const [start, end] of ranges) set.add(start, end);
  return set.coveredBytes();
}

/** The same figure the slow, obvious way: mark every byte. */
function coveredByMarking(ranges: [number, number][]): number {
  const marked = new Set<number>();
  for (const [start, end] of ranges) for (let byte = start; byte < end; byte += 1) marked.add(byte);
  return marked.size;
}

describe('ByteRanges: the union of physical extents', () => {
  it('counts disjoint ranges in full and nothing for none', () => {
    assert.equal(covered([]), 0);
    assert.equal(covered([[4096, 8192]]), 4096);
    assert.equal(
      covered([
        [0, 4096],
        [8192, 12288],
      ]),
      8192,
    );
  });

  it('counts each byte once: identical, nested, overlapping and touching ranges', () => {
    const extent: [number, number] = [1 << 20, 65 << 20];
    assert.equal(covered([extent, extent, extent, extent]), 64 << 20, 'four reflinks of one extent');
    assert.equal(
      covered([
        [0, 100],
        [10, 20],
      ]),
      100,
    );
    assert.equal(
      covered([
        [0, 100],
        [50, 150],
      ]),
      150,
    );
    assert.equal(
      covered([
        [100, 200],
        [0, 100],
        [200, 300],
      ]),
      300,
      'touching ranges join, their edges not counted twice',
    );
    assert.equal(
      covered([
        [0, 10],
        [5, 5],
        [20, 20],
        [30, 25],
      ]),
      10,
      'empty and reversed ranges cover nothing',
    );
  });

  it('agrees with marking every byte, for any ranges', () => {
    const range = fc
      .tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 60 }))
      .map(([start, length]): [number, number] => [start, start + length]);
    fc.assert(
      fc.property(fc.array(range, { maxLength: 60 }), (ranges) => {
        assert.equal(covered(ranges), coveredByMarking(ranges));
      }),
      { numRuns: 500 },
    );
  });

  it('grows past its first capacity and merges another set (addAll)', () => {
    const a = new ByteRanges();
    const b = new ByteRanges();
    // 5,000 disjoint 4 KiB extents every 8 KiB in each, b shifted by 4 KiB: together they tile.
    for (let i = 0; i < 5000; i += 1) {
      a.add(i * 8192, i * 8192 + 4096);
      b.add(i * 8192 + 4096, i * 8192 + 8192);
    }
    assert.equal(a.coveredBytes(), 5000 * 4096);
    a.addAll(b);
    a.addAll(b);
    assert.equal(a.size, 15000);
    assert.equal(a.coveredBytes(), 5000 * 8192);
  });

  it('is exact for offsets beyond 2^32 (a pool larger than 4 GiB)', () => {
    const tib = 2 ** 40;
    assert.equal(
      covered([
        [3 * tib, 3 * tib + 4096],
        [3 * tib + 2048, 3 * tib + 8192],
      ]),
      8192,
    );
  });

  it('handles a million ranges (sorting, not pairwise comparison)', () => {
    const set = new ByteRanges();
    // Reversed order, each overlapping the next by half: the union is one stretch.
    for (let i = 1_000_000; i > 0; i -= 1) set.add(i * 2048, i * 2048 + 4096);
    assert.equal(set.coveredBytes(), 1_000_000 * 2048 + 2048);
  });
});
