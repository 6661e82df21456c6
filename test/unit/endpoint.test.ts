import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/errors.js';
import { socketPathOf } from '../../src/csi/endpoint.js';
import { isCode } from './assert-code.js';

describe('socketPathOf', () => {
  it('accepts unix:///path, unix:/path and a bare absolute path', () => {
    assert.equal(socketPathOf('unix:///a/b.sock'), '/a/b.sock');
    assert.equal(socketPathOf('unix:/a/b.sock'), '/a/b.sock');
    assert.equal(socketPathOf('/a/b.sock'), '/a/b.sock');
    assert.equal(
      socketPathOf('unix:///var/lib/kubelet/plugins/dolly.csi/csi.sock'),
      '/var/lib/kubelet/plugins/dolly.csi/csi.sock',
    );
  });

  it('rejects TCP endpoints and relative paths', () => {
    for (const endpoint of [
      'tcp://127.0.0.1:10000',
      'tcp:///a/b.sock',
      'localhost:10000',
      'csi.sock',
      './csi.sock',
      'unix://csi.sock',
      'unix:csi.sock',
      'unix://relative/x.sock',
      '',
      'UNIX:///a/b.sock',
    ]) {
      assert.throws(
        () => socketPathOf(endpoint),
        isCode(Code.INVALID_ARGUMENT, /is not a unix socket/),
        JSON.stringify(endpoint),
      );
    }
  });

  it('accepts paths of up to 107 bytes and rejects longer ones, counting bytes', () => {
    const longest = `/${'a'.repeat(106)}`;
    assert.equal(socketPathOf(longest), longest);
    assert.equal(socketPathOf(`unix://${longest}`), longest);
    assert.throws(
      () => socketPathOf(`/${'a'.repeat(107)}`),
      isCode(Code.INVALID_ARGUMENT, /longer than 107 bytes/),
    );
    assert.throws(
      () => socketPathOf(`unix://${`/${'a'.repeat(107)}`}`),
      isCode(Code.INVALID_ARGUMENT, /longer than 107 bytes/),
    );
    const multibyte = `/${'é'.repeat(54)}`; // 55 characters, 109 bytes
    assert.throws(() => socketPathOf(multibyte), isCode(Code.INVALID_ARGUMENT, /longer than 107 bytes/));
  });
});
