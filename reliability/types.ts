/**
 * The reliability harness (`npm run reliability [-- --quick]`): suites that try Dolly the way
 * its users' tools and its enemies would, each reporting rows for docs/reliability.md.
 */
export interface SuiteContext {
  /** --quick: a minute or two in all, for CI; otherwise the full run. */
  quick: boolean;
  /** Seed for every random choice, printed so a failing run can be repeated (--seed). */
  seed: number;
  log: (message: string) => void;
  /** The pool filesystem, hence backend, of this pass: xfs (reflink) or btrfs (subvolumes). */
  poolFs: PoolFs;
}

export type PoolFs = 'xfs' | 'btrfs';

/** One line of the results table. A run passes only when every row has no violations. */
export interface CheckRow {
  suite: string;
  check: string;
  /** Faults injected (kills, ENOSPC, abusive connections); 0 where none apply. */
  injections: number;
  /** RPCs (or connections) sent. */
  requests: number;
  /** Each invariant broken, said so a person can reproduce it; empty when all held. */
  violations: string[];
}

export interface Suite {
  name: string;
  /** Whether the suite tries the storage engine, and so runs once per backend (else once, on XFS). */
  perBackend: boolean;
  run: (context: SuiteContext) => Promise<CheckRow[]>;
}
