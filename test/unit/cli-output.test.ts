import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { table, tree } from '../../src/cli/output.js';
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
