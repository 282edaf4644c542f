// The template editor's live check: as the admin types (after a pause), the template goes to the
// server, and its problems (with line and column) or its preview come back. Without this script
// the editor still works: saving shows the problems and the preview.
(() => {
  const root = document.getElementById('editor');
  const form = document.getElementById('source-form');
  if (!root || !form) return;
  const status = document.getElementById('live-status');
  const problems = document.getElementById('problems');
  const frames = [document.getElementById('preview-desktop'), document.getElementById('preview-phone')];
  const subject = document.getElementById('preview-subject');
  const text = document.getElementById('preview-text');
  const publish = document.querySelector('form[action$="/publish"] button');
  const fieldOf = { subject: 'subject', html: 'mjml', text: 'text' };
  const partName = { subject: 'Subject', html: 'HTML body', text: 'Text body' };
  let timer;
  let seq = 0;
  // one check at a time: a change made while one is on its way is checked when it is back
  let busy = false;
  let again = false;

  function values() {
    const data = new FormData(form);
    const out = {};
    for (const [k, v] of data) if (k !== 'csrf') out[k] = v;
    return out;
  }

  function say(message) {
    if (status) status.textContent = message;
  }

  /** Selects line `line` (1-based) of the field, column `column` when given, and scrolls to it. */
  function goTo(part, line, column) {
    const field = document.getElementById(fieldOf[part]);
    if (!field || !line) return;
    const lines = field.value.split('\n');
    let start = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    const length = (lines[line - 1] || '').length;
    const at = column ? start + column - 1 : start;
    field.focus();
    field.setSelectionRange(at, column ? at : start + length);
    if (field.tagName === 'TEXTAREA') {
      const lineHeight = parseFloat(getComputedStyle(field).lineHeight) || 20;
      field.scrollTop = Math.max(0, (line - 3) * lineHeight);
    }
  }

  function showProblems(list, error) {
    problems.replaceChildren();
    if (error) {
      const li = document.createElement('li');
      li.textContent = error;
      problems.append(li);
    }
    for (const p of list) {
      const li = document.createElement('li');
      let where = partName[p.part] || p.part;
      if (p.line) where += `, line ${p.line}${p.column ? `, column ${p.column}` : ''}`;
      if (p.line) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'secondary';
        button.textContent = 'Go there';
        button.addEventListener('click', () => goTo(p.part, p.line, p.column));
        li.append(`${where}: ${p.message} `, button);
      } else li.textContent = `${where}: ${p.message}`;
      li.dataset.part = p.part;
      li.dataset.line = String(p.line);
      problems.append(li);
    }
    if (!list.length && !error) {
      const li = document.createElement('li');
      li.className = 'ok';
      li.textContent = 'None: the template checks out.';
      problems.append(li);
    }
  }

  async function check() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      await checkOnce();
    } finally {
      busy = false;
      if (again) {
        again = false;
        check();
      }
    }
  }

  async function checkOnce() {
    const mine = ++seq;
    say('Checking…');
    let answer;
    try {
      const r = await fetch(root.dataset.live, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': root.dataset.csrf },
        body: JSON.stringify(values()),
        credentials: 'same-origin',
      });
      answer = await r.json();
      if (!r.ok) {
        if (mine === seq) say(answer.error || `The check failed (${r.status}).`);
        return;
      }
    } catch {
      if (mine === seq) say('The check could not reach the server.');
      return;
    }
    if (mine !== seq) return; // a newer check is on its way
    showProblems(answer.problems || [], answer.error);
    if (answer.html !== undefined) {
      for (const f of frames) if (f) f.srcdoc = answer.html;
      subject.textContent = answer.subject;
      text.textContent = answer.text;
    }
    say(answer.problems && answer.problems.length ? `${answer.problems.length} problem(s)` : 'Preview up to date');
  }

  form.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
    if (publish && !publish.disabled) {
      publish.disabled = true;
      publish.title = 'Save the draft first: what is published is the saved draft';
    }
    say('Changes not saved yet');
  });
  for (const li of problems.querySelectorAll('li[data-line]')) {
    const line = Number(li.dataset.line);
    if (!line) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = 'Go there';
    button.addEventListener('click', () => goTo(li.dataset.part, line, Number(li.dataset.column) || undefined));
    li.append(' ', button);
  }
})();
