/**
 * A re-implementation, for the benchmark only, of what the CSI hostpath driver
 * (kubernetes-csi/csi-driver-host-path) does on disk for CreateVolume, DeleteVolume and a clone,
 * served over the same gRPC stack as Dolly (grpc-js on a unix socket) so that the rates compare
 * the drivers' work, not their RPC libraries. The hostpath driver itself is Go and cannot be
 * built here. What it follows (file references in that repository):
 *
 * - pkg/hostpath/hostpath.go: one mutex serializes every call that touches the state; a
 *   filesystem volume is a directory `<state dir>/<volume id>` (os.MkdirAll, 0777); a block
 *   volume a file made with `fallocate -l <N>M` (the driver also attaches it to a loop device
 *   there: left out, as the rates use filesystem volumes); delete is os.RemoveAll of it;
 *   loadFromVolume copies a clone's source: `cp -a <src>/. <dst>/` for a filesystem volume
 *   (nothing when the source is empty), `dd if=<src> of=<dst>` for a block volume.
 * - pkg/hostpath/controllerserver.go (CreateVolume): name and capabilities checked, an existing
 *   volume of the same name answered as it is, a new volume ID from a UUID, the volume made and
 *   recorded, then its content copied and the record updated with its parent.
 * - pkg/state/state.go: every change rewrites the whole state.json with os.WriteFile (truncate
 *   and write in place, no fsync, no rename): fast, and not crash-safe.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { run } from '../../src/host/exec.js';
import type { CreateVolumeRequest__Output } from '../../src/generated/csi/v1/CreateVolumeRequest.js';
import type { CreateVolumeResponse } from '../../src/generated/csi/v1/CreateVolumeResponse.js';
import type { DeleteVolumeRequest__Output } from '../../src/generated/csi/v1/DeleteVolumeRequest.js';

const MiB = 1024 * 1024;
const MAX_VOLUME_BYTES = 1024 ** 4;

interface StateVolume {
  VolName: string;
  VolID: string;
  VolSize: number;
  VolPath: string;
  VolAccessType: 0 | 1;
  ParentVolID: string;
}

export class ReferenceError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** hostpath's hostPath type: the state (state.json) and the calls that change it. */
export class HostpathReference {
  private volumes: StateVolume[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly stateDir: string,
    readonly nodeId: string,
  ) {}

  /** hostPath.mutex: one call at a time touches the state. */
  serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private dump(): Promise<void> {
    return writeFile(
      join(this.stateDir, 'state.json'),
      JSON.stringify({ Volumes: this.volumes, Snapshots: [] }),
      {
        mode: 0o600,
      },
    );
  }

  private async updateVolume(volume: StateVolume): Promise<void> {
    const index = this.volumes.findIndex((existing) => existing.VolID === volume.VolID);
    if (index >= 0) this.volumes[index] = volume;
    else this.volumes.push(volume);
    await this.dump();
  }

  async createVolume(request: CreateVolumeRequest__Output): Promise<CreateVolumeResponse> {
    if (!request.name) throw new ReferenceError(grpc.status.INVALID_ARGUMENT, 'Name missing in request');
    if (request.volume_capabilities.length === 0)
      throw new ReferenceError(grpc.status.INVALID_ARGUMENT, 'Volume Capabilities missing in request');
    const block = request.volume_capabilities.some((capability) => capability.block);
    const mount = request.volume_capabilities.some((capability) => capability.mount);
    if (block && mount)
      throw new ReferenceError(grpc.status.INVALID_ARGUMENT, 'cannot have both block and mount access type');
    const capacity = Number(request.capacity_range?.required_bytes ?? 0);
    if (capacity > MAX_VOLUME_BYTES)
      throw new ReferenceError(
        grpc.status.OUT_OF_RANGE,
        `Requested capacity ${capacity} exceeds maximum allowed`,
      );
    const source = request.volume_content_source?.volume?.volume_id;

    const existing = this.volumes.find((volume) => volume.VolName === request.name);
    if (existing) {
      if (existing.VolSize < capacity)
        throw new ReferenceError(
          grpc.status.ALREADY_EXISTS,
          'Volume with the same name but with different size already exist',
        );
      if (source !== undefined && existing.ParentVolID !== source)
        throw new ReferenceError(grpc.status.ALREADY_EXISTS, 'existing volume source volume id not matching');
      return this.response(existing, request);
    }

    const id = randomUUID();
    const path = join(this.stateDir, id);
    if (block) await run('fallocate', ['-l', `${Math.floor(capacity / MiB)}M`, path]);
    else await mkdir(path, { recursive: true, mode: 0o777 });
    const volume: StateVolume = {
      VolName: request.name,
      VolID: id,
      VolSize: capacity,
      VolPath: path,
      VolAccessType: block ? 1 : 0,
      ParentVolID: '',
    };
    await this.updateVolume(volume);

    if (source !== undefined) {
      try {
        const parent = this.volumes.find((candidate) => candidate.VolID === source);
        if (!parent)
          throw new ReferenceError(
            grpc.status.NOT_FOUND,
            `volume id ${source} does not exist in the volumes list`,
          );
        if (parent.VolSize > capacity)
          throw new ReferenceError(
            grpc.status.INVALID_ARGUMENT,
            `volume ${source} size is greater than requested volume size`,
          );
        if (parent.VolAccessType !== volume.VolAccessType)
          throw new ReferenceError(
            grpc.status.INVALID_ARGUMENT,
            `volume ${source} mode is not compatible with requested mode`,
          );
        if (block) await run('dd', [`if=${parent.VolPath}`, `of=${path}`], { timeoutMs: 3_600_000 });
        else if ((await readdir(parent.VolPath)).length > 0)
          await run('cp', ['-a', `${parent.VolPath}/.`, `${path}/`], { timeoutMs: 3_600_000 });
      } catch (error) {
        await this.deleteVolumeNow(id);
        throw error;
      }
      volume.ParentVolID = source;
      await this.updateVolume(volume);
    }
    return this.response(volume, request);
  }

  private response(volume: StateVolume, request: CreateVolumeRequest__Output): CreateVolumeResponse {
    return {
      volume: {
        volume_id: volume.VolID,
        capacity_bytes: volume.VolSize,
        volume_context: request.parameters,
        content_source: request.volume_content_source,
        accessible_topology: [{ segments: { 'topology.hostpath.csi/node': this.nodeId } }],
      },
    };
  }

  async deleteVolume(request: DeleteVolumeRequest__Output): Promise<void> {
    if (!request.volume_id)
      throw new ReferenceError(grpc.status.INVALID_ARGUMENT, 'Volume ID missing in request');
    await this.deleteVolumeNow(request.volume_id);
  }

  private async deleteVolumeNow(id: string): Promise<void> {
    const index = this.volumes.findIndex((volume) => volume.VolID === id);
    if (index < 0) return;
    await rm(join(this.stateDir, id), { recursive: true, force: true });
    this.volumes.splice(index, 1);
    await this.dump();
  }
}
