// PeerClient sends replicas and handoffs over connections of their own. A peer taking a
// handoff replicates it before its 250, possibly back to the sender: were the replica
// queued behind the sender's handoffs, two nodes handing off to each other would wait on
// each other until a timeout. Here the peer (a real smtp-server with STARTTLS and AUTH)
// holds its answer to a handoff until a replica has arrived; with one connection per lane
// the replica still gets through, and then the handoff is answered.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { PeerClient } from '../../gateway/cluster/peer-client.js';
import type { PeerFacts } from '../../gateway/cluster/peer-facts.js';
import { makeCert } from '../support/certs.js';

let server: SMTPServer;
let port = 0;
let replicaArrived: () => void = () => undefined;
const replicaSeen = new Promise<void>((resolve) => (replicaArrived = resolve));
const order: string[] = [];
let connects = 0;
let logins = 0;

beforeAll(async () => {
  const cert = await makeCert(['127.0.0.1']);
  server = new SMTPServer({
    key: cert.key,
    cert: cert.cert,
    authMethods: ['PLAIN'],
    logger: false,
    onConnect: (_session, cb) => {
      connects++;
      cb();
    },
    onAuth: (_auth, _session, cb) => {
      logins++;
      cb(null, { user: 'n1' });
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const kind = /^Subject: (\w+)/m.exec(Buffer.concat(chunks).toString())?.[1] ?? 'unknown';
        order.push(`${kind} in`);
        if (kind === 'replica') {
          replicaArrived();
          order.push('replica answered');
          cb(null, 'Ok: replica kept');
          return;
        }
        // A handoff: answered once a replica came in (as a peer replicating it would).
        void replicaSeen.then(() => {
          order.push('handoff answered');
          cb(null, 'Ok: queued as H1');
        });
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function facts(kind: PeerFacts['kind'], queueId: string): PeerFacts {
  return {
    v: 1,
    kind,
    origin: 'n1',
    queueId,
    envelope: { id: queueId, mailFrom: 'app@sender.test', rcpts: ['a@example.test'], receivedAt: Date.now(), class: 'transactional', pool: 'tx', priority: 5, campaign: null, messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false },
    attempts: {},
    done: [],
    hops: 0,
  };
}

test('a replica is not queued behind a handoff the peer is still holding (one connection per lane)', async () => {
  const client = new PeerClient({ nodeId: 'n1', secret: 'lanes-test-secret-0123456789', hostname: 'n1.test', maxConnections: 1, timeoutMs: 2_000 });
  const peer = { id: 'n2', address: `127.0.0.1:${port}` };
  const body = (kind: string) => Buffer.from(`Subject: ${kind}\r\n\r\nbody\r\n`);
  try {
    const handoff = client.send(peer, facts('handoff', 'H1'), body('handoff'));
    // Give the handoff the lane's one connection first.
    await new Promise((r) => setTimeout(r, 200));
    const replica = client.send(peer, facts('replica', 'R1'), body('replica'));
    const [h, r] = await Promise.all([handoff, replica]).catch((e: unknown) => { throw new Error(`${String(e)}; order ${order.join(', ')}`); });
    expect(r.reply).toMatch(/^250 .*replica kept/);
    expect(h.reply).toMatch(/^250 .*queued as H1/);
    expect(order).toEqual(['handoff in', 'replica in', 'replica answered', 'handoff answered']);
  } finally {
    client.close();
  }
});

test('warm opens one connection per lane ahead of the first message, and that message goes over it', async () => {
  const client = new PeerClient({ nodeId: 'n1', secret: 'lanes-test-secret-0123456789', hostname: 'n1.test', timeoutMs: 2_000 });
  const peer = { id: 'n2', address: `127.0.0.1:${port}` };
  const [c0, l0] = [connects, logins];
  try {
    client.warm(peer, 'replica');
    client.warm(peer, 'replica'); // one is being opened: nothing more
    await vi.waitUntil(() => logins > l0, { timeout: 5_000, interval: 10 });
    client.warm(peer, 'replica'); // one is open: nothing more
    const r = await client.send(peer, facts('replica', 'R2'), Buffer.from('Subject: replica\r\n\r\nbody\r\n'));
    expect(r.reply).toMatch(/^250 .*replica kept/);
    expect([connects - c0, logins - l0]).toEqual([1, 1]);
    // The other lane has its own.
    client.warm(peer, 'handoff');
    await vi.waitUntil(() => logins > l0 + 1, { timeout: 5_000, interval: 10 });
    expect(connects - c0).toBe(2);
  } finally {
    client.close();
  }
});

test('a warm-up that fails is not tried again for a while, and a send still reports its own error', async () => {
  // A peer that takes connections and drops them at once.
  let attempts = 0;
  const dropper: Server = createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(dropper.address() as { port: number }).port}`;
  const client = new PeerClient({ nodeId: 'n1', secret: 'lanes-test-secret-0123456789', hostname: 'n1.test', timeoutMs: 1_000 });
  try {
    client.warm({ id: 'n3', address }, 'handoff');
    await vi.waitUntil(() => attempts === 1, { timeout: 5_000, interval: 10 });
    // Let that attempt end, then ask again: within the retry pause nothing is opened.
    await new Promise((r) => setTimeout(r, 200));
    client.warm({ id: 'n3', address }, 'handoff');
    await new Promise((r) => setTimeout(r, 200));
    expect(attempts).toBe(1);
    await expect(client.send({ id: 'n3', address }, facts('handoff', 'H9'), Buffer.from('Subject: handoff\r\n\r\nbody\r\n'))).rejects.toThrow(/n3/);
    expect(attempts).toBe(2);
  } finally {
    client.close();
    await new Promise<void>((resolve) => dropper.close(() => resolve()));
  }
});
