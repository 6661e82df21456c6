import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LogBudget } from '../../src/util/log-budget.js';

describe('LogBudget', () => {
  it('writes up to the budget per window, counts the rest, and reports them with the next line written', () => {
    let now = 0;
    const budget = new LogBudget(2, 1000, () => now);
    const written: number[] = [];
    for (let i = 0; i < 5; i += 1) budget.spend((suppressed) => written.push(suppressed));
    assert.deepEqual(written, [0, 0]);
    now = 1000;
    budget.spend((suppressed) => written.push(suppressed));
    assert.deepEqual(written, [0, 0, 3], 'the first line of the next window says 3 were left out');
    budget.spend((suppressed) => written.push(suppressed));
    assert.deepEqual(written, [0, 0, 3, 0]);
  });
});
