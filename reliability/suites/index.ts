import type { Suite } from '../types.js';
import { concurrency } from './concurrency.js';
import { faultInjection } from './fault-injection.js';
import { hostileInput } from './hostile-input.js';
import { http2Abuse } from './http2-abuse.js';
import { poolFull } from './pool-full.js';
import { selfCheck } from './self-check.js';

/** Every suite, in the order `npm run reliability` runs them. */
export const SUITES: Suite[] = [
  // First: if the checker cannot see a planted fault, no other row's 0 means anything.
  selfCheck,
  faultInjection,
  concurrency,
  hostileInput,
  http2Abuse,
  poolFull,
];
