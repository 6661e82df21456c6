import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { formatBytes, parseStorageQuantity } from '../../k8s/quantity.js';
import { LocalContext } from '../../local/context.js';
import { UserError } from '../../local/errors.js';
import { initializeCatalog } from '../../local/classes.js';
import { cleanUpDemo, runDemo } from '../demo/scenario.js';
import type { DemoResult } from '../demo/scenario.js';
import { ScratchDriver } from '../demo/scratch-driver.js';
import { json, table, write } from '../output.js';
import { sizeArgument } from '../session.js';
import { terminalSteps } from '../terminal-progress.js';

const MAIN_SCRIPT = fileURLToPath(new URL('../main.js', import.meta.url));

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      "the seed documents' clone scenario end to end on a scratch pool, with timings; needs no running driver (root)",
    )
    .option('--data <quantity>', 'data written into the source before it is cloned', '256Mi')
    .option('--json', 'print the measurements as JSON at the end')
    .action(async (options: { data: string; json?: boolean }) => {
      const dataBytes = parseStorageQuantity(sizeArgument(options.data, '--data'));
      const say = options.json ? (): void => undefined : (line: string): void => write(line);
      const step = terminalSteps();
      say("Dolly demo: a driver of its own on a scratch pool, then the seed documents' clone scenario");
      const driver = await step('starting a driver on a scratch pool', () =>
        ScratchDriver.start(MAIN_SCRIPT, '16G'),
      );
      let result: DemoResult | undefined;
      try {
        const context = await LocalContext.connect(driver.socketPath);
        try {
          await initializeCatalog(context);
          try {
            result = await runDemo(context, driver.dir, { dataBytes, step, say });
          } finally {
            await step("cleaning up the demo's volumes", () => cleanUpDemo(context));
          }
        } finally {
          context.close();
        }
      } finally {
        await step("stopping the demo's driver and removing its scratch pool", () => driver.stop());
      }
      if (options.json) write(json({ ...result, scratchDir: driver.dir }));
      else {
        write('');
        write(
          table(
            ['COPY', 'DRIVER', 'WHOLE APPLY', 'POOL SPACE USED'],
            result.copies.map((copy) => [
              copy.what,
              `${copy.milliseconds.toFixed(1)} ms`,
              `${copy.applyMilliseconds.toFixed(1)} ms`,
              formatBytes(copy.poolBytesUsed),
            ]),
          ),
        );
        write(
          `(each copies ${formatBytes(dataBytes)} of data; the clones' and the snapshot's source is a mounted volume, frozen for the copy, the restore's is a snapshot. DRIVER: the CreateVolume or CreateSnapshot call; WHOLE APPLY adds the catalog's fsynced records. Pool space: statfs's used before and after, the source and the pool synced first.)`,
        );
      }
      const failed = result.checks.filter((check) => !check.passed);
      if (failed.length > 0)
        throw new UserError(
          `${failed.length} of ${result.checks.length} checks failed: ${failed.map((c) => c.what).join('; ')}`,
        );
      say(`All ${result.checks.length} checks passed; everything the demo made is gone.`);
    });
}
