import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code } from '../../src/errors.js';
import { run, runLines } from '../../src/host/exec.js';
import { isCode } from './assert-code.js';

/** runLines: a host program's output handed over line by line, for output that grows with the data. */
describe('runLines', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dolly-run-lines-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('hands over every line of an output larger than run() would buffer', async () => {
    // 3,000,000 lines, about 21 MB: more than run()'s 16 MiB buffer.
    await assert.rejects(run('seq', ['1', '3000000']), isCode(Code.INTERNAL));
    let count = 0;
    let last = '';
    const result = await runLines('seq', ['1', '3000000'], (line) => {
      count += 1;
      last = line;
    });
    assert.equal(count, 3_000_000);
    assert.equal(last, '3000000');
    assert.equal(result.exitCode, 0);
  });

  it('stops the program and rejects with the error when a line is refused', async () => {
    // `yes` never ends by itself: this only settles if the program is stopped.
    let seen = 0;
    await assert.rejects(
      runLines('yes', ['extent'], () => {
        seen += 1;
        if (seen === 1000) throw new Error('line 1000 refused');
      }),
      /line 1000 refused/,
    );
    assert.equal(seen, 1000, 'no line after the refused one');
  });

  it('passes open files as fd 3, 4, …', async () => {
    const path = join(dir, 'lines.txt');
    await writeFile(path, 'first\nsecond\n');
    const handle = await open(path, 'r');
    try {
      const lines: string[] = [];
      await runLines('cat', ['/dev/fd/3'], (line) => lines.push(line), { passFds: [handle.fd] });
      assert.deepEqual(lines, ['first', 'second']);
    } finally {
      await handle.close();
    }
  });

  it('fails as run() does: the command line and its stderr, or a missing program named', async () => {
    await assert.rejects(
      runLines('cat', [join(dir, 'absent')], () => undefined, { failureCode: Code.FAILED_PRECONDITION }),
      isCode(Code.FAILED_PRECONDITION, /^`cat \S+absent` failed: cat: \S+absent: No such file or directory$/),
    );
    await assert.rejects(
      runLines('false', [], () => undefined),
      isCode(Code.INTERNAL, /^`false` failed: exit code 1$/),
    );
    await assert.rejects(
      runLines('dolly-no-such-program', [], () => undefined),
      isCode(Code.INTERNAL, /dolly-no-such-program is not installed/),
    );
    assert.deepEqual(await runLines('false', [], () => undefined, { allowExitCodes: [1] }), {
      stderr: '',
      exitCode: 1,
    });
  });

  it('stops a program that overruns its time', async () => {
    await assert.rejects(
      runLines('sleep', ['30'], () => undefined, { timeoutMs: 100 }),
      isCode(Code.INTERNAL, /`sleep 30` was stopped \(SIGTERM\) after 100 ms/),
    );
  });
});
