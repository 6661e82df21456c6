import type http2 from 'node:http2';
import net from 'node:net';
import { encodeInteger } from '../../src/csi/transport/authority-fix.js';
import { once } from 'node:events';

/**
 * A client that writes HTTP/2 bytes by hand over the unix socket, for what no well-behaved client
 * library would send: floods, oversized frames, broken prefaces. It keeps every byte the server
 * sends, so a test can check the frames (and that they end at a frame boundary).
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const DATA = 0x0;
export const HEADERS = 0x1;
export const SETTINGS = 0x4;
export const GOAWAY = 0x7;
export const CONTINUATION = 0x9;
export const END_STREAM = 0x1;
export const END_HEADERS = 0x4;

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  return Buffer.concat([frameHeader(type, flags, streamId, payload.length), payload]);
}

/** A frame header alone, announcing `length` bytes of payload. */
export function frameHeader(type: number, flags: number, streamId: number, length: number): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId, 5);
  return header;
}

export const HANDSHAKE = Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]);

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1): the driver's own encoder. */
export const hpackInteger = encodeInteger;

/** A literal header field, new name, raw strings; `incremental` adds it to the dynamic table. */
export function hpackLiteral(name: string, value: string, incremental = false): Buffer {
  const string = (text: string): Buffer =>
    Buffer.concat([hpackInteger(Buffer.byteLength(text, 'latin1'), 7, 0), Buffer.from(text, 'latin1')]);
  return Buffer.concat([Buffer.from([incremental ? 0x40 : 0x00]), string(name), string(value)]);
}

/** A header block for a gRPC call (static-table references and literals). */
export function grpcRequestBlock(path: string, authority = 'localhost'): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    hpackLiteral(':path', path),
    hpackLiteral(':authority', authority),
    hpackLiteral('content-type', 'application/grpc'),
    hpackLiteral('te', 'trailers'),
  ]);
}

/** The frames of one header block, in frames of at most `frameSize` bytes. */
export function headerBlockFrames(
  streamId: number,
  block: Buffer,
  flags = END_STREAM,
  frameSize = 16_384,
): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = 0; offset === 0 || offset < block.length; offset += frameSize) {
    const last = offset + frameSize >= block.length;
    const type = offset === 0 ? HEADERS : CONTINUATION;
    const frameFlags = (offset === 0 ? flags : 0) | (last ? END_HEADERS : 0);
    frames.push(frame(type, frameFlags, streamId, block.subarray(offset, offset + frameSize)));
  }
  return frames;
}

export interface ReceivedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export interface Goaway {
  lastStreamId: number;
  code: number;
  reason: string;
}

/** Connects; a full listen backlog (EAGAIN on a unix socket) is retried for a while. */
async function connectRetrying(path: string): Promise<net.Socket> {
  for (let attempt = 0; ; attempt += 1) {
    const socket = net.connect(path);
    try {
      await once(socket, 'connect');
      return socket;
    } catch (error) {
      socket.destroy();
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

export class RawHttp2Connection {
  private readonly chunks: Buffer[] = [];
  private closedFlag = false;
  private readonly closedPromise: Promise<void>;
  /** Bytes the client managed to write before the connection closed. */
  bytesSent = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    socket.on('error', () => undefined); // EPIPE, ECONNRESET: the server closed first
    this.closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.closedFlag = true;
        resolve();
      });
    });
  }

  static async open(path: string, first: Buffer = HANDSHAKE): Promise<RawHttp2Connection> {
    const connection = new RawHttp2Connection(await connectRetrying(path));
    if (first.length > 0) await connection.send(first);
    return connection;
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Writes, waiting for the socket to drain; false once the connection is closed. */
  async send(bytes: Buffer): Promise<boolean> {
    if (this.closedFlag || this.socket.destroyed) return false;
    const flushed = this.socket.write(bytes);
    this.bytesSent += bytes.length;
    if (!flushed) {
      const drained = new Promise<void>((resolve) => this.socket.once('drain', resolve));
      await Promise.race([drained, this.closedPromise]);
    }
    return !this.closedFlag && !this.socket.destroyed;
  }

  /** Sends `next()` again and again until the server closes the connection or `maxBytes` went out. */
  async flood(next: () => Buffer, maxBytes: number): Promise<number> {
    const start = this.bytesSent;
    while (this.bytesSent - start < maxBytes) {
      if (!(await this.send(next()))) break;
    }
    return this.bytesSent - start;
  }

  /** Resolves true when the server closed the connection, false after `timeoutMs`. */
  async waitForClose(timeoutMs = 15_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const closed = await Promise.race([this.closedPromise.then(() => true as const), timeout]);
    clearTimeout(timer);
    return closed;
  }

  /** Everything the server sent, as frames; throws if it does not end at a frame boundary. */
  frames(): ReceivedFrame[] {
    const bytes = Buffer.concat(this.chunks);
    const frames: ReceivedFrame[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      if (bytes.length - offset < 9) throw new Error(`the server's bytes end inside a frame header`);
      const length = bytes.readUIntBE(offset, 3);
      const end = offset + 9 + length;
      if (end > bytes.length) throw new Error(`the server's bytes end inside a frame`);
      frames.push({
        type: bytes.readUInt8(offset + 3),
        flags: bytes.readUInt8(offset + 4),
        streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff,
        payload: bytes.subarray(offset + 9, end),
      });
      offset = end;
    }
    return frames;
  }

  /** The GOAWAY the server sent, if any. */
  goaway(): Goaway | undefined {
    const goaway = this.frames().find((candidate) => candidate.type === GOAWAY);
    if (!goaway) return undefined;
    return {
      lastStreamId: goaway.payload.readUInt32BE(0) & 0x7fffffff,
      code: goaway.payload.readUInt32BE(4),
      reason: goaway.payload.subarray(8).toString('utf8'),
    };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * A Probe over a plain Node HTTP/2 session (not grpc-js, which would hide what the connection
 * does): undefined when it answered OK, otherwise what went wrong.
 */
export function probeOverHttp2(session: http2.ClientHttp2Session): Promise<string | undefined> {
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/csi.v1.Identity/Probe',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let grpcStatus: string | undefined;
    stream.on('response', (headers) => (grpcStatus ??= headers['grpc-status'] as string | undefined));
    stream.on(
      'trailers',
      (trailers: http2.IncomingHttpHeaders) => (grpcStatus = trailers['grpc-status'] as string | undefined),
    );
    stream.on('data', () => undefined);
    stream.on('error', (error) => resolve(String(error)));
    stream.on('close', () =>
      resolve(grpcStatus === '0' ? undefined : `grpc-status ${grpcStatus}, stream reset ${stream.rstCode}`),
    );
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}
