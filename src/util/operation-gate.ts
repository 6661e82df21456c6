import { deadlineError, throwIfAborted } from './deadline.js';
import { KeyedLock } from './keyed-lock.js';
import type { LockMode } from './keyed-lock.js';

interface PendingOperation {
  fingerprint: string;
  promise: Promise<unknown>;
  controller: AbortController;
  /** Callers still waiting for the result; when the last one gives up, the operation is aborted. */
  waiters: number;
}

/**
 * Serializes operations per key (a volume or snapshot ID) with no global lock: operations on
 * different keys run in parallel. An operation holds its own key exclusively and may hold
 * others shared: the source it copies, which must not change meanwhile. A request identical
 * to one already queued or running (same key, same fingerprint) joins it and gets its result,
 * instead of failing or running twice. An operation is aborted only when every caller waiting
 * for it has gone (deadline or cancel).
 */
export class OperationGate {
  private readonly locks = new KeyedLock();
  private readonly pending = new Map<string, PendingOperation[]>();

  async run<T>(
    key: string,
    fingerprint: string,
    signal: AbortSignal | undefined,
    operation: (signal: AbortSignal) => Promise<T>,
    sharedKeys: readonly string[] = [],
  ): Promise<T> {
    throwIfAborted(signal);
    const joined = this.pending
      .get(key)
      ?.find((candidate) => candidate.fingerprint === fingerprint && !candidate.controller.signal.aborted);
    // A joined operation has the same key and fingerprint, hence the same operation and result type.
    return this.wait<T>(joined ?? this.enqueue(key, fingerprint, operation, sharedKeys), signal);
  }

  /** Number of keys held or waited for (for tests and metrics). */
  get busyKeys(): number {
    return this.locks.busyKeys;
  }

  private enqueue<T>(
    key: string,
    fingerprint: string,
    operation: (signal: AbortSignal) => Promise<T>,
    sharedKeys: readonly string[],
  ): PendingOperation {
    const controller = new AbortController();
    const modes = new Map<string, LockMode>(sharedKeys.map((shared) => [shared, 'shared']));
    modes.set(key, 'exclusive');
    const promise = this.locks.acquire(modes, controller.signal).then(async (release) => {
      try {
        throwIfAborted(controller.signal);
        return await operation(controller.signal);
      } finally {
        release();
      }
    });
    const entry: PendingOperation = { fingerprint, promise, controller, waiters: 0 };
    const list = this.pending.get(key) ?? [];
    list.push(entry);
    this.pending.set(key, list);

    // Cleanup runs in the first reaction to the settled operation, so that no request arriving
    // after a caller has its result can join the finished operation.
    const cleanup = (): void => {
      const remaining = (this.pending.get(key) ?? []).filter((candidate) => candidate !== entry);
      if (remaining.length > 0) this.pending.set(key, remaining);
      else this.pending.delete(key);
    };
    promise.then(cleanup, cleanup);
    return entry;
  }

  private wait<T>(entry: PendingOperation, signal: AbortSignal | undefined): Promise<T> {
    entry.waiters += 1;
    const result = entry.promise as Promise<T>;
    if (!signal) return result;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        entry.waiters -= 1;
        if (entry.waiters === 0) entry.controller.abort();
        reject(deadlineError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      result.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}
