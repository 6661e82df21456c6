import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HOST_TOOLS } from '../../src/host/tools.js';
import { MAIN } from '../helpers/driver.js';
import { Sandbox } from '../helpers/sandbox.js';

/** Where a program is on this machine's PATH. */
async function which(program: string): Promise<string> {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    try {
      await access(join(dir, program));
      return join(dir, program);
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${program} is not on PATH`);
}

describe('dolly serve checks its host tools at start', () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await Sandbox.create('serve-host-tools');
  });
  after(async () => sandbox.cleanup());

  it('without xfsprogs on PATH it exits at once, naming the programs and the package, and touches nothing', async () => {
    const bin = sandbox.path('bin');
    await mkdir(bin);
    for (const tool of HOST_TOOLS.filter((candidate) => candidate.debianPackage !== 'xfsprogs')) {
      await symlink(await which(tool.program), join(bin, tool.program));
    }
    const pool = sandbox.path('pool');
    const socket = sandbox.path('csi.sock');
    const result = await promisify(execFile)(
      process.execPath,
      [
        MAIN,
        'serve',
        '--pool',
        pool,
        '--endpoint',
        `unix://${socket}`,
        '--node-id',
        'n1',
        '--log-format',
        'json',
      ],
      { env: { PATH: bin } },
    ).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    assert.ok(result, 'dolly serve should have failed');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /host tools missing from PATH: mkfs\.xfs, xfs_growfs, xfs_repair/);
    assert.match(result.stderr, /apt-get install xfsprogs/);
    await assert.rejects(access(pool), 'the pool directory was not created');
    await assert.rejects(access(socket), 'no socket was created');
  });
});
