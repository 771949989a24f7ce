/** The side column: nodes, the queue, what is held, alerts. */
import type { AlertView, ClusterStatus, DashboardData, HoldView, NodeLoad, NodeStatus } from './api-types.js';
import { $, actionButton, h, type Act } from './dom.js';
import { fmtAge, fmtBytes, fmtNum, fmtRate, fmtTime, since } from './format.js';

export function renderNodes(s: ClusterStatus): void {
  const newest = newestConfig(s);
  const items = s.nodes.map((n) => h('li', null, [
    h('span', { class: `dot ${!n.live ? 'bad' : n.draining ? 'warn' : 'ok'}` }),
    h('div', { class: 'grow' }, [
      h('div', { class: 'title' }, [n.id, n.self ? h('span', { class: 'tag' }, ['this node']) : null, n.draining ? h('span', { class: 'tag' }, ['draining']) : null, ...configTags(n, newest, n.self ? s.config : undefined)]),
      h('div', { class: 'meta' }, [n.live
        ? `${n.address} \u00b7 up ${fmtAge(n.started_at ? (Date.now() - n.started_at) / 1000 : null)} \u00b7 v${n.version}`
        : `down${n.down_since ? ` ${since(n.down_since)}` : ''} \u2014 its sources left their pools`]),
      n.live && n.load ? h('div', { class: 'meta', 'data-load': n.id }, [loadLine(n.load)]) : null,
    ]),
  ]));
  $('nodes').replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, ['no nodes'])]));
}

/** The newest config version pushed, as far as the answering node knows: what it read in Redis, or a newer one a peer runs or refused. */
function newestConfig(s: ClusterStatus): number {
  const seen = s.nodes.flatMap((n) => [n.config_version ?? 0, n.config_failed ?? 0]);
  return Math.max(s.config?.latest ?? 0, ...seen);
}

/**
 * The config version from Redis a node runs (from its heartbeat), marked when it is not the
 * newest pushed, and one it refused: why is in the refusing node's own status, shown on
 * hover on its own dashboard. Nothing for a node in "file" mode (or of a release that does not say).
 */
function configTags(n: NodeStatus, newest: number, own: ClusterStatus['config'] | undefined): HTMLElement[] {
  if (n.config_version === null || n.config_version === undefined) return [];
  const behind = n.config_version !== newest;
  const tags = [h('span', {
    class: `tag${behind ? ' pct-warn' : ''}`,
    'data-config': n.id,
    ...(behind ? { title: `the newest version pushed is ${newest}` } : {}),
  }, [n.config_version === 0 ? 'config: own file' : `config v${n.config_version}`])];
  if (n.config_failed !== null && n.config_failed !== undefined) {
    const why = own?.failed?.version === n.config_failed ? own.failed.errors.join('\n') : `why: /api/status on ${n.id} (config.failed)`;
    tags.push(h('span', { class: 'tag pct-bad', 'data-config-failed': n.id, title: why }, [`config v${n.config_failed} refused`]));
  }
  return tags;
}

/** What an operator weighs to decide where load goes, from the node's last heartbeat. */
function loadLine(l: NodeLoad): string {
  return [
    `CPU ${l.cpu.toFixed(2)} cores`,
    `mem ${fmtBytes(l.memory_bytes)}`,
    `lag ${l.loop_lag_ms.toFixed(1)} ms`,
    `disk ${fmtBytes(l.disk_free_bytes)} free`,
    `${fmtNum(l.connections_in)} in / ${fmtNum(l.connections_out)} out`,
    `queue ${fmtNum(l.queue_depth)}`,
    `${fmtRate(l.send_rate)}/s sent`,
  ].join(' \u00b7 ');
}

export function renderQueue(s: ClusterStatus): void {
  const rows = [...s.queue].sort((a, b) => b.depth - a.depth).map((q) => h('tr', null, [
    h('td', null, [q.pool]),
    h('td', null, [q.provider]),
    h('td', { class: 'num' }, [fmtNum(q.depth)]),
    h('td', { class: `num${q.oldest_seconds > 3600 ? ' pct-warn' : ''}` }, [fmtAge(q.oldest_seconds)]),
  ]));
  const body = $('queue').querySelector('tbody');
  body?.replaceChildren(...(rows.length ? rows : [h('tr', null, [h('td', { colspan: 4, class: 'empty' }, ['queue empty'])])]));
}

const HOLD_TAGS = { whole: 'held', toward: 'held for a provider', provider: 'held for every source' } as const;

/** `whole`: the source or pool sends nothing; `toward`: the source sends nothing to one provider; `provider`: no source sends to it. */
function holdItem(kind: keyof typeof HOLD_TAGS, name: string, hold: HoldView, button: HTMLElement | null): HTMLElement {
  return h('li', null, [
    h('span', { class: `dot ${kind === 'whole' ? 'bad' : 'warn'}` }),
    h('div', { class: 'grow' }, [
      h('div', { class: 'title' }, [`${name} `, h('span', { class: 'tag' }, [HOLD_TAGS[kind]])]),
      h('div', { class: 'meta' }, [`${hold.reason} \u00b7 by ${hold.by} \u00b7 ${fmtTime(hold.until)}`]),
    ]),
    button,
  ]);
}

export function renderHolds(d: DashboardData, act: Act): void {
  const items: HTMLElement[] = [];
  for (const s of d.sources ? d.sources.sources : []) {
    const lift = `/api/sources/${encodeURIComponent(s.name)}/lift`;
    if (s.held) items.push(holdItem('whole', `source ${s.name} (${s.ip})`, s.held, actionButton(act, 'Lift', 'lift', lift)));
    for (const x of s.held_toward) {
      items.push(holdItem('toward', `source ${s.name} \u2192 ${x.provider}`, x, s.held ? null : actionButton(act, 'Lift', 'lift', lift)));
    }
  }
  for (const p of d.status ? d.status.pools : []) {
    if (p.held) {
      items.push(holdItem('whole', `pool ${p.name}`, p.held, actionButton(act, 'Lift', 'lift', `/api/pools/${encodeURIComponent(p.name)}/lift`)));
    }
  }
  // A provider held by a hold_provider rule lapses on its own: no button.
  for (const p of d.providers ? d.providers.providers : []) if (p.held) items.push(holdItem('provider', `provider ${p.name}`, p.held, null));
  $('holds').replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, ['every source is sending'])]));
}

export function renderAlerts(a: { readonly active: readonly AlertView[]; readonly recent: readonly AlertView[] }): void {
  const seen = new Set<string>();
  const items = [...a.active, ...a.recent.filter((x) => x.cleared_at)]
    .filter((x) => {
      const k = x.id + x.raised_at;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .slice(0, 8)
    .map((x) => {
      const on = !x.cleared_at;
      return h('li', { class: on ? 'alert-active' : 'alert-cleared' }, [
        h('span', { class: `dot ${on ? 'bad' : ''}` }),
        h('div', { class: 'grow' }, [
          h('div', { class: 'title' }, [x.message]),
          h('div', { class: 'meta' }, [`${on ? `raised ${since(x.raised_at)}` : `cleared ${since(x.cleared_at)}`} \u00b7 ${x.rule}`]),
        ]),
      ]);
    });
  $('alerts').replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, ['no alerts'])]));
}
