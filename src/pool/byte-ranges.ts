/**
 * A collection of half-open byte ranges [start, end) that may overlap, kept as two growable
 * Float64Arrays (16 bytes a range, no object per range: a pool can hold millions of extents).
 * Offsets are exact integers up to 2^53 bytes (8 PiB).
 */
export class ByteRanges {
  private starts = new Float64Array(1024);
  private ends = new Float64Array(1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(start: number, end: number): void {
    if (!(end > start)) return; // empty ranges cover nothing (and would unbalance the sweep)
    if (this.count === this.starts.length) this.grow(this.count * 2);
    this.starts[this.count] = start;
    this.ends[this.count] = end;
    this.count += 1;
  }

  addAll(other: ByteRanges): void {
    if (this.count + other.count > this.starts.length) this.grow((this.count + other.count) * 2);
    this.starts.set(other.starts.subarray(0, other.count), this.count);
    this.ends.set(other.ends.subarray(0, other.count), this.count);
    this.count += other.count;
  }

  /**
   * Bytes covered by at least one range (each byte once), in O(n log n): the starts and the ends
   * are sorted apart (typed-array sorts, numeric, no comparator) and swept together, counting
   * how many ranges cover each point. At equal offsets ends go first, so touching ranges join
   * without counting their common edge twice.
   */
  coveredBytes(): number {
    const starts = this.starts.slice(0, this.count).sort();
    const ends = this.ends.slice(0, this.count).sort();
    let covered = 0;
    let depth = 0;
    let coverStart = 0;
    let i = 0;
    let j = 0;
    while (i < starts.length) {
      const start = starts[i] as number;
      const end = ends[j] as number;
      if (start < end) {
        if (depth === 0) coverStart = start;
        depth += 1;
        i += 1;
      } else {
        depth -= 1;
        if (depth === 0) covered += end - coverStart;
        j += 1;
      }
    }
    // Every start is in; the last end closes the last covered stretch.
    if (this.count > 0) covered += (ends[ends.length - 1] as number) - coverStart;
    return covered;
  }

  private grow(capacity: number): void {
    const starts = new Float64Array(capacity);
    const ends = new Float64Array(capacity);
    starts.set(this.starts.subarray(0, this.count));
    ends.set(this.ends.subarray(0, this.count));
    this.starts = starts;
    this.ends = ends;
  }
}
