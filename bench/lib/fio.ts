/**
 * fio's four data-path jobs against a directory: sequential write and read (1 MiB blocks),
 * random 4 KiB write and read, all with direct I/O, so that the same run inside a published
 * volume and on the pool filesystem itself compares the two data paths, not page caches.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/host/exec.js';

export type FioJob = 'seq-write' | 'seq-read' | 'rand-write' | 'rand-read';

/** In the order they run: the reads find the data the writes left. */
export const FIO_JOBS: readonly FioJob[] = ['seq-write', 'seq-read', 'rand-write', 'rand-read'];

const JOB_ARGS: Record<FioJob, string[]> = {
  'seq-write': ['--rw=write', '--bs=1M'],
  'seq-read': ['--rw=read', '--bs=1M'],
  'rand-write': ['--rw=randwrite', '--bs=4k'],
  'rand-read': ['--rw=randread', '--bs=4k'],
};

export interface FioRunOptions {
  /** How long each job runs (time-based: a job that reaches the end of the file starts over). */
  runtimeSeconds: number;
  /** The size of the one file every job works on. */
  sizeBytes: number;
  /** I/Os in flight per job (libaio). Default 16. */
  ioDepth?: number;
  /** Which jobs to run; default all four. */
  jobs?: readonly FioJob[];
}

export interface FioJobResult {
  job: FioJob;
  iops: number;
  bandwidthBytesPerSecond: number;
  /** Mean completion latency, microseconds. */
  meanLatencyUs: number;
}

/** The file fio works on, inside the directory; removed afterwards. */
export const FIO_FILE = 'dolly-fio.dat';

/**
 * Runs the jobs, one after another, in one fio process on one file in `directory`, and returns
 * each job's IOPS and bandwidth. The file is written in full first (not measured), so every job
 * measures data that exists: overwrites and reads of allocated blocks, not first allocation, and
 * reads that really reach the device.
 */
export async function runFio(directory: string, options: FioRunOptions): Promise<FioJobResult[]> {
  const jobs = options.jobs ?? FIO_JOBS;
  if (!(options.runtimeSeconds >= 1) || !Number.isInteger(options.runtimeSeconds))
    throw new Error(
      `fio runtime must be a whole number of seconds, at least 1 (not ${options.runtimeSeconds})`,
    );
  if (!(options.sizeBytes >= 1024 * 1024) || options.sizeBytes % (1024 * 1024) !== 0)
    throw new Error(`fio size must be a whole number of MiB (not ${options.sizeBytes} bytes)`);
  const args = [
    '--output-format=json',
    // fio reads ':' in a directory as a list separator unless escaped.
    `--directory=${directory.replaceAll(':', '\\:')}`,
    `--filename=${FIO_FILE}`,
    `--size=${options.sizeBytes}`,
    '--direct=1',
    '--ioengine=libaio',
    `--iodepth=${options.ioDepth ?? 16}`,
    // Random offsets without fio's map of blocks done: cheaper, and the same on both sides.
    '--norandommap',
    '--randrepeat=0',
    '--name=layout',
    '--rw=write',
    '--bs=1M',
  ];
  for (const job of jobs) {
    args.push(
      `--name=${job}`,
      '--stonewall',
      ...JOB_ARGS[job],
      '--time_based',
      `--runtime=${options.runtimeSeconds}`,
    );
  }
  const timeoutMs = (jobs.length * options.runtimeSeconds + 600) * 1000;
  try {
    const { stdout } = await run('fio', args, { timeoutMs });
    return parseFioJson(stdout, jobs);
  } finally {
    await rm(join(directory, FIO_FILE), { force: true });
  }
}

/** volume ÷ pool for each job both ran (IOPS; for a job with one block size, bandwidth is the same ratio). */
export function fioRatios(volume: FioJobResult[], pool: FioJobResult[]): Partial<Record<FioJob, number>> {
  const ratios: Partial<Record<FioJob, number>> = {};
  for (const result of volume) {
    const base = pool.find((candidate) => candidate.job === result.job);
    if (base && base.iops > 0) ratios[result.job] = result.iops / base.iops;
  }
  return ratios;
}

interface FioJsonSide {
  iops: number;
  bw_bytes: number;
  lat_ns: { mean: number };
}

interface FioJsonJob {
  jobname: string;
  error: number;
  read: FioJsonSide;
  write: FioJsonSide;
}

function isSide(value: unknown): value is FioJsonSide {
  if (typeof value !== 'object' || value === null) return false;
  const side = value as Record<string, unknown>;
  const lat = side.lat_ns as Record<string, unknown> | undefined;
  return typeof side.iops === 'number' && typeof side.bw_bytes === 'number' && typeof lat?.mean === 'number';
}

function isJob(value: unknown): value is FioJsonJob {
  if (typeof value !== 'object' || value === null) return false;
  const job = value as Record<string, unknown>;
  return (
    typeof job.jobname === 'string' && typeof job.error === 'number' && isSide(job.read) && isSide(job.write)
  );
}

/** The results of `jobs` from fio's JSON output; throws when one is missing or failed. */
export function parseFioJson(output: string, jobs: readonly FioJob[]): FioJobResult[] {
  // fio may print notes before the JSON document.
  const start = output.indexOf('{');
  const parsed: unknown = JSON.parse(start >= 0 ? output.slice(start) : output);
  const found = (parsed as { jobs?: unknown }).jobs;
  if (!Array.isArray(found)) throw new Error('fio printed JSON without a jobs list');
  return jobs.map((name) => {
    const job = (found as unknown[]).find((candidate) => isJob(candidate) && candidate.jobname === name);
    if (!isJob(job)) throw new Error(`fio printed no result for the job ${name}`);
    if (job.error !== 0) throw new Error(`fio's job ${name} failed with error ${job.error}`);
    const side = name.endsWith('write') ? job.write : job.read;
    return {
      job: name,
      iops: side.iops,
      bandwidthBytesPerSecond: side.bw_bytes,
      meanLatencyUs: side.lat_ns.mean / 1000,
    };
  });
}
