import { internal } from '../errors.js';
import type { RunOptions } from './exec.js';
import { runLines } from './exec.js';

/** FIEMAP extent flags (linux/fiemap.h): what the filesystem says about each extent. */
export const FIEMAP_EXTENT = {
  LAST: 0x1,
  /** No physical location yet (with DELALLOC: not written back). */
  UNKNOWN: 0x2,
  DELALLOC: 0x4,
  ENCODED: 0x8,
  DATA_ENCRYPTED: 0x80,
  NOT_ALIGNED: 0x100,
  DATA_INLINE: 0x200,
  DATA_TAIL: 0x400,
  /** Allocated but never written (fallocate): takes space, reads as zeros. */
  UNWRITTEN: 0x800,
  MERGED: 0x1000,
  /** Referenced by more than one file or offset (a reflink): freeing this file does not free it. */
  SHARED: 0x2000,
} as const;

export interface Extent {
  logicalBytes: number;
  physicalBytes: number;
  lengthBytes: number;
  flags: number;
}

/** xfs_io prints every offset and length in 512-byte units (io/fiemap.c, BTOBBT). */
const UNIT_BYTES = 512;

// `xfs_io -c 'fiemap -v'` lines: "<file>:", the column header, then one line per hole or extent,
//    0: [0..8191]:       hole              8192
//    1: [8192..12287]:   192..4287         4096 0x2000
// with columns that widen (and run together) as numbers grow, so whitespace is not fixed.
const FILE_LINE = /^\S.*:$/;
const HEADER_LINE = /^\s*EXT:\s+FILE-OFFSET\s+BLOCK-RANGE\s+TOTAL\s+FLAGS\s*$/;
const HOLE_LINE = /^\s*\d+:\s*\[(\d+)\.\.(\d+)\]:\s*hole\s+(\d+)\s*$/;
const EXTENT_LINE = /^\s*\d+:\s*\[(\d+)\.\.(\d+)\]:\s*(\d+)\.\.(\d+)\s+(\d+)\s+0x([0-9a-f]+)\s*$/;

function bytes(units: string, line: string): number {
  const value = Number(units) * UNIT_BYTES;
  if (!Number.isSafeInteger(value)) throw unexpected(line, `${units} is out of range`);
  return value;
}

function unexpected(line: string, why: string): Error {
  return internal(
    `unexpected line in the extent map from xfs_io (${why}): ${JSON.stringify(line.slice(0, 200))}`,
  );
}

/**
 * One line of `xfs_io -c 'fiemap -v'` output: the extent it describes, or undefined for the lines
 * that describe none (the file name, the column header, holes). Any other line throws: it means
 * an xfs_io whose output this parser does not know, and guessing would report wrong numbers.
 */
export function parseFiemapLine(line: string): Extent | undefined {
  const extent = EXTENT_LINE.exec(line);
  if (extent) {
    const [, first = '', last = '', physicalFirst = '', physicalLast = '', total = '', flags = ''] = extent;
    // A tail shorter than 512 bytes (inline data) prints as length 0 and a last unit of first − 1:
    // it occupies no data blocks.
    if (total === '0') return undefined;
    const lengthBytes = bytes(total, line);
    const logicalBytes = bytes(first, line);
    const physicalBytes = bytes(physicalFirst, line);
    if (
      bytes(last, line) + UNIT_BYTES - logicalBytes !== lengthBytes ||
      bytes(physicalLast, line) + UNIT_BYTES - physicalBytes !== lengthBytes
    ) {
      throw unexpected(line, 'its ranges and total disagree');
    }
    return { logicalBytes, physicalBytes, lengthBytes, flags: parseInt(flags, 16) };
  }
  const hole = HOLE_LINE.exec(line);
  if (hole) {
    const [, first = '', last = '', total = ''] = hole;
    if (bytes(last, line) + UNIT_BYTES - bytes(first, line) !== bytes(total, line)) {
      throw unexpected(line, 'its range and total disagree');
    }
    return undefined;
  }
  if (HEADER_LINE.test(line) || FILE_LINE.test(line)) return undefined;
  throw unexpected(line, 'not a hole, an extent or a header');
}

/**
 * Reports every extent of the data of an open file to `onExtent`, in file order, from the
 * filesystem's own extent map (the FIEMAP ioctl, through `xfs_io -r -c 'fiemap -v'`). The file
 * is passed to xfs_io as its fd 3, so what is mapped is exactly the file the caller opened and
 * checked, whatever happens to its path meanwhile. xfs_io asks with FIEMAP_FLAG_SYNC, so data
 * still in the page cache is written back first and its blocks counted where they land. The
 * output is read line by line, never held whole: memory stays flat for millions of extents.
 */
export async function mapExtents(
  fd: number,
  onExtent: (extent: Extent) => void,
  options: Pick<RunOptions, 'timeoutMs' | 'signal'> = {},
): Promise<void> {
  await runLines(
    'xfs_io',
    ['-r', '-c', 'fiemap -v', '/dev/fd/3'],
    (line) => {
      const extent = parseFiemapLine(line);
      if (extent !== undefined) onExtent(extent);
    },
    { ...options, passFds: [fd] },
  );
}
