import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import hpack from 'hpack.js';
import type { Decompressor, HeaderField } from 'hpack.js';

/**
 * grpc-go clients (the kubelet, every CSI sidecar) that dial a unix socket send either
 * `localhost` or the socket path itself as the HTTP/2 `:authority`. Node's HTTP/2 stack
 * (nghttp2) rejects a path there as malformed and resets the stream with PROTOCOL_ERROR, so an
 * unpatched Node.js CSI driver is unusable with those clients. This module sits between the
 * socket and the gRPC server and rewrites, in the client-to-server direction only, each header
 * block so that an authority that is not a valid URI authority becomes `localhost`.
 *
 * To keep HPACK state consistent, every client header block is decoded (tracking the client's
 * dynamic table) and re-encoded as literals without indexing, which never touches the server's
 * dynamic table. All other frames pass through unchanged, so flow control is not disturbed.
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const FRAME_HEADERS = 0x1;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** Every HTTP/2 peer accepts frames of this size (the protocol minimum of SETTINGS_MAX_FRAME_SIZE). */
const MAX_OUTPUT_FRAME = 16_384;
/** The HPACK table size Node's HTTP/2 server announces (SETTINGS_HEADER_TABLE_SIZE default). */
const HEADER_TABLE_SIZE = 4096;
/** RFC 3986 authority characters, the set nghttp2 accepts. */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]+$/;
export const REPLACEMENT_AUTHORITY = 'localhost';

export function isValidAuthority(value: string): boolean {
  return VALID_AUTHORITY.test(value);
}

interface PendingHeaders {
  streamId: number;
  flags: number;
  priority: Buffer | undefined;
  fragments: Buffer[];
}

/** Rewrites the client-to-server byte stream of one HTTP/2 connection. */
export class ClientStreamRewriter {
  private buffered: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private pending: PendingHeaders | undefined;
  private readonly decoder: Decompressor = hpack.decompressor.create({
    table: { maxSize: HEADER_TABLE_SIZE },
  });
  private decodeError: Error | undefined;

  constructor() {
    this.decoder.on('error', (error: Error) => {
      this.decodeError = error;
    });
  }

  /** Consumes bytes from the client; returns the bytes to hand to the server. */
  push(chunk: Buffer): Buffer {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const output: Buffer[] = [];
    if (!this.prefaceSeen) {
      if (this.buffered.length < PREFACE.length) return Buffer.alloc(0);
      // Not HTTP/2 with prior knowledge: stop interpreting and let the server reject it.
      this.prefaceSeen = true;
      output.push(this.buffered.subarray(0, PREFACE.length));
      this.buffered = this.buffered.subarray(PREFACE.length);
    }
    while (this.buffered.length >= FRAME_HEADER_BYTES) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < FRAME_HEADER_BYTES + length) break;
      const frame = this.buffered.subarray(0, FRAME_HEADER_BYTES + length);
      this.buffered = this.buffered.subarray(FRAME_HEADER_BYTES + length);
      output.push(...this.frame(frame));
    }
    return Buffer.concat(output);
  }

  private frame(frame: Buffer): Buffer[] {
    const type = frame.readUInt8(3);
    const flags = frame.readUInt8(4);
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    const payload = frame.subarray(FRAME_HEADER_BYTES);

    if (type === FRAME_HEADERS) {
      let offset = 0;
      let end = payload.length;
      if (flags & FLAG_PADDED) {
        end -= payload.readUInt8(0);
        offset = 1;
      }
      let priority: Buffer | undefined;
      if (flags & FLAG_PRIORITY) {
        priority = payload.subarray(offset, offset + 5);
        offset += 5;
      }
      if (end < offset) return [frame]; // malformed: the server will answer it
      this.pending = { streamId, flags, priority, fragments: [payload.subarray(offset, end)] };
    } else if (type === FRAME_CONTINUATION && this.pending?.streamId === streamId) {
      this.pending.fragments.push(payload);
    } else {
      return [frame];
    }

    if (!(flags & FLAG_END_HEADERS)) return [];
    const headers = this.pending;
    this.pending = undefined;
    return this.reencode(headers);
  }

  private reencode(headers: PendingHeaders): Buffer[] {
    const fields = this.decode(Buffer.concat(headers.fragments));
    const block = Buffer.concat(
      fields.map((field) =>
        encodeLiteral(
          field.name,
          field.name === ':authority' && !isValidAuthority(field.value) ? REPLACEMENT_AUTHORITY : field.value,
          field.neverIndex,
        ),
      ),
    );
    const frames: Buffer[] = [];
    const prefix = headers.priority ?? Buffer.alloc(0);
    const firstRoom = MAX_OUTPUT_FRAME - prefix.length;
    let offset = Math.min(firstRoom, block.length);
    const endFlags = headers.flags & FLAG_END_STREAM;
    const priorityFlag = headers.priority ? FLAG_PRIORITY : 0;
    const last = offset >= block.length;
    frames.push(
      frameOf(
        FRAME_HEADERS,
        endFlags | priorityFlag | (last ? FLAG_END_HEADERS : 0),
        headers.streamId,
        Buffer.concat([prefix, block.subarray(0, offset)]),
      ),
    );
    while (offset < block.length) {
      const next = Math.min(offset + MAX_OUTPUT_FRAME, block.length);
      frames.push(
        frameOf(
          FRAME_CONTINUATION,
          next >= block.length ? FLAG_END_HEADERS : 0,
          headers.streamId,
          block.subarray(offset, next),
        ),
      );
      offset = next;
    }
    return frames;
  }

  private decode(block: Buffer): HeaderField[] {
    this.decoder.write(block);
    this.decoder.execute();
    if (this.decodeError) throw this.decodeError;
    const fields: HeaderField[] = [];
    for (let field = this.decoder.read(); field !== null; field = this.decoder.read()) fields.push(field);
    return fields;
  }
}

function frameOf(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function encodeInteger(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const bytes = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function encodeString(value: string): Buffer {
  const bytes = Buffer.from(value, 'latin1');
  return Buffer.concat([encodeInteger(bytes.length, 7, 0x00), bytes]);
}

/** Literal header field without indexing (0000) or never indexed (0001), new name (RFC 7541 §6.2.2-3). */
function encodeLiteral(name: string, value: string, neverIndex: boolean): Buffer {
  return Buffer.concat([Buffer.from([neverIndex ? 0x10 : 0x00]), encodeString(name), encodeString(value)]);
}

/**
 * Wraps an accepted socket: bytes from the client go through the rewriter, bytes from the
 * server go straight to the socket. If the client's bytes cannot be decoded the connection is
 * closed, as the server itself would do.
 */
export class AuthorityFixingConnection extends Duplex {
  private readonly rewriter = new ClientStreamRewriter();

  constructor(private readonly socket: Socket) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => {
      let output: Buffer;
      try {
        output = this.rewriter.push(chunk);
      } catch (error) {
        this.destroy(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (output.length > 0 && !this.push(output)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (error) => this.destroy(error));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
