import type { IdentityHandlers } from '../generated/csi/v1/Identity.js';
import type { Pool } from '../pool/pool.js';
import { VERSION } from '../version.js';
import type { Rpc } from './rpc.js';

export interface IdentityOptions {
  driverName: string;
  nodeId: string;
  pool: Pool;
}

/**
 * GetPluginInfo's manifest keys. The `dolly` CLI on the same host reads them to find the pool
 * (its catalog of names lives there, and `dolly status` measures the pool's own space).
 */
export const MANIFEST_KEYS = {
  pool: 'dolly.csi.dev/pool',
  node: 'dolly.csi.dev/node',
  /** How the pool copies: reflink or btrfs (src/pool/backends). */
  backend: 'dolly.csi.dev/backend',
} as const;

export function identityService(rpc: Rpc, options: IdentityOptions): IdentityHandlers {
  return {
    GetPluginInfo: rpc('GetPluginInfo', () =>
      Promise.resolve({
        name: options.driverName,
        vendor_version: VERSION,
        manifest: {
          [MANIFEST_KEYS.pool]: options.pool.root,
          [MANIFEST_KEYS.node]: options.nodeId,
          [MANIFEST_KEYS.backend]: options.pool.backend.kind,
        },
      }),
    ),

    GetPluginCapabilities: rpc('GetPluginCapabilities', () =>
      Promise.resolve({
        capabilities: [
          { service: { type: 'CONTROLLER_SERVICE' } },
          { service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } },
          // Volumes grow while staged and published (NodeExpandVolume grows the mounted filesystem).
          { volume_expansion: { type: 'ONLINE' } },
        ],
      }),
    ),

    // Ready only while the pool can serve: FAILED_PRECONDITION (with the reason) otherwise.
    Probe: rpc('Probe', async () => {
      await options.pool.checkHealth();
      return { ready: { value: true } };
    }),
  };
}
