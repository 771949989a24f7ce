/** The keys the schema knows at a path, for "did you mean …?" on unknown keys. */
import type { z } from 'zod';

type AnyDef = { type: string; innerType?: unknown; shape?: Record<string, unknown>; element?: unknown; valueType?: unknown; options?: unknown[]; in?: unknown; out?: unknown };

function def(schema: unknown): AnyDef | null {
  const zod = (schema as { _zod?: { def?: AnyDef } } | null)?._zod;
  return zod?.def ?? null;
}

function unwrap(schema: unknown): unknown {
  let s = schema;
  for (let i = 0; i < 10; i++) {
    const d = def(s);
    if (!d) return s;
    if (d.type === 'default' || d.type === 'optional' || d.type === 'nullable' || d.type === 'prefault') s = d.innerType;
    else if (d.type === 'pipe') s = d.in;
    else return s;
  }
  return s;
}

export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: unknown = unwrap(schema);
  for (const p of path) {
    const d = def(s);
    if (!d) return [];
    if (d.type === 'object' && d.shape) s = unwrap(d.shape[String(p)]);
    else if (d.type === 'array') s = unwrap(d.element);
    else if (d.type === 'record') s = unwrap(d.valueType);
    else if (d.type === 'union' && d.options) {
      const obj = d.options.map(unwrap).find((o) => def(o)?.type === 'object');
      if (!obj) return [];
      s = unwrap(def(obj)?.shape?.[String(p)]);
    } else return [];
  }
  const d = def(s);
  if (d?.type === 'object' && d.shape) return Object.keys(d.shape);
  if (d?.type === 'union' && d.options) {
    const obj = d.options.map(unwrap).find((o) => def(o)?.type === 'object');
    const shape = obj ? def(obj)?.shape : undefined;
    return shape ? Object.keys(shape) : [];
  }
  return [];
}
