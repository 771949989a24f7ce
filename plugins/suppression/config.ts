import { z } from 'zod';

const shape = {
  /**
   * What a suppressed recipient gets at RCPT TO: "reject" answers 550 5.7.1 (the app
   * learns at once), "drop" accepts it and never delivers it (reported as `suppressed`).
   */
  action: z.enum(['reject', 'drop']).default('reject'),
  /** Honour `@domain` entries (a whole domain suppressed); false: only address entries count. */
  check_domain: z.boolean().default(true),
};

/** The `[suppression]` table; an unknown key's error names it and the known ones. */
export const configSchema = z.strictObject(shape, {
  error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (known keys: ${Object.keys(shape).join(', ')})` : undefined),
});

export type SuppressionConfig = z.output<typeof configSchema>;
