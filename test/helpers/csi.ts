import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import type { VolumeCapability } from '../../src/generated/csi/v1/VolumeCapability.js';

export { status };

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const mountCapability = (fsType = 'ext4'): VolumeCapability[] => [
  { access_mode: { mode: 'SINGLE_NODE_WRITER' }, mount: { fs_type: fsType } },
];
export const blockCapability = (): VolumeCapability[] => [
  { access_mode: { mode: 'SINGLE_NODE_WRITER' }, block: {} },
];

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && 'code' in error && typeof error.code === 'number';
}

/** Asserts that a call fails with exactly this gRPC code (and a message matching `pattern`). */
export async function expectCode(
  call: Promise<unknown>,
  code: status,
  pattern?: RegExp,
): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    assert.ok(isServiceError(error), `expected a gRPC error, got ${String(error)}`);
    assert.equal(
      error.code,
      code,
      `expected ${status[code]} but got ${status[error.code]}: ${error.details}`,
    );
    assert.ok(error.details.length > 0, 'the error has a message');
    if (pattern) assert.match(error.details, pattern);
    return error;
  }
  assert.fail(`expected ${status[code]}, but the call succeeded`);
}

/** Writes `length` bytes of a seeded pattern at `offset` into an image file. */
export async function writePattern(
  path: string,
  offset: number,
  length: number,
  seed: string,
): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    let written = 0;
    let counter = 0;
    while (written < length) {
      const block = createHash('sha512').update(`${seed}:${counter++}`).digest();
      const chunk = Buffer.alloc(Math.min(MiB, length - written));
      for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
      await handle.write(chunk, 0, chunk.length, offset + written);
      written += chunk.length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** SHA-256 of a whole file (or of its first `length` bytes). */
export async function hashFile(path: string, length?: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const size = length ?? (await handle.stat()).size;
    const buffer = Buffer.alloc(4 * MiB);
    for (let position = 0; position < size;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}
