import hpack from 'hpack.js';
import type { Decompressor, HeaderField } from 'hpack.js';
import {
  ByteQueue,
  ErrorCode,
  FRAME_HEADER_BYTES,
  Flag,
  FrameType,
  Http2ConnectionError,
  PREFACE,
  frameOf,
  parseFrameHeader,
} from './frames.js';
import type { FrameHeader } from './frames.js';
import { LIMITS } from './limits.js';
import type { TransportLimits } from './limits.js';

/**
 * grpc-go clients that dial the socket path with the passthrough resolver (the kubelet) send
 * that path as the HTTP/2 `:authority`. nghttp2, under Node's HTTP/2 server, rejects a pseudo
 * header with a '/' in it and resets the stream with PROTOCOL_ERROR, and Node offers no option
 * to relax that check (nghttp2's NGHTTP2_OPT_NO_HTTP_MESSAGING is not exposed; Node's
 * invalid-header callback only lets regular headers through), nor does grpc-js. So this module
 * sits between the socket and the gRPC server and rewrites, client to server only, each header
 * block so that an authority that is not a valid URI authority becomes `localhost`.
 *
 * Why every block is decoded and re-encoded: grpc-go's HPACK encoder (x/net/http2/hpack) sends
 * the authority as a literal with incremental indexing, its value Huffman-coded, and on every
 * later request as a one-byte reference to that dynamic-table entry (captured from grpc-go
 * 1.33: `41 <34 Huffman bytes>`, then `c3`, `c4`). Finding it takes the client's dynamic table,
 * i.e. decoding every block; passing untouched blocks through while rewriting others would leave
 * the server's table out of step with the client's. (A server announcing
 * SETTINGS_HEADER_TABLE_SIZE 0 would make blocks self-contained, but grpc-js cannot announce it,
 * and blocks sent before the client acknowledges it may still use the table.) So each block is
 * re-encoded as literals without indexing, which never touches the server's table. All other
 * frames pass unchanged, so flow control is not disturbed.
 *
 * Because this runs before nghttp2 can apply its own limits, it applies them itself (limits.ts):
 * frame size, CONTINUATION count, header block and header list size, each a connection error.
 */

/** The HPACK table size Node's HTTP/2 server announces (SETTINGS_HEADER_TABLE_SIZE default). */
const HEADER_TABLE_SIZE = 4096;
/** RFC 3986 authority characters, the set nghttp2 accepts. */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]+$/;
/** RFC 9113 §6.5.2: a field costs its name and value plus 32 octets. */
const FIELD_OVERHEAD = 32;
export const REPLACEMENT_AUTHORITY = 'localhost';

export function isValidAuthority(value: string): boolean {
  return VALID_AUTHORITY.test(value);
}

type RewriterLimits = Pick<
  TransportLimits,
  'maxFrameSize' | 'maxContinuations' | 'maxHeaderBlockBytes' | 'maxHeaderListSize'
>;

export interface RewriterOptions {
  limits?: RewriterLimits;
  /** Told the header of every client frame, in order, as it is consumed. */
  onFrame?: (header: FrameHeader) => void;
}

interface PendingHeaders {
  streamId: number;
  flags: number;
  priority: Buffer | undefined;
  fragments: Buffer[];
  bytes: number;
  continuations: number;
}

/** Rewrites the client-to-server byte stream of one HTTP/2 connection. */
export class ClientStreamRewriter {
  private readonly input = new ByteQueue();
  private readonly limits: RewriterLimits;
  private readonly onFrame: ((header: FrameHeader) => void) | undefined;
  private prefaceBytes = 0;
  private firstFrameSeen = false;
  private pending: PendingHeaders | undefined;
  private readonly decoder: Decompressor = hpack.decompressor.create({
    table: { maxSize: HEADER_TABLE_SIZE },
  });
  private decoded: HeaderField[] = [];
  private decodedSize = 0;
  private decodeError: Error | undefined;
  /** The highest stream whose header block reached the server: the server may have acted on it. */
  lastStreamId = 0;

  constructor(options: RewriterOptions = {}) {
    this.limits = options.limits ?? LIMITS;
    this.onFrame = options.onFrame;
    this.decoder.on('error', (error: Error) => {
      this.decodeError = error;
    });
    // Fields are counted as hpack.js produces them, so decoding stops at the header list limit
    // instead of expanding a block of one-byte table references first (hpack.js has no limit).
    this.decoder.push = (field: HeaderField | null): boolean => {
      if (field === null) return false;
      this.decodedSize += field.name.length + field.value.length + FIELD_OVERHEAD;
      if (this.decodedSize > this.limits.maxHeaderListSize) {
        throw new Http2ConnectionError(
          ErrorCode.ENHANCE_YOUR_CALM,
          `header list larger than ${this.limits.maxHeaderListSize} bytes`,
        );
      }
      this.decoded.push(field);
      return true;
    };
  }

  /** The client has sent the connection preface and a first frame (its SETTINGS). */
  get handshakeComplete(): boolean {
    return this.firstFrameSeen;
  }

  /** Client bytes received and not handled yet. */
  get bufferedBytes(): number {
    return this.input.length;
  }

  write(chunk: Buffer): void {
    this.input.push(chunk);
  }

  /**
   * Handles buffered client bytes, frame by frame, until about `budget` bytes were read and
   * produced. Returns the bytes for the server, and `more` when the budget ran out before the
   * buffered frames did. Throws Http2ConnectionError when the client breaks a rule or a limit.
   */
  read(budget = Number.POSITIVE_INFINITY): { output: Buffer; more: boolean } {
    const output: Buffer[] = [];
    let spent = 0;
    if (this.prefaceBytes < PREFACE.length) {
      const count = Math.min(this.input.length, PREFACE.length - this.prefaceBytes);
      const bytes = this.input.take(count);
      if (!bytes.equals(PREFACE.subarray(this.prefaceBytes, this.prefaceBytes + count))) {
        throw new Http2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
      }
      this.prefaceBytes += count;
      if (this.prefaceBytes < PREFACE.length) return { output: Buffer.alloc(0), more: false };
      output.push(PREFACE);
    }
    while (this.input.length >= FRAME_HEADER_BYTES) {
      if (spent >= budget) return { output: Buffer.concat(output), more: true };
      const header = parseFrameHeader(this.input.peek(FRAME_HEADER_BYTES));
      if (header.length > this.limits.maxFrameSize) {
        throw new Http2ConnectionError(
          ErrorCode.FRAME_SIZE_ERROR,
          `frame of ${header.length} bytes, larger than SETTINGS_MAX_FRAME_SIZE ${this.limits.maxFrameSize}`,
        );
      }
      if (this.input.length < FRAME_HEADER_BYTES + header.length) break;
      const frame = this.input.take(FRAME_HEADER_BYTES + header.length);
      this.firstFrameSeen = true;
      this.onFrame?.(header);
      spent += frame.length;
      for (const produced of this.frame(header, frame)) {
        output.push(produced);
        spent += produced.length;
      }
    }
    return { output: Buffer.concat(output), more: false };
  }

  /** Consumes bytes from the client and returns every byte for the server it can produce. */
  push(chunk: Buffer): Buffer {
    this.write(chunk);
    return this.read().output;
  }

  private frame(header: FrameHeader, frame: Buffer): Buffer[] {
    const payload = frame.subarray(FRAME_HEADER_BYTES);
    if (this.pending) {
      // RFC 9113 §6.10: nothing but this block's CONTINUATION frames until END_HEADERS.
      if (header.type !== FrameType.CONTINUATION || header.streamId !== this.pending.streamId) {
        throw new Http2ConnectionError(
          ErrorCode.PROTOCOL_ERROR,
          `frame of type ${header.type} inside the header block of stream ${this.pending.streamId}`,
        );
      }
      this.pending.continuations += 1;
      if (this.pending.continuations > this.limits.maxContinuations) {
        // The code Node's server sends when nghttp2 stops a CONTINUATION flood.
        throw new Http2ConnectionError(
          ErrorCode.INTERNAL_ERROR,
          `more than ${this.limits.maxContinuations} CONTINUATION frames in one header block`,
        );
      }
      this.addFragment(payload);
    } else if (header.type === FrameType.HEADERS) {
      this.pending = {
        streamId: header.streamId,
        flags: header.flags,
        priority: undefined,
        fragments: [],
        bytes: 0,
        continuations: 0,
      };
      this.pending.priority = this.headersFragment(header, payload);
    } else {
      // A stray CONTINUATION, like every other frame, goes through: nghttp2 answers it.
      return [frame];
    }

    if (!(header.flags & Flag.END_HEADERS)) return [];
    const headers = this.pending;
    this.pending = undefined;
    const frames = this.reencode(headers);
    this.lastStreamId = Math.max(this.lastStreamId, headers.streamId);
    return frames;
  }

  /** Adds a HEADERS frame's block fragment to the pending block; returns its priority fields. */
  private headersFragment(header: FrameHeader, payload: Buffer): Buffer | undefined {
    let offset = 0;
    let end = payload.length;
    if (header.flags & Flag.PADDED) {
      end -= payload.length > 0 ? payload.readUInt8(0) : 1;
      offset = 1;
    }
    let priority: Buffer | undefined;
    if (header.flags & Flag.PRIORITY) {
      priority = payload.subarray(offset, offset + 5);
      offset += 5;
    }
    if (header.streamId === 0 || end < offset) {
      throw new Http2ConnectionError(ErrorCode.PROTOCOL_ERROR, 'malformed HEADERS frame');
    }
    this.addFragment(payload.subarray(offset, end));
    return priority;
  }

  private addFragment(fragment: Buffer): void {
    const pending = this.pending;
    if (!pending) return;
    pending.bytes += fragment.length;
    if (pending.bytes > this.limits.maxHeaderBlockBytes) {
      // Node resets a stream whose header list is too large with ENHANCE_YOUR_CALM; a block
      // cannot be handed on half-read, so here the whole connection ends with that code.
      throw new Http2ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `header block larger than ${this.limits.maxHeaderBlockBytes} bytes`,
      );
    }
    pending.fragments.push(fragment);
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
    // Every HTTP/2 peer accepts frames of the protocol's minimum SETTINGS_MAX_FRAME_SIZE.
    const room = 16_384;
    const frames: Buffer[] = [];
    const prefix = headers.priority ?? Buffer.alloc(0);
    let offset = Math.min(room - prefix.length, block.length);
    const endFlags = headers.flags & Flag.END_STREAM;
    const priorityFlag = headers.priority ? Flag.PRIORITY : 0;
    const last = offset >= block.length;
    frames.push(
      frameOf(
        FrameType.HEADERS,
        endFlags | priorityFlag | (last ? Flag.END_HEADERS : 0),
        headers.streamId,
        Buffer.concat([prefix, block.subarray(0, offset)]),
      ),
    );
    while (offset < block.length) {
      const next = Math.min(offset + room, block.length);
      frames.push(
        frameOf(
          FrameType.CONTINUATION,
          next >= block.length ? Flag.END_HEADERS : 0,
          headers.streamId,
          block.subarray(offset, next),
        ),
      );
      offset = next;
    }
    return frames;
  }

  private decode(block: Buffer): HeaderField[] {
    this.decoded = [];
    this.decodedSize = 0;
    this.decoder.write(block);
    this.decoder.execute();
    const error = this.decodeError;
    if (error instanceof Http2ConnectionError) throw error;
    if (error) {
      // RFC 9113 §4.3, and what nghttp2 answers: a block that cannot be decoded ends the connection.
      throw new Http2ConnectionError(
        ErrorCode.COMPRESSION_ERROR,
        `undecodable header block: ${error.message}`,
      );
    }
    return this.decoded;
  }
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
export function encodeInteger(value: number, prefixBits: number, firstByte: number): Buffer {
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
