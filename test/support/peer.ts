/** Peer-message helpers for the cluster listener's tests. */
import type { PeerFacts } from '../../gateway/cluster/peer-facts.js';

/** The facts of a promotional handoff from n1 (queue id `over.queueId`, default Q1) to `rcpts`. */
export function handoffFacts(over: Partial<PeerFacts> = {}, rcpts = ['alice@example.test']): PeerFacts {
  const queueId = over.queueId ?? 'Q1';
  return {
    v: 1,
    kind: 'handoff',
    origin: 'n1',
    queueId,
    envelope: { id: queueId, mailFrom: 'app@sender.test', rcpts, receivedAt: Date.now(), class: 'promotional', pool: 'promo', priority: 7, campaign: 'spring', messageId: '<m1@sender.test>', authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false },
    attempts: {},
    done: [],
    hops: 0,
    ...over,
  };
}
