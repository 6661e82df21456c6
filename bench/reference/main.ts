/**
 * The reference driver's process: `node main.js <socket path> <state dir>`. Serves Identity and
 * the Controller's CreateVolume, DeleteVolume and ControllerGetCapabilities on a unix socket
 * (every other RPC is UNIMPLEMENTED), prints "serving" when it listens, stops on SIGTERM.
 */
import { mkdir, unlink } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { loadCsi } from '../../src/csi/proto.js';
import { HostpathReference, ReferenceError } from './hostpath.js';

const [socketPath, stateDir] = process.argv.slice(2);
if (socketPath === undefined || stateDir === undefined) {
  process.stderr.write('usage: main.js <socket path> <state dir>\n');
  process.exit(2);
}
await mkdir(stateDir, { recursive: true, mode: 0o750 });
const reference = new HostpathReference(stateDir, 'bench-node');

/** A unary handler that runs under the driver's mutex and maps errors to their gRPC codes. */
function unary<Request, Response>(
  work: (request: Request) => Promise<Response>,
): grpc.handleUnaryCall<Request, Response> {
  return (call, callback) => {
    reference
      .serialized(() => work(call.request))
      .then(
        (response) => callback(null, response),
        (error: unknown) =>
          callback({
            code: error instanceof ReferenceError ? error.code : grpc.status.INTERNAL,
            details: error instanceof Error ? error.message : String(error),
          }),
      );
  };
}

const csi = loadCsi();
const server = new grpc.Server();
server.addService(csi.Identity.service, {
  GetPluginInfo: unary(() =>
    Promise.resolve({ name: 'hostpath.csi.k8s.io', vendor_version: 'bench-reference' }),
  ),
  GetPluginCapabilities: unary(() =>
    Promise.resolve({ capabilities: [{ service: { type: 'CONTROLLER_SERVICE' } }] }),
  ),
  Probe: unary(() => Promise.resolve({ ready: { value: true } })),
});
server.addService(csi.Controller.service, {
  CreateVolume: unary(reference.createVolume.bind(reference)),
  DeleteVolume: unary(async (request: Parameters<HostpathReference['deleteVolume']>[0]) => {
    await reference.deleteVolume(request);
    return {};
  }),
  ControllerGetCapabilities: unary(() =>
    Promise.resolve({
      capabilities: ['CREATE_DELETE_VOLUME', 'CLONE_VOLUME'].map((type) => ({ rpc: { type } })),
    }),
  ),
});

await unlink(socketPath).catch(() => undefined);
await new Promise<void>((resolve, reject) =>
  server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) =>
    error ? reject(error) : resolve(),
  ),
);
process.stdout.write('serving\n');
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
