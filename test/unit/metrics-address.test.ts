import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/errors.js';
import { formatHostPort, parseListenAddress } from '../../src/metrics/address.js';
import { operationOf } from '../../src/metrics/metrics.js';
import { isCode } from './assert-code.js';

describe('parseListenAddress', () => {
  it('reads [host]:port: no host is every interface, IPv6 in brackets, names and port 0', () => {
    assert.deepEqual(parseListenAddress(':9808'), { host: undefined, port: 9808 });
    assert.deepEqual(parseListenAddress('127.0.0.1:9810'), { host: '127.0.0.1', port: 9810 });
    assert.deepEqual(parseListenAddress('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListenAddress('[::1]:9810'), { host: '::1', port: 9810 });
    assert.deepEqual(parseListenAddress('[::]:9810'), { host: '::', port: 9810 });
    assert.deepEqual(parseListenAddress('localhost:9810'), { host: 'localhost', port: 9810 });
    assert.deepEqual(parseListenAddress('node-1.example.com:1'), { host: 'node-1.example.com', port: 1 });
    assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListenAddress(':65535'), { host: undefined, port: 65535 });
  });

  it('rejects anything else with a message that names the flag and shows the form', () => {
    for (const value of [
      '',
      '9808',
      ':',
      'localhost',
      'localhost:',
      ':65536',
      ':99999',
      ':123456',
      ':-1',
      ':+80',
      ': 80',
      ':80 ',
      ':0x50',
      ':9808/metrics',
      'http://127.0.0.1:9808',
      '::1:9808',
      '[::1]',
      '[::1]9808',
      '[::1:9808',
      '[127.0.0.1]:9808',
      '[host]:9808',
      'under_score:9808',
      '-leading:9808',
      'a..b:9808',
      'space here:9808',
    ]) {
      assert.throws(
        () => parseListenAddress(value),
        isCode(Code.INVALID_ARGUMENT, /^--metrics-address ".*" .*; write \[host\]:port, e\.g\. :9810/),
        JSON.stringify(value),
      );
    }
  });

  it('formats IPv6 hosts in brackets for URLs', () => {
    assert.equal(formatHostPort('::1', 9810), '[::1]:9810');
    assert.equal(formatHostPort('127.0.0.1', 9810), '127.0.0.1:9810');
  });
});

describe('operationOf', () => {
  it('classifies CreateVolume by its content source and CreateSnapshot as snapshot', () => {
    assert.equal(operationOf('CreateVolume', { name: 'a', volume_content_source: null }), 'create');
    assert.equal(operationOf('CreateVolume', { name: 'a' }), 'create');
    assert.equal(
      operationOf('CreateVolume', { volume_content_source: { volume: { volume_id: 'vol-1' } } }),
      'clone',
    );
    assert.equal(
      operationOf('CreateVolume', { volume_content_source: { snapshot: { snapshot_id: 'snap-1' } } }),
      'restore',
    );
    assert.equal(operationOf('CreateSnapshot', { name: 's' }), 'snapshot');
    assert.equal(operationOf('DeleteVolume', { volume_id: 'vol-1' }), undefined);
    assert.equal(operationOf('Probe', {}), undefined);
  });
});
