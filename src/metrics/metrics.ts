import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { codeName } from '../errors.js';
import type { Pool } from '../pool/pool.js';
import { VERSION } from '../version.js';
import type { PoolUsage } from './pool-usage.js';
import { measurePoolUsage } from './pool-usage.js';

/**
 * RPC latencies run from a fraction of a millisecond (Probe, a reflink of a small image) to
 * seconds (a clone of a fragmented image, a freeze of a busy filesystem); the top buckets catch
 * calls that run into the sidecars' deadlines.
 */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** What a CreateVolume or CreateSnapshot call did, by its request; undefined for other RPCs. */
export type Operation = 'create' | 'clone' | 'restore' | 'snapshot';

export function operationOf(method: string, request: unknown): Operation | undefined {
  if (method === 'CreateSnapshot') return 'snapshot';
  if (method !== 'CreateVolume') return undefined;
  const source =
    typeof request === 'object' && request !== null
      ? (request as { volume_content_source?: unknown }).volume_content_source
      : undefined;
  if (typeof source !== 'object' || source === null) return 'create';
  const { volume, snapshot } = source as { volume?: unknown; snapshot?: unknown };
  if (volume) return 'clone';
  if (snapshot) return 'restore';
  return 'create';
}

/**
 * Dolly's Prometheus metrics, on a registry of their own (not prom-client's global one). RPCs
 * are observed as they finish; the pool gauges are measured when Prometheus scrapes.
 */
export class DriverMetrics {
  readonly registry = new Registry();
  private readonly rpcs: Counter<'method' | 'code'>;
  private readonly rpcDuration: Histogram<'method' | 'code'>;
  private readonly operations: Counter<'operation' | 'code'>;
  private readonly operationDuration: Histogram<'operation' | 'code'>;
  private usageInFlight: Promise<PoolUsage> | undefined;

  constructor(pool: Pool) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'dolly_build_info',
      help: 'Always 1; the version label is the running driver version.',
      labelNames: ['version'],
      registers,
    }).set({ version: VERSION }, 1);
    this.rpcs = new Counter({
      name: 'dolly_rpc_requests_total',
      help: 'CSI RPCs answered, by method and gRPC status code.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.rpcDuration = new Histogram({
      name: 'dolly_rpc_duration_seconds',
      help: 'Time from a CSI RPC arriving to its answer, by method and gRPC status code.',
      labelNames: ['method', 'code'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.operations = new Counter({
      name: 'dolly_operations_total',
      help: 'CreateVolume calls by what they asked for (create: empty, clone: from a volume, restore: from a snapshot) and CreateSnapshot calls (snapshot), by gRPC status code. An idempotent repeat counts again.',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.operationDuration = new Histogram({
      name: 'dolly_operation_duration_seconds',
      help: 'Duration of the calls counted in dolly_operations_total, by operation and gRPC status code.',
      labelNames: ['operation', 'code'],
      buckets: DURATION_BUCKETS,
      registers,
    });

    // One measurement per scrape serves every pool gauge: the collect callbacks run together.
    const usage = (): Promise<PoolUsage> => {
      this.usageInFlight ??= measurePoolUsage(pool).finally(() => (this.usageInFlight = undefined));
      return this.usageInFlight;
    };
    const poolGauge = (name: string, help: string, read: (usage: PoolUsage) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(read(await usage()));
        },
      });
    };
    poolGauge('dolly_pool_size_bytes', 'Size of the pool filesystem.', (u) => u.sizeBytes);
    poolGauge(
      'dolly_pool_used_bytes',
      'Bytes used on the pool filesystem (blocks in use, its own metadata included).',
      (u) => u.usedBytes,
    );
    poolGauge(
      'dolly_pool_available_bytes',
      'Bytes new data can still take (for an embedded pool, also bounded by the host filesystem).',
      (u) => u.availableBytes,
    );
    poolGauge(
      'dolly_pool_images_allocated_bytes',
      'Allocated bytes of all volume and snapshot images, each counted in full (a reflinked block once per image).',
      (u) => u.imagesAllocatedBytes,
    );
    poolGauge(
      'dolly_pool_shared_bytes',
      'Lower bound of the bytes reflinks save: dolly_pool_images_allocated_bytes - dolly_pool_used_bytes, at least 0. ' +
        "The pool's own metadata counts as used, so this is low by that much (about 1.5% of a fresh XFS pool).",
      (u) => u.sharedBytes,
    );
    poolGauge('dolly_volumes', 'Volumes in the pool.', (u) => u.volumes);
    poolGauge('dolly_snapshots', 'Snapshots in the pool.', (u) => u.snapshots);
  }

  /** Called once per RPC as it is answered: one counter and one histogram (two more for a copy). */
  observeRpc(method: string, request: unknown, code: number, seconds: number): void {
    const labels = { method, code: codeName(code) };
    this.rpcs.inc(labels);
    this.rpcDuration.observe(labels, seconds);
    const operation = operationOf(method, request);
    if (operation) {
      const operationLabels = { operation, code: labels.code };
      this.operations.inc(operationLabels);
      this.operationDuration.observe(operationLabels, seconds);
    }
  }
}
