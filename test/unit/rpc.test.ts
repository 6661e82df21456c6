import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redact } from '../../src/csi/rpc.js';

const SECRETS = new Set(['secrets', 'mount_flags']);

describe('redact', () => {
  it('replaces every secret field, at any depth, in objects and arrays', () => {
    const request = {
      name: 'pvc-1',
      secrets: { password: 'hunter2', token: 'abc' },
      volume_capabilities: [
        {
          mount: { fs_type: 'xfs', mount_flags: ['password=hunter2'] },
          access_mode: { mode: 'SINGLE_NODE_WRITER' },
        },
        { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
      ],
      nested: { deeper: [[{ secrets: 'x', keep: 1 }]] },
    };
    assert.deepEqual(redact(request, SECRETS), {
      name: 'pvc-1',
      secrets: '[redacted]',
      volume_capabilities: [
        { mount: { fs_type: 'xfs', mount_flags: '[redacted]' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
        { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
      ],
      nested: { deeper: [[{ secrets: '[redacted]', keep: 1 }]] },
    });
    const text = JSON.stringify(redact(request, SECRETS));
    assert.ok(!text.includes('hunter2'));
    assert.ok(!text.includes('abc'));
  });

  it('redacts secret fields whatever their value', () => {
    for (const value of ['', 0, null, undefined, [], {}, false]) {
      assert.deepEqual(redact({ secrets: value }, SECRETS), { secrets: '[redacted]' });
    }
  });

  it('leaves other values untouched and does not modify its input', () => {
    const request = {
      volume_id: 'vol-1',
      capacity_range: { required_bytes: 1024, limit_bytes: 0 },
      parameters: { 'csi.storage.k8s.io/pvc/name': 'data' },
      flags: [true, false, null, 1.5, 'x'],
      secrets: { a: 'b' },
    };
    const copy = structuredClone(request);
    const result = redact(request, SECRETS) as Record<string, unknown>;
    assert.deepEqual(request, copy);
    assert.notEqual(result, request);
    assert.deepEqual(result.capacity_range, request.capacity_range);
    assert.deepEqual(result.parameters, request.parameters);
    assert.deepEqual(result.flags, request.flags);
    assert.equal(result.volume_id, 'vol-1');
  });

  it('passes primitives through and leaves Buffers untouched', () => {
    for (const value of ['text', 42, true, null, undefined]) assert.equal(redact(value, SECRETS), value);
    const buffer = Buffer.from('binary \x00 data');
    assert.equal(redact(buffer, SECRETS), buffer);
    const result = redact({ payload: buffer, list: [buffer] }, SECRETS) as {
      payload: unknown;
      list: unknown[];
    };
    assert.equal(result.payload, buffer);
    assert.equal(result.list[0], buffer);
    assert.ok(Buffer.isBuffer(result.payload));
  });

  it('redacts nothing with an empty set', () => {
    const request = { secrets: { a: 'b' }, list: [{ secrets: 'c' }] };
    assert.deepEqual(redact(request, new Set()), request);
  });
});
