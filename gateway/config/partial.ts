/**
 * What can still be checked when the schema refused the config: each section, each named
 * entry ([pools.x], [sources.x] …) and each array element ([[routes]] …) is parsed on its
 * own, so the cross checks and the plugins' checks run on everything that did parse, and
 * check-config reports every problem in one pass instead of the schema's alone.
 */
import { configSchema, type Config } from './schema.js';

/** Names defined in the file whose entry did not parse: they exist, only their contents are wrong. */
export type InvalidNames = Readonly<Record<string, ReadonlySet<string>>>;

export interface PartialConfig {
  readonly config: Config;
  readonly invalidNames: InvalidNames;
  /** Top-level sections that did not parse at all (their defaults stand in). */
  readonly invalidSections: ReadonlySet<string>;
}

interface SchemaLike {
  safeParse(v: unknown): { success: boolean; data?: unknown };
  _zod: { def: { type: string; innerType?: SchemaLike; valueType?: SchemaLike; element?: SchemaLike } };
}

function unwrap(s: SchemaLike): SchemaLike {
  let cur = s;
  while (cur._zod.def.innerType) cur = cur._zod.def.innerType;
  return cur;
}

export function parsePartial(doc: Record<string, unknown>): PartialConfig {
  const out: Record<string, unknown> = {};
  const invalidNames: Record<string, Set<string>> = {};
  const invalidSections = new Set<string>();
  for (const [key, schema] of Object.entries(configSchema.shape) as [string, SchemaLike][]) {
    const value = doc[key];
    const whole = schema.safeParse(value);
    if (whole.success) {
      out[key] = whole.data;
      continue;
    }
    const def = unwrap(schema)._zod.def;
    if (def.type === 'record' && def.valueType && isTable(value)) {
      const names = (invalidNames[key] = new Set<string>());
      const entries: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(value)) {
        const r = def.valueType.safeParse(v);
        if (r.success) entries[name] = r.data;
        else names.add(name);
      }
      out[key] = entries;
    } else if (def.type === 'array' && def.element && Array.isArray(value)) {
      // A sparse array: an element that did not parse is a hole, so the others keep their
      // index (routes[2] stays routes[2] in messages) and forEach/some skip the hole.
      const items: unknown[] = new Array<unknown>(value.length);
      value.forEach((v, i) => {
        const r = def.element?.safeParse(v);
        if (r?.success) items[i] = r.data;
      });
      out[key] = items;
    } else {
      invalidSections.add(key);
      const fallback = schema.safeParse(undefined);
      out[key] = fallback.success ? fallback.data : undefined;
    }
  }
  return { config: out as Config, invalidNames, invalidSections };
}

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}
