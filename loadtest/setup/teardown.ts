/**
 * Everything a run starts registers how to stop it here; `run()` stops it all in reverse
 * order, once, each step bounded in time, whatever failed before. `runSync()` is the last
 * resort for a process 'exit' handler, where only synchronous kills still happen.
 */
export class Teardown {
  private readonly steps: { name: string; stop: () => Promise<void>; kill?: () => void }[] = [];
  private done = false;

  add(name: string, stop: () => Promise<void>, kill?: () => void): void {
    this.steps.push(kill ? { name, stop, kill } : { name, stop });
  }

  async run(timeoutMs = 15_000): Promise<string[]> {
    if (this.done) return [];
    this.done = true;
    const problems: string[] = [];
    for (const step of this.steps.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      try {
        const r = await Promise.race([step.stop().then(() => 'ok' as const), timeout]);
        if (r === 'timeout') {
          step.kill?.();
          problems.push(`${step.name}: did not stop within ${timeoutMs / 1000}s`);
        }
      } catch (err) {
        problems.push(`${step.name}: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    return problems;
  }

  runSync(): void {
    for (const step of this.steps) step.kill?.();
  }
}
