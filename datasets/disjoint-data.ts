/**
 * The training and validation folders of a search must not share images: the search fits and
 * scores on the training images, and every validation top-1 it reports would be meaningless if
 * the validation images were among them.
 *
 * What is checked (cheap enough for ImageNet's 1.28 M training images, no hashing of whole sets):
 * - the two folders are not the same folder (real paths, so symbolic links are seen through);
 * - no validation image is a training image: the same file (one folder inside the other), or a file
 *   with the same base name and size whose bytes are identical (compared for the first
 *   BYTE_COMPARISONS such pairs; a copy of the validation folder is caught on its first image).
 * A renamed copy of an image is not caught.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { readImageNetFolder } from './imagenet-layout.js';

/** Same-name, same-size pairs whose bytes are compared (each costs two file reads). */
const BYTE_COMPARISONS = 32;
const EXAMPLES = 3;

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

/** Throws, naming both folders and a few shared images, when the folders share images. */
export function checkTrainValDisjoint(trainData: string, valData: string): void {
  // Read first: they name a missing folder or val_map.txt.
  const trainSamples = readImageNetFolder(trainData, { checkFiles: false }).samples;
  const valSamples = readImageNetFolder(valData, { checkFiles: false }).samples;
  const train = realpathSync(trainData);
  const val = realpathSync(valData);
  const refuse = (why: string) =>
    new Error(
      `training data ${trainData} and validation data ${valData} ${why}: every validation top-1 would be measured on training images; give --val-data a folder that holds none of the --train-data images`,
    );
  if (train === val) throw refuse(`are the same folder (${val})`);

  const trainFiles = trainSamples.map((s) => resolve(train, s.file));
  const trainPaths = new Set(trainFiles);
  const byName = new Map<string, string[]>();
  for (const path of trainFiles) {
    const name = basename(path);
    const list = byName.get(name);
    if (list) list.push(path);
    else byName.set(name, [path]);
  }

  const shared: string[] = [];
  let compared = 0;
  let uncompared = false;
  for (const sample of valSamples) {
    const path = resolve(val, sample.file);
    if (trainPaths.has(path)) {
      shared.push(path);
      continue;
    }
    const namesakes = byName.get(basename(path));
    if (!namesakes) continue;
    if (compared >= BYTE_COMPARISONS) {
      uncompared = true;
      continue;
    }
    const size = sizeOf(path);
    if (size === undefined) continue; // a missing image is reported where the images are read
    for (const other of namesakes) {
      if (sizeOf(other) !== size || compared >= BYTE_COMPARISONS) continue;
      compared++;
      if (readFileSync(path).equals(readFileSync(other))) {
        shared.push(path);
        break;
      }
    }
  }
  if (shared.length > 0) {
    const examples = shared.slice(0, EXAMPLES).join(', ');
    const count = `${shared.length}${uncompared ? ' or more' : ''}`;
    throw refuse(`share images (${count} validation image(s) are training images, e.g. ${examples})`);
  }
}
