/**
 * How a message is traced from the client to the simulator. The header carries
 * `<run-id>.<seq>` only: the accept time is known at the 250, so the client keeps it per seq
 * and the simulator keeps the arrival time per seq. Recipients carry the seq too, so a
 * refusal at RCPT (before any header is seen) can be tied to its message.
 */
export const TRACE_HEADER = 'X-Loadtest-Trace';

const RUN_ID = /^[a-z0-9]{4,16}$/;

export function isRunId(s: string): boolean {
  return RUN_ID.test(s);
}

export function traceValue(runId: string, seq: number): string {
  return `${runId}.${seq}`;
}

/** The seq of a trace header value from this run, or null (another run, or garbage). */
export function parseTrace(value: string, runId: string): number | null {
  const dot = value.indexOf('.');
  if (dot < 0 || value.slice(0, dot) !== runId) return null;
  const rest = value.slice(dot + 1).trim();
  if (!/^\d{1,9}$/.test(rest)) return null;
  return Number(rest);
}

/** The trace header's value in a raw header block (CRLF lines), or null. */
export function findTraceHeader(head: string): string | null {
  const m = /(?:^|\n)x-loadtest-trace:[ \t]*([^\r\n]*)/i.exec(head);
  return m?.[1]?.trim() ?? null;
}

export function hasDkimSignature(head: string): boolean {
  return /(?:^|\n)dkim-signature:/i.test(head);
}

/** `lt-<run>-<seq>@<domain>`; `kind` "unknown" makes a recipient every profile refuses. */
export function recipientAddress(kind: 'lt' | 'unknown', runId: string, seq: number, domain: string): string {
  return `${kind}-${runId}-${seq}@${domain}`;
}

export function seqOfRecipient(address: string, runId: string): number | null {
  const m = /^[a-z]+-([a-z0-9]+)-(\d{1,9})@/i.exec(address);
  if (!m || m[1] !== runId) return null;
  return Number(m[2]);
}
