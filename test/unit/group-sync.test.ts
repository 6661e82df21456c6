import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupSync } from '../../src/util/group-sync.js';

/** A sync function whose calls the test finishes by hand, recording when each began. */
function controlledSync() {
  const calls: { path: string; finish: (error?: Error) => void }[] = [];
  const sync = (path: string) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ path, finish: (error) => (error ? reject(error) : resolve()) });
    });
  return { calls, sync };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupSync: shared fsyncs', () => {
  it('one caller: one sync', async () => {
    const { calls, sync } = controlledSync();
    const group = new GroupSync(sync);
    const done = group.sync('/d');
    assert.equal(calls.length, 1);
    calls[0]!.finish();
    await done;
  });

  it('callers during a running sync share one next sync, which starts only after the running one', async () => {
    const { calls, sync } = controlledSync();
    const group = new GroupSync(sync);
    const settled: number[] = [];
    const first = group.sync('/d').then(() => settled.push(0));
    const later = [1, 2, 3, 4].map((index) => group.sync('/d').then(() => settled.push(index)));
    await tick();
    assert.equal(calls.length, 1, 'nothing new starts while one runs');
    calls[0]!.finish();
    await first;
    await tick();
    assert.deepEqual(settled, [0], 'the later callers wait for a sync that began after them');
    assert.equal(calls.length, 2, 'one shared next sync');
    calls[1]!.finish();
    await Promise.all(later);
    assert.deepEqual(settled.sort(), [0, 1, 2, 3, 4]);
  });

  it('paths are independent; a failure reaches exactly the callers of that sync', async () => {
    const { calls, sync } = controlledSync();
    const group = new GroupSync(sync);
    const a = group.sync('/a');
    const b = group.sync('/b');
    assert.deepEqual(
      calls.map((call) => call.path),
      ['/a', '/b'],
    );
    const aNext = group.sync('/a');
    calls[0]!.finish(new Error('EIO'));
    await assert.rejects(a, /EIO/);
    await tick();
    assert.equal(calls.length, 3, 'the queued sync still runs after a failed one');
    calls[2]!.finish();
    await aNext;
    calls[1]!.finish();
    await b;
    // Nothing left running: a new caller starts at once.
    void group.sync('/a');
    assert.equal(calls.length, 4);
    calls[3]!.finish();
  });
});
