import { SluiceError } from '../../errors.js';

/**
 * Redis replies are `unknown` at the boundary (STYLE.md): these narrow them, and a
 * reply of the wrong shape is a state failure, never a silent default.
 */
export function badReply(what: string, reply: unknown): SluiceError {
  return new SluiceError('STATE_UNAVAILABLE', `redis ${what}: unexpected reply ${JSON.stringify(reply)}`);
}

export function asInteger(what: string, reply: unknown): number {
  const value = typeof reply === 'string' ? Number(reply) : reply;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw badReply(what, reply);
  return value;
}

export function asArray(what: string, reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw badReply(what, reply);
  return reply as unknown[];
}

export function asIntegers(what: string, reply: unknown, length: number): number[] {
  const items = asArray(what, reply);
  if (items.length !== length) throw badReply(what, reply);
  return items.map((item) => asInteger(what, item));
}

export function asStrings(what: string, reply: unknown): string[] {
  return asArray(what, reply).map((item) => {
    if (typeof item !== 'string') throw badReply(what, reply);
    return item;
  });
}

export function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new SluiceError('STATE_UNAVAILABLE', `redis ${what}: bad JSON`, { cause: error });
  }
}
