import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import hpack from 'hpack.js';
import type { HeaderField } from 'hpack.js';
import {
  ClientStreamRewriter,
  REPLACEMENT_AUTHORITY,
  isValidAuthority,
} from '../../src/csi/transport/authority-fix.js';
import { ErrorCode, Http2ConnectionError } from '../../src/csi/transport/frames.js';

// ---------------------------------------------------------------------------------------------
// hpack.js, typed for what these tests use (src/types/hpack.js.d.ts declares only the decompressor).
// Note that hpack.js reads the table size from `table.maxSize`.

interface HeaderInput {
  name: string;
  value: string;
  /** Huffman-code the strings (hpack.js default: true). */
  huffman?: boolean;
  /** Literal never indexed (sensitive header). */
  neverIndex?: boolean;
  /** Add to the dynamic table (hpack.js default: true). */
  incremental?: boolean;
}

interface TestCompressor {
  write(headers: HeaderInput[]): boolean;
  read(): Buffer | null;
  /** Emits dynamic table size updates to 0 and back to the maximum, evicting every entry. */
  reset(): void;
}

interface TestDecompressor {
  write(chunk: Buffer): boolean;
  execute(): void;
  read(): HeaderField | null;
}

interface HpackLibrary {
  compressor: { create(options: { table: { maxSize: number } }): TestCompressor };
  decompressor: { create(options: { table: { maxSize: number } }): TestDecompressor };
}

const library = hpack as unknown as HpackLibrary;
const TABLE_SIZE = 4096;

/** The HPACK encoder of one client connection (its dynamic table persists across requests). */
class ClientEncoder {
  private readonly compressor = library.compressor.create({ table: { maxSize: TABLE_SIZE } });

  block(headers: HeaderInput[]): Buffer {
    this.compressor.write(headers);
    return this.compressor.read() ?? Buffer.alloc(0);
  }

  reset(): void {
    this.compressor.reset();
  }
}

/** Decodes header blocks in order, as the server's HPACK decoder for one connection would. */
class ServerDecoder {
  private readonly decompressor = library.decompressor.create({ table: { maxSize: TABLE_SIZE } });

  decode(block: Buffer): HeaderField[] {
    this.decompressor.write(block);
    this.decompressor.execute(); // emits 'error' (thrown here, no listener) on a bad block
    const fields: HeaderField[] = [];
    for (let field = this.decompressor.read(); field !== null; field = this.decompressor.read())
      fields.push(field);
    return fields;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 framing (RFC 9113 §4.1).

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;
const MAX_FRAME = 16_384;

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

const CLIENT_SETTINGS = frame(
  SETTINGS,
  0,
  0,
  Buffer.concat([Buffer.from([0x00, 0x02]), uint32(0), Buffer.from([0x00, 0x04]), uint32(4_194_304)]), // ENABLE_PUSH 0, INITIAL_WINDOW_SIZE
);
const SETTINGS_ACK = frame(SETTINGS, 0x1, 0);
const CONNECTION_WINDOW = frame(WINDOW_UPDATE, 0, 0, uint32(4_128_769));

/** A gRPC length-prefixed message as a DATA frame; its bytes deliberately look like frames and HPACK. */
function grpcData(streamId: number, endStream: boolean): Buffer {
  const message = Buffer.concat([
    frame(HEADERS, END_HEADERS, streamId, Buffer.from([0x41, 0x13, 0x2f, 0x72, 0x75, 0x6e])),
    Buffer.from('/run/dolly/csi.sock :authority', 'latin1'),
  ]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return frame(DATA, endStream ? END_STREAM : 0, streamId, Buffer.concat([prefix, message]));
}

interface HeadersOptions {
  endStream?: boolean;
  /** Sizes of the fragments before the last one; each becomes HEADERS, then CONTINUATION frames. */
  split?: number[];
  /** Pad length (PADDED flag). */
  padding?: number;
  /** The 5 bytes of priority information (PRIORITY flag). */
  priority?: Buffer;
}

/** The frames that carry one header block from the client. */
function headersFrames(streamId: number, block: Buffer, options: HeadersOptions = {}): Buffer {
  const fragments: Buffer[] = [];
  let offset = 0;
  for (const size of options.split ?? []) {
    fragments.push(block.subarray(offset, offset + size));
    offset += size;
  }
  fragments.push(block.subarray(offset));
  const frames: Buffer[] = [];
  fragments.forEach((fragment, index) => {
    const last = index === fragments.length - 1;
    const endHeaders = last ? END_HEADERS : 0;
    if (index > 0) {
      frames.push(frame(CONTINUATION, endHeaders, streamId, fragment));
      return;
    }
    let flags = endHeaders | (options.endStream ? END_STREAM : 0);
    const parts: Buffer[] = [];
    if (options.padding !== undefined) {
      flags |= PADDED;
      parts.push(Buffer.from([options.padding]));
    }
    if (options.priority) {
      flags |= PRIORITY_FLAG;
      parts.push(options.priority);
    }
    parts.push(fragment);
    if (options.padding !== undefined) parts.push(Buffer.alloc(options.padding, 0));
    frames.push(frame(HEADERS, flags, streamId, Buffer.concat(parts)));
  });
  return Buffer.concat(frames);
}

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  raw: Buffer;
}

/** Splits a client-to-server byte stream (preface first) into frames; fails on trailing bytes. */
function parseFrames(bytes: Buffer): Frame[] {
  assert.ok(
    bytes.subarray(0, PREFACE.length).equals(PREFACE),
    'the output starts with the connection preface',
  );
  const frames: Frame[] = [];
  let offset = PREFACE.length;
  while (offset < bytes.length) {
    assert.ok(bytes.length - offset >= 9, 'truncated frame header');
    const length = bytes.readUIntBE(offset, 3);
    const end = offset + 9 + length;
    assert.ok(end <= bytes.length, 'truncated frame payload');
    frames.push({
      type: bytes.readUInt8(offset + 3),
      flags: bytes.readUInt8(offset + 4),
      streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff,
      payload: bytes.subarray(offset + 9, end),
      raw: bytes.subarray(offset, end),
    });
    offset = end;
  }
  return frames;
}

interface DecodedBlock {
  streamId: number;
  /** Flags of the HEADERS frame. */
  flags: number;
  priority: Buffer | undefined;
  fields: HeaderField[];
  frames: Frame[];
}

interface DecodedConnection {
  blocks: DecodedBlock[];
  /** Every frame, header blocks included, in order. */
  frames: Frame[];
}

/**
 * Decodes the rewriter's output as the server would, checking the framing rules on the way:
 * a header block is a HEADERS frame and CONTINUATION frames of the same stream with nothing in
 * between, and no frame exceeds the protocol's minimum maximum frame size.
 */
function decodeOutput(bytes: Buffer): DecodedConnection {
  const frames = parseFrames(bytes);
  const decoder = new ServerDecoder();
  const blocks: DecodedBlock[] = [];
  let open: { block: DecodedBlock; fragments: Buffer[] } | undefined;
  for (const current of frames) {
    assert.ok(
      current.payload.length <= MAX_FRAME,
      `a frame of ${current.payload.length} bytes exceeds ${MAX_FRAME}`,
    );
    if (open) {
      assert.equal(
        current.type,
        CONTINUATION,
        'only CONTINUATION frames may follow an unfinished header block',
      );
      assert.equal(current.streamId, open.block.streamId, 'CONTINUATION of another stream');
      open.fragments.push(current.payload);
      open.block.frames.push(current);
    } else if (current.type === HEADERS) {
      let start = 0;
      let end = current.payload.length;
      if (current.flags & PADDED) {
        end -= current.payload.readUInt8(0);
        start = 1;
      }
      let priority: Buffer | undefined;
      if (current.flags & PRIORITY_FLAG) {
        priority = current.payload.subarray(start, start + 5);
        start += 5;
      }
      open = {
        block: { streamId: current.streamId, flags: current.flags, priority, fields: [], frames: [current] },
        fragments: [current.payload.subarray(start, end)],
      };
    } else {
      assert.notEqual(current.type, CONTINUATION, 'CONTINUATION without HEADERS');
      continue;
    }
    if (current.flags & END_HEADERS) {
      open.block.fields = decoder.decode(Buffer.concat(open.fragments));
      blocks.push(open.block);
      open = undefined;
    }
  }
  assert.equal(open, undefined, 'the output ends inside a header block');
  return { blocks, frames };
}

const pairs = (fields: HeaderField[] | HeaderInput[]): [string, string][] =>
  fields.map((field) => [field.name, field.value]);

/** What the server must see: the request's headers, with an invalid :authority replaced. */
function expectedPairs(headers: HeaderInput[]): [string, string][] {
  return headers.map((header) => [
    header.name,
    header.name === ':authority' && !isValidAuthority(header.value) ? REPLACEMENT_AUTHORITY : header.value,
  ]);
}

function grpcRequest(method: string, authority: string, timeout: string): HeaderInput[] {
  return [
    { name: ':method', value: 'POST' },
    { name: ':scheme', value: 'http' },
    { name: ':path', value: `/csi.v1.${method}` },
    { name: ':authority', value: authority },
    { name: 'content-type', value: 'application/grpc' },
    { name: 'user-agent', value: 'grpc-go/1.65.0' },
    { name: 'te', value: 'trailers' },
    { name: 'grpc-timeout', value: timeout },
  ];
}

const SOCKET = '/run/dolly/csi.sock';

/** Feeds `input` in chunks of `chunkSize` bytes and returns everything the rewriter emitted. */
function rewrite(input: Buffer, chunkSize = input.length): Buffer {
  const rewriter = new ClientStreamRewriter();
  const output: Buffer[] = [];
  for (let offset = 0; offset < input.length; offset += chunkSize) {
    output.push(rewriter.push(Buffer.from(input.subarray(offset, offset + chunkSize))));
  }
  return Buffer.concat(output);
}

function dataFrames(connection: DecodedConnection): Buffer[] {
  return connection.frames.filter((candidate) => candidate.type === DATA).map((candidate) => candidate.raw);
}

// ---------------------------------------------------------------------------------------------

describe('isValidAuthority', () => {
  it('accepts host, host:port and IP literals', () => {
    for (const value of [
      'localhost',
      'example.com:443',
      '127.0.0.1:10000',
      '[::1]:50051',
      'dolly.csi.example',
      'a%2Fb',
      'user@host',
    ]) {
      assert.equal(isValidAuthority(value), true, value);
    }
  });

  it('rejects socket paths, empty values and characters outside RFC 3986', () => {
    for (const value of [
      SOCKET,
      '/csi/csi.sock',
      'unix:///csi/csi.sock',
      '',
      'a b',
      'host\n',
      'host/',
      'hö.st',
      'a"b',
      'a\\b',
    ]) {
      assert.equal(isValidAuthority(value), false, JSON.stringify(value));
    }
  });
});

describe('ClientStreamRewriter', () => {
  it('rewrites a socket-path :authority on every request of a connection (Huffman, dynamic table)', () => {
    const client = new ClientEncoder();
    const probe = grpcRequest('Identity/Probe', SOCKET, '9999807u');
    const create = grpcRequest('Controller/CreateVolume', SOCKET, '59999830u');
    const block1 = client.block(probe);
    const block2 = client.block(create);

    // The client really used Huffman coding and its dynamic table:
    assert.ok(!block1.includes(Buffer.from(SOCKET, 'latin1')), 'the socket path is Huffman-coded');
    assert.ok(block2.length < block1.length / 2, 'the second block reuses indexed entries');
    assert.throws(
      () => new ServerDecoder().decode(block2),
      'the second block cannot be decoded without the first',
    );

    const data1 = grpcData(1, true);
    const data3 = grpcData(3, true);
    const input = Buffer.concat([
      PREFACE,
      CLIENT_SETTINGS,
      CONNECTION_WINDOW,
      headersFrames(1, block1),
      data1,
      SETTINGS_ACK,
      headersFrames(3, block2),
      data3,
    ]);
    const output = decodeOutput(rewrite(input));

    assert.deepEqual(
      output.frames.map((candidate) => candidate.type),
      [SETTINGS, WINDOW_UPDATE, HEADERS, DATA, SETTINGS, HEADERS, DATA],
    );
    // Frames other than header blocks pass through byte for byte.
    assert.deepEqual(
      output.frames.filter((candidate) => candidate.type !== HEADERS).map((candidate) => candidate.raw),
      [CLIENT_SETTINGS, CONNECTION_WINDOW, data1, SETTINGS_ACK, data3],
    );

    assert.equal(output.blocks.length, 2);
    const [first, second] = output.blocks;
    assert.equal(first?.streamId, 1);
    assert.equal(second?.streamId, 3);
    assert.deepEqual(pairs(first?.fields ?? []), expectedPairs(probe));
    assert.deepEqual(pairs(second?.fields ?? []), expectedPairs(create));
    assert.equal(first?.fields[3]?.value, 'localhost');
    assert.equal(second?.fields[3]?.value, 'localhost');
    for (const block of output.blocks)
      assert.equal(block.flags & END_STREAM, 0, 'no END_STREAM was sent on HEADERS');
  });

  it('keeps valid authorities and every other header (names, values, order, never-indexed) unchanged', () => {
    const client = new ClientEncoder();
    const authorities = [
      'localhost',
      'example.com:443',
      '[::1]:50051',
      SOCKET,
      '/csi/csi.sock',
      'unix:///csi/csi.sock',
    ];
    const requests = authorities.map((authority, index): HeaderInput[] => [
      { name: ':method', value: 'POST' },
      { name: ':scheme', value: 'http' },
      { name: ':authority', value: authority },
      { name: ':path', value: '/csi.v1.Node/NodePublishVolume' },
      { name: 'host', value: SOCKET },
      { name: 'x-socket-path', value: SOCKET, huffman: false },
      { name: 'x-request', value: `request ${index}`, incremental: false },
      { name: 'authorization', value: 'Bearer s3cr3t', neverIndex: true },
      { name: 'x-repeated', value: 'a' },
      { name: 'x-repeated', value: 'b' },
      { name: 'grpc-timeout', value: `${1000 + index}m` },
    ]);
    const input = Buffer.concat([
      PREFACE,
      CLIENT_SETTINGS,
      ...requests.map((headers, index) =>
        headersFrames(2 * index + 1, client.block(headers), { endStream: true }),
      ),
    ]);
    const output = decodeOutput(rewrite(input));
    assert.equal(output.blocks.length, requests.length);
    output.blocks.forEach((block, index) => {
      const request = requests[index] ?? [];
      assert.equal(block.streamId, 2 * index + 1);
      assert.deepEqual(pairs(block.fields), expectedPairs(request));
      const authority = block.fields.find((field) => field.name === ':authority')?.value;
      assert.equal(authority, index < 3 ? authorities[index] : 'localhost');
      assert.deepEqual(
        block.fields.map((field) => field.neverIndex),
        request.map((header) => header.neverIndex === true),
        'never-indexed fields stay never indexed',
      );
    });
  });

  it('keeps END_STREAM flags and stream IDs', () => {
    const client = new ClientEncoder();
    const streams = [
      { id: 1, endStream: true },
      { id: 3, endStream: false },
      { id: 5, endStream: true },
      { id: 0x7fffffff, endStream: false },
    ];
    const input = Buffer.concat([
      PREFACE,
      ...streams.map(({ id, endStream }) =>
        headersFrames(id, client.block(grpcRequest('Identity/Probe', SOCKET, `${id}u`)), { endStream }),
      ),
      // trailers-like HEADERS with END_STREAM on an open stream
      headersFrames(3, client.block([{ name: 'grpc-status', value: '0' }]), { endStream: true }),
    ]);
    const output = decodeOutput(rewrite(input));
    assert.deepEqual(
      output.blocks.map((block) => [block.streamId, (block.flags & END_STREAM) !== 0]),
      [...streams.map(({ id, endStream }) => [id, endStream]), [3, true]],
    );
    assert.deepEqual(pairs(output.blocks[4]?.fields ?? []), [['grpc-status', '0']]);
  });

  it('reassembles a header block split over HEADERS and CONTINUATION frames', () => {
    const client = new ClientEncoder();
    const first = grpcRequest('Controller/DeleteVolume', SOCKET, '1S');
    const second = grpcRequest('Controller/DeleteVolume', SOCKET, '2S');
    const block1 = client.block(first);
    assert.ok(block1.length > 12);
    const input = Buffer.concat([
      PREFACE,
      headersFrames(1, block1, { split: [3, 1, 5], endStream: true }),
      headersFrames(3, client.block(second), { split: [1] }),
    ]);
    const output = decodeOutput(rewrite(input));
    assert.equal(output.blocks.length, 2);
    assert.deepEqual(pairs(output.blocks[0]?.fields ?? []), expectedPairs(first));
    assert.deepEqual(pairs(output.blocks[1]?.fields ?? []), expectedPairs(second));
    assert.equal((output.blocks[0]?.flags ?? 0) & END_STREAM, END_STREAM);
    assert.equal((output.blocks[1]?.flags ?? END_STREAM) & END_STREAM, 0);
    assert.deepEqual(
      output.blocks.map((block) => block.streamId),
      [1, 3],
    );
  });

  it('handles the PADDED and PRIORITY flags, alone, together and with CONTINUATION', () => {
    const client = new ClientEncoder();
    const priority = Buffer.from([0x80, 0x00, 0x00, 0x01, 0xff]); // exclusive, depends on stream 1, weight 256
    const variants: HeadersOptions[] = [
      { padding: 10 },
      { padding: 0 },
      { priority },
      { padding: 200, priority, endStream: true },
      { padding: 7, priority, split: [2, 2] },
      { padding: 3, split: [4] },
    ];
    const requests = variants.map((_, index) => grpcRequest('Node/NodeStageVolume', SOCKET, `${index + 1}m`));
    const input = Buffer.concat([
      PREFACE,
      ...variants.map((options, index) =>
        headersFrames(2 * index + 1, client.block(requests[index] ?? []), options),
      ),
    ]);
    const output = decodeOutput(rewrite(input));
    assert.equal(output.blocks.length, variants.length);
    output.blocks.forEach((block, index) => {
      const options = variants[index] ?? {};
      assert.equal(block.streamId, 2 * index + 1);
      assert.deepEqual(pairs(block.fields), expectedPairs(requests[index] ?? []), `variant ${index}`);
      assert.equal(
        (block.flags & END_STREAM) !== 0,
        options.endStream === true,
        `END_STREAM of variant ${index}`,
      );
      if (options.priority) {
        assert.ok(block.flags & PRIORITY_FLAG, `variant ${index} keeps its PRIORITY flag`);
        assert.deepEqual(block.priority, options.priority, `variant ${index} keeps its priority`);
      } else {
        assert.equal(block.flags & PRIORITY_FLAG, 0);
      }
    });
  });

  it('splits a large header block into frames of at most 16384 bytes', () => {
    const client = new ClientEncoder();
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    const big = Array.from({ length: 40_000 }, (_, index) => alphabet[(index * 7) % alphabet.length]).join(
      '',
    );
    assert.equal(big.length, 40_000);
    const priority = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x0f]);
    const requests = [
      [
        ...grpcRequest('Controller/CreateVolume', SOCKET, '1m'),
        { name: 'x-big', value: big, huffman: false },
      ],
      [...grpcRequest('Controller/CreateVolume', SOCKET, '2m'), { name: 'x-big', value: big }],
      grpcRequest('Controller/CreateVolume', SOCKET, '3m'),
    ];
    const blocks = requests.map((headers) => client.block(headers));
    const inputFrames = blocks.map((block, index) => {
      const split: number[] = [];
      for (let rest = block.length; rest > MAX_FRAME - 6; rest -= MAX_FRAME - 6) split.push(MAX_FRAME - 6);
      return headersFrames(2 * index + 1, block, {
        split,
        endStream: index === 0,
        ...(index === 1 ? { priority } : {}),
      });
    });
    const output = decodeOutput(rewrite(Buffer.concat([PREFACE, ...inputFrames])));

    assert.equal(output.blocks.length, 3);
    output.blocks.forEach((block, index) => {
      assert.deepEqual(pairs(block.fields), expectedPairs(requests[index] ?? []), `request ${index}`);
      assert.equal(block.streamId, 2 * index + 1);
      assert.equal((block.flags & END_STREAM) !== 0, index === 0);
    });
    for (const block of output.blocks.slice(0, 2)) {
      assert.ok(block.frames.length >= 3, `40,000 bytes need at least 3 frames, got ${block.frames.length}`);
      block.frames.forEach((candidate, index) => {
        const last = index === block.frames.length - 1;
        assert.ok(candidate.payload.length <= MAX_FRAME);
        assert.equal(candidate.type, index === 0 ? HEADERS : CONTINUATION);
        assert.equal(candidate.streamId, block.streamId);
        assert.equal((candidate.flags & END_HEADERS) !== 0, last, `END_HEADERS only on the last frame`);
        if (index > 0)
          assert.equal(candidate.flags & END_STREAM, 0, 'END_STREAM belongs on the HEADERS frame');
      });
    }
    assert.equal(output.blocks[0]?.frames[0]?.payload.length, MAX_FRAME, 'frames are filled up to the limit');
    assert.deepEqual(output.blocks[1]?.priority, priority);
    assert.equal(output.blocks[1]?.fields.at(-1)?.value, big);
  });

  it('gives the same result when fed one byte at a time', () => {
    const client = new ClientEncoder();
    const requests = [
      grpcRequest('Identity/Probe', SOCKET, '1m'),
      grpcRequest('Identity/GetPluginInfo', 'localhost', '2m'),
      grpcRequest('Controller/CreateVolume', SOCKET, '3m'),
    ];
    const input = Buffer.concat([
      PREFACE,
      CLIENT_SETTINGS,
      headersFrames(1, client.block(requests[0] ?? [])),
      grpcData(1, true),
      headersFrames(3, client.block(requests[1] ?? []), {
        split: [2, 3],
        padding: 4,
        priority: Buffer.from([0, 0, 0, 1, 9]),
      }),
      grpcData(3, true),
      frame(PING, 0, 0, Buffer.from('12345678')),
      headersFrames(5, client.block(requests[2] ?? []), { endStream: true }),
    ]);

    const rewriter = new ClientStreamRewriter();
    const pieces: Buffer[] = [];
    for (let offset = 0; offset < input.length; offset += 1) {
      const piece = rewriter.push(Buffer.from([input[offset] ?? 0]));
      if (offset < PREFACE.length - 1)
        assert.equal(piece.length, 0, 'nothing is emitted before the whole preface');
      pieces.push(piece);
    }
    const byteWise = Buffer.concat(pieces);
    assert.ok(byteWise.equals(rewrite(input)), 'byte-wise output equals one-shot output');
    assert.ok(byteWise.equals(rewrite(input, 7)), 'output does not depend on chunk boundaries');

    const output = decodeOutput(byteWise);
    assert.deepEqual(
      output.blocks.map((block) => pairs(block.fields)),
      requests.map(expectedPairs),
    );
    assert.deepEqual(dataFrames(output), [grpcData(1, true), grpcData(3, true)]);
  });

  it('passes every other frame type through byte for byte', () => {
    const others = [
      CLIENT_SETTINGS,
      SETTINGS_ACK,
      frame(PING, 0, 0, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])),
      frame(WINDOW_UPDATE, 0, 1, uint32(65_535)),
      frame(PRIORITY, 0, 3, Buffer.from([0, 0, 0, 1, 16])),
      frame(RST_STREAM, 0, 1, uint32(8)),
      frame(
        DATA,
        PADDED | END_STREAM,
        5,
        Buffer.concat([Buffer.from([3]), Buffer.from('hello'), Buffer.alloc(3)]),
      ),
      frame(0xfa, 0xff, 7, Buffer.from('an extension frame')),
      frame(CONTINUATION, END_HEADERS, 9, Buffer.from([0x82])), // no header block open on stream 9
      frame(GOAWAY, 0, 0, Buffer.concat([uint32(1), uint32(0)])),
    ];
    const output = rewrite(Buffer.concat([PREFACE, ...others]));
    assert.ok(output.equals(Buffer.concat([PREFACE, ...others])));
  });

  // BUG: src/csi/transport/authority-fix.ts creates its decoder with `{ table: { size } }`, but
  // hpack.js reads `table.maxSize`, so the decoder's table has no maximum. Any dynamic table size
  // update (RFC 7541 §4.2, §6.3), which a client may send at the start of any header block, then
  // fails with "Table size bigger than maximum" and the connection is dropped.
  it('accepts dynamic table size updates at the start of a header block', () => {
    const client = new ClientEncoder();
    const first = grpcRequest('Identity/Probe', SOCKET, '1m');
    const second = grpcRequest('Identity/Probe', SOCKET, '2m');
    const block1 = client.block(first);
    client.reset(); // size update to 0 (evicting everything) and back to 4096
    const block2 = client.block(second);
    const sameSize = Buffer.from([0x3f, 0xe1, 0x1f]); // size update to 4096
    const third = grpcRequest('Identity/Probe', SOCKET, '3m');
    const block3 = Buffer.concat([sameSize, client.block(third)]);
    assert.equal(block2[0], 0x20, 'the client sent a table size update to 0');

    const input = Buffer.concat([
      PREFACE,
      headersFrames(1, block1),
      headersFrames(3, block2),
      headersFrames(5, block3),
    ]);
    const output = decodeOutput(rewrite(input));
    assert.deepEqual(
      output.blocks.map((block) => pairs(block.fields)),
      [first, second, third].map(expectedPairs),
    );
  });

  // BUG (same cause): the decoder's dynamic table never evicts, so it grows without bound over a
  // long-lived connection (every new grpc-timeout value is a new entry) and accepts references to
  // entries the client's 4096-byte table has already evicted, which RFC 7541 §2.3.3 requires to
  // be treated as a decoding error.
  it("tracks the client's 4096-byte dynamic table: a reference to an evicted entry is an error", () => {
    const client = new ClientEncoder();
    const value = 'v'.repeat(1500);
    // Three entries of 32 + 3 + 1500 bytes: the first no longer fits in 4096 bytes.
    const block = client.block([
      { name: 'x-a', value, huffman: false },
      { name: 'x-b', value, huffman: false },
      { name: 'x-c', value, huffman: false },
    ]);
    const rewriter = new ClientStreamRewriter();
    rewriter.push(Buffer.concat([PREFACE, headersFrames(1, block)]));
    // Dynamic entries are 62 (x-c) and 63 (x-b); 64 (x-a) was evicted.
    const valid = rewriter.push(headersFrames(3, Buffer.from([0x80 | 63])));
    assert.deepEqual(pairs(decodeOutput(Buffer.concat([PREFACE, valid])).blocks[0]?.fields ?? []), [
      ['x-b', value],
    ]);
    assert.throws(() => rewriter.push(headersFrames(5, Buffer.from([0x80 | 64]))));
  });
});

// ---------------------------------------------------------------------------------------------
// Limits: the rewriter decodes header blocks before nghttp2 can apply its own limits, so it
// applies them itself. Each violation is a connection error with the code nghttp2 under Node
// answers with.

/** Runs `action` and returns the Http2ConnectionError it throws. */
function connectionError(action: () => unknown): Http2ConnectionError {
  try {
    action();
  } catch (error) {
    assert.ok(
      error instanceof Http2ConnectionError,
      `expected an Http2ConnectionError, got ${String(error)}`,
    );
    return error;
  }
  assert.fail('expected a connection error');
}

function started(): ClientStreamRewriter {
  const rewriter = new ClientStreamRewriter();
  rewriter.push(Buffer.concat([PREFACE, CLIENT_SETTINGS]));
  return rewriter;
}

/** The real client-to-server bytes of grpc-go 1.33.3 dialing the socket path as the kubelet does
 * (passthrough resolver, custom unix dialer): Probe, GetPluginInfo, Probe on one connection. */
const GRPC_GO_KUBELET_STREAM = Buffer.from(
  '505249202a20485454502f322e300d0a0d0a534d0d0a0d0a00000004000000000000000004010000000000006f010400' +
    '00000183864590608832fdc2be490b524c9f4c6bb0f19741a263b8ec628346c75b632d054b15d16cc6a90c487a28f4b9' +
    '1065e42f7608832e8393af5f8b1d75d0620d263d4c4d65647a8b9acac8b4c7602bb2caecff40027465864d833505b11f' +
    '40899acac8b24d494f6a7f867df7de03afdb000005000100000001000000000000000408000000000000000009000008' +
    '06000000000002041010090e070700002701040000000383864596608832fdc2be490b524c9f4c622a75d16cc6ab2552' +
    '9fc3c2c1c07f00867df7db7c2fdb00000500010000000300000000000000040800000000000000001b00000806000000' +
    '000002041010090e070700000f0104000000058386c5c4c3c2c17e867df7da6d97ad0000050001000000050000000000' +
    '0000040800000000000000000900000806000000000002041010090e0707',
  'hex',
);
const KUBELET_SOCKET = '/var/lib/kubelet/plugins/dolly.csi.dev/csi.sock';

describe('ClientStreamRewriter with a real grpc-go client', () => {
  it('rewrites the Huffman-coded, then indexed, socket-path authority of grpc-go 1.33', () => {
    // As sent: a literal with incremental indexing (0x41: name index 1) and a Huffman value,
    // then one-byte references to that dynamic-table entry.
    const input = parseFrames(GRPC_GO_KUBELET_STREAM);
    const sent = new ServerDecoder();
    const sentAuthorities = input
      .filter((candidate) => candidate.type === HEADERS)
      .map((candidate) => sent.decode(candidate.payload).find((field) => field.name === ':authority')?.value);
    assert.deepEqual(sentAuthorities, [KUBELET_SOCKET, KUBELET_SOCKET, KUBELET_SOCKET]);
    assert.ok(input[2]?.payload.includes(Buffer.from([0x41, 0x80 | 34])), 'literal, Huffman, 34 bytes');

    const output = decodeOutput(rewrite(GRPC_GO_KUBELET_STREAM));
    assert.deepEqual(
      output.blocks.map((block) => block.fields.find((field) => field.name === ':authority')?.value),
      ['localhost', 'localhost', 'localhost'],
    );
    assert.deepEqual(
      output.blocks.map((block) => block.fields.find((field) => field.name === ':path')?.value),
      ['/csi.v1.Identity/Probe', '/csi.v1.Identity/GetPluginInfo', '/csi.v1.Identity/Probe'],
    );
    assert.deepEqual(
      output.frames.filter((candidate) => candidate.type !== HEADERS).map((candidate) => candidate.raw),
      input.filter((candidate) => candidate.type !== HEADERS).map((candidate) => candidate.raw),
      'every other frame passes byte for byte',
    );
  });
});

describe('ClientStreamRewriter limits', () => {
  it('rejects a frame header announcing more than SETTINGS_MAX_FRAME_SIZE before its payload arrives', () => {
    for (const type of [DATA, HEADERS, CONTINUATION, 0xfa]) {
      const header = Buffer.alloc(9);
      header.writeUIntBE(0xffffff, 0, 3);
      header.writeUInt8(type, 3);
      header.writeUInt32BE(1, 5);
      const error = connectionError(() => started().push(header));
      assert.equal(error.code, ErrorCode.FRAME_SIZE_ERROR, `type ${type}`);
    }
    const rewriter = started();
    const atLimit = frame(DATA, 0, 1, Buffer.alloc(MAX_FRAME));
    assert.ok(rewriter.push(atLimit).equals(atLimit), 'a frame of exactly 16384 bytes passes');
    const header = Buffer.alloc(9);
    header.writeUIntBE(MAX_FRAME + 1, 0, 3);
    assert.equal(connectionError(() => rewriter.push(header)).code, ErrorCode.FRAME_SIZE_ERROR);
  });

  it('accepts 8 CONTINUATION frames after HEADERS, as nghttp2 does, and ends the connection at the 9th', () => {
    const client = new ClientEncoder();
    const request = grpcRequest('Identity/Probe', SOCKET, '1m');
    const block = client.block(request);
    assert.ok(block.length > 9);
    const eight = decodeOutput(
      rewrite(Buffer.concat([PREFACE, headersFrames(1, block, { split: [1, 1, 1, 1, 1, 1, 1, 1] })])),
    );
    assert.equal(eight.blocks[0]?.frames.length, 1, 'the block is re-framed into one frame');
    assert.deepEqual(pairs(eight.blocks[0]?.fields ?? []), expectedPairs(request));

    const rewriter = started();
    assert.equal(rewriter.push(frame(HEADERS, 0, 1, block.subarray(0, 1))).length, 0);
    for (let index = 1; index <= 8; index += 1) {
      assert.equal(rewriter.push(frame(CONTINUATION, 0, 1, block.subarray(index, index + 1))).length, 0);
    }
    const error = connectionError(() => rewriter.push(frame(CONTINUATION, 0, 1, block.subarray(9, 10))));
    assert.equal(error.code, ErrorCode.INTERNAL_ERROR);
    assert.match(error.message, /CONTINUATION/);
  });

  it('counts zero-length CONTINUATION frames too', () => {
    const rewriter = started();
    rewriter.push(frame(HEADERS, 0, 1, Buffer.from([0x82])));
    const flood = Buffer.concat(Array.from({ length: 100_000 }, () => frame(CONTINUATION, 0, 1)));
    assert.equal(connectionError(() => rewriter.push(flood)).code, ErrorCode.INTERNAL_ERROR);
  });

  it('ends the connection once a compressed header block exceeds 64 KiB, without waiting for its end', () => {
    const rewriter = started();
    rewriter.push(frame(HEADERS, 0, 1, Buffer.alloc(MAX_FRAME, 0x82)));
    for (let index = 0; index < 3; index += 1)
      rewriter.push(frame(CONTINUATION, 0, 1, Buffer.alloc(MAX_FRAME, 0x82)));
    const error = connectionError(() => rewriter.push(frame(CONTINUATION, 0, 1, Buffer.from([0x82]))));
    assert.equal(error.code, ErrorCode.ENHANCE_YOUR_CALM);
    assert.match(error.message, /header block larger than 65536/);
  });

  it('stops decoding an HPACK bomb at the header list limit', () => {
    const client = new ClientEncoder();
    const value = 'b'.repeat(4000);
    const first = client.block([
      ...grpcRequest('Identity/Probe', 'localhost', '1m'),
      { name: 'x-b', value, huffman: false },
    ]);
    const rewriter = started();
    const output = decodeOutput(Buffer.concat([PREFACE, rewriter.push(headersFrames(1, first))]));
    assert.equal(output.blocks[0]?.fields.at(-1)?.value, value);
    // 15 references to the entry (62) decode to 15 * 4035 bytes, under 64 KiB: accepted.
    const fifteen = rewriter.push(headersFrames(3, Buffer.alloc(15, 0x80 | 62)));
    assert.ok(fifteen.length > 15 * 4000);
    // 16,000 one-byte references would decode to 64 MB: stopped after the 17th.
    const bomb = Buffer.alloc(16_000, 0x80 | 62);
    const error = connectionError(() => rewriter.push(headersFrames(5, bomb, { split: [MAX_FRAME - 100] })));
    assert.equal(error.code, ErrorCode.ENHANCE_YOUR_CALM);
    assert.match(error.message, /header list larger than 65536/);
  });

  it('rejects what is not an HTTP/2 connection preface at the first wrong byte', () => {
    const rewriter = new ClientStreamRewriter();
    assert.equal(rewriter.push(PREFACE.subarray(0, 10)).length, 0);
    assert.equal(connectionError(() => rewriter.push(Buffer.from('x'))).code, ErrorCode.PROTOCOL_ERROR);
    const http1 = connectionError(() => new ClientStreamRewriter().push(Buffer.from('GET / HTTP/1.1\r\n')));
    assert.equal(http1.code, ErrorCode.PROTOCOL_ERROR);
  });

  it('rejects another frame inside a header block (RFC 9113 §6.10)', () => {
    for (const intruder of [
      frame(PING, 0, 0, Buffer.alloc(8)),
      frame(CONTINUATION, END_HEADERS, 3, Buffer.from([0x82])),
      frame(HEADERS, END_HEADERS, 3, Buffer.from([0x82])),
    ]) {
      const rewriter = started();
      rewriter.push(frame(HEADERS, 0, 1, Buffer.from([0x82])));
      assert.equal(connectionError(() => rewriter.push(intruder)).code, ErrorCode.PROTOCOL_ERROR);
    }
  });

  it('answers an undecodable header block with COMPRESSION_ERROR', () => {
    const error = connectionError(() => started().push(frame(HEADERS, END_HEADERS, 1, Buffer.from([0x80]))));
    assert.equal(error.code, ErrorCode.COMPRESSION_ERROR);
  });

  it('works through buffered frames a budget at a time, with the same result', () => {
    const client = new ClientEncoder();
    const requests = Array.from({ length: 20 }, (_, index) =>
      grpcRequest('Identity/Probe', SOCKET, `${index + 1}m`),
    );
    const input = Buffer.concat([
      PREFACE,
      CLIENT_SETTINGS,
      ...requests.map((request, index) =>
        Buffer.concat([headersFrames(2 * index + 1, client.block(request)), grpcData(2 * index + 1, true)]),
      ),
    ]);
    const rewriter = new ClientStreamRewriter();
    rewriter.write(input);
    const pieces: Buffer[] = [];
    let rounds = 0;
    for (let more = true; more; rounds += 1) {
      const result = rewriter.read(200);
      pieces.push(result.output);
      more = result.more;
    }
    assert.ok(rounds > 10, `a budget of 200 bytes takes many rounds, took ${rounds}`);
    assert.ok(Buffer.concat(pieces).equals(rewrite(input)));
    assert.equal(rewriter.bufferedBytes, 0);
    assert.ok(rewriter.handshakeComplete);
  });
});
