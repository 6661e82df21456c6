import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsyncPath, writeFileAtomic } from '../../src/util/atomic-file.js';

describe('writeFileAtomic', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dolly-unit-atomic-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fresh(name: string): Promise<string> {
    const path = join(dir, name);
    await mkdir(path);
    return path;
  }

  it('creates a file with the given content and leaves no temporary file', async () => {
    const sub = await fresh('create');
    const path = join(sub, 'meta.json');
    await writeFileAtomic(path, '{"a":1}\n');
    assert.equal(await readFile(path, 'utf8'), '{"a":1}\n');
    assert.deepEqual(await readdir(sub), ['meta.json']);
  });

  it('replaces existing content entirely, also with shorter content', async () => {
    const sub = await fresh('replace');
    const path = join(sub, 'file');
    await writeFile(path, 'x'.repeat(10_000));
    await writeFileAtomic(path, 'short');
    assert.equal(await readFile(path, 'utf8'), 'short');
    await writeFileAtomic(path, new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual([...(await readFile(path))], [0, 1, 2, 255]);
    await writeFileAtomic(path, '');
    assert.equal(await readFile(path, 'utf8'), '');
    assert.deepEqual(await readdir(sub), ['file']);
  });

  it('creates the file with mode 0600 by default, or the given mode (less the umask)', async () => {
    const sub = await fresh('mode');
    const umask = process.umask();
    await writeFileAtomic(join(sub, 'private'), 'p');
    assert.equal((await stat(join(sub, 'private'))).mode & 0o777, 0o600 & ~umask);
    await writeFileAtomic(join(sub, 'shared'), 's', 0o644);
    assert.equal((await stat(join(sub, 'shared'))).mode & 0o777, 0o644 & ~umask);
  });

  it('leaves one complete version and no temporary files after concurrent writes', async () => {
    const sub = await fresh('concurrent');
    const path = join(sub, 'file');
    const versions = Array.from({ length: 20 }, (_, index) => `version ${index} `.repeat(1000));
    await Promise.all(versions.map((content) => writeFileAtomic(path, content)));
    assert.ok(versions.includes(await readFile(path, 'utf8')));
    assert.deepEqual(await readdir(sub), ['file']);
  });

  it('writes its temporary copy in workDir when given, so nothing is ever left beside the target', async () => {
    const sub = await fresh('workdir');
    const work = join(sub, 'work');
    const target = join(sub, 'target');
    await mkdir(work);
    await mkdir(target);
    await writeFileAtomic(join(target, 'meta.json'), 'x', 0o600, work);
    assert.equal(await readFile(join(target, 'meta.json'), 'utf8'), 'x');
    assert.deepEqual(await readdir(target), ['meta.json']);
    assert.deepEqual(await readdir(work), []);
  });

  it('fails when the directory does not exist, creating nothing', async () => {
    const sub = await fresh('missing');
    await assert.rejects(writeFileAtomic(join(sub, 'no', 'such', 'file'), 'x'), { code: 'ENOENT' });
    assert.deepEqual(await readdir(sub), []);
  });

  it('fsyncPath works on a directory and fails on a missing one', async () => {
    await fsyncPath(dir);
    await assert.rejects(fsyncPath(join(dir, 'does-not-exist')), { code: 'ENOENT' });
  });
});
