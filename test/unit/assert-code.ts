import assert from 'node:assert/strict';
import { DollyError, codeName } from '../../src/errors.js';
import type { Code } from '../../src/errors.js';

/**
 * A validation function for assert.throws / assert.rejects: the error must be a DollyError with
 * the given gRPC code (and, when given, a message matching `message`).
 */
export function isCode(code: Code, message?: RegExp): (error: unknown) => true {
  return (error: unknown): true => {
    assert.ok(error instanceof DollyError, `expected a DollyError, got ${String(error)}`);
    assert.equal(
      error.code,
      code,
      `expected code ${codeName(code)}, got ${codeName(error.code)} (${error.message})`,
    );
    if (message) assert.match(error.message, message);
    return true;
  };
}

/** Runs `fn`, which must throw a DollyError with `code`, and returns that error for further checks. */
export function catchCode(code: Code, fn: () => unknown): DollyError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.notEqual(caught, undefined, 'expected the function to throw');
  isCode(code)(caught);
  return caught as DollyError;
}
