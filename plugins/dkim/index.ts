import { definePlugin, SluiceError, type DataCtx, type Headers, type Plugin } from '../../gateway/plugin-host/public.js';
import { configSchema, type DkimConfig } from './config.js';
import { keyProblems, loadKeys, RECOMMENDED_RSA_BITS, type LoadedKey } from './keys.js';
import { fromDomain, keysForDomain, signMessage } from './sign.js';

export { configSchema } from './config.js';

const CRLF = Buffer.from('\r\n');

/** The serialised header block (CRLF line ends, ending with CRLF); the host adds raw() to Headers. */
type RawHeaders = Headers & { raw?: () => Buffer };

function messageBytes(ctx: DataCtx<DkimConfig>): Buffer {
  const headers = ctx.message.headers as RawHeaders;
  if (typeof headers.raw !== 'function') {
    throw new Error('dkim: the plugin host gives no headers.raw(); cannot sign the final header block');
  }
  // raw() gives the header bytes exactly as they will be spooled.
  return Buffer.concat([headers.raw(), CRLF, ctx.message.body]);
}

/**
 * A fresh DKIM plugin. Loaded keys live in this closure: the plugin API passes the
 * validated `[dkim]` table to hooks as ctx.config, and the key objects are not part of it.
 */
export function createDkimPlugin(): Plugin<DkimConfig> {
  let keys: readonly LoadedKey[] = [];
  return definePlugin<DkimConfig>({
    name: 'dkim',
    configSchema,
    async setup(ctx) {
      const parsed = configSchema.safeParse(ctx.config ?? {});
      if (!parsed.success) {
        // The host validates first; this only guards a direct call with a raw table.
        const issue = parsed.error.issues[0];
        throw new SluiceError('CONFIG_INVALID', `${ctx.configFile} [dkim] ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
      }
      keys = await loadKeys(parsed.data.keys, { baseDir: ctx.baseDir, configFile: ctx.configFile });
      for (const key of keys) {
        ctx.log.info({ event: 'dkim_key_loaded', domain: key.domain, selector: key.selector, algorithm: key.algorithm, bits: key.bits, sub_domains: key.subDomains });
        if (key.bits !== null && key.bits < RECOMMENDED_RSA_BITS) {
          ctx.log.warn({ event: 'dkim_key_weak', domain: key.domain, selector: key.selector, bits: key.bits }, `RSA keys under ${RECOMMENDED_RSA_BITS} bits are weak (RFC 8301 §3.2); rotate to a new selector`);
        }
      }
      return parsed.data;
    },
    // check-config: every key file readable and a usable private key, as setup needs it.
    check: (ctx) => keyProblems(ctx.config.keys, { baseDir: ctx.baseDir, configFile: ctx.configFile }),
    hooks: {
      // Configured last in [plugins] order, so it signs what the other plugins left.
      async data(ctx) {
        if (keys.length === 0) return ctx.next();
        const from = ctx.message.headers.getAll('From');
        const domain = from.length === 1 && from[0] !== undefined ? fromDomain(from[0]) : null;
        if (domain === null || keysForDomain(domain, keys).length === 0) return ctx.next();
        const signatures = await signMessage(messageBytes(ctx), keys);
        for (const value of signatures) ctx.message.headers.add('DKIM-Signature', value);
        ctx.log.debug({ event: 'dkim_signed', domain, signatures: signatures.length });
        return ctx.next();
      },
    },
  });
}

export default createDkimPlugin();
