/**
 * Reply codes (RFC 5321 §4.2) and enhanced status codes (RFC 3463) as they appear inside
 * free text: "said: 550 5.1.1 <x>: Recipient address rejected", "550-5.1.1 The email
 * account...", "(#5.1.1)", "Status: 5.0.0 (permanent failure)".
 */

/** An enhanced code not inside an IP address or a version number. */
const ENHANCED = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)/g;
/** A reply code followed by its enhanced code: the surest pairing. */
const PAIRED = /(?<![\d.])([45]\d\d)[ -]['"#]?([245]\.\d{1,3}\.\d{1,3})(?![\d]|\.\d)/;
/** A success reply with its code (a DSN's "Action: delivered" quoting "250 2.1.5 Ok"). */
const SUCCESS = /(?<![\d.])(2\d\d)[ -](2\.\d{1,3}\.\d{1,3})(?![\d]|\.\d)/;
/** A reply code after what introduces one: "said:", "replied:", "error:", "ResponseCode" (Zoho), start of the text, "<<< ". */
const INTRODUCED = /(?:^|said:?|replied:?|reply:?|response ?(?:code)?:?|error(?:_code)?\s*:?|returned:?|<<<|\bsmtp;|:|\()\s*([45]\d\d)(?=[ ,-]|$)(?![ -]?\d)/im;
/** Any lone 4xx/5xx followed by a space or dash, as a last resort. */
const LONE = /(?<![\d.:/-])([45][0-5]\d)(?=[ -][A-Za-z<#(]|-[245]\.)/;

export interface FoundCodes {
  readonly replyCode: number | null;
  readonly status: string | null;
}

export function findCodes(text: string): FoundCodes {
  const paired = PAIRED.exec(text) ?? SUCCESS.exec(text);
  if (paired) return { replyCode: Number(paired[1]), status: paired[2] ?? null };
  const status = findStatus(text);
  const reply = INTRODUCED.exec(text) ?? LONE.exec(text);
  let replyCode = reply ? Number(reply[1]) : null;
  // A reply code whose class contradicts the enhanced code found is someone else's number.
  if (replyCode !== null && status !== null && String(replyCode)[0] !== status[0]) replyCode = null;
  return { replyCode, status };
}

/** The most specific enhanced code in the text: the first that is not x.0.0, else the first. */
export function findStatus(text: string): string | null {
  let first: string | null = null;
  for (const m of text.matchAll(ENHANCED)) {
    const code = `${m[1]}.${m[2]}.${m[3]}`;
    if (Number(m[2]) > 7) continue;
    if (!/^\d\.0\.0$/.test(code)) return code;
    first ??= code;
  }
  return first;
}

/** The SMTP command a failure answered, as the MTAs word it. */
const COMMANDS: readonly [RegExp, string][] = [
  [/in reply to (end of )?data command|after (end of )?data\b|smtp command:? data|after data\b|at data\b|data command|in response to data/i, 'DATA'],
  [/in reply to rcpt to command|after rcpt( to)?\b|rcpt to response|our rcpt to|smtp command:? rcpt|in response to rcpt|does not like recipient|\[rcpt_to\]/i, 'RCPT'],
  [/in reply to mail from command|after mail from|smtp command:? mail|in response to mail from|our mail from/i, 'MAIL'],
  [/in reply to (ehlo|helo) command|after (ehlo|helo)\b|my name was rejected/i, 'EHLO'],
  [/after initial connection|(greeting|banner) (from|of) |while connected to|smtp greeting|in reply to (the )?greeting|connection (was )?rejected|refused to talk to me/i, 'CONN'],
];

export function findCommand(text: string): string | null {
  const found: { at: number; name: string }[] = [];
  for (const [re, name] of COMMANDS) {
    const m = new RegExp(re.source, 'gi');
    for (const hit of text.matchAll(m)) found.push({ at: hit.index, name });
  }
  if (found.length === 0) return null;
  found.sort((a, b) => a.at - b.at);
  // A session transcript (">>> RCPT TO", "<<< 550 ..."): the command sent last before the first failure.
  const failure = /<<<\s*[45]\d\d/.exec(text);
  if (failure) {
    const before = found.filter((f) => f.at < failure.index);
    if (before.length > 0) return (before.at(-1) as { name: string }).name;
  }
  return (found[0] as { name: string }).name;
}

/**
 * The command a session transcript (Sendmail's "----- Transcript of session follows -----")
 * shows answered by the reply about this recipient: the last ">>> COMMAND" line before the
 * first "<<< 4xx/5xx" line naming the recipient (by address, else by its local part).
 */
export function transcriptCommand(text: string, recipient: string): string | null {
  const lines = text.split('\n');
  const full = recipient.toLowerCase();
  const local = `<${full.split('@')[0] ?? full}@`;
  for (const named of [(l: string) => l.includes(full), (l: string) => l.includes(local)]) {
    let last: string | null = null;
    for (const line of lines) {
      const sent = /^\s*>>>\s*(RCPT|MAIL|DATA|EHLO|HELO)\b/i.exec(line);
      if (sent) last = (sent[1] as string).toUpperCase().replace('HELO', 'EHLO');
      else if (last !== null && /^\s*<<<\s*[45]\d\d/.test(line) && named(line.toLowerCase())) return last;
    }
  }
  return null;
}

/**
 * A Sendmail session transcript in which the server refused the session before any
 * recipient was named (">>> MAIL From:<...>" answered "<<< 501 ... no access", or a
 * refused greeting): every recipient the report lists after that session, before the next
 * "while talking to", failed with that reply, whatever its own line says ("Remote protocol
 * error"). Null when the recipient's session got as far as naming it.
 */
export function sessionRefusal(text: string, recipient: string): { readonly reply: string; readonly command: string } | null {
  const who = recipient.toLowerCase();
  if (who === '') return null;
  let last: string | null = null;
  let refusal: { reply: string; command: string } | null = null;
  let inSession = false;
  for (const line of text.split('\n')) {
    if (/while talking to /i.test(line)) {
      inSession = true;
      last = null;
      refusal = null;
      continue;
    }
    if (!inSession) continue;
    const sent = /^\s*>>>\s*(RCPT|MAIL|DATA|EHLO|HELO)\b/i.exec(line);
    if (sent) {
      last = (sent[1] as string).toUpperCase().replace('HELO', 'EHLO');
      continue;
    }
    const got = /^\s*<<<\s*([45]\d\d\b.*)$/.exec(line);
    if (got) {
      if (refusal === null && (last === null || last === 'MAIL' || last === 'EHLO')) refusal = { reply: (got[1] as string).trim(), command: last ?? 'CONN' };
      if (line.toLowerCase().includes(who)) return null;
      continue;
    }
    const at = line.toLowerCase().indexOf(who);
    // A line that quotes a reply of its own about the recipient ("... 550 Host unknown") has its own cause.
    if (at >= 0) return /(?<![\d.])[45]\d\d(?![\d.])/.test(line.slice(at + who.length)) ? null : refusal;
  }
  return null;
}

/**
 * A multi-line reply on one line ("550-5.7.1 Messages with multiple 550-5.7.1 addresses in
 * From: ..."): the repeated code prefixes of its continuation lines removed.
 */
export function unfoldReply(text: string): string {
  const first = /(?<![\d.])([45]\d\d)[ -](?:([245]\.\d{1,3}\.\d{1,3})\s)?/.exec(text);
  if (!first) return text;
  const code = first[1] as string;
  const enhanced = first[2];
  const prefix = new RegExp(`\\s${code}[ -]${enhanced ? `${enhanced.replace(/\./g, '\\.')}\\s` : ''}`, 'g');
  const end = first.index + first[0].length;
  return text.slice(0, end) + text.slice(end).replace(prefix, ' ');
}
