// The compose fleet's test mailbox (service "mx"): takes every message on the private
// network and writes it to /data/mail/<n>.eml, logging sender, recipients and the peer's
// address (which node's source IP delivered it). Runs in the sluice image (smtp-server is
// one of its dependencies). Never relays anything anywhere.
import { mkdirSync, writeFileSync } from 'node:fs';
import { SMTPServer } from 'smtp-server';

const dir = '/data/mail';
mkdirSync(dir, { recursive: true });
let n = 0;
const started = Date.now();
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      n += 1;
      // Named by start time too: the volume outlives the container, a restart must not overwrite.
      writeFileSync(`${dir}/${started}-${n}.eml`, Buffer.concat(chunks));
      console.log(JSON.stringify({ event: 'received', n, from: session.envelope.mailFrom && session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), peer: session.remoteAddress, ehlo: session.hostNameAppearsAs }));
      cb(null, `Ok: stored as ${n}`);
    });
  },
});
server.listen(2526, '0.0.0.0', () => console.log('mx listening on 2526'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
