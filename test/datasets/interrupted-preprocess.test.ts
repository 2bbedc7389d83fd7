/**
 * `bnas data preprocess --out DIR` interrupted, resumed, refused (issue 11: row 7, Ctrl-C left
 * DIR unmarked and the next run neither resumed nor said why it refused; row 11, a bad --out was
 * noticed late). Real child processes of bin/bnas.js, stopped by a real SIGINT.
 */
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSample } from '../../datasets/cache.js';
import { preprocessImage } from '../../datasets/preprocess.js';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { FASHION_MNIST_VAL, fashionMnistSubset, removeTempDirs, tempDir } from './helpers.js';
import { filesUnder, isStopped, startBnas, waitUntil } from './processes.js';

afterAll(removeTempDirs);

const spec = resolvePreprocessSpec('plain', undefined, { channels: 1, height: 28, width: 28 });
const preprocessArgs = (data: string, out: string, shape = '1,28,28') => [
  'data',
  'preprocess',
  '--data',
  data,
  '--preprocess',
  'plain',
  '--shape',
  shape,
  '--out',
  out,
];
const imageName = (i: number) => `fmnist_test_${String(i).padStart(5, '0')}.png`;
const partialsOf = (out: string) =>
  readdirSync(join(out, '..'))
    .filter((n) => n.startsWith(`${out.split('/').at(-1)}.partial-`))
    .map((n) => join(out, '..', n));
const npysIn = (dir: string) => filesUnder(dir).filter((f) => f.endsWith('.npy'));

async function runToEnd(...args: string[]) {
  const child = startBnas(...args);
  const exit = await child.exited;
  return { ...exit, stdout: child.stdout(), stderr: child.stderr() };
}

describe('bnas data preprocess --out, interrupted', () => {
  it('leaves DIR.partial-… on Ctrl-C; a run with other options refuses it, the same command resumes it', async () => {
    const count = 2000;
    const data = fashionMnistSubset(count);
    const out = join(tempDir(), 'samples');
    const first = startBnas(...preprocessArgs(data, out));
    let ended = false;
    void first.exited.then(() => {
      ended = true;
    });
    await waitUntil(
      () =>
        partialsOf(out).some((p) => npysIn(p).length >= 50) || (existsSync(out) && npysIn(out).length >= 50),
      'the first 50 samples',
      () => ended,
    );
    first.process.kill('SIGINT');
    const exit = await first.exited;
    expect(exit.code).toBe(130);

    // Marked partial: DIR itself does not exist; DIR.partial-… holds the samples and its record.
    expect(existsSync(out)).toBe(false);
    const [partial, ...others] = partialsOf(out);
    expect(others).toEqual([]);
    expect(first.stderr()).toContain(`interrupted; the samples written so far are kept in ${partial}`);
    expect(first.stderr()).toContain('run the same command again to resume');
    expect(existsSync(join(partial, 'bnas-partial.json'))).toBe(true);
    expect(existsSync(join(partial, 'manifest.json'))).toBe(false);
    const done = npysIn(partial);
    expect(done.length).toBeGreaterThanOrEqual(50);
    expect(done.length).toBeLessThan(count);

    // Other options: refused, saying what the folder holds and what to do.
    const other = await runToEnd(...preprocessArgs(data, out, '1,20,20'));
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(
      `${partial} holds an interrupted preprocess of ${data} (plain, 1×28×28), which these options would not continue: run the command that started it again to resume it, or delete ${partial} to start over`,
    );
    expect(npysIn(partial).sort()).toEqual(done.sort());

    // One finished image is replaced: its sample must be computed again, the others kept.
    const old = new Date('2001-01-01T00:00:00Z');
    for (const f of done) utimesSync(join(partial, f), old, old);
    const changed = done[0];
    const changedImage = join(data, changed.replace('.npy', '.png'));
    writeFileSync(changedImage, readFileSync(join(FASHION_MNIST_VAL, imageName(count + 1))));

    const resumed = await runToEnd(...preprocessArgs(data, out));
    expect(resumed.stderr).toContain(`resuming the interrupted preprocess in ${partial}`);
    expect(resumed.stderr).toContain(
      `${done.length - 1} of ${count} samples kept (their images are unchanged)`,
    );
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`^${count} images preprocessed`));
    expect(partialsOf(out)).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.count).toBe(count);
    expect(existsSync(join(out, 'bnas_run.json'))).toBe(true);
    expect(existsSync(join(out, 'bnas-partial.json'))).toBe(false);
    for (const f of done) {
      const untouched = statSync(join(out, f)).mtimeMs === old.getTime();
      expect([f, untouched]).toEqual([f, f !== changed]);
    }
    expect(await loadSample(out, changed)).toEqual(await preprocessImage(changedImage, spec));
    const last = manifest.files[count - 1];
    expect(await loadSample(out, last)).toEqual(
      await preprocessImage(join(data, last.replace('.npy', '.png')), spec),
    );
  });

  it('refuses an --out another bnas is writing, naming the process', async () => {
    const data = fashionMnistSubset(600);
    const out = join(tempDir(), 'samples');
    const writer = startBnas(...preprocessArgs(data, out));
    let ended = false;
    void writer.exited.then(() => {
      ended = true;
    });
    try {
      await waitUntil(
        () => partialsOf(out).length > 0,
        'the first run to start',
        () => ended,
      );
      writer.process.kill('SIGSTOP'); // holds it mid-run while the second one looks
      await waitUntil(
        () => isStopped(writer.pid),
        'the first run to stop',
        () => ended,
      );
      const second = await runToEnd(...preprocessArgs(data, out));
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain(`${out} is being written by bnas process ${writer.pid} on `);
      expect(second.stderr).toContain('wait for it to finish, or choose another --out');
    } finally {
      writer.process.kill('SIGCONT');
    }
    expect((await writer.exited).code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).count).toBe(600);
  });

  it('checks --out before reading any image', async () => {
    // A damaged image: preprocessing would fail on it, so each error below comes first.
    const data = fashionMnistSubset(20);
    writeFileSync(join(data, imageName(7)), 'not a png');
    const base = tempDir();
    writeFileSync(join(base, 'a-file'), '');
    const unwritable = await runToEnd(...preprocessArgs(data, join(base, 'a-file', 'out')));
    expect(unwritable.code).not.toBe(0);
    expect(unwritable.stderr).toContain(`--out ${join(base, 'a-file', 'out')}: cannot create`);
    expect(unwritable.stderr).toContain('--out must be a new folder in a writable place');
    const isFile = await runToEnd(...preprocessArgs(data, join(base, 'a-file')));
    expect(isFile.stderr).toContain(`--out ${join(base, 'a-file')}: exists and is not a folder`);
    writeFileSync(join(base, 'kept.txt'), 'earlier results');
    const notEmpty = await runToEnd(...preprocessArgs(data, base));
    expect(notEmpty.stderr).toContain(`--out ${base}: already exists and holds 2 file(s)`);
    expect(notEmpty.stderr).toContain('bnas never overwrites results: choose a new --out');
    expect(readFileSync(join(base, 'kept.txt'), 'utf8')).toBe('earlier results');
    for (const r of [unwritable, isFile, notEmpty]) expect(r.stderr).not.toContain(imageName(7));

    // A good --out: the damaged image stops the run, the partial folder stays and is resumed.
    const out = join(base, 'samples');
    const failed = await runToEnd(...preprocessArgs(data, out));
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain(`${join(data, imageName(7))}: not a readable image`);
    const [partial] = partialsOf(out);
    expect(failed.stderr).toContain(
      `the samples written so far are kept in ${partial}; once the cause is fixed, the same command resumes`,
    );
    writeFileSync(join(data, imageName(7)), readFileSync(join(FASHION_MNIST_VAL, imageName(7))));
    const fixed = await runToEnd(...preprocessArgs(data, out));
    expect(fixed.stderr).toContain(`resuming the interrupted preprocess in ${partial}`);
    expect(fixed.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).count).toBe(20);
  });
});
