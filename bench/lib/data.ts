import { mkdir, open, rm } from 'node:fs/promises';
import { run } from '../../src/host/exec.js';
import { mapExtents } from '../../src/host/extent-map.js';
import { timed } from './timing.js';

/** Host programs here move gigabytes: give them an hour, not exec's two minutes. */
const LONG = { timeoutMs: 3_600_000 };

/** Extents of a file's data, from the filesystem's own map (FIEMAP through xfs_io). */
export async function countExtents(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    let count = 0;
    await mapExtents(handle.fd, () => (count += 1), LONG);
    return count;
  } finally {
    await handle.close();
  }
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A full copy of an image the way a driver without reflinks makes one, made durable like the
 * driver's own clone (fsync): `cp --sparse=always --reflink=never` (skips holes, so it costs
 * what the image holds), or `dd bs=1M conv=fsync` (copies every byte, holes included, as the
 * hostpath reference driver's block clone does; its default 512-byte blocks would be slower
 * still). Resolves with the milliseconds it took; the copy is left at `destination`.
 */
export async function fullCopy(method: 'cp' | 'dd', source: string, destination: string): Promise<number> {
  const { ms } = await timed(async () => {
    if (method === 'cp') {
      await run('cp', ['--sparse=always', '--reflink=never', source, destination], LONG);
      await fsyncFile(destination);
    } else {
      await run('dd', [`if=${source}`, `of=${destination}`, 'bs=1M', 'conv=fsync', 'status=none'], LONG);
    }
  });
  return ms;
}

/** `cp -a source/. destination/` (the hostpath driver's clone of a filesystem volume), then syncfs. */
export async function treeCopy(source: string, destination: string): Promise<number> {
  await mkdir(destination);
  const { ms } = await timed(async () => {
    await run('cp', ['-a', `${source}/.`, `${destination}/`], LONG);
    await run('sync', ['-f', destination], LONG);
  });
  return ms;
}

export async function remove(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export interface FioWrite {
  /** A block device or file. */
  target: string;
  /** `seq`: one sequential pass of 1 MiB writes; `rand`: `count` 4 KiB writes at random offsets. */
  pattern: 'seq' | 'rand';
  /** The region written (from offset 0). */
  sizeBytes: number;
  /** For `rand`: how many 4 KiB writes (each 4 KiB block at most once per call). */
  count?: number;
}

/**
 * Writes with fio the way an application does: direct I/O, 16 in flight, fsync at the end.
 * Random writes use fio's random map, so the `count` writes of one call land on `count` distinct
 * blocks (calls after it may hit some of them again, as an application would).
 */
export async function fioWrite(write: FioWrite): Promise<void> {
  if (write.pattern === 'rand' && (write.count ?? 0) <= 0) return;
  const args = [
    '--name=bench-write',
    `--filename=${write.target}`,
    `--size=${write.sizeBytes}`,
    '--direct=1',
    '--ioengine=libaio',
    '--iodepth=16',
    '--end_fsync=1',
    '--output-format=terse',
  ];
  if (write.pattern === 'seq') args.push('--rw=write', '--bs=1M');
  // fio's offsets are the same run after run, whatever --randseed says (fio 3.33); without
  // --randrepeat each run draws new ones, so each batch of a history lands on other blocks.
  else args.push('--rw=randwrite', '--bs=4k', `--number_ios=${write.count}`, '--randrepeat=0');
  await run('fio', args, LONG);
}
