import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CsiClient } from '../../src/client/csi-client.js';
import { Driver } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB } from '../helpers/csi.js';

const execFileAsync = promisify(execFile);

describe('the CSI socket is root-only', () => {
  let sandbox: Sandbox;
  let driver: Driver;

  before(async () => {
    sandbox = await Sandbox.create('transport-socket');
    const pool = await sandbox.pool('pool', GiB);
    // Others may traverse the sandbox, so only the socket's own mode stands between them and it.
    await chmod(sandbox.dir, 0o755);
    // The driver inherits a umask of 0, under which a plain bind() would make the socket 0777.
    const umask = process.umask(0);
    let starting: Promise<Driver>;
    try {
      starting = Driver.start(sandbox, { pool });
    } finally {
      process.umask(umask);
    }
    driver = await starting;
  });
  after(async () => sandbox.cleanup());

  it('is mode 0600, owned by root', async () => {
    const stats = await stat(driver.socketPath);
    assert.ok(stats.isSocket());
    assert.equal((stats.mode & 0o777).toString(8), '600');
    assert.equal(stats.uid, 0);
    const client = new CsiClient(driver.endpoint);
    try {
      assert.deepEqual(await client.probe(), { ready: { value: true } }, 'root can connect');
    } finally {
      client.close();
    }
  });

  it('refuses a connection from a user that is not root (nobody)', async () => {
    const script = `
      process.setgroups([]);
      process.setgid(65534);
      process.setuid(65534);
      const socket = require('node:net').connect(${JSON.stringify(driver.socketPath)});
      socket.on('connect', () => { console.log('connected'); process.exit(0); });
      socket.on('error', (error) => { console.log(error.code); process.exit(0); });
    `;
    const { stdout } = await execFileAsync(process.execPath, ['-e', script]);
    assert.equal(stdout.trim(), 'EACCES');
  });
});
