import { mkdir, stat, unlink } from 'node:fs/promises';
import { statIfExists } from '../util/stat-if-exists.js';
import net from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Code, DollyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Pool } from '../pool/pool.js';
import { controllerService } from './controller.js';
import { identityService } from './identity.js';
import { nodeService } from './node.js';
import { NodeEngine } from '../node/engine.js';
import { loadCsi, secretFieldNames } from './proto.js';
import { rpcFactory } from './rpc.js';
import type { RpcObserver } from './rpc.js';
import { LogBudget } from '../util/log-budget.js';
import { ConnectionLimit, refuseConnection } from './transport/connection-limit.js';
import { GuardedConnection, describeClosure } from './transport/guarded-connection.js';
import { LIMITS } from './transport/limits.js';

export const TOPOLOGY_KEY = 'topology.dolly.csi.dev/node';

export interface CsiServerOptions {
  socketPath: string;
  driverName: string;
  /** Where volumes grow: ControllerExpandVolume here, or only NodeExpandVolume (see controller.ts). */
  expansion: 'controller' | 'node';
  nodeId: string;
  pool: Pool;
  log: Logger;
  /** Told of every answered RPC (the metrics), when given. */
  observeRpc?: RpcObserver;
}

/** The gRPC server of the CSI Identity, Controller and Node services, on a unix socket. */
export class CsiServer {
  private constructor(
    private readonly grpcServer: grpc.Server,
    private readonly listener: net.Server,
    private readonly injector: ReturnType<grpc.Server['createConnectionInjector']>,
    readonly socketPath: string,
  ) {}

  static async start(options: CsiServerOptions): Promise<CsiServer> {
    const csi = loadCsi();
    const rpc = rpcFactory(options.log, secretFieldNames(), options.observeRpc);
    const topology = { [TOPOLOGY_KEY]: options.nodeId };

    const grpcServer = new grpc.Server({ 'grpc.max_concurrent_streams': LIMITS.maxConcurrentStreams });
    grpcServer.addService(
      csi.Identity.service,
      identityService(rpc, { driverName: options.driverName, nodeId: options.nodeId, pool: options.pool }),
    );
    grpcServer.addService(
      csi.Controller.service,
      controllerService(rpc, { pool: options.pool, topology, expansion: options.expansion }),
    );
    grpcServer.addService(
      csi.Node.service,
      nodeService(rpc, {
        engine: new NodeEngine(options.pool),
        nodeId: options.nodeId,
        topology,
      }),
    );

    // Connections are accepted here and handed to gRPC through the transport guard (see
    // transport/): the :authority fix for grpc-go clients, and limits on what one connection and
    // all of them together may cost.
    const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const connections = new ConnectionLimit<GuardedConnection>(LIMITS.maxConnections);
    // A client can make these lines at will: a budget keeps it from flooding the log.
    const connectionLog = new LogBudget(20, 10_000);
    const listener = net.createServer((socket) => {
      if (!connections.makeRoom()) {
        connectionLog.spend((suppressed) =>
          options.log.warn(
            { connections: connections.size, suppressed },
            'refused a connection: the connection limit is reached and every connection has a call in progress',
          ),
        );
        refuseConnection(socket, 'too many connections');
        return;
      }
      const connection = new GuardedConnection(socket, {
        onClosedByGuard: (closure) =>
          connectionLog.spend((suppressed) => {
            const fields = { reason: describeClosure(closure), connections: connections.size, suppressed };
            if (closure.code) options.log.warn(fields, 'closed a client connection');
            else options.log.info(fields, 'closed a client connection');
          }),
      });
      connections.add(connection);
      connection.once('close', () => connections.delete(connection));
      injector.injectConnection(connection);
    });
    await prepareSocketPath(options.socketPath);
    await listenRootOnly(listener, options.socketPath);
    return new CsiServer(grpcServer, listener, injector, options.socketPath);
  }

  /** Stops accepting, lets calls in flight finish (up to graceMs), and removes the socket. */
  async stop(graceMs = 10_000): Promise<void> {
    this.listener.close();
    this.injector.drain(graceMs);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, graceMs);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.injector.destroy();
    await unlink(this.socketPath).catch(() => undefined);
  }
}

/** Read and write for the owner (root) only: whoever can connect can create and mount volumes. */
export const SOCKET_MODE = 0o600;

/**
 * Listens on a unix socket that only root can use (0600), from the moment it exists: bind()
 * applies the process umask when it creates the file, and listen() binds synchronously, so a
 * umask of 0177 around it leaves no window in which the socket is open to others.
 */
async function listenRootOnly(listener: net.Server, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    const umask = process.umask(0o177);
    try {
      listener.listen(path, () => {
        listener.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  const mode = (await stat(path)).mode & 0o777;
  if (mode !== SOCKET_MODE) {
    listener.close();
    throw new DollyError(
      Code.INTERNAL,
      `the socket ${path} was created with mode ${mode.toString(8)} instead of ${SOCKET_MODE.toString(8)}`,
    );
  }
}

/** Removes a stale socket left by a crash; refuses to replace anything else or a live server. */
export async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const stats = await statIfExists(path, { followLinks: false });
  if (!stats) return;
  if (!stats.isSocket()) {
    throw new DollyError(
      Code.FAILED_PRECONDITION,
      `${path} exists and is not a socket; remove it or choose another --endpoint`,
    );
  }
  if (await isListening(path)) {
    throw new DollyError(Code.FAILED_PRECONDITION, `another process is already serving on ${path}`);
  }
  await unlink(path);
}

function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
