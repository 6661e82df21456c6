import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markdownTargets } from '../../bench/lib/markdown.js';
import { stallsFromTimes } from '../../bench/lib/stall.js';
import { quantile } from '../../bench/lib/timing.js';
import { formatBytes, parseBytes, parseCount } from '../../bench/lib/units.js';

describe('bench: sizes and counts on the command line', () => {
  it('reads binary sizes and plain or k/m counts', () => {
    assert.equal(parseBytes('64M'), 64 * 1024 ** 2);
    assert.equal(parseBytes('1T'), 1024 ** 4);
    assert.equal(parseBytes('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(parseCount('0'), 0);
    assert.equal(parseCount('10k'), 10_000);
    assert.equal(parseCount('1m'), 1_000_000);
  });

  it('refuses what is not a size or a count', () => {
    for (const text of ['', 'G', '-1G', '1X', '1 G G']) assert.throws(() => parseBytes(text), /not a size/);
    for (const text of ['', 'k', '-5', '1.5x']) assert.throws(() => parseCount(text), /not a count/);
  });

  it('prints sizes in the largest whole binary unit', () => {
    assert.equal(formatBytes(64 * 1024 ** 2), '64 MiB');
    assert.equal(formatBytes(1024 ** 4), '1 TiB');
    assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5 GiB');
  });
});

describe('bench: percentiles', () => {
  it('takes the nearest rank', () => {
    const values = [5, 1, 4, 2, 3];
    assert.equal(quantile(values, 0.5), 3);
    assert.equal(quantile(values, 0.99), 5);
    assert.equal(quantile(values, 0), 1);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });
});

describe('bench: writer stalls from write timestamps', () => {
  it('is the longest gap overlapping each clone minus the normal gap', () => {
    // A write every ms, except a 40 ms wait from 10 to 50 (during the first clone) and a 3 ms
    // one from 80 to 83 (during the second).
    const times = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 50, 51, 52, 53, 80, 83, 84, 85];
    const result = stallsFromTimes(times, [
      [20, 30],
      [81, 82],
    ]);
    assert.equal(result.normalGapMs, 1);
    assert.deepEqual(result.stalls, [39, 2]);
  });

  it('counts no stall for a clone no write waited for', () => {
    const times = Array.from({ length: 100 }, (_, i) => i * 2);
    const result = stallsFromTimes(times, [[50.5, 50.7]]);
    assert.equal(result.normalGapMs, 2);
    assert.deepEqual(result.stalls, [0]);
  });
});

describe('bench: the targets table in Markdown', () => {
  it('says met, NOT MET or not measured, and escapes pipes', () => {
    const table = markdownTargets([
      { what: 'a | b', target: '< 10 ms', measured: '4', met: true },
      { what: 'c', target: '< 10 ms', measured: '40', met: false },
      { what: 'd', target: '< 10 ms', measured: '—', met: null },
    ]);
    assert.match(table, /a \\\| b/);
    assert.match(table, /\| met \|$/m);
    assert.match(table, /\| NOT MET \|$/m);
    assert.match(table, /\| not measured \|$/m);
  });
});
