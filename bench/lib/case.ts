import type { Backend } from './pools.js';
import type { CaseRecorder } from './result.js';
import type { World } from './world.js';

export interface FioOptions {
  runtimeSeconds: number;
  sizeBytes: number;
  /** Runs of each job on each side; the median is reported. */
  repeat: number;
}

/** Every size and count the cases use; --quick picks small ones, options override each. */
export interface BenchOptions {
  quick: boolean;
  backends: Backend[];
  /** Clones (and snapshots) timed per point; the p50 is reported. */
  repeat: number;
  dataSizes: number[];
  fileCounts: number[];
  volumeSizes: number[];
  /** Scattered 4 KiB writes made before each clone-history point (cumulative totals). */
  historyWrites: number[];
  stallHistory: number[];
  spaceDataBytes: number;
  /** CreateVolume+DeleteVolume pairs per rate measurement (and clones per clone-rate measurement). */
  rateOps: number;
  startupVolumes: number;
  fio: FioOptions;
  /** The largest image `dd` may copy (it writes every byte, holes included). */
  ddLimitBytes: number;
}

export interface CaseContext {
  options: BenchOptions;
  log: (message: string) => void;
  /** The shared world of a backend (its pool and driver), made on first use. */
  world: (backend: Backend) => Promise<World>;
}

export interface BenchCase {
  name: string;
  title: string;
  /** What is measured exactly (printed with the table, kept in the JSON). */
  measures: string;
  run: (context: CaseContext, record: CaseRecorder) => Promise<void>;
}
