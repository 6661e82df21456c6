import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/host/exec.js';
import { VERSION } from '../../src/version.js';
import { MKFS } from './pools.js';
import type { Backend } from './pools.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  /** Filesystem of the directory the pools' images live in (/tmp). */
  hostFs: string;
  tools: Record<string, string>;
}

export interface DriverInfo {
  version: string;
  commit: string;
  /** Uncommitted changes in the work tree the driver was built from. */
  dirty: boolean;
}

export interface BackendInfo {
  name: Backend;
  mkfs: string;
  pool: string;
}

async function firstLine(file: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(file, args);
    return (stdout.trim() || stderr.trim()).split('\n')[0] ?? '';
  } catch {
    return 'not installed';
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    hostFs: await firstLine('findmnt', ['-no', 'FSTYPE', '-T', '/tmp']),
    tools: {
      'mkfs.xfs': await firstLine('mkfs.xfs', ['-V']),
      'mkfs.btrfs': await firstLine('mkfs.btrfs', ['--version']),
      fio: await firstLine('fio', ['--version']),
      coreutils: await firstLine('cp', ['--version']),
    },
  };
}

/** "2 × AMD EPYC …, 23.5 GiB, Linux 6.18, Node v20.20.2, pools' images on ext4". */
export function describeMachine(machine: MachineInfo): string {
  return (
    `${machine.cpus} × ${machine.cpuModel}, ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB memory, ` +
    `Linux ${machine.kernel}, Node.js ${machine.node}, pool images on ${machine.hostFs}`
  );
}

/** "0.1.0, commit 0123456789ab" (and whether the tree had uncommitted changes). */
export function describeDriver(driver: DriverInfo): string {
  return `${driver.version}, commit ${driver.commit.slice(0, 12)}${driver.dirty ? ' (with uncommitted changes)' : ''}`;
}

export async function driverInfo(): Promise<DriverInfo> {
  const commit = await firstLine('git', ['-C', REPO, 'rev-parse', 'HEAD']);
  const status = await run('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no']).catch(
    () => undefined,
  );
  return { version: VERSION, commit, dirty: (status?.stdout.trim() ?? '') !== '' };
}

export function backendInfo(backend: Backend): BackendInfo {
  return {
    name: backend,
    mkfs: MKFS[backend].join(' '),
    pool: 'a sparse image file in the bench sandbox (/tmp), loop-mounted',
  };
}

/** Programs the suite runs; a missing one fails the run at its start, not half-way. */
export const REQUIRED_TOOLS = [
  'fio',
  'xfs_io',
  'mkfs.xfs',
  'mkfs.btrfs',
  'cp',
  'dd',
  'fstrim',
  'losetup',
  'mount',
];

/** The tools of `needed` found in no directory of $PATH (plus the sbin directories root has). */
export async function missingTools(needed: string[]): Promise<string[]> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].filter(Boolean);
  const missing: string[] = [];
  for (const tool of needed) {
    let found = false;
    for (const dir of dirs) {
      if (
        await access(join(dir, tool), constants.X_OK).then(
          () => true,
          () => false,
        )
      ) {
        found = true;
        break;
      }
    }
    if (!found) missing.push(tool);
  }
  return missing;
}
