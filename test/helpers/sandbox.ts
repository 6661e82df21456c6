import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The pool filesystem, hence backend, the tests run against: xfs (reflink) or btrfs (subvolumes). */
export const POOL_FS: 'xfs' | 'btrfs' = process.env.DOLLY_TEST_POOL_FS === 'btrfs' ? 'btrfs' : 'xfs';

export async function sh(file: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(file, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Mount points at or below `dir`, deepest first (the order they must be unmounted in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = text
    .split('\n')
    .filter(Boolean)
    .map((line) =>
      (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) =>
        String.fromCharCode(parseInt(o, 8)),
      ),
    )
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Everything one test file creates lives in one temporary directory; cleanup() stops what was
 * started, unmounts every mount below it (loop devices of `mount -o loop` detach on unmount)
 * and removes it, whether the tests passed or not.
 */
export class Sandbox {
  private readonly cleanups: (() => Promise<void>)[] = [];

  private constructor(readonly dir: string) {}

  static async create(label: string): Promise<Sandbox> {
    return new Sandbox(await mkdtemp(`/tmp/dolly-test-${label}-`));
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  onCleanup(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /**
   * A real pool of the backend under test: a loop-mounted filesystem of POOL_FS. The test
   * runner runs every test that makes its pool here once per backend.
   */
  async pool(name: string, sizeBytes = 4 * 1024 ** 3): Promise<string> {
    return POOL_FS === 'btrfs' ? this.btrfsPool(name, sizeBytes) : this.xfsPool(name, sizeBytes);
  }

  /** A loop-mounted XFS filesystem with reflinks: a pool of the reflink backend. */
  async xfsPool(name: string, sizeBytes = 4 * 1024 ** 3): Promise<string> {
    return this.loopFilesystem(name, sizeBytes, ['mkfs.xfs', '-q', '-m', 'reflink=1'], 'xfs');
  }

  /** A loop-mounted btrfs filesystem: a pool of the subvolume backend. */
  async btrfsPool(name: string, sizeBytes = 4 * 1024 ** 3): Promise<string> {
    return this.loopFilesystem(name, sizeBytes, ['mkfs.btrfs', '-q'], 'btrfs');
  }

  /** A loop-mounted ext4 filesystem: a directory that cannot reflink. */
  async ext4Dir(name: string, sizeBytes = 1024 ** 3): Promise<string> {
    return this.loopFilesystem(name, sizeBytes, ['mkfs.ext4', '-q', '-F'], 'ext4');
  }

  private async loopFilesystem(
    name: string,
    sizeBytes: number,
    mkfs: string[],
    fsType: string,
  ): Promise<string> {
    const image = this.path(`${name}.img`);
    const mountPoint = this.path(name);
    const handle = await open(image, 'wx');
    await handle.truncate(sizeBytes);
    await handle.close();
    const [tool, ...args] = mkfs as [string, ...string[]];
    await sh(tool, [...args, image]);
    await mkdir(mountPoint);
    await sh('mount', ['-t', fsType, '-o', 'loop', image, mountPoint]);
    return mountPoint;
  }

  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    for (const cleanup of this.cleanups.reverse()) {
      await cleanup().catch((error: unknown) => errors.push(error));
    }
    // Loop devices the driver attached to images in the sandbox: detaching a busy one makes the
    // kernel free it as soon as its last mount goes, so this comes first.
    for (const device of await loopDevicesUnder(this.dir)) {
      await sh('losetup', ['--detach', device]).catch((error: unknown) => errors.push(error));
    }
    // Mounts depend on each other across the tree (a staging mount holds the pool busy), so
    // unmount in rounds until none is left or a round makes no progress.
    let remaining = await mountsUnder(this.dir);
    for (let round = 0; remaining.length > 0 && round < 10; round += 1) {
      for (const point of remaining) await sh('umount', [point]).catch(() => undefined);
      const left = await mountsUnder(this.dir);
      if (left.length === remaining.length) await new Promise((resolve) => setTimeout(resolve, 200));
      remaining = left;
    }
    if (remaining.length > 0) errors.push(new Error(`could not unmount ${remaining.join(', ')}`));
    await rm(this.dir, { recursive: true, force: true }).catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw new AggregateError(errors, `cleanup of ${this.dir} failed`);
  }
}

/** Loop devices whose backing file lies inside `dir` (sysfs; the path may end in " (deleted)"). */
async function loopDevicesUnder(dir: string): Promise<string[]> {
  const devices: string[] = [];
  for (const name of await readdir('/sys/block')) {
    if (!name.startsWith('loop')) continue;
    const backing = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '');
    if (backing.startsWith(`${dir}/`)) devices.push(`/dev/${name}`);
  }
  return devices;
}
