import { execFile } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listLoops } from '../src/host/loop.js';
import { readMountInfo } from '../src/host/mountinfo.js';
import { answerOf, describeAnswer } from './answer.js';
import type { Fingerprint } from './data.js';
import { checkFingerprint, probeWrite } from './data.js';
import type { PoolHost } from './pool-host.js';
import { imageIn } from '../src/pool/layout.js';

const execFileAsync = promisify(execFile);

/**
 * A write that takes longer than this inside a published volume counts as blocked (a frozen
 * filesystem). Generous on purpose: a 4 KiB fsync on a loop device of a busy 2-core machine
 * can take a second or two; a frozen filesystem blocks for ever, so the margin costs nothing
 * in what is caught and keeps a slow moment from becoming a false violation.
 */
export const WRITE_PROBE_TIMEOUT_MS = 15_000;

/** What the suite has staged and published on purpose at the moment of the check. */
export interface Intended {
  /** Staging and target paths mounted on purpose. */
  mounts: Iterable<string>;
  /** Volume images attached to a loop device on purpose (staged). */
  images: Iterable<string>;
  /** Writable published mount targets: a probe write must complete in each. */
  writable: Iterable<string>;
}

export interface InvariantInput {
  host: PoolHost;
  intended: Intended;
  /** Data the current step did not touch: must be unchanged. */
  fingerprints: Iterable<Fingerprint>;
  /**
   * No call in flight and every call answered: tmp/ and trash/ must be empty then (the driver
   * empties them at start and every operation leaves them clean).
   */
  quiescent: boolean;
  /** Default WRITE_PROBE_TIMEOUT_MS; the self-check plants a frozen filesystem and need not wait as long. */
  writeProbeTimeoutMs?: number;
}

export interface InvariantReport {
  violations: string[];
  /** RPCs the check sent (ListVolumes, ListSnapshots, Probe). */
  requests: number;
}

/**
 * The one checker every suite runs after each step. Each broken invariant becomes a sentence a
 * person can act on; a frozen filesystem found is thawed so the run can go on.
 */
export async function checkInvariants(input: InvariantInput): Promise<InvariantReport> {
  const violations: string[] = [];
  let requests = 0;
  const { host } = input;
  const pool = host.pool;
  const client = host.client();

  requests += 1;
  const probe = await answerOf(() => client.probe());
  if (!probe.ok) violations.push(`Probe answered ${describeAnswer(probe)}`);
  if (!host.running) violations.push('the driver is not running');

  // Every listed object whole, and every object directory listed.
  for (const kind of ['volumes', 'snapshots'] as const) {
    requests += 1;
    const listed =
      kind === 'volumes'
        ? await answerOf(() => client.listVolumes({}))
        : await answerOf(() => client.listSnapshots({}));
    if (!listed.ok) {
      violations.push(
        `List${kind === 'volumes' ? 'Volumes' : 'Snapshots'} answered ${describeAnswer(listed)}`,
      );
      continue;
    }
    const entries =
      'entries' in listed.response
        ? listed.response.entries.map((entry) =>
            'volume' in entry
              ? { id: entry.volume?.volume_id ?? '', size: Number(entry.volume?.capacity_bytes ?? -1) }
              : { id: entry.snapshot?.snapshot_id ?? '', size: Number(entry.snapshot?.size_bytes ?? -1) },
          )
        : [];
    const onDisk = new Set(await readdir(join(pool, kind)).catch(() => [] as string[]));
    for (const { id, size } of entries) {
      onDisk.delete(id);
      violations.push(...(await checkObjectWhole(join(pool, kind, id), `${kind.slice(0, -1)} ${id}`, size)));
    }
    for (const id of onDisk)
      violations.push(`${join(pool, kind, id)} exists but List${kind} does not list it`);
  }

  if (input.quiescent) {
    for (const dir of ['tmp', 'trash']) {
      const left = await readdir(join(pool, dir)).catch((error: unknown) => [
        `(unreadable: ${String(error)})`,
      ]);
      if (left.length > 0) violations.push(`${dir}/ is not empty with no call in flight: ${left.join(', ')}`);
    }
  }

  violations.push(...(await checkAttachments(host, input.intended)));

  for (const expected of input.fingerprints) {
    const broken = await checkFingerprint(expected);
    if (broken) violations.push(broken);
  }

  // Probe writes first (a frozen filesystem blocks them), then the freeze probe thaws.
  const writes = await Promise.all(
    [...input.intended.writable].map((dir) =>
      probeWrite(dir, input.writeProbeTimeoutMs ?? WRITE_PROBE_TIMEOUT_MS),
    ),
  );
  violations.push(...writes.filter((reason): reason is string => reason !== undefined));
  violations.push(...(await findFrozen(pool)));
  return { violations, requests };
}

/** meta.json parses, the image exists, image size == meta size == the size the driver answers. */
async function checkObjectWhole(dir: string, what: string, answeredSize: number): Promise<string[]> {
  const problems: string[] = [];
  let metaSize: unknown;
  try {
    metaSize = (JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { sizeBytes?: unknown })
      .sizeBytes;
  } catch (error) {
    return [
      `${what} is listed but its meta.json is unreadable: ${error instanceof Error ? error.message : String(error)}`,
    ];
  }
  const imageSize = await stat(await imageIn(dir)).then(
    (stats) => stats.size,
    () => undefined,
  );
  if (imageSize === undefined) problems.push(`${what} is listed but has no disk.img`);
  else if (imageSize !== metaSize || imageSize !== answeredSize)
    problems.push(
      `${what}: sizes disagree: image ${imageSize} bytes, meta.json ${String(metaSize)}, answered ${answeredSize}`,
    );
  return problems;
}

/** Loop devices on pool images and mounts below the sandbox that nobody meant to be there. */
export async function checkAttachments(host: PoolHost, intended: Intended): Promise<string[]> {
  const problems: string[] = [];
  const pool = host.pool;
  const images = new Set(intended.images);
  for (const loop of await listLoops()) {
    if (loop.backingFile.startsWith(`${pool}/`) && !images.has(loop.backingFile))
      problems.push(`loop device ${loop.name} is attached to ${loop.backingFile}, which nothing has staged`);
  }
  const mounts = new Set(intended.mounts);
  const sandbox = host.sandbox.dir;
  for (const entry of await readMountInfo()) {
    const point = entry.mountPoint;
    if (entry.id === host.poolMountId) continue;
    if (point === pool) problems.push(`${entry.source} is mounted over the pool itself at ${point}`);
    else if (point.startsWith(`${pool}/`))
      problems.push(`${entry.source} is mounted inside the pool at ${point}`);
    else if (pool.startsWith(`${point}/`))
      problems.push(`${entry.source} is mounted over an ancestor of the pool: ${point}`);
    else if ((point === sandbox || point.startsWith(`${sandbox}/`)) && !mounts.has(point))
      problems.push(`${entry.source} is mounted at ${point}, which nothing has staged or published`);
  }
  return problems;
}

/**
 * Filesystems on the pool's loop devices that are frozen. `fsfreeze -f` answers EBUSY on a
 * frozen one (reported, then thawed so the run goes on); on any other it succeeds and is
 * undone at once. Only while no call is in flight: the driver's own freeze would collide.
 */
async function findFrozen(pool: string): Promise<string[]> {
  const problems: string[] = [];
  const devices = new Set(
    (await listLoops()).filter((loop) => loop.backingFile.startsWith(`${pool}/`)).map((loop) => loop.name),
  );
  const seen = new Set<string>();
  for (const entry of await readMountInfo()) {
    if (!devices.has(entry.source) || seen.has(entry.device)) continue;
    seen.add(entry.device);
    try {
      await execFileAsync('fsfreeze', ['--freeze', entry.mountPoint], { timeout: 30_000 });
      await execFileAsync('fsfreeze', ['--unfreeze', entry.mountPoint], { timeout: 30_000 });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      if (/busy/i.test(text)) {
        problems.push(
          `the filesystem of ${entry.source} at ${entry.mountPoint} is frozen (thawed by the harness)`,
        );
        await execFileAsync('fsfreeze', ['--unfreeze', entry.mountPoint], { timeout: 30_000 }).catch(
          () => undefined,
        );
      }
    }
  }
  return problems;
}
