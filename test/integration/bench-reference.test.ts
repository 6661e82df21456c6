import assert from 'node:assert/strict';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ReferenceDriver } from '../../bench/lib/reference.js';
import { Sandbox } from '../helpers/sandbox.js';
import { blockCapability, expectCode, mountCapability, status } from '../helpers/csi.js';

interface State {
  Volumes: { VolName: string; VolID: string; VolSize: number; VolPath: string; ParentVolID: string }[];
}

/**
 * The benchmark's hostpath reference (bench/reference/) must do on disk what
 * csi-driver-host-path does, or the control-plane ratios compare Dolly with something else.
 */
describe('bench: the hostpath reference driver', () => {
  let sandbox: Sandbox;
  let reference: ReferenceDriver;
  let stateDir: string;
  const state = async (): Promise<State> =>
    JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')) as State;

  before(async () => {
    sandbox = await Sandbox.create('bench-reference');
    stateDir = sandbox.path('state');
    reference = await ReferenceDriver.start(sandbox, sandbox.path('reference.sock'), stateDir);
  });
  after(async () => {
    await sandbox.cleanup();
  });

  it('makes a directory per filesystem volume, records it in state.json, and answers a retry with it', async () => {
    const request = {
      name: 'ref-a',
      volume_capabilities: mountCapability(),
      capacity_range: { required_bytes: 1024 ** 3 },
    };
    const { volume } = await reference.client.createVolume(request);
    const id = volume!.volume_id;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.ok((await stat(join(stateDir, id))).isDirectory());
    assert.deepEqual(
      (await state()).Volumes.map((v) => [v.VolName, v.VolID, v.VolSize]),
      [['ref-a', id, 1024 ** 3]],
    );
    assert.equal((await reference.client.createVolume(request)).volume!.volume_id, id);
  });

  it('clones a filesystem volume with cp -a (the files, their modes) and records the parent', async () => {
    const { volume: source } = await reference.client.createVolume({
      name: 'ref-src',
      volume_capabilities: mountCapability(),
    });
    const sourceDir = join(stateDir, source!.volume_id);
    await writeFile(join(sourceDir, 'data'), 'hello', { mode: 0o640 });
    const { volume: clone } = await reference.client.createVolume({
      name: 'ref-clone',
      volume_capabilities: mountCapability(),
      volume_content_source: { volume: { volume_id: source!.volume_id } },
    });
    const cloneDir = join(stateDir, clone!.volume_id);
    assert.equal(await readFile(join(cloneDir, 'data'), 'utf8'), 'hello');
    assert.equal((await stat(join(cloneDir, 'data'))).mode & 0o777, 0o640);
    const record = (await state()).Volumes.find((v) => v.VolID === clone!.volume_id);
    assert.equal(record?.ParentVolID, source!.volume_id);
  });

  it('makes a block volume with fallocate and clones it with dd', async () => {
    const { volume: source } = await reference.client.createVolume({
      name: 'ref-block',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 4 * 1024 ** 2 },
    });
    const sourceFile = join(stateDir, source!.volume_id);
    const info = await stat(sourceFile);
    assert.equal(info.size, 4 * 1024 ** 2);
    assert.equal(info.blocks * 512, 4 * 1024 ** 2, 'fallocate allocates every block');
    await writeFile(sourceFile, Buffer.alloc(4 * 1024 ** 2, 7));
    const { volume: clone } = await reference.client.createVolume({
      name: 'ref-block-clone',
      volume_capabilities: blockCapability(),
      capacity_range: { required_bytes: 4 * 1024 ** 2 },
      volume_content_source: { volume: { volume_id: source!.volume_id } },
    });
    assert.deepEqual(await readFile(join(stateDir, clone!.volume_id)), Buffer.alloc(4 * 1024 ** 2, 7));
  });

  it('deletes with the directory and the record; an unknown ID is OK; a missing source leaves nothing', async () => {
    const { volume } = await reference.client.createVolume({
      name: 'ref-gone',
      volume_capabilities: mountCapability(),
    });
    const id = volume!.volume_id;
    await reference.client.deleteVolume({ volume_id: id });
    await assert.rejects(stat(join(stateDir, id)), { code: 'ENOENT' });
    assert.ok(!(await state()).Volumes.some((v) => v.VolID === id));
    await reference.client.deleteVolume({ volume_id: 'no-such-volume' });

    const entries = await readdir(stateDir);
    await expectCode(
      reference.client.createVolume({
        name: 'ref-orphan',
        volume_capabilities: mountCapability(),
        volume_content_source: { volume: { volume_id: 'no-such-volume' } },
      }),
      status.NOT_FOUND,
    );
    assert.deepEqual(await readdir(stateDir), entries);
    assert.ok(!(await state()).Volumes.some((v) => v.VolName === 'ref-orphan'));
  });
});
