import { readFile } from 'node:fs/promises';

/** A process's memory as the kernel reports it, in bytes. */
export interface ProcessMemory {
  /** Resident set size now (VmRSS). */
  rssBytes: number;
  /** The highest resident set size the process has had (VmHWM, its high-water mark). */
  hwmBytes: number;
}

/** One `Name:   1234 kB` line of /proc/<pid>/status, in bytes. */
function kilobytesField(status: string, name: string, pid: number): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!match?.[1]) throw new Error(`/proc/${pid}/status has no ${name} line (a kernel thread, or a zombie?)`);
  return Number(match[1]) * 1024;
}

/** VmRSS and VmHWM of a live process, from /proc/<pid>/status (Linux). */
export async function processMemory(pid: number): Promise<ProcessMemory> {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`${pid} is not a process ID`);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { rssBytes: kilobytesField(status, 'VmRSS', pid), hwmBytes: kilobytesField(status, 'VmHWM', pid) };
}
