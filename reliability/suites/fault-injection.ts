import { FAULT_ENV, FAULT_POINTS } from '../../src/util/fault.js';
import type { DriverFaultPoint } from '../../src/util/fault.js';
import { answerOf, describeAnswer, isAnswer, untilAnswered } from '../answer.js';
import { checkInvariants } from '../invariants.js';
import { PoolHost } from '../pool-host.js';
import { Random } from '../random.js';
import { Violations } from '../report.js';
import type { CheckRow, Suite, SuiteContext } from '../types.js';
import type { Operation, VolumeState } from '../workload.js';
import { MiB, World, judge } from '../workload.js';

const CLIENTS = 3;

/**
 * kill -9 the driver while mutating calls from several clients are in flight (at a random
 * moment), and at chosen points inside the operations (DOLLY_FAULT_CRASH); restart it on the
 * same pool, send every unanswered call again until it is answered, and check the invariants.
 */
export const faultInjection: Suite = {
  name: 'fault-injection',
  perBackend: true,
  run: async (context) => {
    const host = await PoolHost.create('fault', {
      poolBytes: 4 * 1024 * MiB,
      clients: CLIENTS,
      poolFs: context.poolFs,
    });
    const world = new World(host, 'fault');
    try {
      const random = new Random(context.seed).fork('fault-injection');
      await seed(world, context);
      const rows = [await randomKills(world, random, context)];
      for (const point of FAULT_POINTS) rows.push(await chosenPoint(world, point, random, context));
      return rows;
    } finally {
      await world.stopWriters();
      await host.dispose();
    }
  },
};

/** A few volumes with known content, one staged and published with a writer inside. */
async function seed(world: World, context: SuiteContext): Promise<void> {
  for (let i = 0; i < 4; i += 1) await world.must(world.createVolume());
  await world.settle();
  const [first, second] = [...world.volumes.values()];
  if (!first || !second) throw new Error('seed volumes missing');
  await world.must(world.createSnapshot(first));
  await world.must(world.stageVolume(second));
  await world.must(world.publishVolume(second, true));
  await world.settle();
  context.log(`fault-injection: seeded ${world.volumes.size} volumes, one published with a writer`);
}

async function randomKills(world: World, random: Random, context: SuiteContext): Promise<CheckRow> {
  const rounds = context.quick ? 40 : 300;
  const violations = new Violations();
  let kills = 0;
  const startRequests = world.requests;
  let checkRequests = 0;
  for (let round = 0; round < rounds; round += 1) {
    const step = world.randomStep(random, CLIENTS + 1);
    // Most calls take 10-150 ms (a stage with mkfs longer): a kill drawn in that window often lands inside one.
    const delay = random.int(0, 150);
    const calls = step.map((operation, index) =>
      world.run(operation, index).catch((error: unknown) => ({
        violation: `${operation.label}: ${error instanceof Error ? error.message : String(error)}`,
      })),
    );
    await new Promise((resolve) => setTimeout(resolve, delay));
    await world.host.kill();
    kills += 1;
    await world.host.start();
    for (const { violation } of await Promise.all(calls))
      if (violation) violations.add(`after a kill: ${violation}`);
    const report = await checkInvariants({
      host: world.host,
      intended: world.intended(),
      fingerprints: world.fingerprints(),
      quiescent: true,
    });
    checkRequests += report.requests;
    for (const violation of report.violations)
      violations.add(
        `after a kill ${delay} ms into [${step.map((op) => op.label).join('; ')}]: ${violation}`,
      );
    await world.settle();
    if (round % 10 === 9) context.log(`fault-injection: ${round + 1}/${rounds} kills`);
  }
  context.log(`fault-injection: ${world.retried} calls were cut by a kill and sent again after the restart`);
  return {
    suite: 'fault-injection',
    check: 'kill -9 at a random moment, restart, retry',
    injections: kills,
    requests: world.requests - startRequests + checkRequests,
    violations: violations.list(),
  };
}

/** The call that passes `point`, on objects the world has (made first when missing). */
async function operationReaching(world: World, point: DriverFaultPoint): Promise<Operation> {
  const volumes = [...world.volumes.values()];
  const idle = (): VolumeState | undefined => volumes.find((volume) => volume.staging === undefined);
  const ensureIdle = async (): Promise<VolumeState> => {
    const existing = idle();
    if (existing) return existing;
    await world.must(world.createVolume());
    await world.settle();
    const created = [...world.volumes.values()].find((volume) => volume.staging === undefined);
    if (!created) throw new Error('no idle volume');
    return created;
  };
  switch (point) {
    case 'clone:frozen': {
      let published = volumes.find((volume) => volume.target !== undefined);
      if (!published) {
        published = await ensureIdle();
        await world.must(world.stageVolume(published));
        await world.must(world.publishVolume(published, true));
      }
      return world.cloneVolume(published);
    }
    case 'build:before-rename':
      return world.cloneVolume(await ensureIdle());
    case 'expand:image-grown':
      return world.expandVolume(await ensureIdle());
    case 'delete:trashed':
      return world.deleteVolume(await ensureIdle());
    case 'stage:attached':
      return world.stageVolume(await ensureIdle());
  }
}

/**
 * Arms one fault point, sends the call that passes it, and checks the driver died there; then
 * restarts unarmed, retries the call until it is answered, and checks the invariants.
 */
async function chosenPoint(
  world: World,
  point: DriverFaultPoint,
  random: Random,
  context: SuiteContext,
): Promise<CheckRow> {
  const repeats = context.quick ? 1 : 5;
  const violations = new Violations();
  let injections = 0;
  let requests = 0;
  for (let i = 0; i < repeats; i += 1) {
    // A few random calls first, so each repeat meets a different pool.
    if (i > 0) for (const operation of world.randomStep(random, 2)) await world.run(operation);
    const operation = await operationReaching(world, point);
    await operation.prepare?.();
    await world.host.restart({ [FAULT_ENV]: point });
    const first = await answerOf(() => operation.send(world.host.client()));
    requests += 1;
    // A dropped connection (no answer) can be seen before the exit is: wait for it then. A
    // real answer means the call finished without passing the point.
    const wait = isAnswer(first) ? 200 : 5000;
    await Promise.race([world.host.driver.exited, new Promise((resolve) => setTimeout(resolve, wait))]);
    if (world.host.running) {
      violations.add(
        `armed point ${point} was never reached: ${operation.label} answered ${describeAnswer(first)} and the driver lives on`,
      );
      await world.host.restart();
    } else {
      injections += 1;
      await world.host.start();
    }
    const answer = await untilAnswered(() => operation.send(world.host.client()), {
      onAttempt: () => (requests += 1),
    });
    await operation.apply(answer);
    const wrong = judge(`${operation.label} retried after the crash at ${point}`, answer, operation.expected);
    if (wrong) violations.add(wrong);
    const report = await checkInvariants({
      host: world.host,
      intended: world.intended(),
      fingerprints: world.fingerprints(),
      quiescent: true,
    });
    requests += report.requests;
    for (const violation of report.violations) violations.add(`after the crash at ${point}: ${violation}`);
    await world.settle();
  }
  context.log(`fault-injection: point ${point} done`);
  return {
    suite: 'fault-injection',
    check: `crash at ${point}`,
    injections,
    requests,
    violations: violations.list(),
  };
}
