import { isDeepStrictEqual } from 'node:util';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { describeAnswer } from '../answer.js';
import { Writer } from '../data.js';
import { checkInvariants } from '../invariants.js';
import { PoolHost } from '../pool-host.js';
import { Random } from '../random.js';
import { Violations } from '../report.js';
import type { Suite } from '../types.js';
import type { Operation, VolumeState } from '../workload.js';
import { MiB, World } from '../workload.js';
import { imageInSync } from '../../src/pool/layout.js';

/**
 * Many clients at once on one published source with a writer inside: clones, snapshots,
 * restores, expansions (controller and node), clones of clones, deletes, every request sent
 * twice at the same moment. Every copy must hold the source's reference file as written.
 */
export const concurrency: Suite = {
  name: 'concurrency',
  perBackend: true,
  run: async (context) => {
    const clients = context.quick ? 4 : 8;
    const callsPerClient = context.quick ? 8 : 40;
    const host = await PoolHost.create('concurrency', {
      poolBytes: 8 * 1024 * MiB,
      clients: clients * 2,
      poolFs: context.poolFs,
    });
    const world = new World(host, 'conc', 64 * MiB);
    try {
      const random = new Random(context.seed).fork('concurrency');
      const source = await world.publishedWithReference();
      source.writer = Writer.start(join(source.target ?? '', 'writer.dat'));
      context.log(`concurrency: source ${source.id} published, writer running; ${clients} clients`);

      const answers = new Violations();
      await Promise.all(
        Array.from({ length: clients }, async (_, client) => {
          for (let call = 0; call < callsPerClient; call += 1) {
            const operation = chooseOperation(world, source, random);
            // The same request twice at the same moment, from two connections.
            const [first, second] = await Promise.all([
              world.run(operation, 2 * client),
              world.run(operation, 2 * client + 1),
            ]);
            for (const { violation } of [first, second]) if (violation) answers.add(violation);
            if (!sameAnswer(first.answer, second.answer))
              answers.add(
                `${operation.label} sent twice at once got two different answers: ${describeAnswer(first.answer)} / ${describeAnswer(second.answer)}`,
              );
          }
        }),
      );
      const requestsOfCalls = world.requests;

      await source.writer.stop();
      source.writer = undefined;
      const end = new Violations();
      const report = await checkInvariants({
        host,
        intended: world.intended(),
        fingerprints: world.fingerprints(),
        quiescent: true,
      });
      for (const violation of report.violations) end.add(violation);
      for (const violation of await answeredSizesHold(world)) end.add(violation);
      const copies = [...world.volumes.values()].filter((volume) => volume.content !== undefined).length - 1;
      context.log(`concurrency: ${copies} copies checked against the source's reference file`);
      return [
        {
          suite: 'concurrency',
          check: `${clients} clients x ${callsPerClient} calls, each sent twice at once`,
          injections: 0,
          requests: requestsOfCalls,
          violations: answers.list(),
        },
        {
          suite: 'concurrency',
          check: 'every copy equals its source; sizes agree; nothing frozen',
          injections: 0,
          requests: report.requests,
          violations: end.list(),
        },
      ];
    } finally {
      await world.stopWriters();
      await host.dispose();
    }
  },
};

function chooseOperation(world: World, source: VolumeState, random: Random): Operation {
  const copies = [...world.volumes.values()].filter((volume) => volume !== source);
  const snapshots = [...world.snapshots.values()];
  const draw = random.int(0, 99);
  // A source may have been deleted by another client meanwhile: NOT_FOUND is then right.
  const maybeGone = [status.OK, status.NOT_FOUND];
  // A larger clone asks for the source's size as last answered plus 8 MiB: an expansion racing
  // it can make that smaller than the source by then, and OUT_OF_RANGE is the right answer.
  if (draw < 25)
    return random.chance(0.3)
      ? world.cloneVolume(source, 8 * MiB, [status.OK, status.OUT_OF_RANGE])
      : world.cloneVolume(source);
  if (draw < 40) return world.createSnapshot(source);
  if (draw < 52 && snapshots.length > 0) return world.restoreSnapshot(random.pick(snapshots), maybeGone);
  if (draw < 62) return world.expandVolume(source, 8 * MiB);
  if (draw < 70) return world.nodeExpandVolume(source);
  if (draw < 85 && copies.length > 0) return world.cloneVolume(random.pick(copies), 0, maybeGone);
  if (copies.length > 4) return world.deleteVolume(random.pick(copies));
  return world.cloneVolume(source);
}

function sameAnswer(a: { code: status; ok: boolean }, b: { code: status; ok: boolean }): boolean {
  if (a.code !== b.code) return false;
  if (!a.ok || !b.ok) return true;
  const id = (answer: unknown) => {
    const response = (answer as { response?: Record<string, unknown> }).response ?? {};
    const volume = response.volume as { volume_id?: string } | undefined;
    const snapshot = response.snapshot as { snapshot_id?: string } | undefined;
    return volume?.volume_id ?? snapshot?.snapshot_id;
  };
  return isDeepStrictEqual(id(a), id(b));
}

/** The size each copy was answered with is the size of its image (a race with an expansion must not skew it). */
async function answeredSizesHold(world: World): Promise<string[]> {
  const problems: string[] = [];
  for (const volume of world.volumes.values()) {
    const image = imageInSync(join(world.host.pool, 'volumes', volume.id));
    const size = await stat(image).then(
      (stats) => stats.size,
      () => undefined,
    );
    if (size !== undefined && size !== volume.sizeBytes)
      problems.push(
        `${volume.id} (${volume.origin}) was answered with ${volume.sizeBytes} bytes; its image has ${size}`,
      );
  }
  for (const snapshot of world.snapshots.values()) {
    const image = imageInSync(join(world.host.pool, 'snapshots', snapshot.id));
    const size = await stat(image).then(
      (stats) => stats.size,
      () => undefined,
    );
    if (size !== undefined && size !== snapshot.sizeBytes)
      problems.push(
        `${snapshot.id} (snapshot of ${snapshot.sourceId}) was answered with ${snapshot.sizeBytes} bytes; its image has ${size}`,
      );
  }
  return problems;
}
