/**
 * Every Redis key the state uses, built in one place from one prefix.
 * A hash tag `{…}` right after the prefix puts the keys one script touches into one
 * slot, so the scripts also run on Redis Cluster: every throttle key shares `{t}` (an
 * acquire may combine a per-source key with a provider-wide one), and the two keys of
 * a warm-up take share their (source, day); every failure key shares `{f}` (an AUTH
 * attempt charges a client IP and an account at once).
 */
export interface StateKeys {
  readonly prefix: string;
  suppressionAddresses(): string;
  suppressionDomains(): string;
  lease(key: string): string;
  rate(key: string): string;
  /** The leases a node holds (id -> keys), so that its next boot can drop them. */
  leaseHolder(node: string): string;
  warmup(source: string, day: string): string;
  warmupOps(source: string, day: string): string;
  health(source: string, provider: string): string;
  holds(): string;
  nodes(): string;
  nodeInfo(): string;
  /** Each node's entry counts per pool (cluster-fair weights), id -> JSON. */
  nodeShares(): string;
  failure(key: string): string;
  /** A message's original envelope sender ([bounces] forward), by queue id. */
  sender(queueId: string): string;
  /** A claim-once key (state/types.ts ClaimStore). */
  claim(key: string): string;
  /** Replicas: a node's messages peers took over (in `{nodes}`: the claim reads the registry). */
  replicaTaken(origin: string): string;
  /** Replicas: a stream of a node's final queue ids, read by the peers holding its copies. */
  replicaFinal(origin: string): string;
}

export const DEFAULT_PREFIX = 'sluice:';

export function stateKeys(prefix: string = DEFAULT_PREFIX): StateKeys {
  return {
    prefix,
    suppressionAddresses: () => `${prefix}{suppression}:addresses`,
    suppressionDomains: () => `${prefix}{suppression}:domains`,
    lease: (key) => `${prefix}{t}:lease:${key}`,
    rate: (key) => `${prefix}{t}:rate:${key}`,
    leaseHolder: (node) => `${prefix}{t}:holder:${node}`,
    warmup: (source, day) => `${prefix}{warmup:${source}:${day}}:used`,
    warmupOps: (source, day) => `${prefix}{warmup:${source}:${day}}:ops`,
    health: (source, provider) => `${prefix}health:${source}:${provider}`,
    holds: () => `${prefix}holds`,
    nodes: () => `${prefix}{nodes}:expiry`,
    nodeInfo: () => `${prefix}{nodes}:info`,
    nodeShares: () => `${prefix}{nodes}:shares`,
    failure: (key) => `${prefix}{f}:failure:${key}`,
    sender: (queueId) => `${prefix}sender:${queueId}`,
    claim: (key) => `${prefix}claim:${key}`,
    replicaTaken: (origin) => `${prefix}{nodes}:taken:${origin}`,
    replicaFinal: (origin) => `${prefix}replica-final:${origin}`,
  };
}
