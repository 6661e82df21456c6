import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { table, tree } from '../../src/cli/output.js';
import { terminalSteps } from '../../src/cli/terminal-progress.js';
import { canonicalJson } from '../../src/util/canonical-json.js';

describe('CLI output', () => {
  it('tables are borderless, aligned, without trailing spaces', () => {
    assert.equal(
      table(
        ['NAME', 'SIZE'],
        [
          ['a', '1Gi'],
          ['longer', '5Gi'],
        ],
      ),
      'NAME     SIZE\na        1Gi\nlonger   5Gi',
    );
    assert.equal(table(['NAME'], []), '');
  });

  it('trees draw guides under every level', () => {
    const text = tree([
      {
        label: 'root',
        children: [
          { label: 'a', children: [{ label: 'a1', children: [] }] },
          { label: 'b', children: [] },
        ],
      },
      { label: 'second', children: [] },
    ]);
    assert.equal(text, 'root\n├── a\n│   └── a1\n└── b\nsecond');
  });

  it('canonical JSON does not depend on key order', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } }),
      canonicalJson({ a: { c: null, d: [2, { e: 0, f: 1 }] }, b: 1 }),
    );
    assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
  });
});

describe('terminal progress', () => {
  const stream = (isTTY: boolean): { isTTY: boolean; text: string; write: (chunk: string) => boolean } => {
    const sink = { isTTY, text: '', write: (chunk: string): boolean => ((sink.text += chunk), true) };
    return sink;
  };

  it('a step that outlasts the quiet time shows a spinner, then how it ended', async () => {
    const tty = stream(true);
    const step = terminalSteps(tty, 0);
    assert.equal(
      await step('making a filesystem', () => new Promise((resolve) => setTimeout(() => resolve(7), 250))),
      7,
    );
    assert.match(tty.text, /making a filesystem … \d+\.\d s/);
    assert.match(tty.text, /making a filesystem: done after \d+\.\d s\n$/);
    await assert.rejects(
      step(
        'failing',
        () => new Promise((_resolve, reject) => setTimeout(() => reject(new Error('no')), 250)),
      ),
    );
    assert.match(tty.text, /failing: failed after/);
  });

  it('off a terminal, or for a quick step, nothing is drawn', async () => {
    const pipe = stream(false);
    await terminalSteps(pipe, 0)('x', () => new Promise((resolve) => setTimeout(resolve, 50)));
    const tty = stream(true);
    await terminalSteps(tty)('y', () => Promise.resolve());
    assert.equal(pipe.text + tty.text, '');
  });
});
