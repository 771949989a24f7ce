import { z } from 'zod';

/** A DNS label sequence: what may stand in d= and s= (RFC 6376 §3.1, §3.5). */
const dnsName = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

const keySchema = z.strictObject({
  /** The signing domain (d=); messages whose From domain is this one are signed. */
  domain: z
    .string()
    .regex(dnsName, 'must be a domain name such as "example.com"')
    .transform((d) => d.toLowerCase().replace(/\.$/, '')),
  /** The selector (s=): the key is published at `<selector>._domainkey.<domain>`. */
  selector: z.string().regex(dnsName, 'must be a DNS label such as "s1" or "2026a"'),
  /** Path of the PEM private key, relative to the config file's directory. */
  key: z.string().min(1, 'must name a PEM file'),
  /** Also sign mail whose From domain is a subdomain of `domain` (d= stays `domain`). */
  sub_domains: z.boolean().default(false),
  /** Optional check: the key file must hold this kind of key (the algorithm always comes from the PEM). */
  algorithm: z.enum(['rsa-sha256', 'ed25519-sha256']).optional(),
});

/** The `[dkim]` table. */
export const configSchema = z
  .strictObject({
    keys: z.array(keySchema).default([]),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.keys.forEach((k, i) => {
      const id = `${k.selector.toLowerCase()}._domainkey.${k.domain}`;
      if (seen.has(id)) {
        ctx.addIssue({ code: 'custom', path: ['keys', i, 'selector'], message: `duplicate key ${id}: each domain and selector pair may appear once` });
      }
      seen.add(id);
    });
  });

export type DkimConfig = z.output<typeof configSchema>;
export type DkimKeyConfig = DkimConfig['keys'][number];
