// What a reload claims to apply. The AUTH guessing limits are read from the config in
// force at each attempt (ingress/auth-limiter.ts), so a reload applies them: they are
// changes, not restart_needed. Listener tables are built once: those need a restart.
import { expect, test } from 'vitest';
import { diffConfig } from '../../gateway/config/diff.js';
import { configSchema } from '../../gateway/config/schema.js';

test('relay.auth_failure_limit and max_recipients changed: both apply at the reload', () => {
  const before = configSchema.parse({ relay: { auth_failure_limit: 10, max_recipients: 100 } });
  const after = configSchema.parse({ relay: { auth_failure_limit: 3, max_recipients: 50 } });
  const { changes, restartNeeded } = diffConfig(before, after);
  expect(restartNeeded).toEqual([]);
  expect(changes).toEqual(['relay changed']);
});

test('a listener change is reported as needing a restart', () => {
  const before = configSchema.parse({ listen: [{ port: 2525, mode: 'relay' }] });
  const after = configSchema.parse({ listen: [{ port: 2526, mode: 'relay' }] });
  expect(diffConfig(before, after).restartNeeded).toEqual(['listen']);
});
