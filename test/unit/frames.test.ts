import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ByteQueue,
  FrameBoundaries,
  FrameType,
  frameOf,
  goawayFrame,
} from '../../src/csi/transport/frames.js';
import type { FrameHeader } from '../../src/csi/transport/frames.js';

describe('FrameBoundaries', () => {
  const frames = [
    frameOf(FrameType.SETTINGS, 0, 0, Buffer.alloc(12)),
    frameOf(FrameType.HEADERS, 0x4, 1, Buffer.alloc(30, 1)),
    frameOf(FrameType.DATA, 0x1, 1, Buffer.alloc(100, 2)),
    frameOf(FrameType.DATA, 0x1, 3, Buffer.alloc(0)),
  ];
  const stream = Buffer.concat(frames);

  it('reports every frame header, whatever the chunk boundaries', () => {
    for (const size of [1, 2, 9, 10, 50, stream.length]) {
      const boundaries = new FrameBoundaries();
      const headers: FrameHeader[] = [];
      for (let offset = 0; offset < stream.length; offset += size) {
        boundaries.scan(stream.subarray(offset, offset + size), (header) => headers.push(header));
      }
      assert.deepEqual(
        headers.map((header) => [header.type, header.flags, header.streamId, header.length]),
        [
          [FrameType.SETTINGS, 0, 0, 12],
          [FrameType.HEADERS, 0x4, 1, 30],
          [FrameType.DATA, 0x1, 1, 100],
          [FrameType.DATA, 0x1, 3, 0],
        ],
        `chunks of ${size}`,
      );
      assert.equal(boundaries.atBoundary, true);
    }
  });

  it('stops at the end of the frame in progress', () => {
    const boundaries = new FrameBoundaries();
    const firstEnd = frames[0]?.length ?? 0;
    boundaries.scan(stream.subarray(0, firstEnd + 5), () => undefined);
    assert.equal(boundaries.atBoundary, false, 'inside the HEADERS frame header');
    const rest = stream.subarray(firstEnd + 5);
    const consumed = boundaries.scan(rest, () => undefined, true);
    assert.equal(consumed, (frames[1]?.length ?? 0) - 5);
    assert.equal(boundaries.atBoundary, true);
    assert.equal(
      boundaries.scan(rest.subarray(consumed), () => undefined, true),
      0,
      'already at a boundary',
    );
  });
});

describe('ByteQueue', () => {
  it('peeks and takes across chunks of any size', () => {
    const queue = new ByteQueue();
    const bytes = Buffer.from(Array.from({ length: 100 }, (_, index) => index));
    for (let offset = 0; offset < bytes.length; offset += 7) queue.push(bytes.subarray(offset, offset + 7));
    queue.push(Buffer.alloc(0));
    assert.equal(queue.length, 100);
    assert.deepEqual(queue.peek(9), bytes.subarray(0, 9));
    assert.deepEqual(queue.take(3), bytes.subarray(0, 3));
    assert.deepEqual(queue.take(50), bytes.subarray(3, 53));
    assert.equal(queue.length, 47);
    assert.deepEqual(queue.take(47), bytes.subarray(53));
    assert.equal(queue.length, 0);
  });
});

describe('goawayFrame', () => {
  it('carries the last stream, the error code and the reason', () => {
    const frame = goawayFrame(7, 0xb, 'too many');
    assert.equal(frame.readUIntBE(0, 3), 8 + 8);
    assert.equal(frame.readUInt8(3), FrameType.GOAWAY);
    assert.equal(frame.readUInt32BE(5), 0, 'stream 0');
    assert.equal(frame.readUInt32BE(9), 7);
    assert.equal(frame.readUInt32BE(13), 0xb);
    assert.equal(frame.subarray(17).toString(), 'too many');
  });
});
