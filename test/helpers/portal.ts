// A portal visitor for tests without a browser: keeps the cookies the portal sets, reads a form's
// CSRF token from the page, and posts forms.
export class PortalClient {
  readonly web: string;
  private readonly cookies = new Map<string, string>();

  constructor(web: string) {
    this.web = web;
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  async get(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; html: string; location: string | null }> {
    const r = await fetch(this.web + path, { headers: { cookie: this.header(), ...headers }, redirect: 'manual' });
    this.keep(r);
    return { status: r.status, html: await r.text(), location: r.headers.get('location') };
  }

  /** The CSRF token of the form posting to `action` on the page at `path`. */
  async csrf(path: string, action: string): Promise<string> {
    const { html } = await this.get(path);
    const at = html.indexOf(`action="${action}"`);
    if (at < 0) throw new Error(`no form for ${action} on ${path}`);
    return /name="csrf" value="([^"]+)"/.exec(html.slice(at))![1]!;
  }

  async post(
    path: string,
    fields: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; html: string; location: string | null }> {
    const r = await fetch(this.web + path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: this.header(), ...headers },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    });
    this.keep(r);
    return { status: r.status, html: await r.text(), location: r.headers.get('location') };
  }

  /** Posts a multipart form (files and fields; the browser's order: put csrf first). */
  async postMultipart(
    path: string,
    form: FormData,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; html: string; location: string | null }> {
    const r = await fetch(this.web + path, {
      method: 'POST',
      headers: { cookie: this.header(), ...headers },
      body: form,
      redirect: 'manual',
    });
    this.keep(r);
    return { status: r.status, html: await r.text(), location: r.headers.get('location') };
  }

  /** Signs in through the sign-in form; the session cookie is kept. */
  async signIn(email: string, password: string): Promise<void> {
    const r = await this.submit('/portal/sign-in', '/portal/sign-in', { email, password });
    if (r.status !== 303) throw new Error(`sign-in of ${email} failed: ${r.status}`);
  }

  /** Fills and posts the form for `action` found on the page at `path`. */
  async submit(path: string, action: string, fields: Record<string, string> = {}) {
    return this.post(action, { csrf: await this.csrf(path, action), ...fields });
  }

  private header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(r: Response): void {
    for (const c of r.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/max-age=0/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}
