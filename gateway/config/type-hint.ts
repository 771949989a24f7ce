/**
 * A wrong type said as ops fix it: what was written, what is expected, and an example
 * line in TOML (as the unit errors do: "write e.g. "30s"").
 */
import { keyPath } from './issues.js';

export function typeHint(expected: string, value: unknown, path: readonly PropertyKey[]): string {
  const last = path[path.length - 1];
  const key = typeof last === 'string' ? last : String(path.filter((p) => typeof p === 'string').pop() ?? 'key');
  const got = describe(value);
  switch (expected) {
    case 'number':
      return `expected a number, got ${got}; write it without quotes, e.g. ${key} = ${typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? value.trim() : '10'}`;
    case 'boolean':
      return `expected true or false, got ${got}; write it without quotes, e.g. ${key} = true`;
    case 'string':
      return `expected a string, got ${got}; put it in double quotes, e.g. ${key} = "${typeof value === 'number' || typeof value === 'boolean' ? String(value) : '…'}"`;
    case 'array':
      return `expected a list, got ${got}; write it in brackets, e.g. ${key} = [${typeof value === 'string' ? JSON.stringify(value) : '"a", "b"'}]`;
    case 'object':
    case 'record':
      return `expected a table, got ${got}; write it as a [${keyPath(path)}] section or an inline table, e.g. ${key} = { name = "value" }`;
    default:
      return `expected ${expected}, got ${got}`;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
}
