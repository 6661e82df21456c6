import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { volumeIdForName } from '../../src/pool/ids.js';
import type { Driver } from '../helpers/driver.js';
import { NODE_ID } from '../helpers/driver.js';
import { stageAndPublish } from '../helpers/node.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { sh } from '../helpers/sandbox.js';
import { writeCompletes } from '../helpers/workload.js';
import { GiB, MiB, expectCode, mountCapability, status } from '../helpers/csi.js';
import { startDriverOnPool } from '../helpers/suite.js';

/**
 * A copy of a volume in use freezes its filesystem (FIFREEZE through the native addon); what the
 * kernel answers becomes an error a person can act on, matched by errno code: EBUSY (another
 * program froze it) and EIO (the filesystem has had write errors) are FAILED_PRECONDITION.
 */
describe('freezing a source that cannot be frozen', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('freeze-errors', 4 * GiB)));
  after(async () => sandbox.cleanup());

  const publishedVolume = async (name: string) => {
    const { volume } = await driver.client.createVolume({
      name,
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 64 * MiB },
    });
    const id = volume!.volume_id;
    const where = await stageAndPublish(driver.client, sandbox, id, mountCapability()[0]!, name);
    // Thawed at cleanup whatever happens, before the sandbox unmounts it.
    sandbox.onCleanup(() =>
      sh('fsfreeze', ['--unfreeze', where.staging]).then(
        () => undefined,
        () => undefined,
      ),
    );
    return { id, ...where };
  };
  const cloneOf = (id: string, name: string) => ({
    name,
    volume_capabilities: mountCapability(),
    volume_content_source: { volume: { volume_id: id } },
  });

  it('frozen by another program (EBUSY): FAILED_PRECONDITION saying how to thaw it; the clone works after the thaw', async () => {
    const { id, staging, target } = await publishedVolume('frozen-elsewhere');
    await sh('fsfreeze', ['--freeze', staging]);
    try {
      await expectCode(
        driver.client.createVolume(cloneOf(id, 'frozen-elsewhere-clone')),
        status.FAILED_PRECONDITION,
        new RegExp(
          `the filesystem at ${staging} is frozen by another program.*fsfreeze --unfreeze ${staging}`,
        ),
      );
      assert.deepEqual(await readdir(join(pool, 'frozen')), [], 'no freeze of its own is recorded');
      assert.equal(
        await writeCompletes(target, 300),
        false,
        'still frozen: Dolly did not thaw what it did not freeze',
      );
    } finally {
      await sh('fsfreeze', ['--unfreeze', staging]);
    }
    const { volume: clone } = await driver.client.createVolume(cloneOf(id, 'frozen-elsewhere-clone'));
    assert.ok(clone?.volume_id);
    assert.ok(await writeCompletes(target), 'thawed after the clone');
  });

  it('a filesystem with write errors (EIO, here shut down): FAILED_PRECONDITION naming them; nothing is created', async () => {
    const { id, staging } = await publishedVolume('broken');
    // What a full pool can do to a volume's filesystem: writes failed, and it stopped.
    await sh('xfs_io', ['-x', '-c', 'shutdown', staging]);
    await expectCode(
      driver.client.createVolume(cloneOf(id, 'broken-clone')),
      status.FAILED_PRECONDITION,
      new RegExp(`the filesystem at ${staging} has had write errors and cannot be frozen`),
    );
    assert.deepEqual(await readdir(join(pool, 'frozen')), []);
    const volumes = await readdir(join(pool, 'volumes'));
    assert.ok(volumes.includes(id));
    assert.ok(!volumes.includes(volumeIdForName('broken-clone', NODE_ID)), 'no clone was made');
    assert.deepEqual(await readdir(join(pool, 'tmp')), [], 'and no work is left');
  });
});
