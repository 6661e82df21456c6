/** HTTP/2 framing (RFC 9113 §4, §6) as far as the transport guard needs it. */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  GOAWAY: 0x7,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FRAME_SIZE_ERROR: 0x6,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export function errorCodeName(code: number): string {
  return Object.entries(ErrorCode).find(([, value]) => value === code)?.[0] ?? `0x${code.toString(16)}`;
}

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export function parseFrameHeader(bytes: Buffer): FrameHeader {
  return {
    length: bytes.readUIntBE(0, 3),
    type: bytes.readUInt8(3),
    flags: bytes.readUInt8(4),
    streamId: bytes.readUInt32BE(5) & 0x7fffffff,
  };
}

export function frameOf(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** GOAWAY with the last stream the server may have acted on, the error code, and why in its debug data. */
export function goawayFrame(lastStreamId: number, code: number, reason: string): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  return frameOf(FrameType.GOAWAY, 0, 0, Buffer.concat([payload, Buffer.from(reason, 'utf8')]));
}

/** A connection error (RFC 9113 §5.4.1): the connection ends with GOAWAY carrying `code`. */
export class Http2ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'Http2ConnectionError';
  }
}

/**
 * Bytes received but not yet consumed, kept as the chunks they arrived in: a peer that sends one
 * byte at a time costs one concatenation per frame, not one per byte.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The first `count` bytes (count <= length), left in the queue. */
  peek(count: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= count) return first.subarray(0, count);
    this.chunks = [Buffer.concat(this.chunks)];
    return (this.chunks[0] ?? Buffer.alloc(0)).subarray(0, count);
  }

  /** Removes and returns the first `count` bytes (count <= length). */
  take(count: number): Buffer {
    const taken = this.peek(count);
    const first = this.chunks[0];
    if (first && first.length > count) this.chunks[0] = first.subarray(count);
    else this.chunks.shift();
    this.size -= count;
    return taken;
  }

  clear(): void {
    this.chunks = [];
    this.size = 0;
  }
}

/**
 * Follows the frame boundaries of one direction of a connection from the bytes alone, so a frame
 * of our own (GOAWAY) is never written into the middle of someone else's frame.
 */
export class FrameBoundaries {
  private header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private payloadLeft = 0;

  get atBoundary(): boolean {
    return this.headerFilled === 0 && this.payloadLeft === 0;
  }

  /**
   * Advances over `chunk` and reports each frame header completed in it. With `stopAtBoundary`,
   * stops at the first frame boundary (at once when already at one); returns the bytes consumed.
   */
  scan(chunk: Buffer, onHeader: (header: FrameHeader) => void, stopAtBoundary = false): number {
    let offset = 0;
    while (offset < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return offset;
      if (this.payloadLeft > 0) {
        const step = Math.min(this.payloadLeft, chunk.length - offset);
        this.payloadLeft -= step;
        offset += step;
        continue;
      }
      const step = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - offset);
      chunk.copy(this.header, this.headerFilled, offset, offset + step);
      this.headerFilled += step;
      offset += step;
      if (this.headerFilled === FRAME_HEADER_BYTES) {
        const header = parseFrameHeader(this.header);
        this.headerFilled = 0;
        this.payloadLeft = header.length;
        onHeader(header);
      }
    }
    return offset;
  }
}
