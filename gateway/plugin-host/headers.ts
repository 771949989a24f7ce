/**
 * The header block of a message as plugins see it (RFC 5322 §2.2): fields kept as raw
 * lines so that unchanged headers are spooled byte for byte (DKIM needs that).
 */
import type { Headers } from './public.js';

interface Field {
  readonly lower: string;
  readonly raw: string;
}

export class HeaderBlock implements Headers {
  private fields: Field[];

  private constructor(fields: Field[]) {
    this.fields = fields;
  }

  /** Splits a message into its header block and body (after the empty line). */
  static split(message: Buffer): { headers: HeaderBlock; body: Buffer } {
    let end = message.indexOf('\r\n\r\n');
    let bodyStart: number;
    if (end < 0) {
      // No empty line: the whole message is headers (RFC 5322 allows an absent body).
      end = message.length;
      bodyStart = message.length;
    } else bodyStart = end + 4;
    if (message.subarray(0, 2).toString('latin1') === '\r\n') {
      return { headers: new HeaderBlock([]), body: message.subarray(2) };
    }
    const text = message.subarray(0, end).toString('latin1');
    const fields: Field[] = [];
    for (const line of text.split('\r\n')) {
      const last = fields[fields.length - 1];
      if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
        fields[fields.length - 1] = { lower: last.lower, raw: `${last.raw}\r\n${line}` };
        continue;
      }
      const colon = line.indexOf(':');
      fields.push({ lower: colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '', raw: line });
    }
    return { headers: new HeaderBlock(fields), body: message.subarray(bodyStart) };
  }

  get(name: string): string | null {
    const f = this.fields.find((x) => x.lower === name.toLowerCase());
    return f ? valueOf(f) : null;
  }

  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    return this.fields.filter((x) => x.lower === lower).map(valueOf);
  }

  set(name: string, value: string): void {
    const lower = name.toLowerCase();
    const i = this.fields.findIndex((x) => x.lower === lower);
    const field = { lower, raw: `${name}: ${clean(value)}` };
    this.fields = this.fields.filter((x) => x.lower !== lower);
    this.fields.splice(i < 0 ? this.fields.length : i, 0, field);
  }

  add(name: string, value: string): void {
    this.fields.unshift({ lower: name.toLowerCase(), raw: `${name}: ${clean(value)}` });
  }

  remove(name: string): void {
    const lower = name.toLowerCase();
    this.fields = this.fields.filter((x) => x.lower !== lower);
  }

  raw(): Buffer {
    return Buffer.from(this.fields.map((f) => `${f.raw}\r\n`).join(''), 'latin1');
  }

  /** The whole message: headers, the empty line, the body. */
  assemble(body: Buffer): Buffer {
    return Buffer.concat([this.raw(), Buffer.from('\r\n'), body]);
  }
}

function valueOf(f: Field): string {
  const colon = f.raw.indexOf(':');
  // Unfold (RFC 5322 §2.2.3) and decode the bytes as UTF-8 (RFC 6532 allows it in headers).
  const v = Buffer.from(f.raw.slice(colon + 1), 'latin1').toString('utf8');
  return v.replace(/\r\n(?=[ \t])/g, '').trim();
}

/**
 * A header value may be folded (CRLF followed by a space or tab) but can never carry a
 * line break of its own: that would inject headers.
 */
function clean(value: string): string {
  const parts = value.split(/\r\n(?=[ \t])/).map((p) => p.replace(/[\r\n]+/g, ' '));
  return Buffer.from(parts.join('\r\n'), 'utf8').toString('latin1');
}
