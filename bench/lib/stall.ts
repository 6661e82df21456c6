import { quantile } from './timing.js';

export interface Stalls {
  /** The median gap between two writes that overlap no clone: the writer's normal pace. */
  normalGapMs: number;
  /** The 99th percentile of every gap of the run. */
  p99GapMs: number;
  /** For each clone: the longest gap overlapping it, minus the normal gap (0 when none is longer). */
  stalls: number[];
}

/**
 * The writer's stalls, from the monotonic times its writes completed and the [start, end] of
 * each clone on the same clock. A gap overlaps a clone when it ends after the clone started
 * and begins before it ended: the write that waited for the clone is the one ending that gap.
 */
export function stallsFromTimes(
  times: readonly number[],
  windows: readonly (readonly [number, number])[],
): Stalls {
  const gaps: { from: number; to: number; ms: number }[] = [];
  for (let i = 1; i < times.length; i += 1) {
    const from = times[i - 1]!;
    const to = times[i]!;
    gaps.push({ from, to, ms: to - from });
  }
  const overlaps = (gap: { from: number; to: number }, [start, end]: readonly [number, number]) =>
    gap.to > start && gap.from < end;
  const quiet = gaps.filter((gap) => !windows.some((window) => overlaps(gap, window))).map((gap) => gap.ms);
  const normalGapMs = quantile(quiet, 0.5);
  const stalls = windows.map((window) =>
    Math.max(
      0,
      Math.max(0, ...gaps.filter((gap) => overlaps(gap, window)).map((gap) => gap.ms)) - normalGapMs,
    ),
  );
  return {
    normalGapMs,
    p99GapMs: quantile(
      gaps.map((gap) => gap.ms),
      0.99,
    ),
    stalls,
  };
}
