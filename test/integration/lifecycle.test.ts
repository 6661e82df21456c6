import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver, startExpectingFailure } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB, hashFile, mountCapability, writePattern } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';

describe('driver lifecycle: stop, restart, crash', () => {
  let sandbox: Sandbox;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('lifecycle');
    pool = await sandbox.pool('pool', 2 * GiB);
  });
  after(async () => sandbox.cleanup());

  it('stops cleanly on SIGTERM and removes its socket', async () => {
    const driver = await Driver.start(sandbox, { pool });
    await driver.client.probe();
    assert.equal(await driver.stop(), 0);
    await assert.rejects(stat(driver.socketPath), { code: 'ENOENT' });
    assert.ok(driver.logs.some((line) => line.msg === 'stopped'));
  });

  it('keeps every volume across a restart and clears work left in tmp/ and trash/', async () => {
    const first = await Driver.start(sandbox, { pool });
    const { volume } = await first.client.createVolume({
      name: 'survivor',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 16 * MiB },
    });
    const id = volume!.volume_id;
    await writePattern(imageOf(pool, 'volumes', id), 0, 16 * MiB, 'survivor');
    const hash = await hashFile(imageOf(pool, 'volumes', id));
    const clone = await first.client.createVolume({
      name: 'survivor-clone',
      volume_capabilities: mountCapability(),
      volume_content_source: { volume: { volume_id: id } },
    });
    const before = (await first.client.listVolumes({})).entries;
    assert.equal(await first.stop(), 0);

    // What a crash in the middle of a create or delete leaves behind.
    await mkdir(join(pool, 'tmp', `${id}.half-built`));
    await writeFile(join(pool, 'tmp', `${id}.half-built`, 'disk.img'), 'partial');
    await mkdir(join(pool, 'trash', 'vol-deleted.abc'));

    const second = await Driver.start(sandbox, { pool });
    assert.deepEqual((await second.client.listVolumes({})).entries, before);
    assert.equal(await hashFile(imageOf(pool, 'volumes', clone.volume!.volume_id)), hash);
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
    assert.deepEqual(await readdir(join(pool, 'trash')), []);
    assert.equal(await second.stop(), 0);
  });

  it('restarts after a crash that left its socket behind', async () => {
    const crashed = await Driver.start(sandbox, { pool });
    crashed.child.kill('SIGKILL');
    await crashed.stop();
    assert.ok((await stat(crashed.socketPath)).isSocket(), 'SIGKILL leaves the socket file');
    const restarted = await Driver.start(sandbox, { pool });
    assert.deepEqual(await restarted.client.probe(), { ready: { value: true } });
    assert.equal(await restarted.stop(), 0);
  });

  it('refuses to start on a socket another driver is serving, or on a path that is not a socket', async () => {
    const running = await Driver.start(sandbox, { pool });
    const second = await startExpectingFailure(sandbox, { pool, socketPath: running.socketPath });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already serving/);
    assert.deepEqual(await running.client.probe(), { ready: { value: true } });
    const samePool = await startExpectingFailure(sandbox, { pool, socketPath: sandbox.path('other.sock') });
    assert.equal(samePool.code, 1);
    assert.match(samePool.stderr, /another Dolly process is already using the pool/);
    assert.equal(await running.stop(), 0);

    const notASocket = sandbox.path('regular-file');
    await writeFile(notASocket, 'keep me');
    const third = await startExpectingFailure(sandbox, { pool, socketPath: notASocket });
    assert.equal(third.code, 1);
    assert.match(third.stderr, /is not a socket/);
  });

  it('rejects bad flags with a clear message', async () => {
    const badEndpoint = await startExpectingFailure(sandbox, {
      pool,
      args: ['--endpoint', 'tcp://127.0.0.1:9000'],
    });
    assert.equal(badEndpoint.code, 1);
    assert.match(badEndpoint.stderr, /not a unix socket/);
    const badSize = await startExpectingFailure(sandbox, { pool, args: ['--pool-size', 'lots'] });
    assert.equal(badSize.code, 1);
    assert.match(badSize.stderr, /is not a size/);
    const badNode = await startExpectingFailure(sandbox, { pool, args: ['--node-id', 'node/with/slashes'] });
    assert.equal(badNode.code, 1);
    assert.match(badNode.stderr, /topology label value/);
    const badName = await startExpectingFailure(sandbox, { pool, args: ['--driver-name', 'not a name'] });
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /not a valid CSI driver name/);
  });
});
