import type { BenchCase } from '../lib/case.js';
import { cloneFiles } from './clone-files.js';
import { cloneHistory } from './clone-history.js';
import { cloneSize } from './clone-size.js';
import { cloneVolumeSize } from './clone-volsize.js';
import { controlRates } from './control-rates.js';
import { fio } from './fio.js';
import { memory } from './memory.js';
import { space } from './space.js';
import { startup } from './startup.js';
import { writerStall } from './writer-stall.js';

/** Every case, in the order a run takes them. */
export const CASES: BenchCase[] = [
  cloneSize,
  cloneFiles,
  cloneVolumeSize,
  cloneHistory,
  space,
  writerStall,
  controlRates,
  fio,
  memory,
  startup,
];
