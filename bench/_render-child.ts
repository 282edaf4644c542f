// A second process for bench/render.ts: renders ack (en) in a loop against the database it is
// given, as another worker would, and tells its parent when and what it rendered anew.
import { createDb } from '../src/db/index.ts';
import { renderTemplate, sampleVariables } from '../src/templates/index.ts';

const db = createDb(process.argv[2]!, { poolMax: 1 });
const vars = sampleVariables('ack');
let last = '';
let stop = false;
process.on('message', () => {
  stop = true;
});
while (!stop) {
  const { subject } = await renderTemplate(db, 'ack', 'en', vars);
  if (subject !== last) {
    last = subject;
    process.send!({ subject, at: performance.timeOrigin + performance.now() });
  }
}
await db.destroy();
process.disconnect();
