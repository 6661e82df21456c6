import { run } from './exec.js';

export interface LoopDevice {
  /** /dev/loopN */
  name: string;
  backingFile: string;
  directIo: boolean;
  sizeBytes: number;
  logicalSectorBytes: number;
}

interface LosetupJson {
  loopdevices?: {
    name: string;
    'back-file': string | null;
    dio: boolean | string;
    'log-sec': number | string;
  }[];
}

/**
 * Logical sector size of every volume's loop device. It must be the same at every attach (XFS
 * records it and refuses a device with larger sectors), and 4 KiB allows direct I/O on any pool.
 */
export const LOOP_SECTOR_BYTES = 4096;

/**
 * Attaches an image to a loop device with direct I/O (no second page cache between the volume's
 * filesystem and the pool's). With --nooverlap an image already attached is reused, not attached
 * twice, which makes attaching idempotent.
 */
export async function attachLoop(image: string, options: { readOnly?: boolean } = {}): Promise<string> {
  const args = [
    '--find',
    '--show',
    '--nooverlap',
    '--direct-io=on',
    '--sector-size',
    String(LOOP_SECTOR_BYTES),
  ];
  if (options.readOnly) args.push('--read-only');
  const { stdout } = await run('losetup', [...args, image], { timeoutMs: 60_000 });
  const device = stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(device))
    throw new Error(`losetup printed ${JSON.stringify(device)}, not a loop device`);
  return device;
}

export async function detachLoop(device: string): Promise<void> {
  await run('losetup', ['--detach', device], { timeoutMs: 60_000 });
}

/** Makes the loop device see the current size of its backing file (after the image grew). */
export async function refreshLoopSize(device: string): Promise<void> {
  await run('losetup', ['--set-capacity', device], { timeoutMs: 60_000 });
}

/** Every attached loop device, with its backing file. */
export async function listLoops(): Promise<LoopDevice[]> {
  const { stdout } = await run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE,DIO,LOG-SEC'], {
    timeoutMs: 60_000,
  });
  if (stdout.trim() === '') return [];
  const parsed = JSON.parse(stdout) as LosetupJson;
  return Promise.all(
    (parsed.loopdevices ?? []).map(async (device) => ({
      name: device.name,
      backingFile: (device['back-file'] ?? '').replace(/ \(deleted\)$/, ''),
      directIo: device.dio === true || device.dio === '1',
      sizeBytes: await blockDeviceSize(device.name),
      logicalSectorBytes: Number(device['log-sec']),
    })),
  );
}

/** Loop devices attached to this image (normally zero or one). */
export async function loopsFor(image: string): Promise<LoopDevice[]> {
  return (await listLoops()).filter((device) => device.backingFile === image);
}

async function blockDeviceSize(device: string): Promise<number> {
  const { stdout } = await run('blockdev', ['--getsize64', device], { timeoutMs: 60_000 });
  return Number(stdout.trim());
}
