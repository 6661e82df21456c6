import { execFile } from 'node:child_process';
import { rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { describeAnswer } from '../answer.js';
import { checkInvariants } from '../invariants.js';
import { PoolHost } from '../pool-host.js';
import { Violations } from '../report.js';
import type { Suite, SuiteContext } from '../types.js';
import type { VolumeState } from '../workload.js';
import { MiB, World } from '../workload.js';

const execFileAsync = promisify(execFile);

/**
 * A small pool filled to the last block: first through a published volume's filesystem until
 * it is full, then with a file beside Dolly's directories until the pool answers ENOSPC. Every
 * call on the full pool must get a fitting answer (never UNKNOWN or INTERNAL), every existing
 * volume's data stay intact and the driver keep answering; once space is freed, all of it
 * must work again.
 */
export const poolFull: Suite = {
  name: 'pool-full',
  perBackend: true,
  run: async (context) => {
    const host = await PoolHost.create('pool-full', { poolBytes: 512 * MiB, poolFs: context.poolFs });
    const world = new World(host, 'full', 32 * MiB);
    try {
      // The data that must survive: a published volume's reference file, a volume and a snapshot.
      const published = await world.publishedWithReference();
      await world.must(world.createVolume());
      await world.settle();
      const idle = lastVolume(world);
      await world.must(world.createSnapshot(idle));
      // Created, never staged: its first stage makes the filesystem (mkfs on a full pool).
      await world.must(world.createVolume());
      const neverStaged = lastVolume(world);
      // A copy of the published volume, to be published and written into on the full pool.
      await world.must(world.cloneVolume(published));
      const copy = lastVolume(world);
      await world.settle();

      const filler = await fillPool(world, context.log);
      context.log(
        `pool-full: pool filled (${filler.id} written full, then a file beside Dolly's directories)`,
      );
      const full = await phase(world, { published, idle, neverStaged, copy }, true, context.log);
      context.log('pool-full: calls on the full pool done; freeing space');

      await world.must(world.unpublishVolume(filler));
      await world.must(world.unstageVolume(filler));
      await world.must(world.deleteVolume(filler));
      await rm(join(host.pool, 'filler'), { force: true });
      await world.settle();
      await mountAgain(world, published, context.log);
      const freed = await phase(world, { published, idle, neverStaged, copy }, false, context.log);
      return [
        {
          suite: 'pool-full',
          check: 'calls on a full pool: fitting answers, data intact, driver up',
          ...full,
        },
        { suite: 'pool-full', check: 'after freeing space: everything works again', ...freed },
      ];
    } finally {
      await world.stopWriters();
      await host.dispose();
    }
  },
};

function lastVolume(world: World): VolumeState {
  const volume = [...world.volumes.values()].at(-1);
  if (!volume) throw new Error('no volume');
  return volume;
}

/**
 * ext4 stops itself (read-only, journal aborted) after a failed write: on a full pool even the
 * journal writes of a freeze can fail when the volume's blocks are shared with a clone. It stays
 * so until mounted again, and it may notice only at its next journal commit, seconds later, so
 * whether it has cannot be read reliably right after the space is freed. The published volume
 * is mounted again, as an operator does after a full pool, through CSI as Kubernetes would:
 * unpublish, unstage, stage, publish. Dolly's answers on the full pool were judged already.
 */
async function mountAgain(world: World, volume: VolumeState, log: SuiteContext['log']): Promise<void> {
  if (volume.staging === undefined) return;
  log(`pool-full: mounting ${volume.id} again (its filesystem may have stopped on a failed write)`);
  await world.must(world.unpublishVolume(volume));
  await world.must(world.unstageVolume(volume));
  await world.must(world.stageVolume(volume));
  await world.must(world.publishVolume(volume, false));
}

/** Fills the pool: a volume as large as the pool allows, written full through its filesystem, then a file. */
async function fillPool(world: World, log: SuiteContext['log']): Promise<VolumeState> {
  const capacity = await world.host.client().getCapacity({});
  const available = Number(capacity.available_capacity);
  await world.must(world.createVolume(Math.floor((available - 16 * MiB) / MiB) * MiB));
  const filler = lastVolume(world);
  await world.must(world.stageVolume(filler));
  await world.must(world.publishVolume(filler, false));
  await writeUntilFull(join(filler.target ?? '', 'fill'));
  // Whatever is left of the pool: a file beside volumes/, snapshots/, tmp/ and trash/.
  await writeUntilFull(join(world.host.pool, 'filler'));
  const left = await statfs(world.host.pool);
  log(
    `pool-full: ${available} bytes were available; the filler volume is ${filler.sizeBytes}; ${left.bavail * left.bsize} left`,
  );
  if (left.bavail * left.bsize > 4 * MiB)
    throw new Error(`the pool still has ${left.bavail * left.bsize} bytes free`);
  return filler;
}

/** Writes zeros to a file until the filesystem says it is full (dd exits non-zero). */
async function writeUntilFull(path: string): Promise<void> {
  await execFileAsync('dd', ['if=/dev/zero', `of=${path}`, 'bs=1M', 'conv=fsync', 'status=none'], {
    timeout: 120_000,
  }).catch(() => undefined);
}

interface PhaseResult {
  injections: number;
  requests: number;
  violations: string[];
}

/**
 * The calls that need space, each judged: on a full pool OK or RESOURCE_EXHAUSTED (a copy
 * shares its source's blocks, so it may still fit); with space, OK. Then the invariants.
 */
async function phase(
  world: World,
  {
    published,
    idle,
    neverStaged,
    copy: clone,
  }: Record<'published' | 'idle' | 'neverStaged' | 'copy', VolumeState>,
  full: boolean,
  log: SuiteContext['log'],
): Promise<PhaseResult> {
  const violations = new Violations();
  const requestsBefore = world.requests;
  const exhausted = full ? [status.RESOURCE_EXHAUSTED] : [status.OK];
  const mayFit = full ? [status.OK, status.RESOURCE_EXHAUSTED] : [status.OK];
  let injections = 0;
  const judge = async (operation: Parameters<World['run']>[0]) => {
    if (full) injections += 1;
    const { answer, violation } = await world.run(operation);
    log(`pool-full: ${full ? 'full' : 'freed'}: ${operation.label}: ${describeAnswer(answer)}`);
    if (violation) violations.add(violation);
  };
  const create = world.createVolume();
  create.expected = exhausted;
  await judge(create);
  await judge(world.cloneVolume(published, 64 * MiB, exhausted));
  await judge(world.cloneVolume(idle, 0, mayFit));
  await judge(world.createSnapshot(idle, mayFit));
  const snapshot = [...world.snapshots.values()][0];
  if (snapshot) await judge(world.restoreSnapshot(snapshot, mayFit));
  await judge(world.expandVolume(idle, 64 * MiB, exhausted));
  if (neverStaged.staging === undefined) {
    const stage = world.stageVolume(neverStaged);
    stage.expected = mayFit;
    await judge(stage);
  }
  await judge(world.cloneVolume(published, 0, mayFit));
  // Write inside a published copy: on a full pool the write may fail, but nothing else may suffer.
  {
    const stage = world.stageVolume(clone);
    stage.expected = mayFit;
    await judge(stage);
    if (clone.staging !== undefined) {
      await judge(world.publishVolume(clone, false));
      const written = await execFileAsync(
        'dd',
        [
          'if=/dev/urandom',
          `of=${join(clone.target ?? '', 'new-data')}`,
          'bs=1M',
          'count=8',
          'conv=fsync',
          'status=none',
        ],
        { timeout: 60_000 },
      ).then(
        () => 'OK',
        (error: unknown) => `failed: ${error instanceof Error ? error.message.trim() : String(error)}`,
      );
      log(`pool-full: ${full ? 'full' : 'freed'}: 8 MiB written inside the published clone: ${written}`);
      if (!full && written !== 'OK') violations.add(`writing 8 MiB inside the published clone ${written}`);
      if (clone.target !== undefined) await judge(world.unpublishVolume(clone));
      await judge(world.unstageVolume(clone));
      // Its content is what the write left; known again from the next settle on.
      clone.content = undefined;
    }
  }
  if (neverStaged.staging !== undefined) await judge(world.unstageVolume(neverStaged));

  const report = await checkInvariants({
    host: world.host,
    intended: full
      ? // On a full pool a write inside a thin volume may fail by design: no write probe then.
        { ...world.intended(), writable: [] }
      : world.intended(),
    fingerprints: world.fingerprints(),
    quiescent: true,
  });
  for (const violation of report.violations)
    violations.add(`${full ? 'on the full pool' : 'after freeing'}: ${violation}`);
  // Writing the pattern of a new volume needs space: only once there is some.
  if (!full) await world.settle();
  return {
    injections,
    requests: world.requests - requestsBefore + report.requests,
    violations: violations.list(),
  };
}
