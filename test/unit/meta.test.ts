import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code } from '../../src/errors.js';
import type { SnapshotId, VolumeId } from '../../src/pool/ids.js';
import { parseMeta, readMeta, writeMeta } from '../../src/pool/meta.js';
import type { VolumeMeta } from '../../src/pool/meta.js';
import { isCode } from './assert-code.js';

const ID = 'vol-0123456789abcdef0123456789abcdef' as VolumeId;
const OTHER_ID = 'vol-ffffffffffffffffffffffffffffffff' as VolumeId;
const SOURCE_ID = 'vol-00000000000000000000000000000001' as VolumeId;
const SNAPSHOT_ID = 'snap-00000000000000000000000000000002' as SnapshotId;

const MOUNT_META: VolumeMeta = {
  version: 1,
  id: ID,
  name: 'pvc-1',
  sizeBytes: 1024 * 1024 * 1024,
  mode: 'mount',
  fsType: 'xfs',
  parameters: { 'csi.storage.k8s.io/pvc/name': 'data' },
  contentSource: { kind: 'volume', volumeId: SOURCE_ID },
  createdAt: '2024-05-01T12:00:00.000Z',
};

const BLOCK_META: VolumeMeta = {
  ...MOUNT_META,
  name: 'pvc-2 with ünïcode',
  mode: 'block',
  fsType: undefined,
  parameters: {},
  contentSource: undefined,
};

const isDataLoss = isCode(Code.DATA_LOSS, /damaged/);

/** MOUNT_META as stored, with some fields replaced (undefined removes a field). */
function storedWith(changes: Record<string, unknown>): string {
  const record: Record<string, unknown> = { ...MOUNT_META, ...changes };
  return JSON.stringify(record);
}

describe('volume metadata', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dolly-unit-meta-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips through writeMeta and readMeta', async () => {
    for (const [index, meta] of [
      MOUNT_META,
      BLOCK_META,
      { ...MOUNT_META, contentSource: { kind: 'snapshot', snapshotId: SNAPSHOT_ID } } satisfies VolumeMeta,
    ].entries()) {
      const sub = join(dir, `round-trip-${index}`);
      await mkdir(sub);
      const path = join(sub, 'meta.json');
      await writeMeta(path, meta);
      assert.deepEqual(await readMeta(path, ID), meta);
      assert.deepEqual(await readdir(sub), ['meta.json'], 'no temporary file is left');
    }
  });

  it('writes readable JSON ending in a newline, replacing an earlier version', async () => {
    const sub = join(dir, 'format');
    await mkdir(sub);
    const path = join(sub, 'meta.json');
    await writeMeta(path, MOUNT_META);
    await writeMeta(path, { ...MOUNT_META, sizeBytes: 2 * MOUNT_META.sizeBytes });
    const text = await readFile(path, 'utf8');
    assert.ok(text.endsWith('}\n'));
    assert.ok(text.includes('\n  "id": '));
    assert.equal((JSON.parse(text) as { sizeBytes: number }).sizeBytes, 2 * MOUNT_META.sizeBytes);
  });

  it('reads a missing file, or a file under a missing or non-directory parent, as undefined', async () => {
    assert.equal(await readMeta(join(dir, 'nothing-here.json'), ID), undefined);
    assert.equal(await readMeta(join(dir, 'no-dir', 'meta.json'), ID), undefined);
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    assert.equal(await readMeta(join(file, 'meta.json'), ID), undefined);
  });

  it('rejects a damaged file with DATA_LOSS', async () => {
    const path = join(dir, 'damaged.json');
    await writeFile(path, '{"version": 1, "id": "vol-');
    await assert.rejects(readMeta(path, ID), isDataLoss);
  });

  it('fails on a read error other than a missing file', async () => {
    await assert.rejects(readMeta(dir, ID), { code: 'EISDIR' });
  });
});

describe('parseMeta', () => {
  const path = '/pool/volumes/x/meta.json';

  it('accepts what writeMeta writes', () => {
    assert.deepEqual(parseMeta(JSON.stringify(MOUNT_META), path, ID), MOUNT_META);
    assert.deepEqual(parseMeta(JSON.stringify(BLOCK_META), path, ID), BLOCK_META);
  });

  it('rejects text that is not JSON, or not an object, with DATA_LOSS naming the file', () => {
    for (const text of ['', '{', 'not json', '{"version":1,}', '\0\0\0\0']) {
      assert.throws(
        () => parseMeta(text, path, ID),
        isCode(Code.DATA_LOSS, /\/pool\/volumes\/x\/meta\.json is damaged \(not valid JSON\)/),
        JSON.stringify(text),
      );
    }
    for (const text of ['null', '42', '"text"', 'true']) {
      assert.throws(() => parseMeta(text, path, ID), isCode(Code.DATA_LOSS, /not an object/), text);
    }
  });

  it('rejects an id that does not match the directory', () => {
    assert.throws(
      () => parseMeta(JSON.stringify(MOUNT_META), path, OTHER_ID),
      isCode(Code.DATA_LOSS, /does not match/),
    );
    assert.throws(() => parseMeta(storedWith({ id: undefined }), path, ID), isDataLoss);
    assert.throws(() => parseMeta(storedWith({ id: ID.toUpperCase() }), path, ID), isDataLoss);
  });

  it('rejects an unknown version', () => {
    for (const version of [0, 2, '1', null, undefined]) {
      assert.throws(
        () => parseMeta(storedWith({ version }), path, ID),
        isCode(Code.DATA_LOSS, /unknown version/),
        String(version),
      );
    }
  });

  it('rejects missing or wrong fields', () => {
    const damaged: Record<string, unknown>[] = [
      { name: undefined },
      { name: 42 },
      { sizeBytes: undefined },
      { sizeBytes: 0 },
      { sizeBytes: -4096 },
      { sizeBytes: 1.5 },
      { sizeBytes: '1024' },
      { sizeBytes: 2 ** 53 },
      { mode: undefined },
      { mode: 'file' },
      { fsType: 'ntfs' },
      { fsType: null },
      { parameters: undefined },
      { parameters: null },
      { parameters: ['a'] },
      { parameters: { a: 1 } },
      { createdAt: undefined },
      { createdAt: 0 },
      { contentSource: 'vol-00000000000000000000000000000001' },
      { contentSource: { kind: 'volume' } },
      { contentSource: { kind: 'volume', volumeId: '../../etc' } },
      { contentSource: { kind: 'snapshot', snapshotId: SOURCE_ID } },
      { contentSource: { kind: 'clone', volumeId: SOURCE_ID } },
    ];
    for (const changes of damaged) {
      assert.throws(() => parseMeta(storedWith(changes), path, ID), isDataLoss, JSON.stringify(changes));
    }
  });

  it('reads a null contentSource as none', () => {
    assert.equal(parseMeta(storedWith({ contentSource: null }), path, ID).contentSource, undefined);
  });
});
