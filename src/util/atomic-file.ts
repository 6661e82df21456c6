import { open, rename } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** fsyncs a file or directory: for a directory, a rename or create inside it then survives a crash. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a file so that a crash leaves either the old content or the new one, never a torn
 * file: write a temporary file, fsync it, rename it over the target, fsync the directory. The
 * temporary file is a sibling, or lives in `workDir` (same filesystem) when given, so that a
 * crash leaves it where it is cleared at the next start rather than beside the target.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
  workDir = dirname(path),
): Promise<void> {
  const temporary = join(workDir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await fsyncPath(dirname(path));
}
