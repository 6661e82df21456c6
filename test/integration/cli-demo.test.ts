import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { dolly } from '../helpers/cli.js';
import { mountsUnder } from '../helpers/sandbox.js';

interface DemoJson {
  checks: { what: string; passed: boolean }[];
  copies: { what: string; milliseconds: number; applyMilliseconds: number; poolBytesUsed: number }[];
  dataBytes: number;
  sharing: { allocatedBytes: number; physicalBytes: number };
  scratchDir: string;
}

const execFileAsync = promisify(execFile);

/** `dolly demo` needs no driver: it starts its own on a scratch pool, runs the seed scenario, cleans up. */
describe('dolly demo', () => {
  it('runs the seed scenario to the end, its checks pass, and it leaves nothing behind', async () => {
    const result = await dolly('/nonexistent/no-driver-needed.sock', ['demo', '--data', '16Mi', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as DemoJson;
    assert.equal(report.dataBytes, 16 * 1024 ** 2);
    assert.ok(report.checks.length >= 8);
    assert.deepEqual(
      report.checks.filter((check) => !check.passed),
      [],
    );
    assert.deepEqual(
      report.copies.map((copy) => copy.what),
      [
        'clone of pvc-1',
        'larger clone of clone-of-pvc-1',
        'snapshot of clone-of-pvc-1',
        'restore of snapshot-1',
      ],
    );
    for (const copy of report.copies) {
      assert.ok(Number.isFinite(copy.milliseconds) && copy.milliseconds > 0, `${copy.what} was timed`);
      assert.ok(
        copy.poolBytesUsed < report.dataBytes,
        `${copy.what} took ${copy.poolBytesUsed} bytes: no copy of the data`,
      );
    }
    // Three volumes and a snapshot hold the 16 MiB: the extent maps show it stored about once.
    assert.ok(report.sharing.allocatedBytes >= 3 * report.dataBytes, JSON.stringify(report.sharing));
    assert.ok(report.sharing.physicalBytes < 2 * report.dataBytes, JSON.stringify(report.sharing));
    assert.match(report.scratchDir, /dolly-demo-/);
    await assert.rejects(access(report.scratchDir), /ENOENT/, 'the scratch directory is gone');
    assert.deepEqual(await mountsUnder(report.scratchDir), [], 'nothing of it is mounted');
    const { stdout } = await execFileAsync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']);
    assert.ok(!stdout.includes(report.scratchDir), 'no loop device of it is left');
  });
});
