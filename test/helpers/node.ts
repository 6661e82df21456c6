import { mkdir } from 'node:fs/promises';
import type { CsiClient } from '../../src/client/csi-client.js';
import type { VolumeCapability } from '../../src/generated/csi/v1/VolumeCapability.js';
import type { Sandbox } from './sandbox.js';

/** Stages a volume at `staging-<label>` and publishes it at `target-<label>` in the sandbox, as the kubelet does. */
export async function stageAndPublish(
  client: CsiClient,
  sandbox: Sandbox,
  id: string,
  volume_capability: VolumeCapability,
  label: string,
): Promise<{ staging: string; target: string }> {
  return stageAndPublishAt(
    client,
    id,
    volume_capability,
    sandbox.path(`staging-${label}`),
    sandbox.path(`target-${label}`),
  );
}

/** NodeStageVolume at `staging` (made here, as the kubelet makes it) + NodePublishVolume at `target`. */
export async function stageAndPublishAt(
  client: CsiClient,
  id: string,
  volume_capability: VolumeCapability,
  staging: string,
  target: string,
): Promise<{ staging: string; target: string }> {
  await mkdir(staging);
  await client.nodeStageVolume({ volume_id: id, staging_target_path: staging, volume_capability });
  await client.nodePublishVolume({
    volume_id: id,
    staging_target_path: staging,
    target_path: target,
    volume_capability,
    readonly: false,
  });
  return { staging, target };
}
