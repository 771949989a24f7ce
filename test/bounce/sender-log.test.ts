// The batch writer of original senders ([bounces] forward): notes cost a map insert and
// go to the state in batches; a refused batch is kept and written later; a message
// retried is not written twice; a lookup sees what is not written yet.
import { expect, test } from 'vitest';
import { SenderLog } from '../../gateway/bounce/sender-log.js';
import type { SenderEntry, SenderStore } from '../../gateway/state/types.js';
import { SluiceError } from '../../gateway/errors.js';

function store(): SenderStore & { calls: SenderEntry[][]; fail: boolean; kept: Map<string, string> } {
  const s = {
    calls: [] as SenderEntry[][],
    fail: false,
    kept: new Map<string, string>(),
    record: async (entries: readonly SenderEntry[]) => {
      if (s.fail) throw new SluiceError('STATE_UNAVAILABLE', 'redis away');
      s.calls.push([...entries]);
      for (const e of entries) s.kept.set(e.queueId, e.sender);
    },
    get: async (id: string) => s.kept.get(id) ?? null,
  };
  return s;
}
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test('notes go in one batch; the null sender and a retried message are not written again', async () => {
  const s = store();
  const log = new SenderLog({ store: s, ttlMs: () => 1_000, log: quiet });
  log.note('aaaaaaaaaaaaaaaaa', 'one@esp.example');
  log.note('BBBBBBBBBBBBBBBBB', 'two@esp.example');
  log.note('CCCCCCCCCCCCCCCCC', '');
  expect(await log.lookup('AAAAAAAAAAAAAAAAA')).toBe('one@esp.example');
  await log.flush();
  log.note('AAAAAAAAAAAAAAAAA', 'one@esp.example');
  await log.flush();
  expect(s.calls).toEqual([[{ queueId: 'AAAAAAAAAAAAAAAAA', sender: 'one@esp.example' }, { queueId: 'BBBBBBBBBBBBBBBBB', sender: 'two@esp.example' }]]);
  expect(await log.lookup('bbbbbbbbbbbbbbbbb')).toBe('two@esp.example');
});

test('a batch the state refuses is kept and written at the next flush', async () => {
  const s = store();
  const log = new SenderLog({ store: s, ttlMs: () => 1_000, log: quiet });
  s.fail = true;
  log.note('AAAAAAAAAAAAAAAAA', 'one@esp.example');
  await log.flush();
  expect(s.calls).toEqual([]);
  expect(await log.lookup('AAAAAAAAAAAAAAAAA')).toBe('one@esp.example');
  s.fail = false;
  await log.flush();
  expect(s.calls).toEqual([[{ queueId: 'AAAAAAAAAAAAAAAAA', sender: 'one@esp.example' }]]);
});

test('flushes on its own, in batches of at most 500', async () => {
  const s = store();
  const log = new SenderLog({ store: s, ttlMs: () => 1_000, log: quiet });
  for (let i = 0; i < 1_200; i++) log.note(`Q${String(i).padStart(16, '0')}`, `s${i}@esp.example`);
  await expect.poll(() => s.calls.flat().length, { timeout: 2_000 }).toBe(1_200);
  expect(Math.max(...s.calls.map((c) => c.length))).toBeLessThanOrEqual(500);
});
