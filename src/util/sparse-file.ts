import { open } from 'node:fs/promises';
import { internal } from '../errors.js';

/**
 * Creates a sparse file of `sizeBytes` (it occupies no blocks). Fails if it exists. Not fsynced:
 * the caller makes it durable with whatever else it writes (pool/durability.ts).
 */
export async function createSparseFile(path: string, sizeBytes: number): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.truncate(sizeBytes);
  } finally {
    await handle.close();
  }
}

/**
 * Grows a file; the new tail is a hole, so it costs nothing until written. Never shrinks: a
 * file larger than asked means the caller's idea of its size is stale, and truncating it would
 * cut off data (a filesystem grown into the larger image).
 */
export async function growFile(path: string, sizeBytes: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const { size } = await handle.stat();
    if (size > sizeBytes) {
      throw internal(
        `refusing to shrink ${path} from ${size} to ${sizeBytes} bytes: its recorded size is stale; restart the driver to reconcile it`,
      );
    }
    if (size < sizeBytes) await handle.truncate(sizeBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
