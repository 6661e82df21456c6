import { isAbsolute, normalize, relative } from 'node:path';
import { invalidArgument } from '../errors.js';
import { quote } from '../pool/ids.js';

const MAX_PATH_BYTES = 4096;

/**
 * Checks a host path from a request (staging or target path): absolute, already normalized (no
 * `..`, `.` or doubled slashes), not the root, and not inside the pool, so that no request can
 * mount over Dolly's own data or make the driver act on a path it did not mean.
 */
export function validateHostPath(path: string, field: string, poolRoot: string): string {
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
  const fromPool = relative(poolRoot, trimmed);
  if (fromPool === '' || (!fromPool.startsWith('..') && !isAbsolute(fromPool))) {
    throw invalidArgument(`${field} ${quote(path)} is inside the pool ${poolRoot}`);
  }
  return trimmed;
}
