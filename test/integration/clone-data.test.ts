import assert from 'node:assert/strict';
import { stat, statfs } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Driver } from '../helpers/driver.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { GiB, MiB, hashFile, mountCapability, writePattern } from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startDriverOnPool } from '../helpers/suite.js';

describe('clones are reflinks: same bytes, no extra space, independent', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;
  const image = (id: string) => imageOf(pool, 'volumes', id);
  const usedBytes = async () => {
    const fs = await statfs(pool);
    return (fs.blocks - fs.bfree) * fs.bsize;
  };
  const create = async (name: string, sourceId?: string, requiredBytes?: number) => {
    const { volume } = await driver.client.createVolume({
      name,
      volume_capabilities: mountCapability(),
      capacity_range: requiredBytes ? { required_bytes: requiredBytes } : null,
      volume_content_source: sourceId ? { volume: { volume_id: sourceId } } : null,
    });
    assert.ok(volume);
    return volume.volume_id;
  };

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('clone-data', 4 * GiB)));
  after(async () => sandbox.cleanup());

  it("a clone has exactly the source's bytes and costs no space until written", async () => {
    const source = await create('source', undefined, 512 * MiB);
    // Data at the start, in the middle and at the very end of the image, holes in between.
    await writePattern(image(source), 0, 64 * MiB, 'a');
    await writePattern(image(source), 200 * MiB, 32 * MiB, 'b');
    await writePattern(image(source), 512 * MiB - 4 * MiB, 4 * MiB, 'c');
    const sourceHash = await hashFile(image(source));

    const usedBefore = await usedBytes();
    const clone = await create('clone', source);
    const usedAfter = await usedBytes();
    assert.equal(await hashFile(image(clone)), sourceHash);
    // 100 MiB of data was cloned; a copy would use 100 MiB more. Allow for metadata only.
    assert.ok(
      usedAfter - usedBefore < 4 * MiB,
      `the clone used ${usedAfter - usedBefore} bytes of new space`,
    );
    assert.equal((await stat(image(clone))).size, 512 * MiB);

    // Writing one side does not change the other.
    await writePattern(image(clone), 0, MiB, 'clone-write');
    assert.equal(await hashFile(image(source)), sourceHash);
    assert.notEqual(await hashFile(image(clone)), sourceHash);
  });

  it('deleting the source leaves the clone intact, and a clone of a clone works', async () => {
    const source = await create('src2', undefined, 128 * MiB);
    await writePattern(image(source), 0, 128 * MiB, 'src2');
    const hash = await hashFile(image(source));
    const clone = await create('src2-clone', source);
    const cloneOfClone = await create('src2-clone-clone', clone);

    await driver.client.deleteVolume({ volume_id: source });
    await assert.rejects(stat(image(source)), { code: 'ENOENT' });
    assert.equal(await hashFile(image(clone)), hash);

    await driver.client.deleteVolume({ volume_id: clone });
    assert.equal(await hashFile(image(cloneOfClone)), hash);
    const listed = (await driver.client.listVolumes({})).entries.map((entry) => entry.volume?.volume_id);
    assert.ok(listed.includes(cloneOfClone));
    assert.ok(!listed.includes(source) && !listed.includes(clone));
  });

  it('a larger clone keeps the source bytes and adds a hole at the end', async () => {
    const source = await create('src3', undefined, 64 * MiB);
    await writePattern(image(source), 0, 64 * MiB, 'src3');
    const hash = await hashFile(image(source));
    const clone = await create('src3-large', source, 256 * MiB);
    const cloneImage = await stat(image(clone));
    assert.equal(cloneImage.size, 256 * MiB);
    assert.equal(await hashFile(image(clone), 64 * MiB), hash);
    const tail = await hashFile(image(clone));
    assert.notEqual(tail, hash);
  });
});
