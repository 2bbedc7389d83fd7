/** bnas search: hardware-aware NAS of a pre-trained classifier, writing BNAS-A/B/C. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { writeRunRecord } from '../../common/run-record.js';
import { runSearch } from '../../pipelines/search/run.js';
import { type SearchArgs, searchOptionsFrom, withSearchOptions } from '../search-options.js';

interface SearchCommandArgs extends SearchArgs {
  out: string;
}

const USAGE = `$0 search --out <dir> [options]

Finds faster sub-networks of a pre-trained ONNX classifier for this machine:
1. the super-network: channel groups that may shrink and blocks that may be skipped, found on the
   graph; channels reordered by importance so every sub-network is a prefix;
2. a per-layer latency table measured at the harness's SUT settings (--workers, --threads, --batch),
   checked end to end on 22 sub-networks (Spearman ρ, MAPE in latency-check.txt);
3. NSGA-II for --budget minutes: each candidate is sliced, its layers re-fitted by least squares to the
   teacher's activations, and scored on held-out TRAINING images; throughput comes from the table;
4. the front is re-scored with a larger reconstruction and BNAS-A/B/C picked (--rules);
   with --train picks, half of --budget goes to distilling a few of the best candidates from the
   original model (KD + CE on the training images, from their closed-form weights), and the picks
   are made on their distilled top-1: B is then the fastest at or above the baseline's top-1;
5. the picks and the baseline measured end to end, and their top-1 measured once on --val-data.
Writes bnas-a.onnx, bnas-b.onnx, bnas-c.onnx, evaluations.csv, pareto.svg, report.md, result.json.
An interrupted search resumes when re-run with the same options and --out.`;

export const searchCommand: CommandModule<object, SearchCommandArgs> = {
  command: 'search',
  describe: 'Hardware-aware search of faster sub-networks (BNAS-A/B/C) of a pre-trained classifier',
  builder: (y: Argv) =>
    withSearchOptions(y.usage(USAGE))
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Output folder (new, or a search to resume)',
      })
      .example('$0 search --out runs/search', 'the embedded fixture, ~10 minutes on 2 cores')
      .example(
        '$0 search --model m.onnx --train-data train/ --val-data val/ --budget 60 --out runs/m',
        'your own model',
      ) as unknown as Argv<SearchCommandArgs>,
  handler: async (args: ArgumentsCamelCase<SearchCommandArgs>) => {
    const result = await runSearch(searchOptionsFrom(args, args.out));
    writeRunRecord(args.out, { command: 'search', args });
    const b = result.baseline;
    const lines = [`baseline: val top-1 ${b.valAccuracy.toFixed(2)} %, ${b.throughput.toFixed(0)} samples/s`];
    for (const name of ['bnas-a', 'bnas-b', 'bnas-c'] as const) {
      const p = result.picks.find((pick) => pick.name === name);
      if (!p) {
        lines.push(`${name}: none (no sub-network is faster than the baseline; see report.md)`);
        continue;
      }
      const d = p.distillation;
      lines.push(
        `${p.name}: val top-1 ${p.valAccuracy.toFixed(2)} % (${(p.valAccuracy - b.valAccuracy).toFixed(2)} pt${d ? `; ${d.valBefore.toFixed(2)} % before distillation` : ''}), ${p.throughput.toFixed(0)} samples/s (${(p.throughput / b.throughput).toFixed(2)}×) → ${p.modelPath}${p.note ? `\n  ${p.note}` : ''}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\nReport: ${args.out}/report.md\n`);
  },
};
