import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CsiClient } from '../../client/csi-client.js';
import { run } from '../../host/exec.js';
import { parseMountInfo } from '../../host/mountinfo.js';
import { UserError } from '../../local/errors.js';

/**
 * A `dolly serve` of its own on a scratch pool in a temporary directory (an embedded XFS pool
 * when the temporary filesystem cannot reflink), for `dolly demo`: started like any driver, and
 * removed with everything below its directory when stopped.
 */
export class ScratchDriver {
  private stderr = '';

  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on(
      'data',
      (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000)),
    );
  }

  static async start(mainScript: string, poolSize: string): Promise<ScratchDriver> {
    const dir = await mkdtemp(join(tmpdir(), 'dolly-demo-'));
    const socketPath = join(dir, 'csi.sock');
    const child = spawn(
      process.execPath,
      [
        mainScript,
        'serve',
        '--endpoint',
        `unix://${socketPath}`,
        '--pool',
        join(dir, 'pool'),
        '--pool-size',
        poolSize,
        '--node-id',
        'demo',
        '--log-format',
        'json',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const driver = new ScratchDriver(dir, socketPath, child);
    try {
      await driver.waitUntilServing();
    } catch (error) {
      await driver.stop();
      throw error;
    }
    return driver;
  }

  private get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private async waitUntilServing(): Promise<void> {
    const client = new CsiClient(`unix://${this.socketPath}`);
    try {
      for (let attempt = 0; attempt < 1200; attempt += 1) {
        if (!this.running)
          throw new UserError(`the demo's driver did not start: ${this.stderr.trim() || 'no message'}`);
        const ready = await client.probe({ timeoutMs: 1000 }).then(
          (answer) => answer.ready?.value === true,
          () => false,
        );
        if (ready) return;
        await sleep(100);
      }
      throw new UserError("the demo's driver did not answer within 2 minutes");
    } finally {
      client.close();
    }
  }

  /** Stops the driver, unmounts whatever is still mounted below the scratch directory, removes it. */
  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const stopped = await Promise.race([
        once(this.child, 'exit').then(() => true),
        sleep(20_000).then(() => false),
      ]);
      if (!stopped) {
        this.child.kill('SIGKILL');
        await once(this.child, 'exit');
      }
    }
    const mounts = parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'))
      .map((entry) => entry.mountPoint)
      .filter((point) => point === this.dir || point.startsWith(`${this.dir}/`))
      .sort((a, b) => b.length - a.length);
    const pool = join(this.dir, 'pool');
    for (const point of mounts.filter((p) => p !== pool)) await run('umount', [point]).catch(() => undefined);
    // Volumes left attached (a demo cut short) hold files of the pool open: detach them first.
    const { stdout } = await run('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']).catch(
      () => ({ stdout: '' }),
    );
    for (const line of stdout.split('\n')) {
      const [device, backing] = line.trim().split(/\s+/, 2);
      if (device && backing?.startsWith(`${pool}/`))
        await run('losetup', ['--detach', device]).catch(() => undefined);
    }
    if (mounts.includes(pool)) await run('umount', [pool]).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
