import assert from 'node:assert/strict';
import { access, cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HOST_TOOLS } from '../../src/host/tools.js';
import { startExpectingFailure } from '../helpers/driver.js';
import { ROOT } from '../helpers/k8s.js';
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
    const result = await startExpectingFailure(sandbox, {
      pool,
      socketPath: socket,
      args: ['--node-id', 'n1'],
      env: { PATH: bin },
    });
    assert.ok(result, 'dolly serve should have failed');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /host tools missing from PATH: mkfs\.xfs, xfs_growfs, xfs_repair/);
    assert.match(result.stderr, /apt-get install xfsprogs/);
    await assert.rejects(access(pool), 'the pool directory was not created');
    await assert.rejects(access(socket), 'no socket was created');
  });

  it('without its native addon it exits at once, saying how to build it, and touches nothing', async () => {
    // A copy of the built driver, laid out as in the image, whose build/ has no addon (an image
    // that forgot to copy it), then one whose addon is not a shared object.
    const app = sandbox.path('app');
    await cp(join(ROOT, 'dist', 'src'), join(app, 'dist', 'src'), { recursive: true });
    await cp(join(ROOT, 'package.json'), join(app, 'package.json'));
    await cp(join(ROOT, 'proto'), join(app, 'proto'), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(app, 'node_modules'));
    const addon = join(app, 'build', 'Release', 'dolly_kernel.node');
    const pool = sandbox.path('addon-pool');
    const socket = sandbox.path('addon.sock');
    const serve = () =>
      startExpectingFailure(sandbox, {
        pool,
        socketPath: socket,
        args: ['--node-id', 'n1'],
        env: { PATH: process.env['PATH'] ?? '' },
        main: join(app, 'dist', 'src', 'cli', 'main.js'),
      });

    for (const reason of [/Cannot find module/, /invalid ELF header|file too short/]) {
      const result = await serve();
      assert.ok(result, 'dolly serve should have failed');
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`the native addon ${addon} cannot be loaded`));
      assert.match(result.stderr, reason);
      assert.match(result.stderr, /build it with `npm ci`/);
      await assert.rejects(access(pool), 'the pool directory was not created');
      await assert.rejects(access(socket), 'no socket was created');
      await mkdir(join(app, 'build', 'Release'), { recursive: true });
      await writeFile(addon, 'not a shared object\n');
    }
  });
});
