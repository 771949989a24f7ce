/**
 * The postmaster mailbox (RFC 5321 §4.5.1): "RCPT TO:<Postmaster>" without a domain and
 * postmaster@ each domain the node answers for must be accepted, from any client, since
 * that is how the rest of the Internet reports a problem with this host.
 *
 * Sluice is a relay with no mailboxes of its own, so the mail goes to `[relay] postmaster`
 * (the envelope recipient is replaced by it, and the log says so). Without that key it is
 * kept on disk in data_dir/postmaster/ (fsync'd before the 250) and each one logged at
 * warn: never bounced, never dropped, never relayed to a guessed address.
 */
import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { syncDir } from '../fs-util.js';

/**
 * The domains whose postmaster this node is: its hostname (the banner and Received
 * name), the EHLO names of its sources (what PTR records and bounces point at) and the
 * domains of its [feedback] addresses and the [bounces] domain. Derived from the config in
 * force, every time.
 */
export function localDomains(config: Config, hostname: string): Set<string> {
  const names = [hostname, ...Object.values(config.sources).map((s) => s.ehlo), ...(config.feedback?.addresses ?? []).map((a) => a.slice(a.lastIndexOf('@') + 1)), config.bounces.domain ?? ''];
  return new Set(names.map((n) => n.toLowerCase().replace(/\.$/, '')).filter((n) => n !== ''));
}

/** `postmaster` (any case) alone, or at one of `domains`. */
export function isPostmaster(address: string, domains: ReadonlySet<string>): boolean {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  if (local.toLowerCase() !== 'postmaster') return false;
  return at < 0 || domains.has(address.slice(at + 1).toLowerCase().replace(/\.$/, ''));
}

/**
 * Writes the message to `dir/<id>.eml` with Return-Path and X-Original-To before it
 * (as a local delivery agent would), durably: temp file, fsync, rename, fsync dir.
 */
export async function keepForPostmaster(dir: string, id: string, mailFrom: string, rcpts: readonly string[], message: Buffer): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.eml`);
  const head = `Return-Path: <${mailFrom}>\r\n${rcpts.map((r) => `X-Original-To: <${r}>\r\n`).join('')}`;
  const handle = await open(`${path}.tmp`, 'w', 0o640);
  try {
    await handle.writeFile(Buffer.concat([Buffer.from(head, 'utf8'), message]));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(`${path}.tmp`, path);
  await syncDir(dir);
  return path;
}
