/**
 * Preprocessing presets and how a preset, the model's input shape and command-line overrides
 * resolve to one complete, explicit spec (the spec is what a cache is keyed on and what its
 * manifest records).
 */
import type { ModelShape } from '../onnx/model-input.js';

export const PRESETS = ['torchvision', 'mlperf', 'plain'] as const;
export type PresetName = (typeof PRESETS)[number];

export interface PreprocessSpec {
  preset: PresetName;
  /** Channels of the model input: 1 (grayscale) or 3 (RGB). */
  channels: 1 | 3;
  height: number;
  width: number;
  /** torchvision only: the shorter side after resizing, before the centre crop (256 for 224). */
  resize?: number;
  /**
   * Pixel units mean and std apply to: '0-1' (u8 / 255, torchvision and plain) or '0-255' (MLPerf's
   * ResNet-50 preprocessing subtracts means from the raw 0-255 values).
   */
  range: '0-1' | '0-255';
  /** One value per channel. */
  mean: number[];
  std: number[];
}

export interface PreprocessOverrides {
  channels?: number;
  height?: number;
  width?: number;
  resize?: number;
  /** One value per channel, or one value for all channels. */
  mean?: number[];
  std?: number[];
}

export const TORCHVISION_MEAN = [0.485, 0.456, 0.406];
export const TORCHVISION_STD = [0.229, 0.224, 0.225];
/** vision/classification_and_detection/python/dataset.py, pre_process_vgg. */
export const MLPERF_MEAN = [123.68, 116.78, 103.94];
/** MLPerf's resize_with_aspectratio(scale=87.5): the resized side is out / 0.875. */
export const MLPERF_SCALE_PERCENT = 87.5;

export function isPreset(name: string): name is PresetName {
  return (PRESETS as readonly string[]).includes(name);
}

function dimension(value: number | string | null | undefined): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/** C, H, W of an NCHW (or CHW) model input; symbolic axes come back undefined. */
export function chwOfModelShape(shape: ModelShape): { c?: number; h?: number; w?: number } {
  if (shape.length !== 4 && shape.length !== 3) {
    throw new Error(`model input has shape [${shape.join(', ')}]: expected NCHW (4 axes) or CHW (3 axes)`);
  }
  const [c, h, w] = shape.slice(-3).map(dimension);
  if (c !== undefined && c !== 1 && c !== 3) {
    const last = dimension(shape[shape.length - 1]);
    const hint = last === 1 || last === 3 ? ' (it looks NHWC; bnas feeds NCHW)' : '';
    throw new Error(`model input has shape [${shape.join(', ')}]: ${c} channels${hint}`);
  }
  return { c, h, w };
}

function perChannel(name: string, values: number[], channels: number): number[] {
  if (values.length === 1) return new Array(channels).fill(values[0]);
  if (values.length !== channels) {
    throw new Error(`--${name} has ${values.length} values; give 1 or ${channels} (one per channel)`);
  }
  return [...values];
}

function positiveInt(name: string, value: number | undefined): number {
  if (value === undefined || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * The complete spec for `preset`: the model input shape decides channels and size, overrides win
 * over it. Without a shape, torchvision and mlperf default to 3×224×224.
 */
export function resolvePreprocessSpec(
  preset: PresetName,
  modelShape?: ModelShape,
  overrides: PreprocessOverrides = {},
): PreprocessSpec {
  if (!isPreset(preset)) throw new Error(`unknown preprocessing preset "${preset}" (${PRESETS.join(', ')})`);
  const fromModel = modelShape ? chwOfModelShape(modelShape) : {};
  const fallback = preset === 'plain' ? undefined : { c: 3, h: 224, w: 224 };
  const pick = (
    override: number | undefined,
    model: number | undefined,
    dflt: number | undefined,
    what: string,
  ) => {
    const v = override ?? model ?? dflt;
    if (v === undefined) {
      throw new Error(`the ${preset} preset needs the input ${what}: give --model or --shape C,H,W`);
    }
    return v;
  };
  const channels = pick(overrides.channels, fromModel.c, fallback?.c, 'channels');
  const height = positiveInt('height', pick(overrides.height, fromModel.h, fallback?.h, 'height'));
  const width = positiveInt('width', pick(overrides.width, fromModel.w, fallback?.w, 'width'));
  if (channels !== 1 && channels !== 3) throw new Error(`channels must be 1 or 3, got ${channels}`);
  if (preset !== 'plain' && channels !== 3) {
    throw new Error(
      `the ${preset} preset makes RGB inputs; this input has ${channels} channel(s) (use --preprocess plain)`,
    );
  }
  if (overrides.resize !== undefined && preset !== 'torchvision') {
    throw new Error(`--resize applies to the torchvision preset only (${preset} sizes by its own rule)`);
  }

  let resize: number | undefined;
  if (preset === 'torchvision') {
    resize = positiveInt(
      'resize',
      overrides.resize ?? Math.floor((100 * Math.max(height, width)) / MLPERF_SCALE_PERCENT),
    );
    if (resize < Math.max(height, width)) {
      throw new Error(`--resize ${resize} is smaller than the ${height}x${width} crop`);
    }
  }
  const defaults: Record<PresetName, { mean: number[]; std: number[] }> = {
    torchvision: { mean: TORCHVISION_MEAN, std: TORCHVISION_STD },
    mlperf: { mean: MLPERF_MEAN, std: [1] },
    plain: { mean: [0], std: [1] },
  };
  const mean = perChannel('mean', overrides.mean ?? defaults[preset].mean, channels);
  const std = perChannel('std', overrides.std ?? defaults[preset].std, channels);
  for (const v of mean) if (!Number.isFinite(v)) throw new Error(`--mean values must be numbers, got ${v}`);
  for (const v of std) {
    if (!Number.isFinite(v) || v === 0) throw new Error(`--std values must be non-zero numbers, got ${v}`);
  }
  return {
    preset,
    channels,
    height,
    width,
    ...(resize !== undefined ? { resize } : {}),
    range: preset === 'mlperf' ? '0-255' : '0-1',
    mean,
    std,
  };
}

/** Values in one preprocessed sample: C × H × W. */
export function sampleShape(spec: PreprocessSpec): [number, number, number] {
  return [spec.channels, spec.height, spec.width];
}

/** Parses "C,H,W" (or "H,W" for 3 channels). */
export function parseShapeOption(text: string): { channels: number; height: number; width: number } {
  const parts = text.split(/[,x×]/).map((s) => s.trim());
  const nums = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : Number.NaN));
  if (nums.some((n) => !Number.isInteger(n) || n <= 0) || (nums.length !== 3 && nums.length !== 2)) {
    throw new Error(`--shape ${text}: expected C,H,W (e.g. 3,224,224 or 1,28,28)`);
  }
  const [channels, height, width] = nums.length === 3 ? nums : [3, nums[0], nums[1]];
  return { channels, height, width };
}

/** Parses a comma-separated list of numbers (for --mean, --std). */
export function parseNumberList(name: string, text: string | number | (string | number)[]): number[] {
  const items = (Array.isArray(text) ? text : [text]).flatMap((t) => String(t).split(','));
  const values = items
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) {
    throw new Error(`--${name} ${text}: expected numbers separated by commas`);
  }
  return values;
}
