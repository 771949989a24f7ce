/**
 * The machine-readable part of a DSN (RFC 3464 §2): one group of per-message fields, then
 * one group per recipient, groups separated by blank lines, fields folded like headers.
 */

export interface DsnRecipient {
  readonly recipient: string;
  readonly originalRecipient: string | null;
  /** Lower-cased Action (§2.3.3): failed, delayed, delivered, relayed, expanded. */
  readonly action: string | null;
  readonly status: string | null;
  readonly diagnostic: string | null;
  readonly remoteMta: string | null;
}

export interface DeliveryStatus {
  readonly reportingMta: string | null;
  readonly recipients: readonly DsnRecipient[];
}

export function parseDeliveryStatus(text: string): DeliveryStatus {
  const unfolded = text.replace(/\r\n?/g, '\n').replace(/\n[ \t]+/g, ' ');
  const groups = unfolded.split(/\n\s*\n/).map(fieldsOf);
  let reportingMta: string | null = null;
  const recipients: DsnRecipient[] = [];
  for (const g of groups) {
    reportingMta ??= typed(g.get('reporting-mta') ?? null);
    const final = address(g.get('final-recipient') ?? null);
    const original = address(g.get('original-recipient') ?? null);
    const recipient = final ?? original;
    if (recipient === null) continue;
    const status = /([245]\.\d{1,3}\.\d{1,3})/.exec(g.get('status') ?? '')?.[1] ?? null;
    recipients.push({
      recipient,
      originalRecipient: original,
      action: g.get('action')?.trim().toLowerCase().split(/[\s(]/)[0] ?? null,
      status,
      diagnostic: typed(g.get('diagnostic-code') ?? null),
      remoteMta: typed(g.get('remote-mta') ?? null),
    });
  }
  return { reportingMta, recipients };
}

function fieldsOf(group: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of group.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*)$/.exec(line.trim());
    if (m && !fields.has((m[1] as string).toLowerCase())) fields.set((m[1] as string).toLowerCase(), (m[2] as string).trim());
  }
  return fields;
}

/** "smtp; 550 ..." / "dns; mx.example.com" → the value after the type. */
function typed(value: string | null): string | null {
  if (value === null) return null;
  const v = value.replace(/^[A-Za-z0-9-]+\s*;\s*/, '').trim();
  return v === '' ? null : v;
}

/** "rfc822; <a@b>" → "a@b"; null for anything without an @. */
export function address(value: string | null): string | null {
  const v = typed(value);
  if (v === null) return null;
  const m = /<?([^\s<>;"]+@[^\s<>;"]+?)>?\.?$/.exec(v.split(/\s+/)[0] ?? '');
  return m ? (m[1] as string) : null;
}
