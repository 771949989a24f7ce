/** A config problem as ops read it: `file:line key: what is wrong (did you mean …?)`. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number | null;
  readonly key: string;
  readonly message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}`;
  return `${where} ${issue.key || '(top level)'}: ${issue.message}`;
}

export function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}
