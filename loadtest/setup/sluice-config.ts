import { ratePerSecond, type Profile } from '../sim/profile.js';
import type { DkimKey } from './dkim-key.js';
import { mxSuffix } from './topology.js';

/** The load test's Sluice config, in the keys ops write (DESIGN.md "Config"). */

export interface SluiceSource {
  readonly name: string;
  readonly ip: string;
  readonly ehlo: string;
}

export interface SluiceConfigInput {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly dnsAddress: string;
  readonly deliveryPort: number;
  readonly sources: readonly SluiceSource[];
  readonly dkim: DkimKey | null;
  readonly profiles: readonly Profile[];
}

/** [providers.default] of the generated config: what undeclared providers ("other") get. */
export const DEFAULT_PROVIDER_LIMITS = { max_connections: 20, max_message_rate: '2000/s' } as const;

/** The per-source-IP limits the generated config sets for a profile's provider. */
export interface ConfiguredLimits {
  readonly section: string; // "providers.gmail" or "providers.default"
  readonly max_connections: number;
  readonly rate_per_s: number;
  readonly max_messages_per_connection: number | null;
}

export function configuredLimits(profile: Profile): ConfiguredLimits {
  const s = profile.sluice;
  if (!s.declare) {
    return {
      section: 'providers.default',
      max_connections: DEFAULT_PROVIDER_LIMITS.max_connections,
      rate_per_s: ratePerSecond(DEFAULT_PROVIDER_LIMITS.max_message_rate),
      max_messages_per_connection: null,
    };
  }
  return {
    section: `providers.${profile.name}`,
    max_connections: s.max_connections,
    rate_per_s: ratePerSecond(s.max_message_rate),
    max_messages_per_connection: s.max_messages_per_connection ?? null,
  };
}

const q = (s: string): string => JSON.stringify(s); // a TOML basic string for plain ASCII
const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`;

export function sluiceConfigToml(input: SluiceConfigInput): string {
  const out: string[] = [
    '# Written by `npm run loadtest` for one run; see docs/LOADTEST.md.',
    '[node]',
    `id = ${q(input.nodeId)}`,
    `data_dir = ${q(input.dataDir)}`,
    '',
    '[[listen]]',
    `host = ${q(input.listenHost)}`,
    `port = ${input.listenPort}`,
    'mode = "relay"',
    '',
    '[relay]',
    'networks = ["127.0.0.0/8"]',
    'max_message_size = "50MB"',
    '',
    '[dns]',
    `servers = ${list([input.dnsAddress])}`,
    '',
    '[delivery]',
    `port = ${input.deliveryPort}`,
    '',
    '[queue]',
    'retry = ["1s", "2s", "5s", "10s"]',
    '',
  ];
  for (const s of input.sources) out.push(`[sources.${s.name}]`, `ip = ${q(s.ip)}`, `ehlo = ${q(s.ehlo)}`, '');
  out.push('[pools.transactional]', `sources = ${list(input.sources.map((s) => s.name))}`, '');
  if (input.dkim) {
    const k = input.dkim;
    out.push('[plugins]', 'order = ["dkim"]', '', '[[dkim.keys]]', `domain = ${q(k.domain)}`, `selector = ${q(k.selector)}`, `key = ${q(k.keyFile)}`, '');
  }
  for (const p of input.profiles) {
    if (!p.sluice.declare) continue;
    out.push(
      `[providers.${p.name}]`,
      `mx_suffixes = ${list([mxSuffix(p.name)])}`,
      `max_connections = ${p.sluice.max_connections}`,
      `max_message_rate = ${q(p.sluice.max_message_rate)}`,
    );
    if (p.sluice.max_messages_per_connection !== undefined) {
      out.push(`max_messages_per_connection = ${p.sluice.max_messages_per_connection}`);
    }
    out.push('');
  }
  out.push(
    '[providers.default]',
    `max_connections = ${DEFAULT_PROVIDER_LIMITS.max_connections}`,
    `max_message_rate = ${q(DEFAULT_PROVIDER_LIMITS.max_message_rate)}`,
    '',
  );
  return out.join('\n');
}
