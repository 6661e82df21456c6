import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** Writes numbered 16 KiB files with fsync as fast as it can until killed: a busy application. */
const WRITER = `
const fs = require('fs');
const dir = process.argv[1];
for (let i = 0; ; i++) {
  const fd = fs.openSync(dir + '/f' + (i % 200), 'w');
  fs.writeSync(fd, Buffer.alloc(16 * 1024, i % 251));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}`;

/** Starts a busy writer in `dir`; `stop()` kills it and waits for it to be gone. */
export function startWriter(dir: string): { child: ChildProcess; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['-e', WRITER, dir], { stdio: 'ignore' });
  return {
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * True when one small fsynced write into `dir` completes within `timeoutMs`. It runs in a child
 * process because a write to a frozen filesystem blocks until the thaw.
 */
export function writeCompletes(dir: string, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '-e',
        "const fs=require('fs');const fd=fs.openSync(process.argv[1],'w');fs.writeSync(fd,'x');fs.fsyncSync(fd);",
        join(dir, '.dolly-write-probe'),
      ],
      { stdio: 'ignore' },
    );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(false);
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}
