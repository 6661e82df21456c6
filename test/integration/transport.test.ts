import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { csiRoot } from '../../src/csi/proto.js';
import { CsiClient } from '../../src/client/csi-client.js';
import { Driver } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB } from '../helpers/csi.js';

interface RawResponse {
  httpStatus: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  body: Buffer;
}

/**
 * Sends gRPC calls the way grpc-go does over a unix socket, with a chosen :authority, on one
 * HTTP/2 connection (so later calls reuse HPACK dynamic-table entries of earlier ones).
 */
async function rawCalls(socketPath: string, authority: string, paths: string[]): Promise<RawResponse[]> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  try {
    const responses: RawResponse[] = [];
    for (const path of paths) {
      responses.push(
        await new Promise<RawResponse>((resolve, reject) => {
          const stream = session.request({
            ':method': 'POST',
            ':path': path,
            ':authority': authority,
            ':scheme': 'http',
            'content-type': 'application/grpc',
            te: 'trailers',
            'user-agent': 'grpc-go/1.60.0',
          });
          const chunks: Buffer[] = [];
          const result: RawResponse = {
            httpStatus: undefined,
            grpcStatus: undefined,
            grpcMessage: undefined,
            body: Buffer.alloc(0),
          };
          stream.on('response', (headers) => {
            result.httpStatus = headers[':status'];
            result.grpcStatus ??= headers['grpc-status'] as string | undefined;
          });
          stream.on('trailers', (trailers: http2.IncomingHttpHeaders) => {
            result.grpcStatus = trailers['grpc-status'] as string | undefined;
            result.grpcMessage = trailers['grpc-message'] as string | undefined;
          });
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('error', reject);
          stream.on('close', () => {
            if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
              reject(new Error(`stream reset with code ${stream.rstCode}`));
              return;
            }
            result.body = Buffer.concat(chunks);
            resolve(result);
          });
          // An empty protobuf message in one gRPC frame: not compressed, length 0.
          stream.end(Buffer.from([0, 0, 0, 0, 0]));
        }),
      );
    }
    return responses;
  } finally {
    session.close();
  }
}

describe('gRPC transport as grpc-go clients speak it', () => {
  let sandbox: Sandbox;
  let driver: Driver;
  const GetPluginInfoResponse = csiRoot().lookupType('csi.v1.GetPluginInfoResponse');

  before(async () => {
    sandbox = await Sandbox.create('transport');
    const pool = await sandbox.pool('pool', GiB);
    driver = await Driver.start(sandbox, { pool });
  });
  after(async () => sandbox.cleanup());

  for (const [title, authority] of [
    ['`:authority` localhost (grpc-go since 1.x, the kubelet)', () => 'localhost'],
    ['`:authority` the socket path (older grpc-go, csi sidecars)', () => driver.socketPath],
  ] as const) {
    it(title, async () => {
      const responses = await rawCalls(driver.socketPath, authority(), [
        '/csi.v1.Identity/GetPluginInfo',
        '/csi.v1.Identity/Probe',
        '/csi.v1.Identity/GetPluginInfo',
      ]);
      for (const response of responses) {
        assert.equal(response.httpStatus, 200);
        assert.equal(response.grpcStatus, '0', response.grpcMessage);
      }
      const info = GetPluginInfoResponse.toObject(
        GetPluginInfoResponse.decode(responses[2]!.body.subarray(5)),
      ) as {
        name: string;
      };
      assert.equal(info.name, 'dolly.csi.dev');
    });
  }

  it('an unknown method is UNIMPLEMENTED, not a broken connection', async () => {
    const [response] = await rawCalls(driver.socketPath, driver.socketPath, [
      '/csi.v1.Identity/NoSuchMethod',
    ]);
    assert.equal(response?.grpcStatus, String(12));
  });

  it('a grpc-js client with the socket path as default authority works too', async () => {
    const client = new CsiClient(driver.endpoint, { 'grpc.default_authority': driver.socketPath });
    try {
      assert.deepEqual(await client.probe(), { ready: { value: true } });
    } finally {
      client.close();
    }
  });
});
