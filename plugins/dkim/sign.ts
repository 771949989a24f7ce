import { createHash, sign } from 'node:crypto';
import { domainToASCII } from 'node:url';
import body from 'mailauth/lib/dkim/body/index.js';
import header from 'mailauth/lib/dkim/header/index.js';
import tools from 'mailauth/lib/tools.js';
import type { LoadedKey } from './keys.js';

/**
 * Signed once more than they occur (RFC 6376 §8.15 "over-signing"), so that nobody
 * can add another instance later without breaking the signature: a second From, a
 * changed Subject shown first, or a List-Unsubscribe grafted onto a replayed message.
 * List-Unsubscribe-Post must be signed for one-click unsubscribe (RFC 8058 §4).
 */
export const OVERSIGNED_HEADERS = [
  'From',
  'To',
  'Subject',
  'Date',
  'Message-ID',
  'List-Id',
  'List-Help',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'List-Subscribe',
  'List-Post',
  'List-Owner',
  'List-Archive',
] as const;

/** Signed as often as they occur (absent ones are not named in h=). */
export const SIGNED_HEADERS = [
  'Sender',
  'Reply-To',
  'Cc',
  'In-Reply-To',
  'References',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'Content-Description',
  'Resent-Date',
  'Resent-From',
  'Resent-Sender',
  'Resent-To',
  'Resent-Cc',
  'Resent-Message-ID',
  'Feedback-ID',
  'BIMI-Selector',
] as const;

export interface SignOptions {
  /** The t= tag; now by default. */
  readonly signTime?: Date;
}

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/** RFC 5321 §2.3.8: lines end in CRLF on the wire; a bare LF would be sent as CRLF. */
function toCrlf(raw: Buffer): Buffer {
  for (let i = raw.indexOf(0x0a); i !== -1; i = raw.indexOf(0x0a, i + 1)) {
    if (i === 0 || raw[i - 1] !== 0x0d) return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  }
  return raw;
}

function splitMessage(raw: Buffer): { head: Buffer; body: Buffer } {
  if (raw.subarray(0, 2).equals(CRLF)) return { head: EMPTY, body: raw.subarray(2) };
  const end = raw.indexOf('\r\n\r\n');
  return end < 0 ? { head: raw, body: EMPTY } : { head: raw.subarray(0, end + 2), body: raw.subarray(end + 4) };
}

/** Removes quoted strings and (nested) comments, RFC 5322 §3.2.4 and §3.2.2. */
function stripQuotedAndComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && (quoted || depth > 0)) {
      i++;
    } else if (quoted) {
      if (c === '"') quoted = false;
    } else if (c === '(') {
      depth++;
    } else if (c === ')' && depth > 0) {
      depth--;
    } else if (depth === 0) {
      if (c === '"') quoted = true;
      else out += c;
    }
  }
  return out;
}

/** The domain of the (first) address in a From field value, as an A-label; null if none. */
export function fromDomain(value: string): string | null {
  const text = stripQuotedAndComments(value.replace(/\r?\n/g, ''));
  const angle = /<([^>]*)>/.exec(text);
  const address = angle?.[1] ?? text.split(/[\s,;]+/).find((token) => token.includes('@')) ?? '';
  const at = address.lastIndexOf('@');
  if (at < 0) return null;
  const domain = address.slice(at + 1).trim().replace(/\.$/, '').toLowerCase();
  return domain === '' ? null : domainToASCII(domain) || null;
}

/** Keys whose d= covers `domain`: the same domain, or a parent when sub_domains is set. */
export function keysForDomain(domain: string, keys: readonly LoadedKey[]): LoadedKey[] {
  const d = domainToASCII(domain.toLowerCase().replace(/\.$/, ''));
  return keys.filter((key) => {
    const k = domainToASCII(key.domain);
    return d === k || (key.subDomains && d.endsWith(`.${k}`));
  });
}

/** h= names and the fields they select, bottom-up per name as a verifier picks them (RFC 6376 §5.4.2). */
function signingHeaderLines(parsed: ReturnType<typeof tools.parseHeaders>['parsed']): { keys: string; headers: Array<{ line: Buffer }> } {
  const names: string[] = [];
  const headers: Array<{ line: Buffer }> = [];
  const add = (name: string, oversign: boolean): void => {
    const lower = name.toLowerCase();
    const found = parsed.filter((h) => h.key === lower).reverse();
    for (const h of found) {
      names.push(name);
      headers.push(h);
    }
    // A name listed once more than it occurs selects a null field (RFC 6376 §5.4).
    if (oversign) names.push(name);
  };
  for (const name of OVERSIGNED_HEADERS) add(name, true);
  for (const name of SIGNED_HEADERS) add(name, false);
  return { keys: names.join(': '), headers };
}

async function signOne(key: LoadedKey, lines: ReturnType<typeof signingHeaderLines>, bodyHash: string, signTime: Date): Promise<string> {
  const { canonicalizedHeader, dkimHeaderOpts } = header.generateCanonicalizedHeader('DKIM', lines, {
    signingDomain: key.domain,
    selector: key.selector,
    algorithm: key.algorithm,
    canonicalization: 'relaxed/relaxed',
    bodyHash,
    // Always pass t=: without it mailauth stamps Date.now() twice (once for the
    // signed copy, once for the header) and a second boundary in between breaks b=.
    signTime,
  });
  // The callback form of crypto.sign runs on libuv's thread pool: an RSA-2048 signature
  // costs ~0.3 ms of CPU, and off the event loop it uses the second core.
  const signature =
    key.algorithm === 'rsa-sha256'
      ? await signAsync('sha256', canonicalizedHeader, key)
      : // RFC 8463 §3: Ed25519 (pure) signs the SHA-256 hash of the canonicalised header.
        await signAsync(null, createHash('sha256').update(canonicalizedHeader).digest(), key);
  // Not `{ ...dkimHeaderOpts, b }`: a literal that starts with a spread and adds a key gives
  // V8 (Node 20) a new hidden class per call, old-space garbage per signed message (as in
  // plugin-host/host.ts); Object.assign onto {} keeps one. Same keys, same order.
  const line = tools.formatSignatureHeaderLine('DKIM', Object.assign({}, dkimHeaderOpts, { b: signature.toString('base64') }), true);
  return line.replace(/^DKIM-Signature:\s*/, '');
}

function signAsync(algorithm: string | null, data: Buffer, key: LoadedKey): Promise<Buffer> {
  return new Promise((resolve, reject) => sign(algorithm, data, key.privateKey, (err, sig) => (err ? reject(err) : resolve(sig))));
}

/**
 * DKIM-signs a message (relaxed/relaxed) with every key that covers its From domain.
 * Returns the DKIM-Signature field VALUES (no "DKIM-Signature: " name), folded with
 * CRLF + space, one per key; [] when no key matches or the message has no single From.
 * Prepend each as `DKIM-Signature: <value>\r\n` to the unchanged message.
 */
export async function signMessage(raw: Buffer, keys: readonly LoadedKey[], opts: SignOptions = {}): Promise<string[]> {
  const { head, body: bodyBytes } = splitMessage(toCrlf(raw));
  const parsed = tools.parseHeaders(head).parsed;
  const froms = parsed.filter((h) => h.key === 'from');
  // RFC 5322 §3.6 allows one From; signing a message with two would vouch for the wrong one.
  if (froms.length !== 1 || froms[0] === undefined) return [];
  const line = froms[0].line.toString('utf8');
  const domain = fromDomain(line.slice(line.indexOf(':') + 1));
  if (domain === null) return [];
  const matching = keysForDomain(domain, keys);
  if (matching.length === 0) return [];

  const hasher = body.dkimBody('relaxed', 'sha256', false);
  hasher.update(bodyBytes);
  const bodyHash = hasher.digest('base64');
  const lines = signingHeaderLines(parsed);
  const signTime = opts.signTime ?? new Date();
  return Promise.all(matching.map((key) => signOne(key, lines, bodyHash, signTime)));
}
