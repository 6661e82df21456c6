import type { IdentityHandlers } from '../generated/csi/v1/Identity.js';
import type { Pool } from '../pool/pool.js';
import { VERSION } from '../version.js';
import type { Rpc } from './rpc.js';

export interface IdentityOptions {
  driverName: string;
  pool: Pool;
}

export function identityService(rpc: Rpc, options: IdentityOptions): IdentityHandlers {
  return {
    GetPluginInfo: rpc('GetPluginInfo', () =>
      Promise.resolve({ name: options.driverName, vendor_version: VERSION, manifest: {} }),
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
