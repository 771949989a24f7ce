// The generated certificate lives 397 days and is made anew at a start within 60 days of its end.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { loadTls, renewalDue } from '../../gateway/ingress/tls.js';

const DAY = 86_400_000;

test('a generated certificate lasts 397 days, is reused, and is renewed near its end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
  const first = await loadTls(undefined, dir, dir, 'gw.example');
  const end = Date.parse(new X509Certificate(first.cert).validTo);
  expect(Math.round((end - Date.now()) / DAY)).toBe(397);
  const again = await loadTls(undefined, dir, dir, 'gw.example');
  expect(again.cert.equals(first.cert)).toBe(true);
  expect(renewalDue(first.cert, Date.now())).toBe(false);
  expect(renewalDue(first.cert, end - 59 * DAY)).toBe(true);
  expect(renewalDue(Buffer.from('not a certificate'), Date.now())).toBe(true);
  expect(readFileSync(join(dir, 'tls', 'self-signed.crt')).equals(first.cert)).toBe(true);
});
