import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Pool } from '../pool/pool.js';
import type { ListenAddress } from './address.js';
import { formatHostPort } from './address.js';
import { Code, DollyError } from '../errors.js';
import type { DriverMetrics } from './metrics.js';

/**
 * The driver's plain-HTTP port: GET /metrics for Prometheus, GET /healthz for the container's
 * probes (200 while the pool can serve requests, 503 with the reason otherwise).
 */
export class MetricsServer {
  private constructor(
    private readonly server: http.Server,
    /** host:port actually bound (the kernel's choice when the port was 0). */
    readonly address: string,
  ) {}

  static async start(
    listen: ListenAddress,
    options: { metrics: DriverMetrics; pool: Pool; log: Logger },
  ): Promise<MetricsServer> {
    const { metrics, pool, log } = options;
    const server = http.createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const send = (status: number, type: string, body: string): void => {
        response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : body);
      };
      if (path !== '/metrics' && path !== '/healthz') {
        send(404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.setHeader('Allow', 'GET, HEAD');
        send(405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
        return;
      }
      if (path === '/healthz') {
        pool.checkHealth().then(
          () => send(200, 'text/plain; charset=utf-8', 'ok\n'),
          (error: unknown) => send(503, 'text/plain; charset=utf-8', `${errorMessage(error)}\n`),
        );
        return;
      }
      metrics.registry.metrics().then(
        (text) => send(200, metrics.registry.contentType, text),
        (error: unknown) => {
          log.error({ error: errorMessage(error) }, 'could not collect metrics');
          send(500, 'text/plain; charset=utf-8', `could not collect metrics: ${errorMessage(error)}\n`);
        },
      );
    });
    // Scrapes and probes are small: a slow or idle client gets little of the driver's time.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 50;

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: listen.host, port: listen.port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      const where = listen.host === undefined ? `:${listen.port}` : formatHostPort(listen.host, listen.port);
      throw new DollyError(
        Code.FAILED_PRECONDITION,
        `cannot serve metrics on ${where}: ${errorMessage(error)}`,
      );
    });
    server.on('error', (error) => log.error({ error: errorMessage(error) }, 'metrics server error'));
    const bound = server.address() as AddressInfo;
    return new MetricsServer(server, formatHostPort(bound.address, bound.port));
  }

  /** Stops listening and closes every connection, idle or not: the driver is going away. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
