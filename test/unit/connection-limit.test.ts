import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLimit, pickVictim } from '../../src/csi/transport/connection-limit.js';
import type { LimitedConnection } from '../../src/csi/transport/connection-limit.js';

class FakeConnection implements LimitedConnection {
  evictedFor: string | undefined;

  constructor(
    readonly name: string,
    readonly requestCount: number,
    readonly openStreamCount: number,
    readonly idleSinceMs: number,
  ) {}

  evict(reason: string): void {
    this.evictedFor = reason;
  }
}

describe('pickVictim', () => {
  const sidecar = new FakeConnection('sidecar', 3, 0, 1_000);
  const busy = new FakeConnection('busy', 9, 2, 0);
  const neverAsked = new FakeConnection('never asked', 0, 0, 5_000);
  const silent = new FakeConnection('silent', 0, 0, 9_000);

  it('never picks a connection with a stream open', () => {
    assert.equal(pickVictim([busy]), undefined);
    assert.equal(pickVictim([busy, sidecar])?.name, 'sidecar');
  });

  it('picks a connection that never sent a request first, the oldest of them', () => {
    assert.equal(pickVictim([sidecar, silent, neverAsked, busy])?.name, 'never asked');
    assert.equal(pickVictim([sidecar, silent, busy])?.name, 'silent');
  });

  it('among equals, picks the one idle the longest', () => {
    const older = new FakeConnection('older', 1, 0, 500);
    const newer = new FakeConnection('newer', 1, 0, 800);
    assert.equal(pickVictim([newer, sidecar, older])?.name, 'older');
  });
});

describe('ConnectionLimit', () => {
  it('admits up to the limit, then evicts the idlest, and refuses when every connection is busy', () => {
    const limit = new ConnectionLimit<FakeConnection>(2);
    const first = new FakeConnection('first', 1, 0, 100);
    const second = new FakeConnection('second', 1, 1, 50);
    assert.equal(limit.makeRoom(), true);
    limit.add(first);
    assert.equal(limit.makeRoom(), true);
    limit.add(second);
    assert.equal(first.evictedFor, undefined);

    assert.equal(limit.makeRoom(), true, 'room is made by evicting the idle connection');
    assert.match(first.evictedFor ?? '', /connection limit \(2\)/);
    assert.equal(second.evictedFor, undefined, 'a connection with a call in progress stays');
    assert.equal(limit.size, 1);

    limit.add(new FakeConnection('third', 1, 1, 200));
    assert.equal(limit.makeRoom(), false, 'every connection has a stream open');
    limit.delete(second);
    assert.equal(limit.makeRoom(), true);
  });
});
