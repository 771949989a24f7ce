// The layer check: DESIGN.md "Modules" as rules. Run by `npm run lint` (and so by `npm test`);
// test/internals/layer-check.test.ts shows each kind of rule firing.
//
// Data flows one way: ingress → spool/queue → routing → shaping → delivery → events.
// A module may import modules later in that flow, never earlier ("nothing below reaches
// back up"), type-only imports included. The folders DESIGN.md's arrow leaves out sit where
// their imports put them: the plugin host right after ingress (it runs the hooks ingress
// calls), bounce after delivery (DSNs and reports are made from delivery results), cluster
// just before observe (it reports into the stats). Besides the flow there are shared seams
// anyone may import, which themselves import only seams, and a composition root that may
// import anything.

/** @type {import('dependency-cruiser').IConfiguration} */

// Earliest first. Each entry: a name and the paths that belong to it.
const FLOW = [
  ['ingress', '^gateway/ingress/'],
  // Runs the hooks ingress calls; plugin-host/public.ts (the plugin API and event types) is a seam.
  ['plugin-host', '^gateway/plugin-host/(?!public[.]ts$)'],
  ['spool/queue', '^gateway/(spool|queue)/'],
  ['routing', '^gateway/routing/'],
  ['shaping', '^gateway/shaping/'],
  ['delivery', '^gateway/delivery/'],
  ['bounce', '^gateway/bounce/'],
  ['cluster', '^gateway/cluster/'],
  // Events, metrics, admin API and admin control.
  ['observe', '^gateway/observe/'],
];

// Shared seams: any module may import these; they import only seams.
const SEAMS = [
  '^gateway/(errors|listen-error|fs-util)[.]ts$',
  '^gateway/config/',
  // The state interfaces (not the backends: see state-backends below).
  '^gateway/state/(?!create[.]ts$|resilient[.]ts$)[^/]+[.]ts$',
  '^gateway/plugin-host/public[.]ts$',
  // The one Logger type: every layer writes to the log.
  '^gateway/observe/logger[.]ts$',
  // Records that travel down the flow with the data, with their pure helpers and no imports:
  // the message (spool/types.ts) and an SMTP reply (delivery/response.ts). A later stage
  // reads what an earlier one made; it does not call into that stage.
  '^gateway/spool/types[.]ts$',
  '^gateway/delivery/response[.]ts$',
  // The queue's records (a queue item, an outcome) and the queue id format: delivery,
  // bounce and observe read what the queue made, the same way.
  '^gateway/queue/types[.]ts$',
  '^gateway/spool/queue-id[.]ts$',
];

// Builds everything, so imports across everything.
const ROOT = '^gateway/(node|node-parts|node-replicas|telemetry)[.]ts$|^gateway/cli/';

// No exceptions: a part that needs an earlier stage declares a port with seam types and
// the root adapts the real part to it (as delivery/agent-ports.ts does for the agent).

const any = (list) => list.join('|');

// A rule for each stage after the first: it may not import any earlier stage.
const flowRules = FLOW.slice(1).map(([name, from], i) => ({
  name: `flow-${name.replace('/', '-')}`,
  comment: `${name} is after ${FLOW.slice(0, i + 1).map(([n]) => n).join(', ')} in DESIGN.md's flow: it may not import them.`,
  severity: 'error',
  from: { path: from },
  to: { path: any(FLOW.slice(0, i + 1).map(([, p]) => p)), pathNot: any(SEAMS) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle means two modules cannot be understood, tested or moved apart.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'node-stays-at-the-root',
      comment: 'Parts get narrow ports from the composition root, never the node: only the CLI may import node.ts.',
      severity: 'error',
      from: { pathNot: '^gateway/cli/' },
      to: { path: '^gateway/node[.]ts$' },
    },
    ...flowRules,
    {
      name: 'seams-import-only-seams',
      comment: 'config, state interfaces, errors and the plugin API are shared by every layer: they cannot depend on one.',
      severity: 'error',
      from: { path: any(SEAMS) },
      to: { path: '^gateway/', pathNot: any(SEAMS) },
    },
    {
      name: 'state-backends',
      comment: 'Modules talk through the interfaces in gateway/state; only the composition root picks and builds a backend.',
      severity: 'error',
      from: { pathNot: `^gateway/state/|${ROOT}` },
      to: { path: '^gateway/state/(embedded|redis|fallback)/|^gateway/state/(create|resilient)[.]ts$' },
    },
    {
      name: 'plugins-use-the-plugin-api',
      comment: 'Built-in plugins are written as a third party would: against gateway/plugin-host/public.ts only.',
      severity: 'error',
      from: { path: '^plugins/' },
      to: { path: '^gateway/', pathNot: '^gateway/plugin-host/public[.]ts$' },
    },
    {
      name: 'only-the-root-loads-plugins',
      comment: 'The daemon reaches plugins through the plugin host, never by import (the cli explains classify rules).',
      severity: 'error',
      from: { path: '^gateway/', pathNot: ROOT },
      to: { path: '^plugins/' },
    },
    {
      name: 'loadtest-over-the-wire',
      comment: 'The load test measures a node from outside, over SMTP and HTTP: it imports nothing of gateway/.',
      severity: 'error',
      from: { path: '^loadtest/' },
      to: { path: '^gateway/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing is a typo or a missing dependency.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies of the design too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
