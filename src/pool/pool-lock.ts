import { createHash } from 'node:crypto';
import net from 'node:net';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Code, DollyError, errnoCode } from '../errors.js';

export interface PoolLock {
  release(): Promise<void>;
}

/**
 * One driver per pool: a second one would empty tmp/ under the first one's feet. The lock is a
 * listening abstract unix socket named after the pool directory: the kernel releases it when
 * the process dies, so a crash never leaves a stale lock behind.
 */
export async function lockPool(dir: string): Promise<PoolLock> {
  // The same directory reached through a symlink must take the same lock.
  const path = await realpath(dir).catch(() => resolve(dir));
  const digest = createHash('sha256').update(path).digest('hex').slice(0, 32);
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((done, fail) => {
    server.once('error', (error) => {
      if (errnoCode(error) === 'EADDRINUSE') {
        fail(
          new DollyError(Code.FAILED_PRECONDITION, `another Dolly process is already using the pool ${path}`),
        );
      } else {
        fail(error);
      }
    });
    server.listen(`\0dolly-pool-${digest}`, () => done());
  });
  server.unref();
  return {
    release: () => new Promise<void>((done) => server.close(() => done())),
  };
}
