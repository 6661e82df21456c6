import * as grpc from '@grpc/grpc-js';
import type { ControllerClient } from '../generated/csi/v1/Controller.js';
import type { ControllerExpandVolumeRequest } from '../generated/csi/v1/ControllerExpandVolumeRequest.js';
import type { ControllerExpandVolumeResponse__Output } from '../generated/csi/v1/ControllerExpandVolumeResponse.js';
import type { ControllerGetCapabilitiesResponse__Output } from '../generated/csi/v1/ControllerGetCapabilitiesResponse.js';
import type { ControllerGetVolumeRequest } from '../generated/csi/v1/ControllerGetVolumeRequest.js';
import type { ControllerGetVolumeResponse__Output } from '../generated/csi/v1/ControllerGetVolumeResponse.js';
import type { CreateSnapshotRequest } from '../generated/csi/v1/CreateSnapshotRequest.js';
import type { CreateSnapshotResponse__Output } from '../generated/csi/v1/CreateSnapshotResponse.js';
import type { DeleteSnapshotRequest } from '../generated/csi/v1/DeleteSnapshotRequest.js';
import type { ListSnapshotsRequest } from '../generated/csi/v1/ListSnapshotsRequest.js';
import type { ListSnapshotsResponse__Output } from '../generated/csi/v1/ListSnapshotsResponse.js';
import type { CreateVolumeRequest } from '../generated/csi/v1/CreateVolumeRequest.js';
import type { CreateVolumeResponse__Output } from '../generated/csi/v1/CreateVolumeResponse.js';
import type { DeleteVolumeRequest } from '../generated/csi/v1/DeleteVolumeRequest.js';
import type { DeleteVolumeResponse__Output } from '../generated/csi/v1/DeleteVolumeResponse.js';
import type { GetCapacityRequest } from '../generated/csi/v1/GetCapacityRequest.js';
import type { GetCapacityResponse__Output } from '../generated/csi/v1/GetCapacityResponse.js';
import type { GetPluginCapabilitiesResponse__Output } from '../generated/csi/v1/GetPluginCapabilitiesResponse.js';
import type { GetPluginInfoResponse__Output } from '../generated/csi/v1/GetPluginInfoResponse.js';
import type { IdentityClient } from '../generated/csi/v1/Identity.js';
import type { ListVolumesRequest } from '../generated/csi/v1/ListVolumesRequest.js';
import type { ListVolumesResponse__Output } from '../generated/csi/v1/ListVolumesResponse.js';
import type { ProbeResponse__Output } from '../generated/csi/v1/ProbeResponse.js';
import type { ValidateVolumeCapabilitiesRequest } from '../generated/csi/v1/ValidateVolumeCapabilitiesRequest.js';
import type { ValidateVolumeCapabilitiesResponse__Output } from '../generated/csi/v1/ValidateVolumeCapabilitiesResponse.js';
import type { NodeClient } from '../generated/csi/v1/Node.js';
import type { NodeExpandVolumeRequest } from '../generated/csi/v1/NodeExpandVolumeRequest.js';
import type { NodeExpandVolumeResponse__Output } from '../generated/csi/v1/NodeExpandVolumeResponse.js';
import type { NodeGetCapabilitiesResponse__Output } from '../generated/csi/v1/NodeGetCapabilitiesResponse.js';
import type { NodeGetInfoResponse__Output } from '../generated/csi/v1/NodeGetInfoResponse.js';
import type { NodeGetVolumeStatsRequest } from '../generated/csi/v1/NodeGetVolumeStatsRequest.js';
import type { NodeGetVolumeStatsResponse__Output } from '../generated/csi/v1/NodeGetVolumeStatsResponse.js';
import type { NodePublishVolumeRequest } from '../generated/csi/v1/NodePublishVolumeRequest.js';
import type { NodeStageVolumeRequest } from '../generated/csi/v1/NodeStageVolumeRequest.js';
import type { NodeUnpublishVolumeRequest } from '../generated/csi/v1/NodeUnpublishVolumeRequest.js';
import type { NodeUnstageVolumeRequest } from '../generated/csi/v1/NodeUnstageVolumeRequest.js';
import { loadCsi } from '../csi/proto.js';

export interface CallOptions {
  /** Milliseconds until the call's deadline. */
  timeoutMs?: number;
}

/**
 * A promise-based CSI client over a unix socket, for the CLI and the tests: the same wire
 * protocol the kubelet and the sidecars speak.
 */
export class CsiClient {
  readonly identity: IdentityClient;
  readonly controller: ControllerClient;
  readonly node: NodeClient;

  constructor(endpoint: string, channelOptions: grpc.ChannelOptions = {}) {
    const csi = loadCsi();
    const credentials = grpc.credentials.createInsecure();
    this.identity = new csi.Identity(endpoint, credentials, channelOptions);
    this.controller = new csi.Controller(endpoint, credentials, channelOptions);
    this.node = new csi.Node(endpoint, credentials, channelOptions);
  }

  close(): void {
    this.identity.close();
    this.controller.close();
    this.node.close();
  }

  getPluginInfo(options?: CallOptions): Promise<GetPluginInfoResponse__Output> {
    return unary((o, cb) => this.identity.GetPluginInfo({}, o, cb), options);
  }
  getPluginCapabilities(options?: CallOptions): Promise<GetPluginCapabilitiesResponse__Output> {
    return unary((o, cb) => this.identity.GetPluginCapabilities({}, o, cb), options);
  }
  probe(options?: CallOptions): Promise<ProbeResponse__Output> {
    return unary((o, cb) => this.identity.Probe({}, o, cb), options);
  }

  createVolume(request: CreateVolumeRequest, options?: CallOptions): Promise<CreateVolumeResponse__Output> {
    return unary((o, cb) => this.controller.CreateVolume(request, o, cb), options);
  }
  deleteVolume(request: DeleteVolumeRequest, options?: CallOptions): Promise<DeleteVolumeResponse__Output> {
    return unary((o, cb) => this.controller.DeleteVolume(request, o, cb), options);
  }
  validateVolumeCapabilities(
    request: ValidateVolumeCapabilitiesRequest,
    options?: CallOptions,
  ): Promise<ValidateVolumeCapabilitiesResponse__Output> {
    return unary((o, cb) => this.controller.ValidateVolumeCapabilities(request, o, cb), options);
  }
  listVolumes(request: ListVolumesRequest, options?: CallOptions): Promise<ListVolumesResponse__Output> {
    return unary((o, cb) => this.controller.ListVolumes(request, o, cb), options);
  }
  getCapacity(request: GetCapacityRequest, options?: CallOptions): Promise<GetCapacityResponse__Output> {
    return unary((o, cb) => this.controller.GetCapacity(request, o, cb), options);
  }
  controllerGetCapabilities(options?: CallOptions): Promise<ControllerGetCapabilitiesResponse__Output> {
    return unary((o, cb) => this.controller.ControllerGetCapabilities({}, o, cb), options);
  }
  createSnapshot(
    request: CreateSnapshotRequest,
    options?: CallOptions,
  ): Promise<CreateSnapshotResponse__Output> {
    return unary((o, cb) => this.controller.CreateSnapshot(request, o, cb), options);
  }
  deleteSnapshot(request: DeleteSnapshotRequest, options?: CallOptions): Promise<object> {
    return unary((o, cb) => this.controller.DeleteSnapshot(request, o, cb), options);
  }
  listSnapshots(
    request: ListSnapshotsRequest,
    options?: CallOptions,
  ): Promise<ListSnapshotsResponse__Output> {
    return unary((o, cb) => this.controller.ListSnapshots(request, o, cb), options);
  }
  controllerExpandVolume(
    request: ControllerExpandVolumeRequest,
    options?: CallOptions,
  ): Promise<ControllerExpandVolumeResponse__Output> {
    return unary((o, cb) => this.controller.ControllerExpandVolume(request, o, cb), options);
  }
  controllerGetVolume(
    request: ControllerGetVolumeRequest,
    options?: CallOptions,
  ): Promise<ControllerGetVolumeResponse__Output> {
    return unary((o, cb) => this.controller.ControllerGetVolume(request, o, cb), options);
  }

  nodeGetCapabilities(options?: CallOptions): Promise<NodeGetCapabilitiesResponse__Output> {
    return unary((o, cb) => this.node.NodeGetCapabilities({}, o, cb), options);
  }
  nodeGetInfo(options?: CallOptions): Promise<NodeGetInfoResponse__Output> {
    return unary((o, cb) => this.node.NodeGetInfo({}, o, cb), options);
  }
  nodeStageVolume(request: NodeStageVolumeRequest, options?: CallOptions): Promise<object> {
    return unary((o, cb) => this.node.NodeStageVolume(request, o, cb), options);
  }
  nodeUnstageVolume(request: NodeUnstageVolumeRequest, options?: CallOptions): Promise<object> {
    return unary((o, cb) => this.node.NodeUnstageVolume(request, o, cb), options);
  }
  nodePublishVolume(request: NodePublishVolumeRequest, options?: CallOptions): Promise<object> {
    return unary((o, cb) => this.node.NodePublishVolume(request, o, cb), options);
  }
  nodeUnpublishVolume(request: NodeUnpublishVolumeRequest, options?: CallOptions): Promise<object> {
    return unary((o, cb) => this.node.NodeUnpublishVolume(request, o, cb), options);
  }
  nodeGetVolumeStats(
    request: NodeGetVolumeStatsRequest,
    options?: CallOptions,
  ): Promise<NodeGetVolumeStatsResponse__Output> {
    return unary((o, cb) => this.node.NodeGetVolumeStats(request, o, cb), options);
  }
  nodeExpandVolume(
    request: NodeExpandVolumeRequest,
    options?: CallOptions,
  ): Promise<NodeExpandVolumeResponse__Output> {
    return unary((o, cb) => this.node.NodeExpandVolume(request, o, cb), options);
  }
}

function unary<Response>(
  start: (options: grpc.CallOptions, callback: grpc.requestCallback<Response>) => grpc.ClientUnaryCall,
  options: CallOptions = {},
): Promise<Response> {
  const callOptions: grpc.CallOptions = {};
  if (options.timeoutMs !== undefined) callOptions.deadline = Date.now() + options.timeoutMs;
  return new Promise((resolve, reject) => {
    start(callOptions, (error, response) => {
      if (error) reject(error);
      else if (response === undefined) reject(new Error('empty response'));
      else resolve(response);
    });
  });
}
