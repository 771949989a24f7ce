/** Names of the shared counters, built in one place so every backend and node agrees. */
export const keys = {
  sourceConnections: (source: string, provider: string) => `conn:${source}:${provider}`,
  providerConnections: (provider: string) => `conn-total:${provider}`,
  sourceRate: (source: string, provider: string) => `rate:${source}:${provider}`,
  providerRate: (provider: string) => `rate-total:${provider}`,
  holdSource: (source: string) => `source:${source}`,
  holdPool: (pool: string) => `pool:${pool}`,
  holdSourceProvider: (source: string, provider: string) => `source-provider:${source}:${provider}`,
  holdProvider: (provider: string) => `provider:${provider}`,
} as const;
