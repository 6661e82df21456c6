import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatBytes, formatQuantity, parseStorageQuantity, QuantityError } from '../../src/k8s/quantity.js';

describe('Kubernetes storage quantities', () => {
  it('reads binary, decimal and exponent forms as the API server does', () => {
    const cases: [string, number][] = [
      ['5Gi', 5 * 1024 ** 3],
      ['500Mi', 500 * 1024 ** 2],
      ['1G', 1e9],
      ['1.5Gi', 1.5 * 1024 ** 3],
      ['100k', 100_000],
      ['2e9', 2e9],
      ['1E3', 1000],
      ['1024', 1024],
      ['0.5', 1],
      ['1.1Gi', Math.ceil(1.1 * 1024 ** 3)],
      ['.5Ki', 512],
      ['+3Mi', 3 * 1024 ** 2],
    ];
    for (const [text, bytes] of cases) assert.equal(parseStorageQuantity(text), bytes, text);
  });

  it('refuses what is not a storage quantity, saying what is', () => {
    for (const text of ['5GB', '5 Gi', 'Gi', '', '1.2.3', '0x10', '5gi']) {
      assert.throws(
        () => parseStorageQuantity(text),
        /is not a quantity; write a number with an optional unit: 5Gi, 500Mi, 1G/,
        text,
      );
    }
    assert.throws(() => parseStorageQuantity('-1Gi'), /negative/);
    assert.throws(
      () => parseStorageQuantity('500m'),
      /thousandths \(m\); storage is counted in bytes: use Mi or M/,
    );
    assert.throws(() => parseStorageQuantity('100Ei'), QuantityError);
  });

  it('formats a byte count as the shortest exact quantity, which reads back to the same count', () => {
    assert.equal(formatQuantity(5 * 1024 ** 3), '5Gi');
    assert.equal(formatQuantity(300 * 1024 ** 2), '300Mi');
    assert.equal(formatQuantity(1e9), '1G');
    assert.equal(formatQuantity(1001), '1001');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (bytes) => parseStorageQuantity(formatQuantity(bytes)) === bytes,
      ),
    );
  });

  it('formats sizes for people', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(64 * 1024 ** 2), '64 MiB');
  });
});
