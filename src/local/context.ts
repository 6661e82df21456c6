import { dirname, isAbsolute, join } from 'node:path';
import { CsiClient } from '../client/csi-client.js';
import { MANIFEST_KEYS } from '../csi/identity.js';
import { Catalog } from '../catalog/catalog.js';
import { csiFailure, UserError } from './errors.js';

/**
 * A connection to the driver on this host and what the `dolly` command needs to know of it:
 * its name, node and pool (from GetPluginInfo), its capabilities, and the catalog of names kept
 * in the pool. Every operation goes through the CSI client: the API Kubernetes uses.
 */
export class LocalContext {
  private constructor(
    readonly client: CsiClient,
    readonly socketPath: string,
    readonly driverName: string,
    readonly driverVersion: string,
    readonly nodeId: string,
    readonly poolRoot: string,
    /** How the pool copies (reflink or btrfs); "unknown" from a driver that does not say. */
    readonly backend: string,
    readonly catalog: Catalog,
    /** Controller capabilities the driver advertises (CREATE_DELETE_VOLUME, EXPAND_VOLUME, …). */
    readonly controllerCapabilities: ReadonlySet<string>,
  ) {}

  static async connect(socketPath: string): Promise<LocalContext> {
    const client = new CsiClient(`unix://${socketPath}`);
    try {
      const info = await client.getPluginInfo({ timeoutMs: 10_000 }).catch((error: unknown) => {
        throw csiFailure(error, 'asking the driver who it is', socketPath);
      });
      const poolRoot = info.manifest[MANIFEST_KEYS.pool];
      const nodeId = info.manifest[MANIFEST_KEYS.node];
      if (poolRoot === undefined || nodeId === undefined || !isAbsolute(poolRoot)) {
        throw new UserError(
          `the driver at ${socketPath} (${info.name} ${info.vendor_version}) does not say where its pool is; it is not a Dolly driver this command can work with`,
        );
      }
      const capabilities = await client.controllerGetCapabilities({ timeoutMs: 10_000 });
      const controller = new Set(
        capabilities.capabilities
          .map((capability) => capability.rpc?.type)
          .filter((type) => type !== undefined),
      );
      const catalog = await Catalog.open(join(poolRoot, 'catalog'));
      return new LocalContext(
        client,
        socketPath,
        info.name,
        info.vendor_version,
        nodeId,
        poolRoot,
        info.manifest[MANIFEST_KEYS.backend] ?? 'unknown',
        catalog,
        controller,
      );
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** Where volumes are staged for `dolly volume mount`: beside the socket (/run/dolly/staging). */
  get stagingRoot(): string {
    return join(dirname(this.socketPath), 'staging');
  }

  /** Called with the duration of each CreateVolume and CreateSnapshot (the demo's timings). */
  observeCopy: (rpc: 'CreateVolume' | 'CreateSnapshot', milliseconds: number) => void = () => undefined;

  /** Runs one CSI call and reports how long the driver took to `observeCopy`. */
  async timed<T>(rpc: 'CreateVolume' | 'CreateSnapshot', call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await call();
    this.observeCopy(rpc, performance.now() - started);
    return result;
  }

  fail(error: unknown, doing: string): UserError {
    return csiFailure(error, doing, this.socketPath);
  }

  close(): void {
    this.client.close();
  }
}
