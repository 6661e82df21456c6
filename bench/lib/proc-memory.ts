/**
 * A process's resident memory from /proc/<pid>/status. A minimal version written for the suite
 * while bench/lib/rss.ts (the memory work of issue 10) was not on this branch; same fields, and
 * it can give way to that module once both have landed.
 */
import { readFile } from 'node:fs/promises';

export interface ProcessMemory {
  /** VmRSS: resident now. */
  rssBytes: number;
  /** VmHWM: the most it has been resident. */
  hwmBytes: number;
}

export async function processMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match?.[1]) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: field('VmRSS'), hwmBytes: field('VmHWM') };
}
