#!/usr/bin/python3
"""Verify every DKIM-Signature of one message with dkimpy, independently of Sluice.

usage: verify_dkim.py MESSAGE_FILE RECORDS_JSON
  RECORDS_JSON maps TXT names to records, e.g.
  {"s1._domainkey.example.com": "v=DKIM1; k=rsa; p=MIIB..."}
prints a JSON list, one entry per DKIM-Signature (top first):
  {"ok": bool, "d": str, "s": str, "a": str, "h": str, "error": str|null}
"""
import json
import re
import sys

import dkim

records = {k.lower().rstrip('.'): v.encode() for k, v in json.loads(sys.argv[2]).items()}


def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    return records.get(name.lower().rstrip('.'), b'')


msg = open(sys.argv[1], 'rb').read()
head = re.split(rb'\r?\n\r?\n', msg, maxsplit=1)[0]
count = len(re.findall(rb'(?im)^dkim-signature:', head))
out = []
for i in range(count):
    d = dkim.DKIM(msg, minkey=1024)
    error = None
    try:
        ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
    except Exception as e:  # dkimpy raises on malformed signatures and bad keys
        ok = False
        error = f'{type(e).__name__}: {e}'
    f = d.signature_fields or {}
    out.append({
        'ok': ok,
        'd': f.get(b'd', b'').decode(),
        's': f.get(b's', b'').decode(),
        'a': f.get(b'a', b'').decode(),
        'h': f.get(b'h', b'').decode(),
        'error': error,
    })
print(json.dumps(out))
