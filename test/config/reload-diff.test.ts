// What a reload claims to apply: the failed-login limiter keeps its settings until a
// restart, so a reload must list those keys under restart_needed, not as applied.
import { expect, test } from 'vitest';
import { diffConfig } from '../../gateway/config/diff.js';
import { configSchema } from '../../gateway/config/schema.js';

test('relay.auth_failure_limit changed: reported as needing a restart; max_recipients applies', () => {
  const before = configSchema.parse({ relay: { auth_failure_limit: 10, max_recipients: 100 } });
  const after = configSchema.parse({ relay: { auth_failure_limit: 3, max_recipients: 50 } });
  const { changes, restartNeeded } = diffConfig(before, after);
  expect(restartNeeded).toEqual(['relay.auth_failure_limit']);
  expect(changes).toEqual(['relay changed', 'relay.auth_failure_limit changed (takes effect after a restart)']);
  expect(diffConfig(before, configSchema.parse({ relay: { auth_failure_limit: 10, max_recipients: 50 } })).restartNeeded).toEqual([]);
});
