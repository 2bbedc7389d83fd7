/** What `bnas optimize` is asked to do: the search's options and the benchmarks'. */
import type { SearchOptions } from '../../nas/search/types.js';

/**
 * The search's options (model, data, budget, seed, SUT, rules, log, progress; `outDir` is the
 * optimize folder, the search writes to <outDir>/search), and the benchmarks'.
 */
export interface OptimizeOptions extends SearchOptions {
  /** Quantize the baseline and picks and measure the INT8 models too. */
  int8: boolean;
  /** Make the Server search (else only Offline). */
  server: boolean;
  /** Shortened Offline run length (s). */
  offlineSeconds: number;
  /** Shortest Server trial (s). */
  trialSeconds: number;
  /** Most Server trials per model. */
  maxTrials: number;
  /** Offline estimate run before each Offline run (s; default 2). */
  estimateSeconds?: number;
  /** LoadGen round rules (default "current"). */
  round?: string;
  /** Calibration images taken from the training folder when it has no cal_image_list.txt (default 500). */
  calibrationImages?: number;
}
