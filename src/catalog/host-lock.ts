import { createHash } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode } from '../errors.js';

/**
 * Locks shared by every `dolly` process on this host: a listening abstract unix socket per key.
 * The kernel releases it when the process dies, so a killed command never leaves a stale lock.
 * Keys are taken in sorted order, so two commands locking the same keys cannot deadlock.
 */
export class HostLockTimeout extends Error {}

export interface HostLocks {
  release(): Promise<void>;
}

async function tryListen(name: string): Promise<net.Server | undefined> {
  const server = net.createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (error) => (errnoCode(error) === 'EADDRINUSE' ? resolve(undefined) : reject(error)));
    server.listen(name, () => {
      server.unref();
      resolve(server);
    });
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Takes every key (waiting while another process holds one) and returns their release.
 * `scope` separates unrelated sets of keys (one catalog from another).
 */
export async function lockKeys(
  scope: string,
  keys: readonly string[],
  options: { timeoutMs?: number; onWait?: (key: string) => void } = {},
): Promise<HostLocks> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const held: net.Server[] = [];
  try {
    for (const key of [...new Set(keys)].sort()) {
      const digest = createHash('sha256').update(`${scope}\0${key}`).digest('hex').slice(0, 40);
      let waited = false;
      for (;;) {
        const server = await tryListen(`\0dolly-cli-${digest}`);
        if (server) {
          held.push(server);
          break;
        }
        if (!waited) options.onWait?.(key);
        waited = true;
        if (Date.now() > deadline) {
          throw new HostLockTimeout(
            `another dolly command is still working on ${key}; try again when it has finished`,
          );
        }
        await sleep(25);
      }
    }
  } catch (error) {
    await Promise.all(held.map(close));
    throw error;
  }
  return { release: async () => void (await Promise.all(held.map(close))) };
}
