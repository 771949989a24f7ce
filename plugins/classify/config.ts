import { z } from 'zod';
import { parseNetwork } from '../../gateway/plugin-host/public.js';

/**
 * A class name: what the router matches `[[routes]] class` against and, when no route
 * decides, the pool it looks for ("pool named like the class"). The same alphabet as an
 * `X-Sluice-Class` header value, so a header can name every class the config can.
 */
export const CLASS_NAME = /^[a-z0-9_-]{1,64}$/;

const className = z.string().regex(CLASS_NAME, 'a class name uses a-z, 0-9, "_" and "-" (at most 64 characters), e.g. "promotional"');

/** Pool names as [pools] spells them (gateway/config/schema.ts `name`). */
const poolName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a pool name uses letters, digits, "-", "_" and "."');

const glob = z.string().min(1, 'an empty pattern matches nothing; use "*" for anything');

const cidr = z.string().refine((text) => parseNetwork(text) !== null, {
  error: (issue) => `"${String(issue.input)}" is not an IPv4 or IPv6 network; write e.g. "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32"`,
});

/**
 * A strict table whose unknown-key error names the key and the known ones (the plugin
 * host reports issues at the table's path, so the key must be in the message).
 */
function table<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (known keys: ${known})` : undefined),
  });
}

const headerName = z.string().regex(/^[\x21-\x39\x3b-\x7e]+$/);

const MATCH_KEYS = ['header', 'sender', 'auth_user', 'client_network', 'recipient_domain'] as const;

const rule = table({
  /** Header name → glob on its value; `"*"` means "the header is present". */
  header: z.record(headerName, glob, { error: (issue) => (issue.code === 'invalid_key' ? `"${typeof issue.input === 'string' ? issue.input : JSON.stringify(issue.input)}" is not a header field name (RFC 5322 §2.2: printable ASCII, no ":" or space)` : undefined) }).optional(),
  /** Glob on the MAIL FROM address (the null sender `<>` is the empty string). */
  sender: glob.optional(),
  /** Glob on the authenticated user; never matches a session without AUTH. */
  auth_user: glob.optional(),
  /** The client's address is in one of these networks (a bare address is a /32 or /128). */
  client_network: z.union([cidr, z.array(cidr).min(1, 'list at least one network')]).transform((v) => (typeof v === 'string' ? [v] : v)).optional(),
  /** Glob on the domain of any recipient of the message. */
  recipient_domain: glob.optional(),
  /** The class a matching message gets. */
  class: className,
  /** Also pin the pool (else the router decides from the class). */
  pool: poolName.optional(),
  /** Also set the priority (0–99, higher first), as `[[routes]] priority`. */
  priority: z.number().int().min(0).max(99).optional(),
}).refine((r) => MATCH_KEYS.some((k) => r[k] !== undefined), {
  error: `give at least one of ${MATCH_KEYS.join(', ')}; mail that matches no rule gets [classify] default`,
});

/** The `[classify]` table. */
export const configSchema = table({
  /** The class of mail no rule matches. */
  default: className.default('transactional'),
  /** Let an authenticated client choose the class with an `X-Sluice-Class` header. */
  trust_header: z.boolean().default(false),
  /** Tried in order; the first whose every given field matches decides. */
  rules: z.array(rule).default([]),
});

export type ClassifyConfig = z.output<typeof configSchema>;
export type ClassifyRule = ClassifyConfig['rules'][number];
