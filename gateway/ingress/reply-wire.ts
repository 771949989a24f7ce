/**
 * What every reply looks like on the wire, whoever wrote it (smtp-server, a plugin, us):
 * printable ASCII only (RFC 5321 §4.2: reply text is ASCII; a client must not have to
 * guess a charset), and an enhanced status code (RFC 2034 §4) on every 2xx, 4xx and 5xx
 * reply except the greeting and the 250 reply to HELO/EHLO, which RFC 2034 §4 exempts
 * (EHLO's keyword lines must stay parseable, RFC 5321 §4.1.1.1). Errors in reply to
 * HELO/EHLO are exempt too, but RFC 2034 does not forbid a code there; a client that
 * logs enhanced codes is better off with one, so they get it (Postfix leaves it out).
 */

/** "5.1.1 " at the start of a text: the enhanced code is already ours. */
const ENHANCED_PREFIX = /^([245])\.\d{1,3}\.\d{1,3} /;

/** RFC 3463 defaults per reply code, for replies smtp-server sends without one. */
const BY_CODE: Readonly<Record<number, string>> = {
  221: '2.0.0', 250: '2.0.0', 252: '2.1.5',
  421: '4.4.2', 450: '4.2.1', 451: '4.3.0', 452: '4.2.2', 454: '4.7.0',
  500: '5.5.2', 501: '5.5.4', 502: '5.5.1', 503: '5.5.1', 504: '5.5.4',
  530: '5.7.0', 535: '5.7.8', 538: '5.7.11', 550: '5.7.1', 552: '5.3.4', 553: '5.1.3', 554: '5.5.0',
};

/**
 * smtp-server's own texts whose derived code says the wrong thing (it maps 421 to
 * 4.4.2 "bad connection" whatever the cause). Matched on the text, so an upgrade
 * that rewords one falls back to BY_CODE, never to no code.
 */
const BY_TEXT: readonly (readonly [number, RegExp, string])[] = [
  [421, /Too many connected clients/i, '4.3.2'], // X.3.2 system not accepting network messages
  [421, /shutting down/i, '4.3.2'],
  [421, /too many (unrecognized|unauthenticated) commands/i, '4.7.0'], // as Postfix's "too many errors"
  [421, /talk too soon|HTTP requests/i, '4.5.0'], // X.5.0 other protocol status
  [538, /STARTTLS/i, '5.7.11'], // RFC 4954 §6: encryption required for the mechanism
];

/** Replaces what is not printable ASCII: control characters by a space, the rest by "?". */
export function asciiText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[^\u0020-\u007e]/g, '?');
}

/** What send() should write for (code, data, context): the text with its enhanced code, or data as is. */
export interface WireReply {
  readonly data: unknown;
  /** false: smtp-server adds no code of its own (it is in data, or the reply is exempt). */
  readonly context: unknown;
}

/**
 * `derived` is the code smtp-server would add for (code, context) ('' for none): kept
 * when it has one and no BY_TEXT entry says better.
 */
export function wireReply(code: number, data: unknown, context: unknown, derived: string): WireReply {
  const clean = Array.isArray(data) ? data.map((l) => asciiText(String(l ?? ''))) : typeof data === 'string' ? asciiText(data) : data;
  if (code >= 300 && code < 400) return { data: clean, context };
  const heloOk = code === 250 && (context === false || context === 'HELO' || context === 'EHLO' || context === 'LHLO');
  const greeting = code === 220 && context === false;
  if (heloOk || greeting) return { data: clean, context: false };
  const first = Array.isArray(clean) ? String(clean[0] ?? '') : typeof clean === 'string' ? clean : '';
  const own = ENHANCED_PREFIX.exec(first);
  if (own && own[1] === String(code)[0]) return { data: clean, context: false };
  const better = BY_TEXT.find(([c, re]) => c === code && re.test(first))?.[2];
  if (!better && derived !== '' && derived[0] === String(code)[0]) return { data: clean, context };
  const enhanced = better ?? BY_CODE[code] ?? `${String(code)[0]}.0.0`;
  const prefixed = Array.isArray(clean) ? clean.map((l) => `${enhanced} ${l}`) : `${enhanced} ${first}`.trimEnd();
  return { data: prefixed, context: false };
}
