import assert from 'node:assert/strict';
import { once } from 'node:events';
import { statfs, access } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Driver, startExpectingFailure } from '../helpers/driver.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
import { GiB, MiB, expectCode, mountCapability, status, writePattern } from '../helpers/csi.js';
import { parsePrometheusText, sumOf, valueOf } from '../helpers/prometheus.js';
import type { Sample } from '../helpers/prometheus.js';
import { imageOf } from '../helpers/pool-paths.js';

describe('metrics and health over HTTP (--metrics-address)', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  let pool: string;
  let base: string;

  before(async () => {
    sandbox = await Sandbox.create('metrics');
    pool = await sandbox.pool('pool', 4 * GiB);
    // Port 0: the kernel picks a free port and the driver logs it, so parallel runs never collide.
    driver = await Driver.start(sandbox, { pool, args: ['--metrics-address', '127.0.0.1:0'] });
    const serving = await driver.waitForLog((line) => line.msg === 'dolly is serving CSI');
    assert.equal(typeof serving.metrics, 'string', 'the start-up line names the metrics URL');
    const url = new URL(serving.metrics as string);
    assert.equal(url.hostname, '127.0.0.1');
    assert.notEqual(url.port, '0');
    base = url.origin;
  });
  after(async () => sandbox.cleanup());

  const scrape = async (): Promise<Sample[]> => {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(await response.text());
  };
  const image = (id: string) => imageOf(pool, 'volumes', id);

  it('counts real RPCs by method and code, copies by operation, and measures the pool', async () => {
    const before = await scrape();
    assert.equal(valueOf(before, 'dolly_volumes'), 0);
    assert.equal(valueOf(before, 'dolly_snapshots'), 0);

    const dataBytes = 128 * MiB;
    const { volume: source } = await driver.client.createVolume({
      name: 'metrics-source',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: dataBytes },
    });
    await writePattern(image(source!.volume_id), 0, dataBytes, 'metrics');
    await driver.client.createVolume({
      name: 'metrics-clone',
      volume_capabilities: mountCapability(),
      volume_content_source: { volume: { volume_id: source!.volume_id } },
    });
    const { snapshot } = await driver.client.createSnapshot({
      name: 'metrics-snap',
      source_volume_id: source!.volume_id,
    });
    await driver.client.createVolume({
      name: 'metrics-restore',
      volume_capabilities: mountCapability(),
      volume_content_source: { snapshot: { snapshot_id: snapshot!.snapshot_id } },
    });
    await expectCode(
      driver.client.createVolume({
        name: 'metrics-restore-missing',
        volume_capabilities: mountCapability(),
        volume_content_source: { snapshot: { snapshot_id: `snap-${'0'.repeat(32)}` } },
      }),
      status.NOT_FOUND,
    );

    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);

    // Exactly the five calls made, and nothing else.
    assert.equal(moved('dolly_rpc_requests_total'), 5);
    assert.equal(moved('dolly_rpc_requests_total', { method: 'CreateVolume', code: 'OK' }), 3);
    assert.equal(moved('dolly_rpc_requests_total', { method: 'CreateVolume', code: 'NOT_FOUND' }), 1);
    assert.equal(moved('dolly_rpc_requests_total', { method: 'CreateSnapshot', code: 'OK' }), 1);
    assert.equal(moved('dolly_rpc_duration_seconds_count'), 5);
    assert.equal(moved('dolly_rpc_duration_seconds_count', { method: 'CreateVolume', code: 'OK' }), 3);
    assert.equal(moved('dolly_rpc_duration_seconds_count', { method: 'CreateVolume', code: 'NOT_FOUND' }), 1);
    assert.equal(moved('dolly_rpc_duration_seconds_bucket', { method: 'CreateVolume', le: '+Inf' }), 4);
    assert.ok(moved('dolly_rpc_duration_seconds_sum') > 0, 'durations are recorded');

    for (const [operation, code, count] of [
      ['create', 'OK', 1],
      ['clone', 'OK', 1],
      ['snapshot', 'OK', 1],
      ['restore', 'OK', 1],
      ['restore', 'NOT_FOUND', 1],
    ] as const) {
      assert.equal(moved('dolly_operations_total', { operation, code }), count, `${operation} ${code}`);
      assert.equal(moved('dolly_operation_duration_seconds_count', { operation, code }), count);
    }
    assert.equal(moved('dolly_operations_total'), 5);

    // The pool, as the filesystem itself reports it.
    assert.equal(valueOf(after, 'dolly_volumes'), 3);
    assert.equal(valueOf(after, 'dolly_snapshots'), 1);
    const fs = await statfs(pool);
    const size = valueOf(after, 'dolly_pool_size_bytes');
    const used = valueOf(after, 'dolly_pool_used_bytes');
    assert.equal(size, fs.blocks * fs.bsize);
    assert.ok(used > dataBytes, `used ${used} holds the ${dataBytes} bytes written`);
    assert.ok(size > used, `size ${size} > used ${used}`);
    assert.ok(valueOf(after, 'dolly_pool_available_bytes') <= size - used);
    // Four images hold the 128 MiB each (source, clone, snapshot, restore), stored once.
    const allocated = valueOf(after, 'dolly_pool_images_allocated_bytes');
    const shared = valueOf(after, 'dolly_pool_shared_bytes');
    assert.ok(allocated >= 4 * dataBytes, `allocated ${allocated}`);
    assert.equal(shared, Math.max(0, allocated - used));
    assert.ok(shared >= 2 * dataBytes, `shared ${shared}: at least two of the three copies are free`);

    assert.equal(
      valueOf(after, 'dolly_build_info', { version: (await import('../../src/version.js')).VERSION }),
      1,
    );
  });

  it('answers /healthz 200 while the pool is usable and 503 with the reason when it is not', async () => {
    const healthy = await fetch(`${base}/healthz`);
    assert.equal(healthy.status, 200);
    assert.equal(await healthy.text(), 'ok\n');

    await sh('mount', ['-o', 'remount,ro', pool]);
    try {
      await assert.rejects(access(join(pool, 'volumes'), 2), 'the pool is read-only now');
      const sick = await fetch(`${base}/healthz`);
      assert.equal(sick.status, 503);
      assert.match(await sick.text(), /the pool at .* is not usable: .*read-only/i);
    } finally {
      await sh('mount', ['-o', 'remount,rw', pool]);
    }
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  it('answers other paths 404 and other methods 405', async () => {
    assert.equal((await fetch(`${base}/`)).status, 404);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('refuses a bad address or a taken port at start-up, before serving CSI', async () => {
    const bad = await startExpectingFailure(sandbox, {
      pool,
      socketPath: sandbox.path('bad.sock'),
      args: ['--metrics-address', '9808'],
    });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--metrics-address "9808" has no port; write \[host\]:port/);

    const taken = net.createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as net.AddressInfo;
    try {
      // The pool is the running driver's: use a second one, so the pool lock is not the failure.
      const other = await sandbox.pool('other', 512 * MiB);
      const result = await startExpectingFailure(sandbox, {
        pool: other,
        socketPath: sandbox.path('taken.sock'),
        args: ['--metrics-address', `127.0.0.1:${port}`],
      });
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
      await assert.rejects(access(sandbox.path('taken.sock')), 'no CSI socket was created');
    } finally {
      taken.close();
    }
  });

  // A server left listening would keep the driver alive: the timeout turns that hang into a failure.
  it('stops serving HTTP when the driver stops', { timeout: 60_000 }, async () => {
    assert.equal(await driver.stop(), 0);
    await assert.rejects(fetch(`${base}/healthz`));
  });
});
