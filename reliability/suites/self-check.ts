import { execFile } from 'node:child_process';
import { mkdir, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { checkInvariants } from '../invariants.js';
import { PoolHost } from '../pool-host.js';
import type { Suite } from '../types.js';
import type { VolumeState } from '../workload.js';
import { MiB, World } from '../workload.js';
import { imageInSync } from '../../src/pool/layout.js';

const execFileAsync = promisify(execFile);
const run = (file: string, args: string[]) => execFileAsync(file, args, { timeout: 30_000 });

/**
 * The harness checks itself: on a clean pool the invariant checker must report nothing, and
 * for each fault planted by hand (a frozen filesystem, a stray loop device or mount, a
 * leftover in tmp/, sizes that disagree, changed data, damaged metadata, a dead driver) it
 * must report that fault. A checker that cannot see a fault would make every other row's 0
 * meaningless.
 */
export const selfCheck: Suite = {
  name: 'self-check',
  perBackend: true,
  run: async (context) => {
    const host = await PoolHost.create('self-check', { poolBytes: 1024 * MiB, poolFs: context.poolFs });
    const world = new World(host, 'self');
    const missed: string[] = [];
    let planted = 0;
    let requests = 0;
    try {
      await world.must(world.createVolume());
      const published = lastVolume(world);
      await world.must(world.stageVolume(published));
      await world.must(world.publishVolume(published, false));
      await world.must(world.createVolume());
      const idle = lastVolume(world);
      await world.settle();
      const image = imageInSync(join(host.pool, 'volumes', idle.id));
      // The planted freeze blocks the write probe for its whole timeout: a short one there
      // only; everywhere else the checker's generous default, so a slow fsync is no false alarm.
      const check = async (writeProbeTimeoutMs?: number) => {
        const report = await checkInvariants({
          host,
          intended: world.intended(),
          fingerprints: world.fingerprints(),
          quiescent: true,
          ...(writeProbeTimeoutMs === undefined ? {} : { writeProbeTimeoutMs }),
        });
        requests += report.requests;
        return report.violations;
      };
      const clean = await check();
      if (clean.length > 0) missed.push(`on a clean pool the checker reported: ${clean.join('; ')}`);

      /** Plants a fault, expects the checker to name it, removes it, expects a clean pool again. */
      const expectSeen = async (
        fault: string,
        pattern: RegExp,
        plant: () => Promise<void>,
        remove: () => Promise<void>,
        writeProbeTimeoutMs?: number,
      ) => {
        planted += 1;
        await plant();
        let seen: string[];
        try {
          seen = await check(writeProbeTimeoutMs);
        } finally {
          await remove();
        }
        if (!seen.some((violation) => pattern.test(violation)))
          missed.push(`${fault} was not reported (the checker said: ${seen.join('; ') || 'nothing'})`);
        const after = await check();
        if (after.length > 0)
          missed.push(`after removing ${fault} the checker still reported: ${after.join('; ')}`);
      };

      const staging = published.staging ?? '';
      await expectSeen(
        'a frozen filesystem',
        /is frozen/,
        () => run('fsfreeze', ['--freeze', staging]).then(() => undefined),
        // The checker thaws what it finds; thawing again fails harmlessly.
        () =>
          run('fsfreeze', ['--unfreeze', staging]).then(
            () => undefined,
            () => undefined,
          ),
        3_000,
      );
      planted += 1;
      await run('fsfreeze', ['--freeze', staging]);
      const blocked = await check(3_000);
      await run('fsfreeze', ['--unfreeze', staging]).catch(() => undefined);
      if (!blocked.some((violation) => /did not finish/.test(violation)))
        missed.push(`a write blocked by a frozen filesystem was not reported (${blocked.join('; ')})`);

      let device = '';
      await expectSeen(
        'a loop device nobody staged',
        /which nothing has staged/,
        async () => {
          device = (await run('losetup', ['--find', '--show', image])).stdout.trim();
        },
        async () => {
          await run('losetup', ['--detach', device]);
          // The kernel lets go of the image once udev's probe has closed the device.
          for (
            let i = 0;
            i < 50 &&
            (await readFile(`/sys/block/${device.slice(5)}/loop/backing_file`, 'utf8').catch(() => ''));
            i++
          )
            await new Promise((resolve) => setTimeout(resolve, 100));
        },
      );
      const stray = host.sandbox.path('node', 'stray');
      await expectSeen(
        'a mount nobody made',
        /which nothing has staged or published/,
        async () => {
          await mkdir(stray, { recursive: true });
          await run('mount', ['--bind', published.target ?? '', stray]);
        },
        () => run('umount', [stray]).then(() => undefined),
      );
      await expectSeen(
        'a mount inside the pool',
        /inside the pool/,
        () =>
          run('mount', ['--bind', published.target ?? '', join(host.pool, 'trash')]).then(() => undefined),
        () => run('umount', [join(host.pool, 'trash')]).then(() => undefined),
      );
      await expectSeen(
        'a leftover in tmp/',
        /tmp\/ is not empty/,
        () => writeFile(join(host.pool, 'tmp', 'leftover'), 'x'),
        () => rm(join(host.pool, 'tmp', 'leftover')),
      );
      await expectSeen(
        'an image larger than its metadata says',
        /sizes disagree/,
        () => truncate(image, idle.sizeBytes + MiB),
        () => truncate(image, idle.sizeBytes),
      );
      let original: Buffer = Buffer.alloc(0);
      await expectSeen(
        'changed data',
        /changed/,
        async () => {
          original = await readBytes(image, 100, 1);
          await writeBytes(image, 100, Buffer.from([original[0] === 0 ? 1 : 0]));
        },
        () => writeBytes(image, 100, original),
      );
      const meta = join(host.pool, 'volumes', idle.id, 'meta.json');
      let metaText = '';
      await expectSeen(
        'damaged metadata',
        /meta\.json|answered/,
        async () => {
          metaText = await readFile(meta, 'utf8');
          await writeFile(meta, '{ not json');
        },
        () => writeFile(meta, metaText),
      );
      await expectSeen(
        'a dead driver',
        /not running|Probe answered/,
        () => host.kill(),
        () => host.start(),
      );
    } finally {
      await host.dispose();
    }
    return [
      {
        suite: 'self-check',
        check: 'the invariant checker sees each planted fault',
        injections: planted,
        requests,
        violations: missed,
      },
    ];
  },
};

function lastVolume(world: World): VolumeState {
  const volume = [...world.volumes.values()].at(-1);
  if (!volume) throw new Error('no volume');
  return volume;
}

async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function writeBytes(path: string, offset: number, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
