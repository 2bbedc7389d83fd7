/**
 * The bnas command line. Each subcommand lives in cli/commands/ and owns its options and help.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { accuracyCommand } from './commands/accuracy.js';
import { dataCommand } from './commands/data.js';
import { findQpsCommand } from './commands/find-qps.js';
import { finetuneCommand } from './commands/finetune.js';
import { loadgenCommand } from './commands/loadgen.js';
import { optimizeCommand } from './commands/optimize.js';
import { quantizeCommand } from './commands/quantize.js';
import { reproduceCommand } from './commands/reproduce.js';
import { runCommand } from './commands/run.js';
import { searchCommand } from './commands/search.js';
import { submissionCommand } from './commands/submission.js';
import { extractCommand, supernetCommand } from './commands/supernet.js';
import { inspectCommand, zooCommand } from './commands/zoo.js';

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('bnas')
    .usage(
      '$0 <command> [options]\n\nbnas finds faster variants of an image classifier by hardware-aware NAS, quantizes them to\nINT8, and measures them with an MLPerf-faithful LoadGen.',
    )
    .command(searchCommand)
    .command(optimizeCommand)
    .command(finetuneCommand)
    .command(reproduceCommand)
    .command(runCommand)
    .command(quantizeCommand)
    .command(findQpsCommand)
    .command(loadgenCommand)
    .command(accuracyCommand)
    .command(dataCommand)
    .command(submissionCommand)
    .command(zooCommand)
    .command(inspectCommand)
    .command(supernetCommand)
    .command(extractCommand)
    .demandCommand(1, 'Name a command; see the list above.')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, error, y) => {
      if (error) {
        process.stderr.write(`bnas: ${error.message}\n`);
      } else {
        y.showHelp();
        process.stderr.write(`\n${message}\n`);
      }
      process.exit(2);
    })
    .parseAsync();
}

main().catch((error: unknown) => {
  process.stderr.write(`bnas: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
