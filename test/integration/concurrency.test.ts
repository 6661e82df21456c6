import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Driver } from '../helpers/driver.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, hashFile, mountCapability, status, writePattern } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startDriverOnPool } from '../helpers/suite.js';

describe('concurrent requests', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('concurrency', 4 * GiB)));
  after(async () => sandbox.cleanup());

  it('32 parallel clones of one source, each sent twice at once, all succeed with identical data', async () => {
    const { volume } = await driver.client.createVolume({
      name: 'hot-source',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 32 * MiB },
    });
    const sourceId = volume!.volume_id;
    await writePattern(imageOf(pool, 'volumes', sourceId), 0, 32 * MiB, 'hot');
    const sourceHash = await hashFile(imageOf(pool, 'volumes', sourceId));

    const request = (i: number) => ({
      name: `parallel-clone-${i}`,
      volume_capabilities: mountCapability(),
      volume_content_source: { volume: { volume_id: sourceId } },
    });
    const calls = Array.from({ length: 32 }, (_, i) => [
      driver.client.createVolume(request(i)),
      driver.client.createVolume(request(i)),
    ]).flat();
    const responses = await Promise.all(calls);
    for (let i = 0; i < 32; i += 1) {
      assert.deepEqual(responses[2 * i], responses[2 * i + 1], 'a duplicate gets the same answer');
    }
    const ids = new Set(responses.map((response) => response.volume!.volume_id));
    assert.equal(ids.size, 32);
    for (const id of ids) assert.equal(await hashFile(imageOf(pool, 'volumes', id)), sourceHash);
    assert.equal((await driver.client.listVolumes({})).entries.length, 33);
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
  });

  it('interleaved creates and deletes of many names leave a consistent pool', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `churn-${i}`);
    const created = await Promise.all(
      names.map((name) =>
        driver.client.createVolume({
          name,
          volume_capabilities: mountCapability(),
          capacity_range: { required_bytes: MiB },
        }),
      ),
    );
    await Promise.all(
      created.flatMap((response, i) => [
        driver.client.deleteVolume({ volume_id: response.volume!.volume_id }),
        driver.client.createVolume({
          name: `churn-extra-${i}`,
          volume_capabilities: mountCapability(),
          capacity_range: { required_bytes: MiB },
        }),
      ]),
    );
    const listed = (await driver.client.listVolumes({})).entries.map((entry) => entry.volume!.volume_id);
    for (const response of created) assert.ok(!listed.includes(response.volume!.volume_id));
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
    assert.deepEqual(await readdir(join(pool, 'trash')), []);
  });

  it('a create and a delete of the same volume racing end in one of the two valid states', async () => {
    const request = {
      name: 'race',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: MiB },
    };
    const { volume } = await driver.client.createVolume(request);
    const id = volume!.volume_id;
    await Promise.all([driver.client.deleteVolume({ volume_id: id }), driver.client.createVolume(request)]);
    const exists = (await driver.client.listVolumes({})).entries.some(
      (entry) => entry.volume!.volume_id === id,
    );
    const onDisk = (await readdir(join(pool, 'volumes'))).includes(id);
    assert.equal(exists, onDisk);
  });

  it('a call whose deadline passes fails with DEADLINE_EXCEEDED and leaves nothing half made', async () => {
    await expectCode(
      driver.client.createVolume(
        { name: 'too-late', volume_capabilities: mountCapability(), capacity_range: { required_bytes: MiB } },
        { timeoutMs: 0 },
      ),
      status.DEADLINE_EXCEEDED,
    );
    assert.deepEqual(await readdir(join(pool, 'tmp')), []);
    // The retry of the same request (as the CO would send it) succeeds.
    const { volume } = await driver.client.createVolume({
      name: 'too-late',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: MiB },
    });
    assert.ok(volume);
  });
});
