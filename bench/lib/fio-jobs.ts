/**
 * The four fio jobs of the data-path comparison (issue 10: seq write, seq read, 4k rand write,
 * 4k rand read, direct I/O), one at a time against a directory, so the case can alternate the
 * pool and the volume job by job.
 */
import { join } from 'node:path';
import { run } from '../../src/host/exec.js';

export interface FioJob {
  name: string;
  rw: 'write' | 'read' | 'randwrite' | 'randread';
  blockSize: string;
}

export const FIO_JOBS: readonly FioJob[] = [
  { name: 'seq write 1M', rw: 'write', blockSize: '1M' },
  { name: 'seq read 1M', rw: 'read', blockSize: '1M' },
  { name: '4k rand write', rw: 'randwrite', blockSize: '4k' },
  { name: '4k rand read', rw: 'randread', blockSize: '4k' },
];

export interface FioResult {
  iops: number;
  bandwidthBytes: number;
}

interface FioJson {
  jobs: { read: { iops: number; bw_bytes: number }; write: { iops: number; bw_bytes: number } }[];
}

/** One job in `dir` (direct I/O, libaio, 16 in flight, time-based); its file is laid out first if needed. */
export async function runFioJob(
  dir: string,
  job: FioJob,
  runtimeSeconds: number,
  sizeBytes: number,
): Promise<FioResult> {
  const { stdout } = await run(
    'fio',
    [
      `--name=${job.rw}`,
      `--filename=${join(dir, 'bench-fio.dat')}`,
      `--rw=${job.rw}`,
      `--bs=${job.blockSize}`,
      `--size=${sizeBytes}`,
      '--direct=1',
      '--ioengine=libaio',
      '--iodepth=16',
      '--time_based',
      `--runtime=${runtimeSeconds}`,
      '--output-format=json',
    ],
    { timeoutMs: (runtimeSeconds + 600) * 1000 },
  );
  const parsed = JSON.parse(stdout) as FioJson;
  const stats = parsed.jobs[0]?.[job.rw.endsWith('write') ? 'write' : 'read'];
  if (!stats) throw new Error(`fio printed no job for ${job.name}`);
  return { iops: stats.iops, bandwidthBytes: stats.bw_bytes };
}
