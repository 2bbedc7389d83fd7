/**
 * A model ready to be measured: its images preprocessed (cached), a sample store sized for the
 * performance set, and the onnxruntime SUT started once. `run` makes one LoadGen test; drivers
 * such as find-qps and reproduce make many with the same sessions.
 */
import { availableMemoryBytes } from '../common/machine.js';
import { ensurePreprocessed } from '../datasets/cache.js';
import { modelPreprocessSpec } from '../datasets/model-info.js';
import { type PreprocessOverrides, type PreprocessSpec, sampleShape } from '../datasets/preprocess-spec.js';
import { type ProgressEvent, startTest, type TestOutcome } from './loadgen/loadgen.js';
import { roundRules } from './loadgen/rounds.js';
import { deriveEffectiveSettings, loadTestSettings, resetConfLoadCount } from './loadgen/settings.js';
import type { Scenario, TestMode } from './loadgen/types.js';
import {
  checkSutMemory,
  estimateSutMemory,
  modelMemoryProfile,
  type SutMemoryPlan,
} from './memory-estimate.js';
import { PreprocessedQsl } from './qsl/preprocessed-qsl.js';
import { createOnnxSut } from './sut/onnx-sut.js';
import type { PoolSut } from './sut/pool-sut.js';
import { SampleStore } from './sut/sample-store.js';
import type { SutSettings } from './sut-settings.js';

/** Samples the store holds unless told otherwise: the largest performance set of the QSL. */
const DEFAULT_STORE_CAPACITY = 1024;

export interface OpenModelOptions {
  modelPath: string;
  dataDir: string;
  /** Preset name; default: the model's bnas.preprocess metadata, else torchvision for 3-channel inputs. */
  preset?: string;
  overrides?: PreprocessOverrides;
  cacheRoot?: string;
  sut: SutSettings;
  /** Largest performance set a test may load (default: min(1024, dataset size)). */
  storeCapacity?: number;
  onPreprocessProgress?: (done: number, total: number) => void;
  /** Memory the SUT may use (default: what the machine has available now); checked before any work. */
  availableMemoryBytes?: number;
}

export interface ModelTestOptions {
  scenario: Scenario;
  mode: TestMode;
  round: string;
  benchmark?: string;
  userConfPath?: string;
  userConfText?: string;
  mlperfConfPath?: string;
  auditConfigPath?: string;
  outDir: string;
  enableTrace?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Each test of a driver that makes several counts as a test in a fresh process (LoadGen logs an
   * error for a second user.conf in one process). Default true.
   */
  freshConfCount?: boolean;
}

export class ModelRunner {
  private constructor(
    readonly modelPath: string,
    readonly spec: PreprocessSpec,
    readonly cacheDir: string,
    readonly reusedCache: boolean,
    readonly datasetPath: string,
    private readonly qsl: PreprocessedQsl,
    private readonly store: SampleStore,
    readonly sut: PoolSut,
    /** Set when the SUT failed to start: tests still run, and their logs say they failed. */
    readonly startError: Error | undefined,
  ) {}

  static async open(options: OpenModelOptions): Promise<ModelRunner> {
    const spec = await modelPreprocessSpec(options.modelPath, options.preset, options.overrides);
    const shape = sampleShape(spec);
    // Before preprocessing, so the store is sized for the most it may hold.
    const plan: SutMemoryPlan = {
      workers: options.sut.workers,
      batchSize: options.sut.batchSize,
      storeCapacity: options.storeCapacity ?? DEFAULT_STORE_CAPACITY,
    };
    const profile = modelMemoryProfile(options.modelPath, shape);
    checkSutMemory(
      estimateSutMemory(profile, plan),
      plan,
      profile,
      options.availableMemoryBytes ?? availableMemoryBytes(),
    );
    const cache = await ensurePreprocessed({
      dataDir: options.dataDir,
      spec,
      cacheRoot: options.cacheRoot,
      onProgress: options.onPreprocessProgress,
    });
    const total = cache.manifest.count;
    const capacity = Math.min(total, options.storeCapacity ?? DEFAULT_STORE_CAPACITY);
    const store = SampleStore.create(total, capacity, shape[0] * shape[1] * shape[2]);
    const qsl = new PreprocessedQsl(
      `ImageNetQSL(${cache.manifest.dataset})`,
      { dir: cache.dir, files: cache.manifest.files, sampleShape: shape },
      store,
      Math.min(1024, total),
    );
    const sut = createOnnxSut({ modelPath: options.modelPath, sampleShape: shape, store, ...options.sut });
    let startError: Error | undefined;
    try {
      await sut.start();
    } catch (error) {
      startError = error as Error;
    }
    return new ModelRunner(
      options.modelPath,
      spec,
      cache.dir,
      cache.reused,
      cache.manifest.dataset,
      qsl,
      store,
      sut,
      startError,
    );
  }

  get sampleCount(): number {
    return this.qsl.totalSampleCount;
  }

  async run(options: ModelTestOptions): Promise<TestOutcome> {
    if (options.freshConfCount ?? true) resetConfLoadCount();
    const rules = roundRules(options.round);
    const loaded = loadTestSettings({
      round: rules,
      scenario: options.scenario,
      mode: options.mode,
      model: options.benchmark ?? 'resnet50',
      userConfPath: options.userConfPath,
      userConfText: options.userConfText,
      mlperfConfPath: options.mlperfConfPath,
      auditConfigPath: options.auditConfigPath,
    });
    const { effective } = deriveEffectiveSettings(
      loaded.settings,
      this.qsl.performanceSampleCount,
      this.qsl.totalSampleCount,
      rules,
    );
    const setSize = Math.min(effective.performanceSampleCount, this.qsl.totalSampleCount);
    if (setSize > this.store.handle.capacity) {
      throw new Error(
        `performance_sample_count ${effective.performanceSampleCount} needs a sample store of ${setSize} samples; this run was opened with room for ${this.store.handle.capacity}`,
      );
    }
    return startTest({
      sut: this.sut,
      qsl: this.qsl,
      settings: loaded.settings,
      rules: loaded.rules,
      settingsIssues: loaded.issues,
      outDir: options.outDir,
      enableTrace: options.enableTrace,
      onProgress: options.onProgress,
    });
  }

  async close(): Promise<void> {
    await this.sut.stop();
  }
}
