import { lstat, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { errnoCode } from '../errors.js';

/** stat(2), or undefined when nothing is at the path; other errors still throw. */
export async function statIfExists(
  path: string,
  options: { followLinks?: boolean } = {},
): Promise<Stats | undefined> {
  try {
    return options.followLinks === false ? await lstat(path) : await stat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

export async function exists(path: string): Promise<boolean> {
  return (await statIfExists(path)) !== undefined;
}
