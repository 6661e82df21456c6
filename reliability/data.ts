import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A byte range of a file whose content is known: checked unchanged after every step. */
export interface Fingerprint {
  /** What it is, for the violation message (e.g. "vol-… (clone of vol-…), first MiB"). */
  label: string;
  path: string;
  offset: number;
  length: number;
  sha256: string;
}

/** SHA-256 of `length` bytes at `offset` (a hole or the end of the file reads as what it is). */
export async function hashRange(path: string, offset: number, length: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(Math.min(length, 4 * 1024 * 1024));
    for (let done = 0; done < length;) {
      const { bytesRead } = await handle.read(
        buffer,
        0,
        Math.min(buffer.length, length - done),
        offset + done,
      );
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      done += bytesRead;
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

export async function fingerprint(
  label: string,
  path: string,
  offset: number,
  length: number,
): Promise<Fingerprint> {
  return { label, path, offset, length, sha256: await hashRange(path, offset, length) };
}

/** The same known content in another file (a clone, snapshot or restore of it). */
export function sameContentIn(original: Fingerprint, label: string, path: string): Fingerprint {
  return { ...original, label, path };
}

export async function checkFingerprint(expected: Fingerprint): Promise<string | undefined> {
  const actual = await hashRange(expected.path, expected.offset, expected.length).catch(
    (error: unknown) => `unreadable (${error instanceof Error ? error.message : String(error)})`,
  );
  if (actual === expected.sha256) return undefined;
  return `${expected.label}: bytes ${expected.offset}..${expected.offset + expected.length} of ${expected.path} changed (sha256 ${expected.sha256.slice(0, 12)} expected, ${actual.slice(0, 12)} found)`;
}

/**
 * Where a file's data lies on its filesystem's device, as byte ranges (FIEMAP via filefrag):
 * the same ranges of a clone's image hold the file's data as it was at the moment of the copy,
 * so clones can be compared with their source without mounting them.
 */
export async function physicalExtents(file: string): Promise<{ offset: number; length: number }[]> {
  // -b1024: offsets and lengths in KiB whatever the filesystem's block size; -s syncs first.
  const { stdout } = await execFileAsync('filefrag', ['-s', '-e', '-b1024', file]);
  const extents: { offset: number; length: number }[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^\s*\d+:\s*\d+\.\.\s*\d+:\s*(\d+)\.\.\s*(\d+):\s*(\d+):/.exec(line);
    if (!match) continue;
    extents.push({ offset: Number(match[1]) * 1024, length: Number(match[3]) * 1024 });
  }
  if (extents.length === 0) throw new Error(`filefrag found no extents for ${file}:\n${stdout}`);
  return extents;
}

const WRITER = fileURLToPath(new URL('./writer.js', import.meta.url));

/**
 * A process writing inside a published volume (random blocks of one file, fsynced), as an
 * application would, until stopped. It blocks while the filesystem is frozen.
 */
export class Writer {
  private readonly exited: Promise<unknown>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = once(child, 'exit');
  }

  static start(file: string): Writer {
    return new Writer(spawn(process.execPath, [WRITER, file], { stdio: 'ignore' }));
  }

  /** SIGKILL and wait (a writer blocked on a frozen filesystem exits once it is thawed). */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * Writes one block inside a mounted filesystem, fsynced, in a child process with a timeout:
 * a frozen filesystem blocks the write, which the harness must not do itself. Resolves with a
 * reason when the write failed or did not finish in time. A child blocked on a frozen
 * filesystem cannot even be killed until it is thawed, so the timeout does not wait for it:
 * it is killed and left to exit once the checker has thawed the filesystem.
 */
export function probeWrite(directory: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(
      'dd',
      [
        'if=/dev/zero',
        `of=${directory}/.reliability-probe`,
        'bs=4096',
        'count=1',
        'conv=fsync',
        'status=none',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(`a 4 KiB write with fsync inside ${directory} did not finish within ${timeoutMs / 1000} s`);
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve(`a 4 KiB write inside ${directory} could not start: ${error.message}`);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? undefined : `a 4 KiB write inside ${directory} failed: ${stderr.trim()}`);
    });
  });
}
