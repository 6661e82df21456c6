import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/**
 * The harness's one source of randomness for its own choices (which call, when to kill), seeded
 * from --seed so a run can be repeated. fast-check gets the same seed for what it generates.
 */
export class Random {
  private readonly generator;

  constructor(seed: number) {
    this.generator = xoroshiro128plus(seed);
  }

  /** An integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.generator, from, to);
  }

  chance(probability: number): boolean {
    return this.int(0, 999_999) < probability * 1_000_000;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** A new generator for one part of the run, so adding draws in one suite does not shift another's. */
  fork(label: string): Random {
    let hash = this.int(0, 0x7fffffff);
    for (const char of label) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
    return new Random(hash);
  }
}
