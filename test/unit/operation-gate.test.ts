import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { Code, DollyError } from '../../src/errors.js';
import { OperationGate } from '../../src/util/operation-gate.js';
import { isCode } from './assert-code.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (several microtask hops and one macrotask). */
async function settle(): Promise<void> {
  await nextMacrotask();
  await nextMacrotask();
}

const isDeadline = isCode(Code.DEADLINE_EXCEEDED);

/** An operation that records its start, then waits for `release` and returns `value`. */
function controlled<T>(events: string[], label: string, release: Promise<T>) {
  const started = deferred();
  const signals: AbortSignal[] = [];
  let calls = 0;
  const operation = async (signal: AbortSignal): Promise<T> => {
    calls += 1;
    signals.push(signal);
    events.push(`${label} start`);
    started.resolve();
    try {
      return await release;
    } finally {
      events.push(`${label} end`);
    }
  };
  return {
    operation,
    started: started.promise,
    get calls() {
      return calls;
    },
    signals,
  };
}

describe('OperationGate', () => {
  it('runs operations on one key one after the other, in arrival order', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const releaseFirst = deferred<string>();
    const first = controlled(events, 'first', releaseFirst.promise);
    const second = controlled(events, 'second', Promise.resolve('two'));
    const third = controlled(events, 'third', Promise.resolve('three'));

    const p1 = gate.run('vol-a', 'create:1', undefined, first.operation);
    const p2 = gate.run('vol-a', 'delete', undefined, second.operation);
    const p3 = gate.run('vol-a', 'create:2', undefined, third.operation);
    await settle();
    assert.deepEqual(events, ['first start']);
    assert.equal(gate.busyKeys, 1);

    releaseFirst.resolve('one');
    assert.deepEqual(await Promise.all([p1, p2, p3]), ['one', 'two', 'three']);
    assert.deepEqual(events, [
      'first start',
      'first end',
      'second start',
      'second end',
      'third start',
      'third end',
    ]);
  });

  it('runs operations on different keys in parallel', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const releaseA = deferred<string>();
    const releaseB = deferred<string>();
    const a = controlled(events, 'a', releaseA.promise);
    const b = controlled(events, 'b', releaseB.promise);
    const pa = gate.run('vol-a', 'x', undefined, a.operation);
    const pb = gate.run('vol-b', 'x', undefined, b.operation);
    await Promise.all([a.started, b.started]);
    assert.deepEqual(events, ['a start', 'b start']);
    assert.equal(gate.busyKeys, 2);
    releaseB.resolve('B');
    assert.equal(await pb, 'B');
    releaseA.resolve('A');
    assert.equal(await pa, 'A');
    await settle();
    assert.equal(gate.busyKeys, 0);
  });

  it('lets an identical request join a running operation: it runs once and both get its result', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const result = { id: 'vol-a' };
    const release = deferred<typeof result>();
    const op = controlled(events, 'op', release.promise);
    const other = controlled(events, 'other', Promise.resolve({ id: 'wrong' }));
    const p1 = gate.run('vol-a', 'create:same', undefined, op.operation);
    await op.started;
    const p2 = gate.run('vol-a', 'create:same', new AbortController().signal, other.operation);
    release.resolve(result);
    const [r1, r2] = await Promise.all([p1, p2]);
    assert.equal(r1, result);
    assert.equal(r2, result);
    assert.equal(op.calls, 1);
    assert.equal(other.calls, 0);
  });

  it('lets an identical request join a queued operation', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const releaseFirst = deferred<string>();
    const first = controlled(events, 'first', releaseFirst.promise);
    const queued = controlled(events, 'queued', Promise.resolve('queued result'));
    const duplicate = controlled(events, 'duplicate', Promise.resolve('duplicate result'));
    const p1 = gate.run('k', 'A', undefined, first.operation);
    const p2 = gate.run('k', 'B', undefined, queued.operation);
    const p3 = gate.run('k', 'B', undefined, duplicate.operation);
    releaseFirst.resolve('first result');
    assert.deepEqual(await Promise.all([p1, p2, p3]), ['first result', 'queued result', 'queued result']);
    assert.equal(queued.calls, 1);
    assert.equal(duplicate.calls, 0);
    assert.deepEqual(events, ['first start', 'first end', 'queued start', 'queued end']);
  });

  it('runs an identical request again once the earlier one has finished', async () => {
    const gate = new OperationGate();
    let calls = 0;
    const operation = (): Promise<number> => Promise.resolve(++calls);
    assert.equal(await gate.run('k', 'same', undefined, operation), 1);
    await settle();
    assert.equal(await gate.run('k', 'same', undefined, operation), 2);
    await settle();
    assert.equal(await gate.run('k', 'same', new AbortController().signal, operation), 3);
  });

  // BUG: the finished operation stays in `pending` until two promise hops after it settles, but a
  // caller without a signal resumes after one, so a request it sends right away joins the
  // finished operation and gets its old result instead of running (it is neither queued nor
  // running any more). busyKeys is likewise still 1 when that caller resumes.
  it('does not let a request made as soon as the caller has its result join the finished operation', async () => {
    const gate = new OperationGate();
    let calls = 0;
    const operation = (): Promise<number> => Promise.resolve(++calls);
    assert.equal(await gate.run('k', 'same', undefined, operation), 1);
    assert.equal(await gate.run('k', 'same', undefined, operation), 2);
    assert.equal(calls, 2);
  });

  it('rejects with DEADLINE_EXCEEDED, without running anything, when the signal has already fired', async () => {
    const gate = new OperationGate();
    const controller = new AbortController();
    controller.abort();
    let ran = false;
    await assert.rejects(
      async () =>
        gate.run('k', 'x', controller.signal, () => {
          ran = true;
          return Promise.resolve('done');
        }),
      isDeadline,
    );
    await settle();
    assert.equal(ran, false);
    assert.equal(gate.busyKeys, 0);
  });

  it('aborts the operation when its only waiter gives up', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const release = deferred<string>();
    const op = controlled(events, 'op', release.promise);
    const caller = new AbortController();
    const pending = gate.run('k', 'x', caller.signal, op.operation);
    await op.started;
    assert.equal(op.signals[0]?.aborted, false);
    caller.abort();
    await assert.rejects(pending, isDeadline);
    assert.equal(op.signals[0]?.aborted, true);

    // The key stays busy until the aborted operation has actually stopped.
    const next = controlled(events, 'next', Promise.resolve('next result'));
    const after = gate.run('k', 'x', undefined, next.operation);
    await settle();
    assert.equal(next.calls, 0, 'an identical request must not join an aborted operation, nor overtake it');
    release.resolve('late');
    assert.equal(await after, 'next result');
    assert.deepEqual(events, ['op start', 'op end', 'next start', 'next end']);
  });

  it('never starts a queued operation whose only waiter gave up', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const releaseFirst = deferred<string>();
    const first = controlled(events, 'first', releaseFirst.promise);
    const queued = controlled(events, 'queued', Promise.resolve('queued'));
    const p1 = gate.run('k', 'A', undefined, first.operation);
    const caller = new AbortController();
    const p2 = gate.run('k', 'B', caller.signal, queued.operation);
    await first.started;
    caller.abort();
    await assert.rejects(p2, isDeadline);
    releaseFirst.resolve('first');
    assert.equal(await p1, 'first');
    assert.equal(await gate.run('k', 'C', undefined, () => Promise.resolve('third')), 'third');
    assert.equal(queued.calls, 0);
    await settle();
    assert.equal(gate.busyKeys, 0);
  });

  it('keeps running when one of two joined waiters gives up; the other still gets the result', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const release = deferred<string>();
    const op = controlled(events, 'op', release.promise);
    const impatient = new AbortController();
    const patient = new AbortController();
    const p1 = gate.run('k', 'x', impatient.signal, op.operation);
    const p2 = gate.run('k', 'x', patient.signal, op.operation);
    await op.started;
    impatient.abort();
    await assert.rejects(p1, isDeadline);
    assert.equal(op.signals[0]?.aborted, false);
    release.resolve('result');
    assert.equal(await p2, 'result');
    assert.equal(op.calls, 1);
    assert.equal(op.signals[0]?.aborted, false);
  });

  it('aborts a joined operation once every waiter has given up', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const release = deferred<string>();
    const op = controlled(events, 'op', release.promise);
    const one = new AbortController();
    const two = new AbortController();
    const p1 = gate.run('k', 'x', one.signal, op.operation);
    const p2 = gate.run('k', 'x', two.signal, op.operation);
    await op.started;
    one.abort();
    await assert.rejects(p1, isDeadline);
    assert.equal(op.signals[0]?.aborted, false);
    two.abort();
    await assert.rejects(p2, isDeadline);
    assert.equal(op.signals[0]?.aborted, true);
    release.resolve('ignored');
    await settle();
    assert.equal(gate.busyKeys, 0);
  });

  it('gives a failure to every joined caller and does not block the next operation on the key', async () => {
    const gate = new OperationGate();
    const events: string[] = [];
    const release = deferred<string>();
    const op = controlled(events, 'op', release.promise);
    const failure = new DollyError(Code.RESOURCE_EXHAUSTED, 'pool full');
    const p1 = gate.run('k', 'x', undefined, op.operation);
    const p2 = gate.run('k', 'x', new AbortController().signal, op.operation);
    const p3 = gate.run('k', 'x', undefined, op.operation);
    const next = gate.run('k', 'y', undefined, () => Promise.resolve('next'));
    await op.started;
    release.reject(failure);
    for (const pending of [p1, p2, p3]) {
      await assert.rejects(pending, (error: unknown) => {
        assert.equal(error, failure);
        return true;
      });
    }
    assert.equal(op.calls, 1);
    assert.equal(await next, 'next');
    await settle();
    assert.equal(gate.busyKeys, 0);
  });

  it('turns a synchronous throw of the operation into a rejection', async () => {
    const gate = new OperationGate();
    const failure = new Error('boom');
    await assert.rejects(
      gate.run('k', 'x', undefined, () => {
        throw failure;
      }),
      (error: unknown) => error === failure,
    );
    assert.equal(await gate.run('k', 'x', undefined, () => Promise.resolve(1)), 1);
  });

  it('counts busy keys and returns to 0 when everything has settled', async () => {
    const gate = new OperationGate();
    assert.equal(gate.busyKeys, 0);
    const releases = [deferred<number>(), deferred<number>(), deferred<number>()];
    const promises = [
      gate.run('a', '1', undefined, () => releases[0]!.promise),
      gate.run('a', '2', undefined, () => releases[1]!.promise),
      gate.run('b', '1', undefined, () => releases[2]!.promise),
    ];
    assert.equal(gate.busyKeys, 2);
    releases[0]!.resolve(0);
    await promises[0];
    await settle();
    assert.equal(gate.busyKeys, 2, 'key a still has a queued operation');
    releases[1]!.resolve(1);
    releases[2]!.reject(new Error('failed'));
    await promises[1];
    await assert.rejects(promises[2]!, /failed/);
    await settle();
    assert.equal(gate.busyKeys, 0);
  });
});
