/**
 * CSV (RFC 4180) for the suppression export and import, safe to open in a spreadsheet:
 * a cell that starts with = + - @ TAB or CR is a formula to Excel and LibreOffice
 * (`=HYPERLINK(…)` in an address runs when the file is opened), so it gets a leading
 * single quote, as OWASP's "CSV Injection" page advises; import takes that quote off
 * again, so an export always imports back to the same list.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell: formula guard, then quoted when it holds a quote, comma, line break or the guard. */
export function csvCell(value: string): string {
  const guarded = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n']/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
}

export function csvRow(cells: readonly string[]): string {
  return cells.map(csvCell).join(',');
}

/** The cells of one line: quoted cells may hold commas and doubled quotes; the formula guard is removed. */
export function parseCsvRow(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    let cell = '';
    if (line[i] === '"') {
      i++;
      for (; i < line.length; i++) {
        if (line[i] !== '"') cell += line[i];
        else if (line[i + 1] === '"') cell += line[++i];
        else break;
      }
      i++;
      const comma = line.indexOf(',', i);
      cell += line.slice(i, comma < 0 ? line.length : comma);
      i = comma < 0 ? line.length : comma;
    } else {
      const comma = line.indexOf(',', i);
      cell = line.slice(i, comma < 0 ? line.length : comma);
      i = comma < 0 ? line.length : comma;
    }
    cells.push(/^'[=+\-@\t\r]/.test(cell.trim()) ? cell.trim().slice(1) : cell.trim());
    if (i >= line.length) return cells;
    i++;
  }
}
