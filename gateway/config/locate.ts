/**
 * Finds the line of a key path in TOML source text, so errors can say file:line.
 * smol-toml gives values without positions; this walks the table headers and keys the
 * way a reader would: `[a.b]`, `[[a]]` (counting elements), `key =`, and dotted or
 * inline-table keys on one line.
 */
export function locateKey(text: string, path: readonly (string | number)[]): number | null {
  const lines = text.split(/\r?\n/);
  const arrayCounts = new Map<string, number>();
  let table: (string | number)[] = [];
  let best: { line: number; depth: number } | null = null;

  const consider = (candidate: (string | number)[], line: number) => {
    let depth = 0;
    while (depth < candidate.length && depth < path.length && String(candidate[depth]) === String(path[depth])) depth++;
    if (depth === candidate.length || depth === path.length) {
      if (!best || depth > best.depth) best = { line, depth };
    }
  };

  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const arr = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(line);
    if (arr) {
      const keys = splitKey(arr[1] as string);
      const id = keys.join('.');
      const n = arrayCounts.get(id) ?? 0;
      arrayCounts.set(id, n + 1);
      table = [...keys, n];
      consider(table, i + 1);
      return;
    }
    const tbl = /^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (tbl) {
      table = splitKey(tbl[1] as string);
      consider(table, i + 1);
      return;
    }
    const kv = /^((?:"[^"]*"|'[^']*'|[A-Za-z0-9_.\- ]+?))\s*=/.exec(line);
    if (kv) consider([...table, ...splitKey(kv[1] as string)], i + 1);
  });
  return (best as { line: number; depth: number } | null)?.line ?? null;
}

function splitKey(key: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(key)) && m[0] !== '') out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}
