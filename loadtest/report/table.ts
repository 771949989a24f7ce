import { dkimLabel, type Report } from './build-report.js';

/** The plain-text report printed on stdout at the end of a run. */
export function formatReport(r: Report): string {
  const lines: string[] = [];
  lines.push(`Sluice load test ${r.run_id} (${r.mode}${r.target ? ` → ${r.target}` : ''}), ${r.started_at}`);
  lines.push(
    `  ${r.messages} messages of ${formatBytes(r.size_bytes)} over ${r.connections} connections to ${r.domains} domains; ` +
      `providers ${r.profiles.join(', ')}; ${dkimLabel(r)}${r.mode === 'gateway' ? `; ${r.source_count} sources` : ''}`,
  );
  lines.push('');
  lines.push(
    table(
      ['', 'count', 'rate', 'notes'],
      [
        ['accepted (250)', r.accepted, `${r.accepted_per_s}/s`, `in ${r.accept_s} s; refused ${r.refused}, failed ${r.failed}, unknown ${r.unknown_outcome}, not sent ${r.not_sent}`],
        ['delivered', r.delivered, `${r.delivered_per_s}/s`, `end to end in ${r.total_s} s (first send → last delivery)`],
        ['bounced', r.bounced, '', 'refused for good by a provider (5xx)'],
        ['lost', r.lost, '', `accepted, never delivered (drain: ${r.drain.end} after ${r.drain.waited_s} s)`],
        ['duplicates', r.duplicates, '', 'extra arrivals of a message already delivered'],
      ],
      'lrrl',
    ),
  );
  lines.push('');
  const l = r.latency_ms;
  lines.push(`  latency 250 → delivery: p50 ${ms(l.p50)}  p95 ${ms(l.p95)}  p99 ${ms(l.p99)}  max ${ms(l.max)}`);
  lines.push(`  gateway: ${r.cpu_s === null ? 'not measured (--target / --sink-only)' : `CPU ${r.cpu_s} s, peak RSS ${r.rss_peak_mb} MB`}`);
  if (r.dkim_signed || r.dkim !== 'none') lines.push(`  DKIM-Signature present on ${r.dkim_signed} of ${r.delivered + r.duplicates} arrivals`);
  lines.push('');
  lines.push(providerTable(r));
  lines.push('');
  lines.push(sourceTable(r));
  if (r.dns) lines.push('', `  DNS ${r.dns}, simulated providers on port ${r.sink_port}`);
  if (r.work_dir) lines.push(`  work dir kept: ${r.work_dir}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.client.samples.length) lines.push(`  client saw: ${r.client.samples.join(' | ')}`);
  return `${lines.join('\n')}\n`;
}

function providerTable(r: Report): string {
  const rows = Object.entries(r.providers).map(([name, p]) => [
    name,
    p.delivered,
    p.peak_connections,
    p.limit_connections ?? '-',
    p.max_1s_rate,
    p.limit_rate ?? '-',
    Object.values(p.refusals).reduce((a, b) => a + b, 0),
    p.within_limits === null ? '-' : p.within_limits ? 'yes' : 'NO',
  ]);
  return table(['provider', 'delivered', 'peak conn/IP', 'limit', 'max 1s/IP', 'limit/s', 'refusals', 'within'], rows, 'lrrrrrrl');
}

function sourceTable(r: Report): string {
  const rows = Object.entries(r.sources).map(([ip, s]) => [ip, s.connections_opened, s.peak_connections, s.max_1s_rate, s.delivered, s.ehlo.join(' ')]);
  return table(['source IP', 'conns opened', 'peak conn', 'max 1s rate', 'delivered', 'EHLO'], rows, 'lrrrrl');
}

/** Columns padded to their widest cell; `align` has one 'l' or 'r' per column. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[], align: string): string {
  const cells = [head, ...rows].map((row) => row.map(String));
  const widths = head.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((c, i) => (align[i] === 'r' ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `  ${line}`)
    .join('\n');
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} B`;
}

function ms(x: number | null): string {
  return x === null ? '-' : `${x} ms`;
}
