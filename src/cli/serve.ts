import { hostname } from 'node:os';
import { CsiServer, prepareSocketPath } from '../csi/server.js';
import { socketPathOf } from '../csi/endpoint.js';
import { createLogger, engineLog } from '../log.js';
import { parseListenAddress } from '../metrics/address.js';
import type { ListenAddress } from '../metrics/address.js';
import type { MetricsServer } from '../metrics/http-server.js';
import type { DriverMetrics } from '../metrics/metrics.js';
import type { LogFormat, LogLevel, Logger } from '../log.js';
import { NODE_ID } from '../pool/ids.js';
import { Pool } from '../pool/pool.js';
import { lockPool } from '../pool/pool-lock.js';
import { EMBEDDED_FILESYSTEMS, preparePool } from '../pool/prepare.js';
import type { EmbeddedFs } from '../pool/prepare.js';
import { formatSize, parseSize } from '../pool/sizes.js';
import { VERSION } from '../version.js';
import { Code, DollyError } from '../errors.js';
import { describeMissingTools, missingHostTools } from '../host/tools.js';
import { kernelAddon } from '../host/kernel.js';

export const DEFAULTS = {
  endpoint: 'unix:///run/dolly/csi.sock',
  pool: '/var/lib/dolly',
  poolSize: '10G',
  embeddedFs: EMBEDDED_FILESYSTEMS[0],
  driverName: 'dolly.csi.dev',
  expansion: 'controller',
} as const;

export const EXPANSION_MODES = ['controller', 'node'] as const;
export type ExpansionMode = (typeof EXPANSION_MODES)[number];

export interface ServeOptions {
  endpoint: string;
  pool: string;
  poolSize: string;
  embeddedFs: EmbeddedFs;
  nodeId: string | undefined;
  driverName: string;
  logFormat: LogFormat | undefined;
  logLevel: LogLevel;
  expansion: ExpansionMode;
  /** [host]:port of the /metrics and /healthz HTTP server; undefined: none. */
  metricsAddress: string | undefined;
}

/** CSI driver names are DNS-like: at most 63 characters, alphanumerics, '-', '.'. */
const DRIVER_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$/;

export async function serve(options: ServeOptions): Promise<void> {
  const log = await createLogger({ format: options.logFormat, level: options.logLevel });
  if (!DRIVER_NAME.test(options.driverName)) {
    throw new DollyError(
      Code.INVALID_ARGUMENT,
      `--driver-name ${JSON.stringify(options.driverName)} is not a valid CSI driver name (DNS-like, at most 63 characters)`,
    );
  }
  const nodeId = options.nodeId ?? hostname();
  // The node ID becomes a topology segment (a Kubernetes label value) and part of every ID.
  if (!NODE_ID.test(nodeId)) {
    throw new DollyError(
      Code.INVALID_ARGUMENT,
      `node ID ${JSON.stringify(nodeId)} cannot be a topology label value (at most 63 characters: letters, digits, '-', '_', '.'); set --node-id`,
    );
  }
  // Fail at start, not at the first NodeStage, when the image or host lacks a tool.
  const missingTools = await missingHostTools(process.env['PATH']);
  if (missingTools.length > 0)
    throw new DollyError(Code.FAILED_PRECONDITION, describeMissingTools(missingTools));
  // The same for the native addon the kernel calls go through: no silent fallback.
  kernelAddon();
  const socketPath = socketPathOf(options.endpoint);
  const embeddedSizeBytes = parseSize(options.poolSize);
  const metricsListen =
    options.metricsAddress === undefined ? undefined : parseListenAddress(options.metricsAddress);
  // Before touching the pool: a second driver on a live socket must change nothing.
  await prepareSocketPath(socketPath);
  const lock = await lockPool(options.pool);

  const prepared = await preparePool({
    dir: options.pool,
    embeddedSizeBytes,
    embeddedFs: options.embeddedFs,
    log: engineLog(log),
  });
  const pool = await Pool.open(prepared, engineLog(log), nodeId);
  const stats = await pool.stats();
  // Metrics first: a port already taken is a start-up error, before the CSI socket exists.
  const started = metricsListen && (await startMetrics(metricsListen, pool, log));
  const metrics = started?.metrics;
  const metricsServer = started?.server;
  const server = await CsiServer.start({
    socketPath,
    driverName: options.driverName,
    nodeId,
    pool,
    log,
    expansion: options.expansion,
    observeRpc: metrics && ((...args) => metrics.observeRpc(...args)),
  });
  log.info(
    {
      version: VERSION,
      endpoint: `unix://${socketPath}`,
      driver: options.driverName,
      node: nodeId,
      pool: prepared.root,
      poolKind: prepared.kind,
      poolFs: prepared.fsType,
      backend: pool.backend.kind,
      durability: pool.durability.scope,
      poolSize: formatSize(stats.totalBytes),
      poolAvailable: formatSize(stats.availableBytes),
      expansion: options.expansion,
      ...(metricsServer && { metrics: `http://${metricsServer.address}/metrics` }),
    },
    'dolly is serving CSI',
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'stopping');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      server.stop().then(resolve, (error: unknown) => {
        log.error({ error: String(error) }, 'error while stopping');
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await metricsServer?.stop();
  await lock.release();
  log.info('stopped');
}

/**
 * The metrics and their HTTP port. prom-client and the server are loaded only here: a driver
 * without --metrics-address does not keep them in memory.
 */
async function startMetrics(
  listen: ListenAddress,
  pool: Pool,
  log: Logger,
): Promise<{ metrics: DriverMetrics; server: MetricsServer }> {
  const { DriverMetrics } = await import('../metrics/metrics.js');
  const { MetricsServer } = await import('../metrics/http-server.js');
  const metrics = new DriverMetrics(pool);
  return { metrics, server: await MetricsServer.start(listen, { metrics, pool, log }) };
}
