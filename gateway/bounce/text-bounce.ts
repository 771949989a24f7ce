/**
 * Bounces that are not RFC 3464 DSNs (qmail, Exim, Sendmail's text, Exchange, webmail
 * providers): a human-readable explanation that names each failed recipient and what the
 * remote server said, then usually a copy of the message. This file finds the explanation,
 * the recipients in the order it names them, and the text about each.
 */

/** Where the explanation ends and the returned message begins. */
const RETURNED_MARKERS: readonly RegExp[] = [
  /^\s*[-=_*]{2,}.*\b(copy of|below this line|original message|returned message|original headers?|headers? of|header of|message headers?|undelivered message|unsent message|rejected message|message follows|forwarded message|original email|message text)\b/i,
  /^\s*(original message|original-message|the original message(?! was received)|message headers? follows?|returned mail follows|unsent message below|headers of (the )?(original|returned) message)\b/i,
  /^\s*-{2,}\s*(original|returned|headers?|copy)/i,
  /^\s*content-type:\s*(message\/rfc822|text\/rfc822-headers)/i,
  /^(return-path|received|message-id|dkim-signature|x-received):\s*\S/i,
];

const ADDRESS = /[A-Za-z0-9._%+=~!#$&'*/?^`{|}-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
/** Addresses that are never the failed recipient. */
const SYSTEM = /^(mailer-daemon|postmaster|mail-daemon|maildaemon|bounces?|noreply|no-reply|abuse|root|double-bounce)@/i;
/** An address in a line after these words is the sender, not a recipient. */
const SENDER_CONTEXT = /(mail from\s*:?\s*<?|from\s*:\s*<?|sender\s*:?\s*<?|envelope-from\s*<?|return-path\s*:?\s*<?)$/i;

export interface TextRecipient {
  readonly recipient: string;
  /** The explanation's lines about this recipient, on one line. */
  readonly diagnostic: string;
}

/** The explanation: the text up to the returned message (the whole text when nothing marks it). */
export function explanation(text: string): { readonly human: string; readonly rest: string } {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (RETURNED_MARKERS.some((re) => re.test(line))) return { human: lines.slice(0, i).join('\n'), rest: lines.slice(i).join('\n') };
  }
  return { human: lines.join('\n'), rest: '' };
}

/**
 * The recipients the explanation names, in order, each with its block of text (from the
 * line naming it to the line naming the next). `known`: recipients the bounce lists in a
 * header (Exim's X-Failed-Recipients); `exclude`: addresses that are the sender's side.
 */
export function recipientsFromText(human: string, known: readonly string[], exclude: ReadonlySet<string>): TextRecipient[] {
  const lines = human.split('\n');
  const starts: { recipient: string; line: number }[] = [];
  const seen = new Set<string>();
  if (known.length > 0) {
    for (const r of known) {
      const key = r.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      const at = lines.findIndex((l) => l.toLowerCase().includes(key));
      starts.push({ recipient: r, line: at });
    }
  } else {
    lines.forEach((line, i) => {
      for (const m of line.matchAll(ADDRESS)) {
        const addr = (m[0]).replace(/[.]+$/, '');
        const key = addr.toLowerCase();
        if (seen.has(key) || exclude.has(key) || SYSTEM.test(addr)) continue;
        if (SENDER_CONTEXT.test(line.slice(0, m.index).trimEnd())) continue;
        seen.add(key);
        starts.push({ recipient: addr, line: i });
      }
    });
  }
  const keys = starts.map((s) => s.recipient.toLowerCase());
  return starts.map((s) => {
    if (s.line < 0) return { recipient: s.recipient, diagnostic: '' };
    // The block ends where a line names another recipient: the next entry, or the same
    // list repeated (Mail.Ru puts a Russian and an English copy one after the other).
    const self = s.recipient.toLowerCase();
    let end = s.line + 1;
    // A Sendmail transcript's next session ("While talking to host:") is about others too.
    while (end < lines.length && !mentionsOther(lines[end] as string, keys, self) && !/while talking to /i.test(lines[end] as string)) end++;
    return { recipient: s.recipient, diagnostic: oneLine(lines.slice(s.line, end).join(' ')) };
  });
}

function mentionsOther(line: string, keys: readonly string[], self: string): boolean {
  const l = line.toLowerCase();
  return keys.some((k) => k !== self && l.includes(k));
}

export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 2000);
}

export function addressesIn(text: string): string[] {
  return [...text.matchAll(ADDRESS)].map((m) => (m[0]).replace(/[.]+$/, ''));
}
