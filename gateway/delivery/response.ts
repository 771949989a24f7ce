/**
 * A remote reply parsed once into a typed response (STYLE.md, after KumoMTA's
 * rfc5321 client_types): code, enhanced code, text, the command it answered, and
 * whether it is transient. Network failures become synthetic 4xx responses so every
 * caller sees one shape.
 */
export interface Response {
  readonly code: number;
  /** RFC 3463 class.subject.detail, or null when the server sent none. */
  readonly enhanced: string | null;
  readonly text: string;
  readonly command: string | null;
  /** True when the reply is from us (timeout, refused connection), not the remote server. */
  readonly local: boolean;
}

export function isTransient(r: Response): boolean {
  return r.code >= 400 && r.code < 500;
}

export function isPermanent(r: Response): boolean {
  return r.code >= 500;
}

export function parseResponse(raw: string, command: string | null = null): Response {
  const lines = raw.replace(/\r/g, '').split('\n').filter((l) => l.length > 0);
  const first = lines[0] ?? '';
  const code = Number(/^(\d{3})/.exec(first)?.[1] ?? 0);
  const texts: string[] = [];
  let enhanced: string | null = null;
  for (const line of lines) {
    let rest = line.replace(/^\d{3}[ -]?/, '');
    const m = /^([245]\.\d{1,3}\.\d{1,3})\s*/.exec(rest);
    if (m) {
      enhanced ??= m[1] as string;
      rest = rest.slice(m[0].length);
    }
    texts.push(rest);
  }
  return { code: code || 451, enhanced, text: texts.join(' ').trim(), command, local: false };
}

export function localResponse(code: number, enhanced: string, text: string, command: string | null = null): Response {
  return { code, enhanced, text, command, local: true };
}

export function formatResponse(r: Response): string {
  return `${r.code}${r.enhanced ? ` ${r.enhanced}` : ''} ${r.text}`.trim();
}
