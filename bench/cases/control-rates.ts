import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CsiClient } from '../../src/client/csi-client.js';
import { mountCapability } from '../../test/helpers/csi.js';
import type { BenchCase } from '../lib/case.js';
import { remove } from '../lib/data.js';
import { ReferenceDriver } from '../lib/reference.js';
import { quantile, runConcurrently } from '../lib/timing.js';
import { GiB, KiB } from '../lib/units.js';

const VOLUME_BYTES = GiB;
/**
 * Turns per driver and figure in a full run, alternating Dolly and the reference; the median is
 * reported. One turn of a few hundred operations lasts well under a second, and this machine's
 * other work moves single turns by 2x.
 */
const ROUNDS = 3;
const SOURCE_FILES = 16;
const SOURCE_FILE_BYTES = 64 * KiB;

async function fillDir(dir: string): Promise<void> {
  const content = Buffer.alloc(SOURCE_FILE_BYTES, 'dolly bench source\n');
  for (let i = 0; i < SOURCE_FILES; i += 1) await writeFile(join(dir, `file-${i}`), content);
}

async function create(client: CsiClient, name: string, source?: string): Promise<string> {
  const { volume } = await client.createVolume({
    name,
    volume_capabilities: mountCapability(),
    capacity_range: { required_bytes: VOLUME_BYTES },
    ...(source === undefined ? {} : { volume_content_source: { volume: { volume_id: source } } }),
  });
  if (!volume) throw new Error(`CreateVolume ${name} answered no volume`);
  return volume.volume_id;
}

/** Operations per second of `ops` calls of `task` with `concurrency` callers. */
async function rate(
  ops: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<number> {
  const ms = await runConcurrently(ops, concurrency, task);
  return ops / (ms / 1000);
}

export const controlRates: BenchCase = {
  name: 'control-rates',
  title: 'Control-plane rates vs the hostpath reference driver',
  measures:
    'CreateVolume+DeleteVolume pairs per second (1 GiB filesystem volumes) and clones per second of ' +
    'one source (CreateVolume from a 1 GiB filesystem volume holding 16 files of 64 KiB), with 1 and ' +
    '16 concurrent callers on one gRPC connection, for Dolly and for the hostpath reference ' +
    "(bench/reference/, a re-implementation of csi-driver-host-path's on-disk work over the same " +
    'gRPC stack: a directory per volume, cp -a for a clone, state.json rewritten without fsync), ' +
    'whose volumes live on the same pool filesystem. Measured in alternating turns (Dolly, then the ' +
    'reference; 3 of each in a full run, the median reported) in one run; clones are deleted ' +
    'between turns, untimed.',
  async run({ options, log, world: worldOf }, record) {
    const rows = record.table('control-plane operations per second', [
      { key: 'backend', header: 'pool' },
      { key: 'operation', header: 'operation' },
      { key: 'concurrency', header: 'callers' },
      { key: 'dolly', header: 'Dolly /s' },
      { key: 'reference', header: 'reference /s' },
      { key: 'ratio', header: 'Dolly / reference', digits: 2 },
    ]);
    const ops = options.rateOps;
    for (const backend of options.backends) {
      const world = await worldOf(backend);
      const stateDir = join(world.pool, 'bench-reference');
      await mkdir(stateDir);
      const reference = await ReferenceDriver.start(
        world.sandbox,
        world.sandbox.path('reference.sock'),
        stateDir,
      );
      const sourceId = await world.createVolume(`bench-rate-source-${backend}`, VOLUME_BYTES, 'mount');
      try {
        const published = await world.publish(sourceId, 'mount');
        await fillDir(published.target);
        await world.unpublish(published);
        const referenceSource = await create(reference.client, 'bench-rate-source');
        await fillDir(join(stateDir, referenceSource));
        const drivers = { dolly: world.client, reference: reference.client };
        const ratios: Record<string, number> = {};
        const rounds = options.quick ? 1 : ROUNDS;
        for (const concurrency of [1, 16]) {
          const pairTurns: Record<string, number[]> = { dolly: [], reference: [] };
          const cloneTurns: Record<string, number[]> = { dolly: [], reference: [] };
          for (let round = 0; round < rounds; round += 1) {
            for (const [label, client] of Object.entries(drivers)) {
              const tag = `${label}-${concurrency}-${round}`;
              log(
                `${backend}: ${label}, ${ops} create+delete pairs and ${ops} clones, ${concurrency} callers (turn ${round + 1} of ${rounds})`,
              );
              pairTurns[label]?.push(
                await rate(ops, concurrency, async (i) => {
                  const id = await create(client, `bench-pair-${tag}-${i}`);
                  await client.deleteVolume({ volume_id: id });
                }),
              );
              const made: string[] = [];
              cloneTurns[label]?.push(
                await rate(ops, concurrency, async (i) => {
                  made.push(
                    await create(
                      client,
                      `bench-clone-${tag}-${i}`,
                      label === 'dolly' ? sourceId : referenceSource,
                    ),
                  );
                }),
              );
              await runConcurrently(made.length, 16, async (i) => {
                await client.deleteVolume({ volume_id: made[i]! });
              });
            }
          }
          const medians = (turns: Record<string, number[]>) =>
            Object.fromEntries(
              Object.entries(turns).map(([label, values]) => [label, quantile(values, 0.5)]),
            );
          const pairs = medians(pairTurns);
          const clones = medians(cloneTurns);
          for (const [operation, values] of [
            ['create+delete pairs', pairs],
            ['clones of one source', clones],
          ] as const) {
            const ratio = (values.dolly ?? NaN) / (values.reference ?? NaN);
            rows.push({
              backend,
              operation,
              concurrency,
              dolly: values.dolly ?? null,
              reference: values.reference ?? null,
              ratio,
            });
            ratios[`${operation}-${concurrency}`] = ratio;
          }
        }
        const pairsRatio = ratios['create+delete pairs-16'] ?? NaN;
        const clonesRatio = ratios['clones of one source-16'] ?? NaN;
        record.target({
          what: `${backend}: CreateVolume+DeleteVolume pairs per second, 16 callers, Dolly / reference`,
          before: 'about 0.45x',
          target: "≥ 1x (at least the reference driver's rate), still crash-safe",
          measured: `${pairsRatio.toFixed(2)}x`,
          met: pairsRatio >= 1,
        });
        record.target({
          what: `${backend}: clones per second of one source, 16 callers, Dolly / reference`,
          before: 'about 0.5x',
          target: '≥ 1x',
          measured: `${clonesRatio.toFixed(2)}x`,
          met: clonesRatio >= 1,
        });
      } finally {
        await reference.stop();
        await remove(stateDir);
        await world.deleteVolume(sourceId);
      }
    }
  },
};
