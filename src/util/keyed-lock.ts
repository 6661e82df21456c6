import { deadlineError, throwIfAborted } from './deadline.js';

export type LockMode = 'exclusive' | 'shared';

interface Waiter {
  mode: LockMode;
  grant: () => void;
}

interface KeyState {
  exclusive: boolean;
  shared: number;
  /** First come, first served: a shared request does not overtake a waiting exclusive one. */
  queue: Waiter[];
}

function compatible(state: KeyState, mode: LockMode): boolean {
  return mode === 'shared' ? !state.exclusive : !state.exclusive && state.shared === 0;
}

function take(state: KeyState, mode: LockMode): void {
  if (mode === 'exclusive') state.exclusive = true;
  else state.shared += 1;
}

/**
 * Readers-writer locks by key, taken several at a time. An operation that copies an object
 * holds it shared (many clones of one source run together), one that changes it holds it
 * exclusive (an expansion waits for the copies in progress and they wait for it). Keys are
 * always acquired in one global order, so two operations can never wait for each other.
 */
export class KeyedLock {
  private readonly keys = new Map<string, KeyState>();

  /** Resolves, once every key is held, with the function that releases them all. */
  async acquire(requests: ReadonlyMap<string, LockMode>, signal?: AbortSignal): Promise<() => void> {
    const ordered = [...requests].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const held: [string, LockMode][] = [];
    const releaseAll = (): void => {
      for (const [key, mode] of held.reverse()) this.release(key, mode);
      held.length = 0;
    };
    try {
      for (const [key, mode] of ordered) {
        // Keys free now are taken at once, without yielding, so requests are served in arrival order.
        const queued = this.acquireOne(key, mode, signal);
        if (queued) await queued;
        held.push([key, mode]);
      }
    } catch (error) {
      releaseAll();
      throw error;
    }
    return releaseAll;
  }

  /** Keys held or waited for (for tests and metrics). */
  get busyKeys(): number {
    return this.keys.size;
  }

  /** Takes the key now (undefined), or queues for it (the promise of the grant). */
  private acquireOne(
    key: string,
    mode: LockMode,
    signal: AbortSignal | undefined,
  ): Promise<void> | undefined {
    throwIfAborted(signal);
    let state = this.keys.get(key);
    if (!state) {
      state = { exclusive: false, shared: 0, queue: [] };
      this.keys.set(key, state);
    }
    if (state.queue.length === 0 && compatible(state, mode)) {
      take(state, mode);
      return undefined;
    }
    const queued = state;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = queued.queue.indexOf(waiter);
        if (index >= 0) queued.queue.splice(index, 1);
        // The one that gave up may have been holding back compatible requests behind it.
        this.pump(key, queued);
        reject(deadlineError());
      };
      const waiter: Waiter = {
        mode,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queued.queue.push(waiter);
    });
  }

  private release(key: string, mode: LockMode): void {
    const state = this.keys.get(key);
    if (!state) return;
    if (mode === 'exclusive') state.exclusive = false;
    else state.shared -= 1;
    this.pump(key, state);
  }

  private pump(key: string, state: KeyState): void {
    for (let next = state.queue[0]; next && compatible(state, next.mode); next = state.queue[0]) {
      state.queue.shift();
      take(state, next.mode);
      next.grant();
    }
    if (!state.exclusive && state.shared === 0 && state.queue.length === 0) this.keys.delete(key);
  }
}
