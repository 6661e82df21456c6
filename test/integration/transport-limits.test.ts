import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CsiClient } from '../../src/client/csi-client.js';
import { Driver } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';
import { GiB } from '../helpers/csi.js';
import {
  CONTINUATION,
  DATA,
  HANDSHAKE,
  HEADERS,
  PREFACE,
  RawHttp2Connection,
  frame,
  frameHeader,
  grpcRequestBlock,
  headerBlockFrames,
  hpackInteger,
  hpackLiteral,
  probeOverHttp2,
} from '../helpers/raw-http2.js';

/** HTTP/2 error codes (RFC 9113 §7). */
const NO_ERROR = 0x0;
const INTERNAL_ERROR = 0x2;
const FRAME_SIZE_ERROR = 0x6;
const ENHANCE_YOUR_CALM = 0xb;

const MAX_CONNECTIONS = 256;

/** A fresh connection and a Probe on it: the driver still serves everyone else. */
async function probeOnNewConnection(driver: Driver): Promise<void> {
  const client = new CsiClient(driver.endpoint);
  try {
    assert.deepEqual(await client.probe(), { ready: { value: true } });
  } finally {
    client.close();
  }
}

/** Asserts that the driver closed the connection after a GOAWAY with `code`, at a frame boundary. */
async function assertClosedWith(connection: RawHttp2Connection, code: number, reason: RegExp): Promise<void> {
  assert.equal(await connection.waitForClose(), true, 'the driver closes the connection');
  const goaway = connection.goaway();
  assert.ok(goaway, 'the driver sent GOAWAY');
  assert.equal(goaway.code, code, `GOAWAY code ${goaway.code} (${goaway.reason})`);
  assert.match(goaway.reason, reason);
}

describe('transport limits: one client cannot exhaust or stall the driver', () => {
  let sandbox: Sandbox;
  let driver: Driver;

  before(async () => {
    sandbox = await Sandbox.create('transport-limits');
    const pool = await sandbox.pool('pool', GiB);
    driver = await Driver.start(sandbox, { pool });
  });
  after(async () => sandbox.cleanup());

  it('a CONTINUATION flood without END_HEADERS: GOAWAY ENHANCE_YOUR_CALM at 64 KiB of header block', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    await connection.send(frame(HEADERS, 0, 1, grpcRequestBlock('/csi.v1.Identity/Probe')));
    const continuation = frame(CONTINUATION, 0, 1, Buffer.alloc(16_384, 0x40));
    const sent = await connection.flood(() => continuation, 256 * 1024 * 1024);
    assert.ok(sent < 256 * 1024 * 1024, `the flood was cut short (${sent} bytes went out)`);
    await assertClosedWith(connection, ENHANCE_YOUR_CALM, /header block larger than 65536 bytes/);
    await probeOnNewConnection(driver);
  });

  it('a flood of small CONTINUATION frames: GOAWAY INTERNAL_ERROR after 8, as nghttp2 under Node', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    await connection.send(frame(HEADERS, 0, 1, grpcRequestBlock('/csi.v1.Identity/Probe')));
    const continuation = frame(CONTINUATION, 0, 1, Buffer.alloc(100, 0x40));
    await connection.flood(() => continuation, 64 * 1024 * 1024);
    await assertClosedWith(connection, INTERNAL_ERROR, /more than 8 CONTINUATION frames/);
    await probeOnNewConnection(driver);
  });

  it('a flood of zero-length CONTINUATION frames: GOAWAY INTERNAL_ERROR', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    await connection.send(frame(HEADERS, 0, 1, grpcRequestBlock('/csi.v1.Identity/Probe')));
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => frame(CONTINUATION, 0, 1)));
    await connection.flood(() => batch, 64 * 1024 * 1024);
    await assertClosedWith(connection, INTERNAL_ERROR, /CONTINUATION/);
    await probeOnNewConnection(driver);
  });

  it('a frame header announcing 16 MiB: GOAWAY FRAME_SIZE_ERROR without waiting for the payload', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    await connection.send(frameHeader(DATA, 0, 1, 0xffffff));
    await assertClosedWith(connection, FRAME_SIZE_ERROR, /larger than SETTINGS_MAX_FRAME_SIZE 16384/);
    await probeOnNewConnection(driver);
  });

  it('one complete 64 MiB header block: the connection ends at 64 KiB', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    // The block: a request and one literal header whose value is 64 MiB of 'a', in 4097 frames.
    const start = Buffer.concat([
      grpcRequestBlock('/x'),
      hpackLiteral('x-big', '').subarray(0, -1), // literal, new name 'x-big', then the value length:
      hpackInteger(64 * 1024 * 1024, 7, 0),
    ]);
    const total = 4097;
    let sentFrames = 0;
    const next = (): Buffer => {
      sentFrames += 1;
      if (sentFrames === 1) return frame(HEADERS, 0x1, 1, start);
      const flags = sentFrames === total ? 0x4 : 0;
      return frame(CONTINUATION, flags, 1, Buffer.alloc(16_384, 0x61));
    };
    await connection.flood(next, 16_384 * total);
    await assertClosedWith(connection, ENHANCE_YOUR_CALM, /header block larger than 65536 bytes/);
    await probeOnNewConnection(driver);
  });

  it('a header block over 64 KiB in 5 frames: GOAWAY ENHANCE_YOUR_CALM', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    const block = Buffer.concat([grpcRequestBlock('/x'), hpackLiteral('x-big', 'a'.repeat(70_000))]);
    for (const piece of headerBlockFrames(1, block)) await connection.send(piece);
    await assertClosedWith(connection, ENHANCE_YOUR_CALM, /header block larger than 65536/);
    await probeOnNewConnection(driver);
  });

  it('an HPACK bomb (one-byte references to a 4 KB entry): GOAWAY ENHANCE_YOUR_CALM', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    const entry = hpackLiteral('x-b', 'b'.repeat(4000), true); // dynamic table index 62
    await connection.send(frame(HEADERS, 0x5, 1, Buffer.concat([grpcRequestBlock('/x'), entry])));
    const bomb = Buffer.concat([Buffer.from([0x83, 0x86, 0x84]), Buffer.alloc(16_000, 0x80 | 62)]);
    await connection.send(frame(HEADERS, 0x5, 3, bomb));
    await assertClosedWith(connection, ENHANCE_YOUR_CALM, /header list larger than 65536/);
    assert.equal(connection.goaway()?.lastStreamId, 1, 'stream 1 reached the server, stream 3 did not');
    await probeOnNewConnection(driver);
  });

  it('random garbage after the preface: closed with a GOAWAY', async () => {
    const connection = await RawHttp2Connection.open(driver.socketPath);
    const garbage = Buffer.from('all work and no play makes jack a dull boy '.repeat(100));
    await connection.send(garbage);
    assert.equal(await connection.waitForClose(), true);
    assert.notEqual(connection.goaway()?.code ?? NO_ERROR, NO_ERROR);
    await probeOnNewConnection(driver);
  });

  it('a client that is not HTTP/2, or silent, is closed after the handshake timeout; an idle HTTP/2 client is not', async () => {
    // A healthy client (the way every CSI sidecar is): one call, then idle on the same connection.
    const session = http2.connect('http://localhost', {
      createConnection: () => net.connect(driver.socketPath),
    });
    try {
      assert.equal(await probeOverHttp2(session), undefined);
      const silent = await RawHttp2Connection.open(driver.socketPath, Buffer.alloc(0));
      const halfPreface = await RawHttp2Connection.open(driver.socketPath, PREFACE.subarray(0, 12));
      const prefaceOnly = await RawHttp2Connection.open(driver.socketPath, PREFACE);
      for (const connection of [silent, halfPreface, prefaceOnly]) {
        assert.equal(await connection.waitForClose(30_000), true, 'closed after the handshake timeout');
        assert.equal(connection.goaway(), undefined, 'without a GOAWAY: it never spoke HTTP/2');
      }
      assert.equal(session.closed, false, 'the idle HTTP/2 connection stays open');
      assert.equal(await probeOverHttp2(session), undefined);
    } finally {
      session.close();
    }
  });

  it(`more than ${MAX_CONNECTIONS} idle connections: the idlest are evicted, clients that made calls stay`, async () => {
    const session = http2.connect('http://localhost', {
      createConnection: () => net.connect(driver.socketPath),
    });
    const connections: RawHttp2Connection[] = [];
    try {
      assert.equal(await probeOverHttp2(session), undefined);
      const extra = 40;
      for (let index = 0; index < MAX_CONNECTIONS + extra; index += 1) {
        connections.push(await RawHttp2Connection.open(driver.socketPath, HANDSHAKE));
      }
      await probeOnNewConnection(driver);
      // Evictions are GOAWAYs on other connections: wait until their closes have arrived.
      for (let waited = 0; waited < 10_000; waited += 100) {
        if (connections.filter((connection) => connection.isClosed).length >= extra) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const evicted = connections.filter((connection) => connection.isClosed);
      assert.ok(
        evicted.length >= extra,
        `at least ${extra} connections were evicted, ${evicted.length} were`,
      );
      for (const connection of evicted) {
        assert.equal(connection.goaway()?.code, NO_ERROR);
        assert.match(connection.goaway()?.reason ?? '', /connection limit \(256\)/);
      }
      assert.equal(connections.at(-1)?.isClosed, false, 'the newest connection was admitted');
      assert.equal(session.closed, false, 'the connection that made a call was not evicted');
      assert.equal(await probeOverHttp2(session), undefined);
      assert.ok(driver.logs.some((line) => line.msg === 'closed a client connection'));
    } finally {
      for (const connection of connections) connection.destroy();
      session.close();
    }
  });
});

/** One unary gRPC call with an empty message on an HTTP/2 session; resolves with grpc-status. */
