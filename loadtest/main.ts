#!/usr/bin/env node
import { writeFile } from 'node:fs/promises';
import { parseArgs, USAGE } from './cli-args.js';
import { monotonicClock } from './clock.js';
import { LoadtestError } from './errors.js';
import { renderHtml } from './report/html.js';
import { formatReport } from './report/table.js';
import { runLoadtest } from './run.js';
import { findProjectRoot } from './setup/project-root.js';
import { Teardown } from './setup/teardown.js';

/**
 * `npm run loadtest -- [options]`: the composition root of the load test, and the only
 * place that touches `process`. Exit 0 when the run finished (losses are in the numbers),
 * 2 on bad flags, 1 on a setup failure, 130 on Ctrl-C.
 */
async function main(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`loadtest: ${(err as Error).message}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const teardown = new Teardown();
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupts += 1;
    process.stderr.write(`\nloadtest: ${sig}, stopping everything it started${interrupts > 1 ? ' (again: killing)' : ''}\n`);
    abort.abort();
    if (interrupts > 1) {
      teardown.runSync();
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => teardown.runSync()); // last resort: no child outlives us
  try {
    const { report, latencies } = await runLoadtest(opts, {
      projectRoot: findProjectRoot(import.meta.url, process.cwd()),
      node: process.execPath,
      stderr: process.stderr,
      signal: abort.signal,
      clock: monotonicClock,
      teardown,
    });
    for (const p of await teardown.run()) process.stderr.write(`loadtest: warning: ${p}\n`);
    if (opts.html) {
      await writeFile(opts.html, renderHtml(report, latencies));
      process.stderr.write(`loadtest: HTML report written to ${opts.html}\n`);
    }
    process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : formatReport(report));
    return 0;
  } catch (err) {
    await teardown.run();
    if (err instanceof LoadtestError && err.code === 'INTERRUPTED') return 130;
    const msg = err instanceof LoadtestError ? err.message : (err as Error).stack ?? String(err);
    process.stderr.write(`loadtest: ${msg}\n`);
    return err instanceof LoadtestError && err.code === 'USAGE' ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
