/** deploy/sluice.service passes `systemd-analyze verify` (skipped where systemd-analyze is missing). */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/gateway.js';

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe.skipIf(!hasAnalyze)('deploy/sluice.service', () => {
  it('verifies, with the hardening and the drain the docs promise', () => {
    const unit = join(ROOT, 'deploy/sluice.service');
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(r.stderr.split('\n').filter((l) => l.includes('sluice.service'))).toEqual([]);
    expect(r.status).toBe(0);
    const text = execFileSync('cat', [unit], { encoding: 'utf8' });
    for (const line of ['AmbientCapabilities=CAP_NET_BIND_SERVICE', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/sluice', 'NoNewPrivileges=true', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillSignal=SIGTERM', 'User=sluice']) expect(text).toContain(line);
  });
});
