import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Driver } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, mountCapability, status } from '../helpers/csi.js';

describe('structured logs', () => {
  let sandbox: Sandbox;
  let driver: Driver;

  before(async () => {
    sandbox = await Sandbox.create('logging');
    const pool = await sandbox.pool('pool', GiB);
    driver = await Driver.start(sandbox, { pool, args: ['--log-level', 'debug'] });
  });
  after(async () => sandbox.cleanup());

  it('writes one line per RPC with method, volume, duration and result code', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'logged',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: MiB },
    });
    const created = await driver.waitForLog((line) => line.msg === 'rpc' && line.method === 'CreateVolume');
    assert.equal(created.name, 'logged');
    assert.equal(created.code, 'OK');
    assert.equal(typeof created.durationMs, 'number');

    await driver.client.deleteVolume({ volume_id: volume!.volume_id });
    const deleted = await driver.waitForLog((line) => line.msg === 'rpc' && line.method === 'DeleteVolume');
    assert.equal(deleted.volume, volume!.volume_id);

    await expectCode(
      driver.client.controllerGetVolume({ volume_id: `vol-${'9'.repeat(32)}` }),
      status.NOT_FOUND,
    );
    const failed = await driver.waitForLog(
      (line) => line.msg === 'rpc' && line.method === 'ControllerGetVolume',
    );
    assert.equal(failed.code, 'NOT_FOUND');
    assert.match(String(failed.error), /does not exist/);
    assert.equal(failed.level, 40, 'a client error is a warning');
  });

  it('never logs secrets, even at debug level', async () => {
    await driver.client.createVolume({
      name: 'with-secrets',
      volume_capabilities: [
        { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { mount_flags: ['password=flag-hunter2'] } },
      ],
      capacity_range: { required_bytes: MiB },
      secrets: { token: 'secret-hunter2' },
    });
    const request = await driver.waitForLog((line) => line.msg === 'request' && line.name === 'with-secrets');
    await driver.waitForLog((line) => line.msg === 'rpc' && line.name === 'with-secrets');
    assert.match(JSON.stringify(request), /\[redacted\]/);
    const everything = JSON.stringify(driver.logs) + driver.stderr;
    assert.doesNotMatch(everything, /hunter2/);
  });
});
