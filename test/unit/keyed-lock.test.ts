import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { Code } from '../../src/errors.js';
import { KeyedLock } from '../../src/util/keyed-lock.js';
import type { LockMode } from '../../src/util/keyed-lock.js';
import { OperationGate } from '../../src/util/operation-gate.js';
import { growFile } from '../../src/util/sparse-file.js';
import { isCode } from './assert-code.js';

async function settle(): Promise<void> {
  await nextMacrotask();
  await nextMacrotask();
}

const locks = (entries: [string, LockMode][]) => new Map(entries);

/** Acquires and records when the lock was granted; `release()` lets it go. */
function take(
  lock: KeyedLock,
  entries: [string, LockMode][],
  events: string[],
  label: string,
  signal?: AbortSignal,
) {
  let release: (() => void) | undefined;
  const granted = lock.acquire(locks(entries), signal).then((done) => {
    events.push(label);
    release = done;
  });
  return {
    granted,
    release: () => {
      assert.ok(release, `${label} was granted`);
      release();
    },
  };
}

describe('KeyedLock', () => {
  it('grants shared holders together and makes an exclusive one wait for all of them', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const a = take(lock, [['src', 'shared']], events, 'a');
    const b = take(lock, [['src', 'shared']], events, 'b');
    const x = take(lock, [['src', 'exclusive']], events, 'x');
    await settle();
    assert.deepEqual(events, ['a', 'b']);
    a.release();
    await settle();
    assert.deepEqual(events, ['a', 'b'], 'one shared holder is still there');
    b.release();
    await x.granted;
    assert.deepEqual(events, ['a', 'b', 'x']);
    x.release();
    assert.equal(lock.busyKeys, 0);
  });

  it('serves in arrival order: a shared request does not overtake a waiting exclusive one', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const a = take(lock, [['k', 'shared']], events, 'a');
    const x = take(lock, [['k', 'exclusive']], events, 'x');
    const c = take(lock, [['k', 'shared']], events, 'c');
    await settle();
    assert.deepEqual(events, ['a']);
    a.release();
    await x.granted;
    await settle();
    assert.deepEqual(events, ['a', 'x']);
    x.release();
    await c.granted;
    c.release();
    assert.equal(lock.busyKeys, 0);
  });

  it('never deadlocks two operations that take the same keys in opposite roles', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const rounds = Array.from({ length: 50 }, async (_, i) => {
      const mine: [string, LockMode][] =
        i % 2 === 0
          ? [
              ['vol-b', 'exclusive'],
              ['vol-a', 'shared'],
            ]
          : [
              ['vol-a', 'exclusive'],
              ['vol-b', 'shared'],
            ];
      const release = await lock.acquire(locks(mine));
      await settle();
      events.push(String(i));
      release();
    });
    await Promise.all(rounds);
    assert.equal(events.length, 50);
    assert.equal(lock.busyKeys, 0);
  });

  it('a waiter that gives up leaves the queue, releases what it held and unblocks the ones behind it', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const a = take(lock, [['k', 'shared']], events, 'a');
    const controller = new AbortController();
    // Holds 'j' exclusive, then waits behind 'a' for 'k' exclusive.
    const x = take(
      lock,
      [
        ['j', 'exclusive'],
        ['k', 'exclusive'],
      ],
      events,
      'x',
      controller.signal,
    );
    await settle();
    const c = take(lock, [['k', 'shared']], events, 'c');
    const d = take(lock, [['j', 'shared']], events, 'd');
    await settle();
    assert.deepEqual(events, ['a'], 'c waits behind x for k; d waits for x to let go of j');
    controller.abort();
    await assert.rejects(x.granted, isCode(Code.DEADLINE_EXCEEDED));
    await Promise.all([c.granted, d.granted]);
    assert.deepEqual(events.sort(), ['a', 'c', 'd']);
    a.release();
    c.release();
    d.release();
    assert.equal(lock.busyKeys, 0);
  });
});

describe('OperationGate with shared keys', () => {
  it('runs copies of one source together, and a change of the source waits for them', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    let finishCopies!: () => void;
    const copiesMayFinish = new Promise<void>((resolve) => (finishCopies = resolve));
    const copy = (target: string) =>
      gate.run(
        target,
        'copy',
        undefined,
        async () => {
          events.push(`${target} start`);
          await copiesMayFinish;
          events.push(`${target} end`);
        },
        ['source'],
      );
    const copies = [copy('clone-1'), copy('clone-2')];
    const expansion = gate.run('source', 'expand', undefined, () => {
      events.push('expand');
      return Promise.resolve();
    });
    await settle();
    assert.deepEqual(events, ['clone-1 start', 'clone-2 start']);
    finishCopies();
    await Promise.all([...copies, expansion]);
    assert.equal(events.at(-1), 'expand');
    assert.equal(gate.busyKeys, 0);
  });
});

describe('growFile', () => {
  it('grows a file and refuses to shrink one, leaving it as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dolly-grow-'));
    try {
      const file = join(dir, 'disk.img');
      await writeFile(file, Buffer.alloc(8192, 7));
      await growFile(file, 16384);
      assert.equal((await stat(file)).size, 16384);
      await assert.rejects(growFile(file, 4096), /refusing to shrink/);
      assert.equal((await stat(file)).size, 16384);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
