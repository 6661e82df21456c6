import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Code, DollyError } from '../errors.js';

/**
 * The native addon (src/native/kernel.c, built by `npm ci` through binding.gyp): the kernel
 * calls the driver makes often enough that spawning a program for each (btrfs, chattr,
 * fsfreeze) would cost more than the call itself. Every function runs on a libuv worker thread
 * and rejects with a KernelError, shaped like Node's fs errors, so errnoCode() reads it.
 */

/** Where node-gyp builds the addon, from this file's place in dist/src/host/ (the image keeps that layout). */
export const ADDON_PATH = fileURLToPath(new URL('../../../build/Release/dolly_kernel.node', import.meta.url));

/** What the addon's calls reject with: Node's fs error shape. */
export interface KernelError extends Error {
  /** The errno name: 'ENOENT', 'EBUSY', ... */
  code: string;
  /** The negative errno, as Node's fs errors have it. */
  errno: number;
  /** The call that failed: 'open', or the ioctl's name ('FIFREEZE', 'BTRFS_IOC_SNAP_CREATE_V2', ...). */
  syscall: string;
  path: string;
  /** A snapshot's destination. */
  dest?: string;
}

export function isKernelError(error: unknown): error is KernelError {
  return (
    error instanceof Error &&
    'code' in error &&
    typeof error.code === 'string' &&
    'errno' in error &&
    typeof error.errno === 'number' &&
    'syscall' in error &&
    typeof error.syscall === 'string'
  );
}

/** The addon's exports (src/native/kernel.c). Paths must be absolute; names one path component. */
export interface KernelAddon {
  /** BTRFS_IOC_SUBVOL_CREATE: an empty subvolume `name` in `dir`. */
  subvolumeCreate(dir: string, name: string): Promise<void>;
  /** BTRFS_IOC_SNAP_CREATE_V2: a snapshot of the subvolume `source`, as `name` in `dir`. */
  subvolumeSnapshot(source: string, dir: string, name: string, readOnly: boolean): Promise<void>;
  /** BTRFS_IOC_SNAP_DESTROY: deletes the subvolume `name` in `dir`. */
  subvolumeDelete(dir: string, name: string): Promise<void>;
  /** BTRFS_IOC_SYNC: commits the current transaction of the btrfs filesystem holding `path`. */
  btrfsSync(path: string): Promise<void>;
  /** FS_IOC_SETFLAGS with FS_NOCOW_FL on a directory (chattr +C). */
  setNoCow(dir: string): Promise<void>;
  /** FIFREEZE on the filesystem mounted at `mountPoint`. */
  freeze(mountPoint: string): Promise<void>;
  /** FITHAW. */
  thaw(mountPoint: string): Promise<void>;
  /** syncfs(2) of the filesystem holding the directory `path`. */
  syncfs(path: string): Promise<void>;
}

const FUNCTIONS = [
  'subvolumeCreate',
  'subvolumeSnapshot',
  'subvolumeDelete',
  'btrfsSync',
  'setNoCow',
  'freeze',
  'thaw',
  'syncfs',
] as const satisfies readonly (keyof KernelAddon)[];

let addon: KernelAddon | undefined;

/**
 * The addon, loaded on first use. When it cannot be loaded (not built, built for another Node
 * ABI), a FAILED_PRECONDITION that says how to build it: `dolly serve` calls this at start, so a
 * driver without it never starts, rather than failing its first clone.
 */
export function kernelAddon(): KernelAddon {
  if (addon) return addon;
  const howToBuild =
    'build it with `npm ci` (or `npm rebuild`) in the Dolly directory, which needs a C compiler, make, python3 and Node.js headers (on Debian/Ubuntu: apt-get install build-essential python3)';
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `the native addon ${ADDON_PATH} cannot be loaded (${reason}); ${howToBuild}`,
      { cause: error },
    );
  }
  const missing = FUNCTIONS.filter(
    (name) =>
      typeof loaded !== 'object' ||
      loaded === null ||
      typeof (loaded as Record<string, unknown>)[name] !== 'function',
  );
  if (missing.length > 0) {
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `the native addon ${ADDON_PATH} lacks ${missing.join(', ')} (built from other sources); ${howToBuild}`,
    );
  }
  addon = loaded as KernelAddon;
  return addon;
}

/** NAME_MAX: the longest directory entry, in bytes (btrfs's own limits are longer). */
const NAME_MAX_BYTES = 255;

/**
 * Checks a name the btrfs ioctls make or remove inside a directory: one path component. The
 * addon checks again; this gives the person an INVALID_ARGUMENT naming the problem.
 */
export function checkEntryName(name: string): void {
  let why: string | undefined;
  if (name === '') why = 'it is empty';
  else if (name.includes('/')) why = "it contains '/'";
  else if (name === '.' || name === '..') why = `it is '${name}'`;
  else if (name.includes('\0')) why = 'it contains a NUL character';
  else if (Buffer.byteLength(name, 'utf8') > NAME_MAX_BYTES)
    why = `it is longer than ${NAME_MAX_BYTES} bytes`;
  if (why !== undefined) {
    throw new DollyError(Code.INVALID_ARGUMENT, `${JSON.stringify(name)} cannot be a subvolume name: ${why}`);
  }
}

/** Checks a path handed to the addon (which checks again): absolute, no NUL. */
export function checkAbsolutePath(path: string): void {
  if (!isAbsolute(path) || path.includes('\0')) {
    throw new DollyError(Code.INVALID_ARGUMENT, `${JSON.stringify(path)} is not an absolute path`);
  }
}

/** Splits an absolute path into its directory and its last component, checked as a name. */
export function splitEntry(path: string): { dir: string; name: string } {
  checkAbsolutePath(path);
  const name = basename(path);
  checkEntryName(name);
  return { dir: dirname(path), name };
}

/**
 * The DollyError for a failed kernel call: what Dolly was doing, then what the kernel said. A
 * full pool is RESOURCE_EXHAUSTED, as everywhere in Dolly; anything else is unexpected
 * (INTERNAL). The KernelError stays the cause, so callers can still match its errno code.
 */
export function kernelFailure(action: string, error: unknown): DollyError {
  if (error instanceof DollyError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const code = isKernelError(error) && (error.code === 'ENOSPC' || error.code === 'EDQUOT');
  return new DollyError(
    code ? Code.RESOURCE_EXHAUSTED : Code.INTERNAL,
    `${action}: ${code ? 'the pool is out of space: ' : ''}${detail}`,
    { cause: error },
  );
}

/** syncfs(2): writes out everything of the filesystem that holds the directory `path`. */
export async function syncfs(path: string): Promise<void> {
  checkAbsolutePath(path);
  await kernelAddon().syncfs(path);
}
