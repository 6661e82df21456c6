import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase } from '../lib/case.js';
import { remove } from '../lib/data.js';
import { FIO_JOBS, runFioJob } from '../lib/fio-jobs.js';
import { quantile } from '../lib/timing.js';
import { formatBytes, MiB } from '../lib/units.js';

export const fio: BenchCase = {
  name: 'fio',
  title: 'Data path: fio inside a published ext4 volume vs on the pool filesystem',
  measures:
    'fio (direct I/O, libaio, iodepth 16, time-based) runs the four jobs (1 MiB sequential write and ' +
    'read, 4 KiB random write and read) in a directory of the pool filesystem and inside a published ' +
    'ext4 volume of the same pool (loop device, staged and bind-mounted through CSI), in turns; the ' +
    'median of --fio-repeat runs per side is reported, and the ratio volume / pool.',
  async run({ options, log, world: worldOf }, record) {
    const rows = record.table('fio: volume vs pool filesystem', [
      { key: 'backend', header: 'pool' },
      { key: 'job', header: 'job' },
      { key: 'poolMiBs', header: 'pool MiB/s' },
      { key: 'volumeMiBs', header: 'volume MiB/s' },
      { key: 'poolIops', header: 'pool IOPS', digits: 0 },
      { key: 'volumeIops', header: 'volume IOPS', digits: 0 },
      { key: 'ratio', header: 'volume / pool', digits: 2 },
    ]);
    const { runtimeSeconds, sizeBytes, repeat } = options.fio;
    // fio runs for seconds per job and side: a quick run keeps to one backend.
    const backends = options.quick ? options.backends.slice(0, 1) : options.backends;
    for (const skipped of options.backends.slice(backends.length))
      record.skip(`${skipped}: fio (quick run: first backend only)`);
    for (const backend of backends) {
      const world = await worldOf(backend);
      const poolDir = join(world.pool, 'bench-fio');
      await mkdir(poolDir);
      const id = await world.createVolume(`bench-fio-${backend}`, sizeBytes + 512 * MiB, 'mount');
      const ratios: string[] = [];
      let met = true;
      try {
        const published = await world.publish(id, 'mount');
        try {
          for (const job of FIO_JOBS) {
            log(
              `${backend}: fio ${job.name}, ${formatBytes(sizeBytes)}, ${runtimeSeconds} s × ${repeat} per side`,
            );
            const pool: number[] = [];
            const volume: number[] = [];
            const poolIops: number[] = [];
            const volumeIops: number[] = [];
            for (let i = 0; i < repeat; i += 1) {
              // Alternate which side goes first, so a drift of the machine weighs on both.
              const sides = i % 2 === 0 ? (['pool', 'volume'] as const) : (['volume', 'pool'] as const);
              for (const side of sides) {
                const result = await runFioJob(
                  side === 'pool' ? poolDir : published.target,
                  job,
                  runtimeSeconds,
                  sizeBytes,
                );
                (side === 'pool' ? pool : volume).push(result.bandwidthBytes / MiB);
                (side === 'pool' ? poolIops : volumeIops).push(result.iops);
              }
            }
            const ratio = quantile(volume, 0.5) / quantile(pool, 0.5);
            rows.push({
              backend,
              job: job.name,
              poolMiBs: quantile(pool, 0.5),
              volumeMiBs: quantile(volume, 0.5),
              poolIops: quantile(poolIops, 0.5),
              volumeIops: quantile(volumeIops, 0.5),
              ratio,
            });
            ratios.push(ratio.toFixed(2));
            met &&= ratio >= 0.95;
          }
        } finally {
          await world.unpublish(published);
        }
      } finally {
        await world.deleteVolume(id);
        await remove(poolDir);
      }
      record.target({
        what: `${backend}: fio in a published ext4 volume / on the pool fs (seq write / seq read / 4k rand write / 4k rand read)`,
        before: '0.78 / 0.87 / 0.90 / 0.79',
        target: '≥ 0.95 each',
        measured: ratios.join(' / '),
        met,
      });
    }
  },
};
