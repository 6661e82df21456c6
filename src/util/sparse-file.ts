import { open } from 'node:fs/promises';

/** Creates a sparse file of `sizeBytes` (it occupies no blocks) and makes it durable. Fails if it exists. */
export async function createSparseFile(path: string, sizeBytes: number): Promise<void> {
  await truncateDurably(path, 'wx', sizeBytes);
}

/** Grows a file; the new tail is a hole, so it costs nothing until written. */
export async function growFile(path: string, sizeBytes: number): Promise<void> {
  await truncateDurably(path, 'r+', sizeBytes);
}

async function truncateDurably(path: string, flags: 'wx' | 'r+', sizeBytes: number): Promise<void> {
  const handle = await open(path, flags, 0o600);
  try {
    await handle.truncate(sizeBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
