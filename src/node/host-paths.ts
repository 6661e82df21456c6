import { lstat, mkdir, realpath, rmdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, relative } from 'node:path';
import { Code, DollyError, errnoCode, invalidArgument } from '../errors.js';
import { quote } from '../pool/ids.js';

const MAX_PATH_BYTES = 4096;

/**
 * Checks the text of a host path from a request (staging or target path): absolute, already
 * normalized (no `..`, `.` or doubled slashes), not the root. Returns it without a trailing slash.
 */
export function checkHostPathSyntax(path: string, field: string): string {
  if (path === '') throw invalidArgument(`${field} is required`);
  if (path.includes('\0')) throw invalidArgument(`${field} contains a NUL byte`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES)
    throw invalidArgument(`${field} is longer than ${MAX_PATH_BYTES} bytes`);
  if (!isAbsolute(path)) throw invalidArgument(`${field} ${quote(path)} is not an absolute path`);
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  if (normalize(trimmed) !== trimmed) {
    throw invalidArgument(`${field} ${quote(path)} is not a normalized path (no "..", "." or "//")`);
  }
  if (trimmed === '/') throw invalidArgument(`${field} must not be the root directory`);
  return trimmed;
}

/**
 * Resolves a host path the way the kernel will when it mounts there: every symlink followed.
 * A path that does not exist yet (a staging directory the driver is to create) resolves through
 * its longest existing prefix. A dangling symlink on the way is refused: where it points could
 * appear later, anywhere.
 */
export async function resolveHostPath(path: string, field: string): Promise<string> {
  const rest: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...rest.reverse());
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ELOOP') throw invalidArgument(`${field} ${quote(path)} has a symlink loop`);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      if (code === 'ENOENT' && (await isSymlink(current))) {
        throw invalidArgument(`${field} ${quote(path)} passes through ${current}, a symlink to nothing`);
      }
      rest.push(basename(current));
      current = dirname(current);
    }
  }
}

/**
 * Refuses a resolved path inside the pool (a mount there would cover Dolly's own data: volumes,
 * their images, tmp/) or above it (a mount there hides the whole pool). `poolRoot` is resolved too.
 */
export function checkOutsidePool(resolved: string, poolRoot: string, field: string, given: string): void {
  const shown = resolved === given ? quote(given) : `${quote(given)} (which resolves to ${resolved})`;
  const fromPool = relative(poolRoot, resolved);
  if (fromPool === '' || (!fromPool.startsWith('..') && !isAbsolute(fromPool))) {
    throw invalidArgument(`${field} ${shown} is inside the pool ${poolRoot}`);
  }
  if (resolved === '/' || poolRoot.startsWith(`${resolved}/`)) {
    throw invalidArgument(`${field} ${shown} contains the pool ${poolRoot}; a mount there would hide it`);
  }
}

/**
 * The resolved form of an existing absolute path, for lookups (NodeGetVolumeStats,
 * NodeExpandVolume); undefined when there is nothing there to find.
 */
export async function lookupHostPath(path: string): Promise<string | undefined> {
  if (!isAbsolute(path) || path.includes('\0')) return undefined;
  try {
    return await realpath(path);
  } catch (error) {
    if (['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG'].includes(errnoCode(error) ?? '')) return undefined;
    throw error;
  }
}

/**
 * Creates a directory at a resolved path (and any missing parents), then checks that the path
 * still resolves to itself: a symlink swapped in meanwhile would send the mount elsewhere.
 * Returns a function that removes what it created (empty directories only), or undefined when
 * the directory was already there.
 */
export async function makeDirectory(
  resolved: string,
  field: string,
): Promise<(() => Promise<void>) | undefined> {
  let first: string | undefined;
  try {
    first = await mkdir(resolved, { recursive: true, mode: 0o750 });
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw invalidArgument(`${field} ${quote(resolved)} is not a directory (or has a file on its way)`);
    }
    throw error;
  }
  const remove =
    first === undefined
      ? undefined
      : async () => {
          for (let dir = resolved; ; dir = dirname(dir)) {
            await rmdir(dir).catch(() => undefined);
            if (dir === first || dir === '/') break;
          }
        };
  await assertStillResolves(resolved, field, remove);
  return remove;
}

/** Throws (after `undo`) when `resolved` no longer resolves to itself: a symlink was swapped in. */
export async function assertStillResolves(
  resolved: string,
  field: string,
  undo?: () => Promise<void>,
): Promise<void> {
  const now = await realpath(resolved).catch(() => undefined);
  if (now === resolved) return;
  await undo?.();
  throw new DollyError(
    Code.INVALID_ARGUMENT,
    `${field} ${quote(resolved)} changed while the driver was using it (now ${now ?? 'gone'}); a symlink was swapped in`,
  );
}

async function isSymlink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}
