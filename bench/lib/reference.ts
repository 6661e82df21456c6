import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { CsiClient } from '../../src/client/csi-client.js';
import type { Sandbox } from '../../test/helpers/sandbox.js';

const MAIN = fileURLToPath(new URL('../reference/main.js', import.meta.url));

/**
 * The hostpath reference (bench/reference/) in its own process, as a real driver runs, with a
 * client on its socket. Its state directory is where its volumes live: put it on the same pool
 * filesystem as the Dolly it is compared with.
 */
export class ReferenceDriver {
  private clientInstance: CsiClient | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly socketPath: string,
    private readonly exited: Promise<unknown>,
  ) {}

  static async start(sandbox: Sandbox, socketPath: string, stateDir: string): Promise<ReferenceDriver> {
    const child = spawn(process.execPath, [MAIN, socketPath, stateDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const driver = new ReferenceDriver(child, socketPath, once(child, 'exit'));
    sandbox.onCleanup(() => driver.stop());
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        if (stdout.includes('serving\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the reference driver exited (${code}): ${stderr}`)));
    });
    return driver;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get client(): CsiClient {
    this.clientInstance ??= new CsiClient(`unix://${this.socketPath}`);
    return this.clientInstance;
  }

  async stop(): Promise<void> {
    this.clientInstance?.close();
    this.clientInstance = undefined;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
