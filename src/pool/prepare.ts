import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, realpath, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { createSparseFile, growFile } from '../util/sparse-file.js';
import { exists } from '../util/stat-if-exists.js';
import { dirname, join } from 'node:path';
import { Code, DollyError } from '../errors.js';
import { findMount } from '../host/mountinfo.js';
import { mountImage } from '../host/mount.js';
import { enableDirectIo } from '../host/loop.js';
import type { DirectIoState } from '../host/loop.js';
import { growXfs, makeXfsWithReflink } from '../host/xfs.js';
import { growBtrfs, makeBtrfs } from '../host/btrfs.js';
import { run } from '../host/exec.js';
import { reflink } from './reflink.js';
import { formatSize } from './sizes.js';

/** The backing file of an embedded pool, inside the pool directory, under its mount. */
export const EMBEDDED_IMAGE = 'embedded-pool.img';

export interface PreparedPool {
  /** Where volumes/, snapshots/, tmp/ and trash/ live. */
  root: string;
  kind: 'native' | 'embedded';
  fsType: string;
  /** For an embedded pool, the sparse image that holds it (shadowed by the mount). */
  backingFile: string | undefined;
  /** For an embedded pool, a directory on the host filesystem that holds the backing file (the pool's parent). */
  hostDir: string | undefined;
}

/** Filesystems Dolly can make an embedded pool of; the first is the default (docs/performance.md says why). */
export const EMBEDDED_FILESYSTEMS = ['btrfs', 'xfs'] as const;
export type EmbeddedFs = (typeof EMBEDDED_FILESYSTEMS)[number];

export interface PrepareOptions {
  dir: string;
  /** Size of the embedded pool's backing file when Dolly has to create it (or grow it to). */
  embeddedSizeBytes: number;
  /** The filesystem of a new embedded pool; an existing one keeps its own. */
  embeddedFs: EmbeddedFs;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Makes the pool directory usable. A directory whose filesystem can reflink (XFS with
 * reflink=1, btrfs) is used as it is. Otherwise Dolly keeps a sparse image of a filesystem that
 * can (btrfs by default, or XFS) in the directory and loop-mounts it over the directory, so the
 * layout is the same either way and one command gives instant clones on any Linux host. The
 * image is found and mounted again on the next start.
 */
export async function preparePool(options: PrepareOptions): Promise<PreparedPool> {
  const dir = await ensureDirectory(options.dir);
  const mounted = await findMount(dir);
  const backingFile = join(dir, EMBEDDED_IMAGE);

  // Already mounted (a driver restart without a reboot): keep using it.
  if (mounted && (await canReflink(dir))) {
    const loop = await loopBehind(mounted.source);
    if (loop?.backingFile === backingFile) {
      // Mounted by an earlier start, maybe by a Dolly that left direct I/O off: switch it on.
      logBufferedPool(await enableDirectIo(mounted.source), dir, options.log);
      if (loop.sizeBytes < options.embeddedSizeBytes) {
        // The image is shadowed by its own mount, so it can only grow while unmounted.
        options.log('the embedded pool is smaller than --pool-size; it grows when it is next mounted', {
          pool: dir,
          size: formatSize(loop.sizeBytes),
        });
      }
      return embeddedPool(dir, backingFile, mounted.fsType);
    }
    return { root: dir, kind: 'native', fsType: mounted.fsType, backingFile: undefined, hostDir: undefined };
  }

  if (await exists(backingFile)) {
    const fsType = await imageFilesystem(backingFile);
    options.log('mounting the embedded pool image', { image: backingFile, pool: dir, fs: fsType });
    const grown = await growImage(backingFile, options);
    await mountEmbedded(backingFile, dir, fsType, options.log);
    if (grown) await (fsType === 'btrfs' ? growBtrfs(dir) : growXfs(dir));
    return embeddedPool(dir, backingFile, fsType);
  }

  if (await canReflink(dir)) {
    const fs = await filesystemType(dir);
    return { root: dir, kind: 'native', fsType: fs, backingFile: undefined, hostDir: undefined };
  }

  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `the pool directory ${dir} is on ${await filesystemType(dir)}, which cannot reflink, and it is not empty ` +
        `(${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); point --pool at an empty directory ` +
        `(Dolly then creates an embedded pool there) or at a directory on XFS with reflink=1 or btrfs`,
    );
  }
  const fsType = options.embeddedFs;
  options.log('the pool directory cannot reflink; creating an embedded pool', {
    pool: dir,
    image: backingFile,
    fs: fsType,
    size: formatSize(options.embeddedSizeBytes),
  });
  const started = Date.now();
  await createEmbedded(backingFile, dir, options.embeddedSizeBytes, fsType, options.log);
  // The one slow step of a first start (mkfs): say when it is over, not only when it began.
  options.log('the embedded pool is made and mounted', {
    pool: dir,
    fs: fsType,
    seconds: (Date.now() - started) / 1000,
  });
  return embeddedPool(dir, backingFile, fsType);
}

function embeddedPool(dir: string, backingFile: string, fsType: string): PreparedPool {
  return { root: dir, kind: 'embedded', fsType, backingFile, hostDir: dirname(dir) };
}

async function ensureDirectory(path: string): Promise<string> {
  try {
    await mkdir(path, { recursive: true, mode: 0o700 });
    const resolved = await realpath(path);
    if (!(await stat(resolved)).isDirectory()) throw new Error('not a directory');
    return resolved;
  } catch (error) {
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `cannot use ${path} as the pool directory: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

async function createEmbedded(
  backingFile: string,
  dir: string,
  sizeBytes: number,
  fsType: EmbeddedFs,
  log: PrepareOptions['log'],
): Promise<void> {
  await createSparseFile(backingFile, sizeBytes);
  try {
    await (fsType === 'btrfs'
      ? makeBtrfs(backingFile, 'dolly-pool')
      : makeXfsWithReflink(backingFile, 'dolly-pool'));
    await mountEmbedded(backingFile, dir, fsType, log);
  } catch (error) {
    // Leave nothing half made: the next start would otherwise try to mount a broken image.
    await rm(backingFile, { force: true });
    throw error;
  }
}

async function mountEmbedded(
  backingFile: string,
  dir: string,
  fsType: string,
  log: PrepareOptions['log'],
): Promise<void> {
  try {
    logBufferedPool(await mountImage(backingFile, dir, fsType), dir, log);
  } catch (error) {
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `cannot mount the embedded pool ${backingFile} on ${dir}: ${error instanceof Error ? error.message : String(error)} ` +
        '(Dolly must run as root with loop devices available, and btrfs-progs and xfsprogs installed)',
      { cause: error },
    );
  }
  if (!(await canReflink(dir))) {
    throw new DollyError(Code.FAILED_PRECONDITION, `the embedded pool mounted on ${dir} cannot reflink`);
  }
}

/**
 * The embedded pool's loop device works with direct I/O (one page cache, the volume
 * filesystems', not a second one of the pool image); where the host refuses it, say so.
 */
function logBufferedPool(state: DirectIoState, dir: string, log: PrepareOptions['log']): void {
  if (!state.on) {
    log('the embedded pool works without direct I/O (its data is cached twice)', {
      pool: dir,
      reason: state.reason,
    });
  }
}

/** The filesystem in an embedded pool's image, as blkid reads its superblock. */
async function imageFilesystem(backingFile: string): Promise<string> {
  const { stdout } = await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', backingFile], {
    failureCode: Code.FAILED_PRECONDITION,
    allowExitCodes: [2], // nothing found
  });
  const fsType = stdout.trim();
  if (fsType !== 'btrfs' && fsType !== 'xfs') {
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `the embedded pool image ${backingFile} holds ${fsType === '' ? 'no filesystem blkid knows' : fsType}, not btrfs or XFS; move it away to let Dolly make a new pool`,
    );
  }
  return fsType;
}

/**
 * The backing file and size of a loop device, from sysfs (the embedded pool's image is
 * shadowed by its own mount, so it cannot be looked at through its path).
 */
async function loopBehind(device: string): Promise<{ backingFile: string; sizeBytes: number } | undefined> {
  const name = /^\/dev\/(loop\d+)$/.exec(device)?.[1];
  if (!name) return undefined;
  try {
    const backingFile = (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim();
    const sectors = Number((await readFile(`/sys/block/${name}/size`, 'utf8')).trim());
    return { backingFile, sizeBytes: sectors * 512 };
  } catch {
    return undefined;
  }
}

/** Grows the (unmounted) image to --pool-size; the filesystem is grown once mounted. */
async function growImage(backingFile: string, options: PrepareOptions): Promise<boolean> {
  const current = (await stat(backingFile)).size;
  if (options.embeddedSizeBytes > current) {
    options.log('growing the embedded pool image', {
      image: backingFile,
      from: formatSize(current),
      to: formatSize(options.embeddedSizeBytes),
    });
    await growFile(backingFile, options.embeddedSizeBytes);
    return true;
  }
  return false;
}

/**
 * Whether files in `dir` can share blocks: a real FICLONE of a small probe file, which is the
 * only test that cannot be fooled by mount options or filesystem versions.
 */
export async function canReflink(dir: string): Promise<boolean> {
  const probe = join(dir, `.dolly-reflink-probe-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(probe, randomBytes(4096), { mode: 0o600 });
    await reflink(probe, `${probe}.clone`);
    return true;
  } catch (error) {
    if (error instanceof DollyError && error.code === Code.FAILED_PRECONDITION) return false;
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `cannot write in the pool directory ${dir}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    await rm(probe, { force: true });
    await rm(`${probe}.clone`, { force: true });
  }
}

async function filesystemType(dir: string): Promise<string> {
  const magic = (await statfs(dir)).type;
  const names: Record<number, string> = {
    0xef53: 'ext4',
    0x58465342: 'XFS',
    0x9123683e: 'btrfs',
    0x01021994: 'tmpfs',
  };
  return names[magic] ?? `a filesystem of type 0x${magic.toString(16)}`;
}
