import { createDb } from '../src/db/index.ts';
import { sendOutbound } from '../src/outbound/send.ts';
import { benchDatabase, log } from './_support.ts';
import { SMTPServer } from 'smtp-server';
import nodemailer from 'nodemailer';
const database = await benchDatabase();
const db = createDb(database.url, { poolMax: 4 });
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(s, _x, cb) {
    s.resume();
    s.on('end', () => cb(null, 'ok'));
  },
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const port = (sink.server.address() as { port: number }).port;
const transport = nodemailer.createTransport({
  url: `smtp://127.0.0.1:${port}`,
  pool: true,
  maxConnections: 5,
} as never);
const [inbox] = await db('inboxes').insert({ address: 'support@localhost', name: 'Support' }).returning('id');
const ids: number[] = [];
for (let i = 0; i < 400; i++) {
  const [c] = await db('customers')
    .insert({ name: `C ${i}` })
    .returning('id');
  await db('customer_emails').insert({ customer_id: c.id, address: `c${i}@x.test`, is_primary: true });
  const [t] = await db('tickets')
    .insert({
      inbox_id: inbox.id,
      number: i + 1,
      requester_id: c.id,
      subject: `Q ${i}`,
      reply_token: `tok${i}abcdefghijklmnop`,
    })
    .returning('id');
  const [o] = await db('outbound_messages')
    .insert({ kind: 'ack', ticket_id: t.id, customer_id: c.id, recipient: `c${i}@x.test` })
    .returning('id');
  ids.push(o.id);
}
const deps = { db, log, publicUrl: 'http://h.test', messageIdDomain: 'h.test', transport, ticketLinkDays: 30 };
await sendOutbound(deps, ids.shift()!, { finalAttempt: false });
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (const id of ids.slice(0, 300)) await sendOutbound(deps, id, { finalAttempt: false });
const cpu = process.cpuUsage(cpu0);
console.log(
  'sequential ms/mail',
  ((performance.now() - t0) / 300).toFixed(1),
  'cpu ms/mail (this process)',
  ((cpu.user + cpu.system) / 1000 / 300).toFixed(2),
);
transport.close();
sink.close();
await db.destroy();
await database.drop();
