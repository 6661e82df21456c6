import assert from 'node:assert/strict';
import { mkdir, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code } from '../../src/errors.js';
import {
  checkHostPathSyntax,
  checkOutsidePool,
  lookupHostPath,
  makeDirectory,
  resolveHostPath,
} from '../../src/node/host-paths.js';
import { exists } from '../../src/util/stat-if-exists.js';
import { catchCode, isCode } from '../unit/assert-code.js';
import { Sandbox } from '../helpers/sandbox.js';

/** Host paths resolved as the kernel resolves them, on a real directory tree with real symlinks. */
describe('host paths', () => {
  let sandbox: Sandbox;
  let real: string;
  let link: string;
  let pool: string;

  before(async () => {
    sandbox = await Sandbox.create('host-paths');
    real = sandbox.path('real');
    await mkdir(join(real, 'existing'), { recursive: true });
    link = sandbox.path('link');
    await symlink(real, link);
    pool = sandbox.path('data', 'pool');
    await mkdir(join(pool, 'tmp'), { recursive: true });
  });
  after(async () => sandbox.cleanup());

  it('resolves through symlinks, and through the longest existing prefix of a path not made yet', async () => {
    assert.equal(await resolveHostPath(join(link, 'existing'), 'f'), join(real, 'existing'));
    assert.equal(await resolveHostPath(join(link, 'new', 'deeper'), 'f'), join(real, 'new', 'deeper'));
    assert.equal(await resolveHostPath(join(real, 'existing'), 'f'), join(real, 'existing'));
  });

  it('refuses a dangling symlink on the way and a symlink loop', async () => {
    const dangling = sandbox.path('dangling');
    await symlink(sandbox.path('nowhere'), dangling);
    await assert.rejects(
      resolveHostPath(join(dangling, 'staging'), 'staging_target_path'),
      isCode(Code.INVALID_ARGUMENT, /symlink to nothing/),
    );
    const loop = sandbox.path('loop');
    await symlink(loop, loop);
    await assert.rejects(
      resolveHostPath(join(loop, 'x'), 'f'),
      isCode(Code.INVALID_ARGUMENT, /symlink loop/),
    );
  });

  it('refuses paths in the pool, the pool itself and its ancestors; allows siblings', () => {
    for (const inside of [pool, join(pool, 'tmp'), join(pool, 'volumes', 'x')]) {
      catchCode(Code.INVALID_ARGUMENT, () => checkOutsidePool(inside, pool, 'f', inside));
    }
    for (const above of ['/', sandbox.dir, sandbox.path('data')]) {
      const error = catchCode(Code.INVALID_ARGUMENT, () => checkOutsidePool(above, pool, 'f', above));
      assert.match(error.message, /contains the pool/);
    }
    for (const beside of [sandbox.path('data', 'pool2'), sandbox.path('data', 'poo'), real]) {
      checkOutsidePool(beside, pool, 'f', beside);
    }
    const error = catchCode(Code.INVALID_ARGUMENT, () =>
      checkOutsidePool(join(pool, 'tmp'), pool, 'staging_target_path', '/some/link'),
    );
    assert.match(error.message, /"\/some\/link" \(which resolves to .*\/pool\/tmp\) is inside the pool/);
  });

  it('checks the text: absolute, normalized, not the root, no NUL', () => {
    assert.equal(checkHostPathSyntax('/a/b/', 'f'), '/a/b');
    for (const bad of ['', 'a/b', '/a/../b', '/a/./b', '/a//b', '/', '/a\0b', `/${'x'.repeat(5000)}`]) {
      catchCode(Code.INVALID_ARGUMENT, () => checkHostPathSyntax(bad, 'f'));
    }
  });

  it('looks up only what exists, resolved', async () => {
    assert.equal(await lookupHostPath(join(link, 'existing')), join(real, 'existing'));
    assert.equal(await lookupHostPath('some/path'), undefined);
    assert.equal(await lookupHostPath(sandbox.path('absent')), undefined);
    assert.equal(
      await lookupHostPath(`${sandbox.path('real')}/existing/../existing`),
      join(real, 'existing'),
    );
  });

  it('makeDirectory creates what is missing, removes only that, and leaves an existing directory alone', async () => {
    const target = join(real, 'a', 'b', 'c');
    const remove = await makeDirectory(target, 'f');
    assert.ok(remove);
    assert.equal(await exists(target), true);
    await remove();
    assert.equal(await exists(join(real, 'a')), false, 'every directory it made is gone');
    assert.equal(await makeDirectory(join(real, 'existing'), 'f'), undefined);
    assert.equal(await exists(join(real, 'existing')), true);
    await writeFile(join(real, 'file'), 'x');
    await assert.rejects(
      makeDirectory(join(real, 'file'), 'f'),
      isCode(Code.INVALID_ARGUMENT, /not a directory/),
    );
  });

  it('makeDirectory refuses a path that a symlink swapped in after resolution sends elsewhere, and undoes', async () => {
    // Resolved while /swap was a directory; then /swap became a symlink to /elsewhere.
    const swap = sandbox.path('swap');
    await mkdir(swap);
    const resolved = join(swap, 'staging');
    const elsewhere = sandbox.path('elsewhere');
    await mkdir(elsewhere);
    await rename(swap, sandbox.path('swap-old'));
    await symlink(elsewhere, swap);
    await assert.rejects(
      makeDirectory(resolved, 'staging_target_path'),
      isCode(Code.INVALID_ARGUMENT, /changed while the driver was using it/),
    );
    assert.deepEqual(await readdir(elsewhere), [], 'the directory it made through the symlink is removed');
  });
});
