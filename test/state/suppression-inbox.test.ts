/**
 * The embedded suppression list shared by its owner (the node) and clients (the CLI):
 * clients leave changes in `suppression.inbox/`, only the owner writes the log.
 */
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedSuppression } from '../../gateway/state/embedded/suppression-store.js';
import type { SuppressionEntry } from '../../gateway/state/types.js';

/** The owner applies the inbox every second: allow two ticks and some slack. */
const APPLIED_WITHIN = { timeout: 3_000, interval: 50 };

const entry = (address: string, reason: SuppressionEntry['reason'] = 'manual'): SuppressionEntry => ({
  address,
  reason,
  source: 'cli',
  at: 1_790_000_000_000,
});

let dataDir = '';
const opened: EmbeddedSuppression[] = [];

function owner(): EmbeddedSuppression {
  const store = new EmbeddedSuppression(dataDir);
  opened.push(store);
  return store;
}

function client(): EmbeddedSuppression {
  const store = new EmbeddedSuppression(dataDir, { mode: 'client' });
  opened.push(store);
  return store;
}

const inboxFiles = async (): Promise<string[]> =>
  (await readdir(join(dataDir, 'suppression.inbox')).catch(() => [])).filter((name) => name.endsWith('.log'));

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-suppression-inbox-'));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await rm(dataDir, { recursive: true, force: true });
});

describe('embedded suppression: a client beside the owner', () => {
  it('a client add reaches the running owner without a restart', async () => {
    const node = owner();
    await node.add([entry('old@x.test')]);
    const cli = client();
    expect(await cli.add([entry('new@x.test', 'unsubscribe'), entry('old@x.test')])).toBe(1);
    await expect.poll(() => node.check('NEW@x.test'), APPLIED_WITHIN).toEqual(entry('new@x.test', 'unsubscribe'));
    expect(await node.count()).toBe(2);
    await expect.poll(inboxFiles, APPLIED_WITHIN).toEqual([]);
  });

  it('a client remove makes the running owner forget the entry', async () => {
    const node = owner();
    await node.add([entry('gone@x.test'), entry('@blocked.test'), entry('kept@x.test')]);
    const cli = client();
    expect(await cli.remove(['gone@x.test', '@Blocked.test', 'never@x.test'])).toBe(2);
    await expect.poll(() => node.check('gone@x.test'), APPLIED_WITHIN).toBeNull();
    await expect.poll(() => node.check('a@blocked.test'), APPLIED_WITHIN).toBeNull();
    expect(await node.count()).toBe(1);
  });

  it('what the owner applied is in its log: it survives a restart', async () => {
    const node = owner();
    await node.open();
    await client().add([entry('late@x.test')]);
    await expect.poll(() => node.count(), APPLIED_WITHIN).toBe(1);
    await node.close();
    await rm(join(dataDir, 'suppression.inbox'), { recursive: true, force: true });
    expect(await owner().check('late@x.test')).toEqual(entry('late@x.test'));
  });
});

describe('embedded suppression: a client before the first start', () => {
  it('sees its own pending changes, and so does the next client', async () => {
    const first = client();
    expect(await first.add([entry('a@x.test'), entry('@d.test', 'complaint')])).toBe(2);
    expect(await first.add([entry('a@x.test', 'unsubscribe')])).toBe(0);
    expect((await first.check('a@x.test'))?.reason).toBe('unsubscribe');
    expect((await first.check('z@d.test'))?.address).toBe('@d.test');

    const second = client();
    expect((await second.check('a@x.test'))?.reason).toBe('unsubscribe');
    expect(await second.remove(['@d.test'])).toBe(1);
    expect(await second.check('z@d.test')).toBeNull();

    const third = client();
    expect(await third.count()).toBe(1);
    const listed: SuppressionEntry[] = [];
    for await (const e of third.list()) listed.push(e);
    expect(listed).toEqual([entry('a@x.test', 'unsubscribe')]);
    // A client never writes or creates the log: only the owner does.
    await expect(stat(join(dataDir, 'suppression.log'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('the owner applies the inbox at open, in order, and empties it', async () => {
    await client().add([entry('a@x.test'), entry('b@x.test')]);
    await client().remove(['a@x.test']);
    await client().add([entry('c@x.test', 'hard-bounce')]);
    expect(await inboxFiles()).toHaveLength(3);

    const node = owner();
    await node.open();
    expect(await inboxFiles()).toEqual([]);
    expect(await node.check('a@x.test')).toBeNull();
    expect((await node.check('b@x.test'))?.reason).toBe('manual');
    expect((await node.check('c@x.test'))?.reason).toBe('hard-bounce');
    expect(await node.count()).toBe(2);
  });

  it('the owner skips a malformed inbox line and applies the rest', async () => {
    const inbox = join(dataDir, 'suppression.inbox');
    await mkdir(inbox, { recursive: true });
    await writeFile(
      join(inbox, '001790000000000-hand-000001.log'),
      ['+\tok@x.test\t3\t1790000000000\tcli', 'garbage', '+\tbad\u0001key@x.test\t3\t1\tcli', '+\tno-reason@x.test', '-\t', '+\tfine@x.test\t0\t5\tcli', ''].join('\n'),
    );
    const node = owner();
    expect(await node.count()).toBe(2);
    expect((await node.check('fine@x.test'))?.reason).toBe('unsubscribe');
    expect(await inboxFiles()).toEqual([]);
  });
});

describe('embedded suppression: a client reading the owner\'s log', () => {
  it('ignores a torn last line and leaves it for the owner', async () => {
    const node = owner();
    await node.add([entry('whole@x.test')]);
    await node.close();
    const log = join(dataDir, 'suppression.log');
    // The owner's append in flight, as a client may catch it.
    await appendFile(log, '+\ttorn@x.te');
    const before = await readFile(log, 'utf8');

    const cli = client();
    expect((await cli.check('whole@x.test'))?.address).toBe('whole@x.test');
    expect(await cli.check('torn@x.te')).toBeNull();
    expect(await cli.count()).toBe(1);
    expect(await readFile(log, 'utf8')).toBe(before);
  });

  it('loses nothing when the owner compacts while clients add', async () => {
    const node = owner();
    await node.add([entry('base@x.test')]);
    const log = join(dataDir, 'suppression.log');

    // The owner churns enough superseded records to compact on every round, and keeps
    // at it until its inbox timer has applied the clients' files between its batches.
    const expected: string[] = [];
    let written = 1;
    const churn = async (): Promise<void> => {
      for (let round = 0; round < 4 || ((await node.count()) < 1 + expected.length && round < 200); round++) {
        const bulk = Array.from({ length: 6_000 }, (_, i) => entry(`bulk${round}-${i}@x.test`));
        await node.add(bulk);
        await node.remove(bulk.map((e) => e.address));
        written += 2 * bulk.length;
      }
    };
    const adds = async (): Promise<void> => {
      for (let batch = 0; batch < 40; batch++) {
        const entries = Array.from({ length: 25 }, (_, i) => entry(`cli${batch}-${i}@x.test`));
        expected.push(...entries.map((e) => e.address));
        await client().add(entries);
      }
    };
    await Promise.all([churn(), adds()]);

    await expect.poll(() => node.count(), APPLIED_WITHIN).toBe(1 + expected.length);
    await node.close();

    const reopened = owner();
    expect(await reopened.count()).toBe(1 + expected.length);
    for (const address of expected) expect(await reopened.check(address)).not.toBeNull();
    // Compacted: far fewer records than were ever written.
    const records = (await readFile(log, 'utf8')).split('\n').filter(Boolean).length;
    expect(records).toBeLessThan(2 * (1 + expected.length) + 10_000 + 6_000);
    expect(records).toBeLessThan(written);
  });
});
