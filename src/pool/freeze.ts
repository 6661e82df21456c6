import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, DollyError, errnoCode } from '../errors.js';
import { freezeFilesystem, thawFilesystem } from '../host/filesystem.js';
import { readMountInfo } from '../host/mountinfo.js';
import { faultPoint } from '../util/fault.js';

type Logger = (message: string, fields?: Record<string, unknown>) => void;

/**
 * How a copy of a volume in use is taken. `frozen`: its filesystem is frozen for the instant of
 * the copy, which is then clean, needing no journal replay, and holds every write acknowledged
 * before it; the source's writers wait for the freeze (for ext4 mostly its journal checkpoint).
 * `crash`: no freeze; the copy is the image at one instant, as a power cut would leave it
 * (writes acknowledged by fsync are in it; its journal is replayed at its first mount), and the
 * writers do not wait.
 */
export const COPY_CONSISTENCIES = ['frozen', 'crash'] as const;
export type CopyConsistency = (typeof COPY_CONSISTENCIES)[number];

/** One filesystem frozen for one or more copies that run at once. */
interface Freeze {
  holders: number;
  /** Settles when the filesystem is frozen (or the freeze failed). */
  ready: Promise<void>;
  mountPoint: string;
}

/** What the journal keeps of a freeze in progress: enough to thaw it after a crash. */
interface FreezeRecord {
  device: string;
  mountPoint: string;
}

/**
 * Freezes filesystems (FIFREEZE) around copies of the images under them, so that a clone or a
 * snapshot of a volume in use is one consistent point in time.
 *
 * - Copies of one volume that run at once share one freeze: the first freezes, the others
 *   join, the last one out thaws (a second FIFREEZE of a frozen filesystem is EBUSY).
 * - Before freezing, a record is written to the journal directory; it is removed after the
 *   thaw. A driver killed in between leaves the record, and the next start thaws what it names
 *   (recover()), so no filesystem stays frozen by Dolly. The record is not fsynced: a freeze
 *   does not survive a reboot either, and thawing a filesystem that is not frozen is harmless.
 * - A filesystem that holds the pool's own directories is never frozen: a copy writes into the
 *   pool while the source is frozen, and would wait for itself forever.
 */
export class Freezer {
  private readonly active = new Map<string, Freeze>();
  /** Thaws in progress, by device: a new freeze of the device waits for it. */
  private readonly thawing = new Map<string, Promise<void>>();

  constructor(
    private readonly journalDir: string,
    /** Directories the copy writes to while the source is frozen. */
    private readonly poolDirs: readonly string[],
    private readonly log: Logger,
  ) {}

  /** Thaws every filesystem a killed driver left frozen; run at start, before serving. */
  static async recover(journalDir: string, log: Logger): Promise<void> {
    await mkdir(journalDir, { recursive: true, mode: 0o700 });
    const names = await readdir(journalDir);
    if (names.length === 0) return;
    const mounts = await readMountInfo();
    for (const name of names) {
      const path = join(journalDir, name);
      const record = await readRecord(path);
      if (record) {
        // The recorded mount point, or any other mount of the same filesystem that remains.
        const points = [
          record.mountPoint,
          ...mounts.filter((mount) => mount.device === record.device).map((mount) => mount.mountPoint),
        ];
        const thawed = await thawFirst([...new Set(points)]);
        log(
          thawed
            ? 'thawed a filesystem that a stopped driver left frozen'
            : 'a stopped driver had frozen a filesystem that is no longer frozen or mounted',
          { mountPoint: record.mountPoint, device: record.device },
        );
      }
      await rm(path, { force: true });
    }
  }

  /**
   * Runs `action` with the filesystems mounted at `mountPoints` frozen: one freeze per
   * filesystem (bind mounts share it), thawed on every path once no copy needs it.
   */
  async withFrozen<T>(mountPoints: readonly string[], action: () => Promise<T>): Promise<T> {
    if (mountPoints.length === 0) return action();
    const mounts = await readMountInfo();
    const devices = new Map<string, string>();
    for (const point of mountPoints) {
      const device = mounts.filter((mount) => mount.mountPoint === point).at(-1)?.device;
      if (device !== undefined && !devices.has(device)) devices.set(device, point);
    }
    const held: string[] = [];
    try {
      for (const [device, mountPoint] of [...devices].sort(([a], [b]) => (a < b ? -1 : 1))) {
        await this.hold(device, mountPoint);
        held.push(device);
      }
      faultPoint('clone:frozen');
      return await action();
    } finally {
      for (const device of held.reverse()) await this.release(device);
    }
  }

  private async hold(device: string, mountPoint: string): Promise<void> {
    // No await between this loop and the lookup below: a thaw starting in between would race a new freeze.
    for (let thaw = this.thawing.get(device); thaw; thaw = this.thawing.get(device)) await thaw;
    let freeze = this.active.get(device);
    if (!freeze) {
      const created: Freeze = { holders: 0, mountPoint, ready: this.freeze(device, mountPoint) };
      this.active.set(device, created);
      // A failed freeze is not kept for the next caller: it tries again.
      created.ready.catch(() => {
        if (this.active.get(device) === created) this.active.delete(device);
      });
      freeze = created;
    }
    freeze.holders += 1;
    try {
      await freeze.ready;
    } catch (error) {
      freeze.holders -= 1;
      throw error;
    }
  }

  private async release(device: string): Promise<void> {
    const freeze = this.active.get(device);
    if (!freeze) return;
    freeze.holders -= 1;
    if (freeze.holders > 0) return;
    this.active.delete(device);
    const thaw = this.thaw(device, freeze.mountPoint);
    this.thawing.set(device, thaw);
    try {
      await thaw;
    } finally {
      if (this.thawing.get(device) === thaw) this.thawing.delete(device);
    }
  }

  private async freeze(device: string, mountPoint: string): Promise<void> {
    await this.refuseIfPoolInside(mountPoint);
    const record = this.recordPath(device);
    await writeFile(record, JSON.stringify({ device, mountPoint } satisfies FreezeRecord), { mode: 0o600 });
    try {
      await freezeFilesystem(mountPoint);
    } catch (error) {
      await rm(record, { force: true });
      if (error instanceof DollyError && errnoCode(error.cause) === 'EBUSY') {
        throw new DollyError(
          Code.FAILED_PRECONDITION,
          `the filesystem at ${mountPoint} is frozen by another program, so no consistent copy can be taken; thaw it (fsfreeze --unfreeze ${mountPoint}) and retry`,
          { cause: error },
        );
      }
      if (error instanceof DollyError && errnoCode(error.cause) === 'EIO') {
        throw new DollyError(
          Code.FAILED_PRECONDITION,
          `the filesystem at ${mountPoint} has had write errors and cannot be frozen for a consistent copy; its writes may have failed while the pool was full (see the kernel log): free pool space, then unmount, check and mount it again before copying it`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Never throws: the copy has its answer; a failed thaw is logged loudly and the record kept for the next start. */
  private async thaw(device: string, mountPoint: string): Promise<void> {
    try {
      await thawFilesystem(mountPoint);
      await rm(this.recordPath(device), { force: true });
    } catch (error) {
      this.log('could not thaw a frozen filesystem; writes to it are blocked until `fsfreeze -u` succeeds', {
        mountPoint,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async refuseIfPoolInside(mountPoint: string): Promise<void> {
    const frozenDevice = (await stat(mountPoint)).dev;
    for (const dir of [this.journalDir, ...this.poolDirs]) {
      if ((await stat(dir)).dev === frozenDevice) {
        throw new DollyError(
          Code.FAILED_PRECONDITION,
          `the filesystem mounted at ${mountPoint} holds the pool directory ${dir}; Dolly will not freeze it (a copy writes there). Unmount it from inside the pool`,
        );
      }
    }
  }

  private recordPath(device: string): string {
    return join(this.journalDir, `${device.replace(':', '_')}.json`);
  }
}

async function readRecord(path: string): Promise<FreezeRecord | undefined> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (
      typeof value === 'object' &&
      value !== null &&
      'device' in value &&
      'mountPoint' in value &&
      typeof value.device === 'string' &&
      typeof value.mountPoint === 'string'
    ) {
      return { device: value.device, mountPoint: value.mountPoint };
    }
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
  }
  return undefined;
}

/** Thaws through the first of these mount points that still exists; true when one was frozen. */
async function thawFirst(points: readonly string[]): Promise<boolean> {
  for (const point of points) {
    try {
      await thawFilesystem(point);
      return true;
    } catch {
      // Not frozen (EINVAL), or not there any more: try the next.
    }
  }
  return false;
}
