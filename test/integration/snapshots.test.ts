import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Driver } from '../helpers/driver.js';
import type { Sandbox } from '../helpers/sandbox.js';
import { sh } from '../helpers/sandbox.js';
import { startWriter } from '../helpers/workload.js';
import {
  GiB,
  MiB,
  blockCapability,
  expectCode,
  hashFile,
  mountCapability,
  status,
  writePattern,
} from '../helpers/csi.js';
import { imageOf } from '../helpers/pool-paths.js';
import { startDriverOnPool } from '../helpers/suite.js';

describe('snapshots and restores', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;

  before(async () => ({ sandbox, pool, driver } = await startDriverOnPool('snapshots', 4 * GiB)));
  after(async () => sandbox.cleanup());

  const volumeImage = (id: string) => imageOf(pool, 'volumes', id);
  const createVolume = async (name: string, sizeBytes: number, extra: Record<string, unknown> = {}) => {
    const { volume } = await driver.client.createVolume({
      name,
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: sizeBytes },
      ...extra,
    });
    return volume!;
  };
  const snapshot = async (name: string, sourceVolumeId: string) =>
    (await driver.client.createSnapshot({ name, source_volume_id: sourceVolumeId })).snapshot!;
  const restore = (name: string, snapshotId: string, extra: Record<string, unknown> = {}) =>
    driver.client.createVolume({
      name,
      volume_capabilities: mountCapability(),
      volume_content_source: { snapshot: { snapshot_id: snapshotId } },
      ...extra,
    });

  it('is ready at once, has the source size, and outlives its volume: restore gives the exact bytes', async () => {
    const source = await createVolume('snap-source', 64 * MiB);
    await writePattern(volumeImage(source.volume_id), 0, 64 * MiB, 'snap');
    const hash = await hashFile(volumeImage(source.volume_id));
    const before = Date.now();
    const snap = await snapshot('snap-1', source.volume_id);
    assert.match(snap.snapshot_id, /^snap-[0-9a-f]{32}-test-node$/);
    assert.equal(snap.ready_to_use, true);
    assert.equal(snap.size_bytes, 64 * MiB);
    assert.equal(snap.source_volume_id, source.volume_id);
    const createdMs = (snap.creation_time?.seconds ?? 0) * 1000 + (snap.creation_time?.nanos ?? 0) / 1e6;
    assert.ok(Math.abs(createdMs - before) < 60_000, 'creation_time is now');

    // Writing the volume after the snapshot does not change the snapshot.
    await writePattern(volumeImage(source.volume_id), 0, MiB, 'after');
    await driver.client.deleteVolume({ volume_id: source.volume_id });
    const listed = await driver.client.listSnapshots({ snapshot_id: snap.snapshot_id });
    assert.equal(listed.entries.length, 1, 'the snapshot is still listed after its volume was deleted');

    const { volume } = await restore('restored', snap.snapshot_id);
    assert.equal(volume?.capacity_bytes, 64 * MiB);
    assert.equal(volume?.content_source?.snapshot?.snapshot_id, snap.snapshot_id);
    assert.equal(await hashFile(volumeImage(volume.volume_id)), hash);

    const larger = await restore('restored-larger', snap.snapshot_id, {
      capacity_range: { required_bytes: 256 * MiB },
    });
    assert.equal(larger.volume?.capacity_bytes, 256 * MiB);
    assert.equal((await stat(volumeImage(larger.volume.volume_id))).size, 256 * MiB);
    assert.equal(await hashFile(volumeImage(larger.volume.volume_id), 64 * MiB), hash);

    // Deleting the snapshot leaves the restored volumes intact.
    await driver.client.deleteSnapshot({ snapshot_id: snap.snapshot_id });
    assert.equal(await hashFile(volumeImage(volume.volume_id)), hash);
    assert.equal((await driver.client.listSnapshots({ snapshot_id: snap.snapshot_id })).entries.length, 0);
  });

  it('CreateSnapshot errors and idempotency', async () => {
    const a = await createVolume('snap-a', 16 * MiB);
    const b = await createVolume('snap-b', 16 * MiB);
    const first = await snapshot('snap-idem', a.volume_id);
    assert.deepEqual(await snapshot('snap-idem', a.volume_id), first);
    await expectCode(
      driver.client.createSnapshot({ name: 'snap-idem', source_volume_id: b.volume_id }),
      status.ALREADY_EXISTS,
      /not vol-/,
    );
    await expectCode(
      driver.client.createSnapshot({ name: 'snap-missing', source_volume_id: `vol-${'0'.repeat(32)}` }),
      status.NOT_FOUND,
    );
    await expectCode(
      driver.client.createSnapshot({ name: '', source_volume_id: a.volume_id }),
      status.INVALID_ARGUMENT,
    );
    await expectCode(
      driver.client.createSnapshot({ name: 'snap-bad', source_volume_id: '../../etc' }),
      status.NOT_FOUND,
      /source volume "\.\.\/\.\.\/etc" does not exist/,
    );
    await expectCode(
      driver.client.createSnapshot({
        name: 'snap-params',
        source_volume_id: a.volume_id,
        parameters: { tier: 'gold' },
      }),
      status.INVALID_ARGUMENT,
    );
    await driver.client.createSnapshot({
      name: 'snap-k8s',
      source_volume_id: a.volume_id,
      parameters: { 'csi.storage.k8s.io/volumesnapshot/name': 's1' },
    });
    await driver.client.deleteSnapshot({ snapshot_id: `snap-${'0'.repeat(32)}` });
    // An ID that is not Dolly's names no snapshot: already deleted.
    await driver.client.deleteSnapshot({ snapshot_id: 'vol-1234' });
    await expectCode(driver.client.deleteSnapshot({ snapshot_id: '' }), status.INVALID_ARGUMENT, /required/);
  });

  it('restore errors: unknown snapshot, smaller, other mode; retries compare the snapshot', async () => {
    const source = await createVolume('restore-src', 32 * MiB);
    const snap = await snapshot('restore-snap', source.volume_id);
    const other = await snapshot('restore-snap-2', source.volume_id);
    await expectCode(restore('r-missing', `snap-${'1'.repeat(32)}`), status.NOT_FOUND);
    await expectCode(
      restore('r-small', snap.snapshot_id, { capacity_range: { required_bytes: 16 * MiB } }),
      status.OUT_OF_RANGE,
    );
    await expectCode(
      restore('r-block', snap.snapshot_id, { volume_capabilities: blockCapability() }),
      status.INVALID_ARGUMENT,
      /same volume mode/,
    );
    const first = await restore('r-idem', snap.snapshot_id);
    assert.deepEqual(await restore('r-idem', snap.snapshot_id), first);
    await expectCode(restore('r-idem', other.snapshot_id), status.ALREADY_EXISTS);
    await expectCode(
      driver.client.createVolume({ name: 'r-idem', volume_capabilities: mountCapability() }),
      status.ALREADY_EXISTS,
    );
  });

  it('ListSnapshots: every match of a source, by ID, page by page', async () => {
    const x = await createVolume('list-x', 8 * MiB);
    const y = await createVolume('list-y', 8 * MiB);
    const ofX: string[] = [];
    for (let i = 0; i < 5; i += 1) ofX.push((await snapshot(`list-x-${i}`, x.volume_id)).snapshot_id);
    for (let i = 0; i < 3; i += 1) await snapshot(`list-y-${i}`, y.volume_id);

    const bySource = await driver.client.listSnapshots({ source_volume_id: x.volume_id });
    assert.deepEqual(bySource.entries.map((entry) => entry.snapshot!.snapshot_id).sort(), [...ofX].sort());
    assert.equal(
      (await driver.client.listSnapshots({ snapshot_id: ofX[2] })).entries[0]?.snapshot?.snapshot_id,
      ofX[2],
    );
    assert.equal(
      (await driver.client.listSnapshots({ snapshot_id: `snap-${'2'.repeat(32)}` })).entries.length,
      0,
    );
    assert.equal((await driver.client.listSnapshots({ snapshot_id: 'not-ours' })).entries.length, 0);

    const all = (await driver.client.listSnapshots({})).entries.map((entry) => entry.snapshot!.snapshot_id);
    const pages: string[][] = [];
    let token = '';
    do {
      const page = await driver.client.listSnapshots({ max_entries: 3, starting_token: token });
      pages.push(page.entries.map((entry) => entry.snapshot!.snapshot_id));
      token = page.next_token;
    } while (token !== '');
    assert.ok(all.length >= 8);
    assert.deepEqual(pages.flat(), all);
    assert.ok(pages.slice(0, -1).every((page) => page.length === 3));

    const sourcePages: string[][] = [];
    token = '';
    do {
      const page = await driver.client.listSnapshots({
        source_volume_id: x.volume_id,
        max_entries: 2,
        starting_token: token,
      });
      sourcePages.push(page.entries.map((entry) => entry.snapshot!.snapshot_id));
      token = page.next_token;
    } while (token !== '');
    assert.deepEqual(
      sourcePages.map((page) => page.length),
      [2, 2, 1],
    );
    await expectCode(driver.client.listSnapshots({ starting_token: 'page-2' }), status.ABORTED);
  });

  it('a snapshot of a mounted volume under continuous writes restores to a clean filesystem', async () => {
    const source = await createVolume('hot-snap-src', 256 * MiB);
    const staging = sandbox.path('hot-staging');
    await mkdir(staging);
    const capability = mountCapability()[0]!;
    await driver.client.nodeStageVolume({
      volume_id: source.volume_id,
      staging_target_path: staging,
      volume_capability: capability,
    });
    const writer = startWriter(staging);
    let snapId: string;
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      snapId = (await snapshot('hot-snap', source.volume_id)).snapshot_id;
    } finally {
      await writer.stop();
    }
    await driver.client.nodeUnstageVolume({ volume_id: source.volume_id, staging_target_path: staging });
    await driver.client.deleteVolume({ volume_id: source.volume_id });

    const { volume } = await restore('hot-restored', snapId);
    const image = volumeImage(volume!.volume_id);
    assert.doesNotMatch(await sh('dumpe2fs', ['-h', image]), /needs_recovery/, 'taken frozen');
    await sh('e2fsck', ['-f', '-n', image]);
    const restoredStaging = sandbox.path('hot-restored');
    await mkdir(restoredStaging);
    await driver.client.nodeStageVolume({
      volume_id: volume!.volume_id,
      staging_target_path: restoredStaging,
      volume_capability: capability,
    });
    await driver.client.nodeUnstageVolume({
      volume_id: volume!.volume_id,
      staging_target_path: restoredStaging,
    });
  });
});
