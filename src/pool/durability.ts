import { realpath } from 'node:fs/promises';
import { syncfs } from '../host/kernel.js';
import { readMountInfo } from '../host/mountinfo.js';
import { fsyncPath } from '../util/atomic-file.js';
import { GroupSync } from '../util/group-sync.js';
import type { PreparedPool } from './prepare.js';

/**
 * How a pool makes its changes durable:
 * - `filesystem`: the pool is a filesystem of its own (the embedded pool, or a dedicated mount).
 *   One syncfs of it makes durable everything every operation in flight has written, and
 *   operations that ask while one runs share the next (group commit): on btrfs each fsync after
 *   a subvolume is made or renamed is a whole transaction commit anyway, which concurrent
 *   callers would otherwise queue for one by one.
 * - `files`: the pool is a directory of a filesystem others use too, whose dirty data a syncfs
 *   would have to write out: each file is fsynced, and a directory after renames in it (shared
 *   by concurrent renames in the same directory).
 */
export type DurabilityScope = 'filesystem' | 'files';

export class Durability {
  private readonly filesystemSync = new GroupSync((path) => syncfs(path));
  private readonly directorySync = new GroupSync(fsyncPath);

  private constructor(
    readonly scope: DurabilityScope,
    private readonly root: string,
  ) {}

  /** The scope a pool gets: `filesystem` when its root is the root of a mount, else `files`. */
  static async of(prepared: PreparedPool): Promise<Durability> {
    if (prepared.kind === 'embedded') return new Durability('filesystem', prepared.root);
    const root = await realpath(prepared.root);
    const ownMount = (await readMountInfo()).some((mount) => mount.mountPoint === root && mount.root === '/');
    return new Durability(ownMount ? 'filesystem' : 'files', prepared.root);
  }

  /**
   * Makes the files written for a new object (in tmp/) durable before it is renamed into
   * place, so that the rename never publishes a torn or empty file after a crash.
   */
  async written(files: readonly string[]): Promise<void> {
    if (files.length === 0) return;
    if (this.scope === 'filesystem') await this.filesystemSync.sync(this.root);
    else await Promise.all(files.map((file) => fsyncPath(file)));
  }

  /** Makes a rename in `dir` (into volumes/, snapshots/ or trash/) durable. */
  async renamed(dir: string): Promise<void> {
    if (this.scope === 'filesystem') await this.filesystemSync.sync(this.root);
    else await this.directorySync.sync(dir);
  }
}
