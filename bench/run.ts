/**
 * Clone benchmark: what a CSI clone costs with Dolly, against a full copy of the same image
 * (what drivers without reflinks, such as the CSI hostpath reference driver, do).
 *
 * Measures, on a real loop-mounted XFS pool and through the real CSI socket:
 *  - CreateVolume-from-volume latency for a volume holding 4 GiB of data, and for a volume whose
 *    ext4 filesystem holds 100,000 files;
 *  - the pool space the clone uses;
 *  - the same for `cp --sparse=always` of the image.
 * Run as root: `npm run bench` (options: --data-gib N, --files N, --clones N).
 */
import { execFile } from 'node:child_process';
import { mkdir, open, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Driver } from '../test/helpers/driver.js';
import { Sandbox } from '../test/helpers/sandbox.js';
import { GiB, MiB, mountCapability } from '../test/helpers/csi.js';

const run = promisify(execFile);

const { values } = parseArgs({
  options: {
    'data-gib': { type: 'string', default: '4' },
    files: { type: 'string', default: '100000' },
    clones: { type: 'string', default: '10' },
  },
});
const dataGiB = Number(values['data-gib']);
const fileCount = Number(values.files);
const cloneCount = Number(values.clones);

async function usedBytes(path: string): Promise<number> {
  const fs = await statfs(path);
  return (fs.blocks - fs.bfree) * fs.bsize;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function fillWithData(image: string, bytes: number): Promise<void> {
  const handle = await open(image, 'r+');
  const chunk = Buffer.alloc(16 * MiB);
  for (let i = 0; i < chunk.length; i += 8) chunk.writeDoubleLE(Math.random(), i);
  for (let offset = 0; offset < bytes; offset += chunk.length) {
    chunk.writeUInt32LE(offset / chunk.length, 0);
    await handle.write(chunk, 0, chunk.length, offset);
  }
  await handle.sync();
  await handle.close();
}

async function fillWithFiles(sandbox: Sandbox, image: string, count: number): Promise<void> {
  await run('mkfs.ext4', ['-q', '-F', '-N', String(count + 10_000), image]);
  const mountPoint = sandbox.path('files-mnt');
  await mkdir(mountPoint);
  await run('mount', ['-o', 'loop', image, mountPoint]);
  try {
    for (let dir = 0; dir < Math.ceil(count / 1000); dir += 1) {
      const path = join(mountPoint, `d${dir}`);
      await mkdir(path);
      const batch = Array.from({ length: Math.min(1000, count - dir * 1000) }, (_, i) =>
        writeFile(join(path, `f${i}`), `file ${dir}/${i}\n`),
      );
      await Promise.all(batch);
    }
  } finally {
    await run('umount', [mountPoint]);
  }
}

interface Row {
  case: string;
  method: string;
  medianMs: number;
  maxMs: number;
  extraSpaceMiB: number;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark mounts filesystems: run it as root');
  const sandbox = await Sandbox.create('bench');
  const rows: Row[] = [];
  try {
    const pool = await sandbox.xfsPool('pool', (dataGiB * 2 + 8) * GiB);
    const driver = await Driver.start(sandbox, { pool });
    const client = driver.client;
    const image = (id: string) => join(pool, 'volumes', id, 'disk.img');

    const cases: { name: string; sizeBytes: number; fill: (path: string) => Promise<void> }[] = [
      {
        name: `${dataGiB} GiB of data`,
        sizeBytes: (dataGiB + 1) * GiB,
        fill: (path) => fillWithData(path, dataGiB * GiB),
      },
      {
        name: `${fileCount.toLocaleString('en')} files (ext4)`,
        sizeBytes: 2 * GiB,
        fill: (path) => fillWithFiles(sandbox, path, fileCount),
      },
    ];

    for (const [index, benchCase] of cases.entries()) {
      process.stderr.write(`preparing: ${benchCase.name}\n`);
      const { volume } = await client.createVolume({
        name: `bench-source-${index}`,
        volume_capabilities: mountCapability(),
        capacity_range: { required_bytes: benchCase.sizeBytes },
      });
      const sourceId = volume!.volume_id;
      await benchCase.fill(image(sourceId));
      await run('sync', []);

      const times: number[] = [];
      const spaceBefore = await usedBytes(pool);
      for (let i = 0; i < cloneCount; i += 1) {
        const started = process.hrtime.bigint();
        await client.createVolume({
          name: `bench-clone-${index}-${i}`,
          volume_capabilities: mountCapability(),
          volume_content_source: { volume: { volume_id: sourceId } },
        });
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      const spaceAfter = await usedBytes(pool);
      rows.push({
        case: benchCase.name,
        method: `Dolly CreateVolume (clone), ${cloneCount}×`,
        medianMs: median(times),
        maxMs: Math.max(...times),
        extraSpaceMiB: (spaceAfter - spaceBefore) / cloneCount / MiB,
      });

      const copyBefore = await usedBytes(pool);
      const started = process.hrtime.bigint();
      await run('cp', [
        '--sparse=always',
        '--reflink=never',
        image(sourceId),
        join(pool, `copy-${index}.img`),
      ]);
      await run('sync', []);
      const copyMs = Number(process.hrtime.bigint() - started) / 1e6;
      rows.push({
        case: benchCase.name,
        method: 'full copy (cp --sparse=always --reflink=never + sync), 1×',
        medianMs: copyMs,
        maxMs: copyMs,
        extraSpaceMiB: ((await usedBytes(pool)) - copyBefore) / MiB,
      });
    }
    await driver.stop();
  } finally {
    await sandbox.cleanup();
  }

  console.log('\n| source volume | method | median ms | max ms | extra space per copy (MiB) |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const row of rows) {
    console.log(
      `| ${row.case} | ${row.method} | ${row.medianMs.toFixed(1)} | ${row.maxMs.toFixed(1)} | ${row.extraSpaceMiB.toFixed(1)} |`,
    );
  }
}

await main();
