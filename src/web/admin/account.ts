// The admin's own account: the second factor. Turning it on shows a secret (text and QR code) and
// asks for a code from the app before it is in force; the ten recovery codes are shown once, then.
// Turning it off, or making new recovery codes, asks for a current code. Other sessions end
// whenever the second factor changes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hit } from '../../access/index.ts';
import {
  beginTotp,
  checkTotp,
  confirmTotp,
  disableTotp,
  newRecoveryCodes,
  pendingTotp,
  recordAdminEvent,
  recoveryCodesLeft,
} from '../../admin/index.ts';
import type { AdminContext } from './context.ts';

const CODES_PER_AGENT = { max: 20, windowSeconds: 900 };

type Form = { Body: Record<string, string | undefined> };

export async function accountPages(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const { db } = ctx.deps;

  const accountPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    o: { error?: string; notice?: string; recoveryCodes?: string[] } = {},
    status = 200,
  ) => {
    const agent = ctx.agent(request);
    const setup = agent.totpEnabled ? undefined : await pendingTotp(db, agent);
    return ctx.page(
      request,
      reply,
      'account',
      {
        title: 'Your account',
        nav: 'account',
        agent,
        setup,
        codesLeft: agent.totpEnabled ? await recoveryCodesLeft(db, agent.id) : 0,
        csrf: {
          begin: ctx.csrf(request, reply, 'totp-begin'),
          confirm: ctx.csrf(request, reply, 'totp-confirm'),
          disable: ctx.csrf(request, reply, 'totp-disable'),
          codes: ctx.csrf(request, reply, 'totp-codes'),
        },
        ...o,
      },
      status,
    );
  };

  /**
   * Checks a posted form's token and the per-agent limit on codes, and answers the refusal itself:
   * true when it did (the handler then returns the reply). A boolean, not the reply: an awaited
   * reply resolves to undefined once sent, which would read as "no refusal".
   */
  const refused = async (request: FastifyRequest<Form>, reply: FastifyReply, form: string, codes: boolean) => {
    if (!ctx.csrfOk(request, form, request.body?.csrf)) {
      await ctx.expired(request, reply);
      return true;
    }
    if (codes && !(await hit(db, `admin-code:agent:${ctx.agent(request).id}`, CODES_PER_AGENT))) {
      await accountPage(request, reply, { error: 'Too many codes tried. Please wait a few minutes.' }, 429);
      return true;
    }
    return false;
  };

  app.get('/admin/account', async (request, reply) => accountPage(request, reply));

  app.post<Form>('/admin/account/totp/begin', async (request, reply) => {
    if (await refused(request, reply, 'totp-begin', false)) return reply;
    const agent = ctx.agent(request);
    if (agent.totpEnabled) return accountPage(request, reply, { error: 'The second factor is on already.' }, 409);
    await beginTotp(db, agent);
    return accountPage(request, reply);
  });

  app.post<Form>('/admin/account/totp/confirm', async (request, reply) => {
    if (await refused(request, reply, 'totp-confirm', true)) return reply;
    const agent = ctx.agent(request);
    const session = request.admin.session!;
    const codes = await confirmTotp(db, agent.id, String(request.body?.code ?? ''), session.id);
    if (!codes)
      return accountPage(
        request,
        reply,
        { error: 'That code is not right. Check the time on your phone and try the next one.' },
        422,
      );
    await recordAdminEvent(db, agent.id, 'second_factor_on');
    agent.totpEnabled = true;
    return accountPage(request, reply, {
      notice:
        'The second factor is on. Keep these recovery codes somewhere safe: each works once, and they are shown only now.',
      recoveryCodes: codes,
    });
  });

  app.post<Form>('/admin/account/totp/disable', async (request, reply) => {
    if (await refused(request, reply, 'totp-disable', true)) return reply;
    const agent = ctx.agent(request);
    if (!(await checkTotp(db, agent.id, String(request.body?.code ?? ''))))
      return accountPage(request, reply, { error: 'That code is not right.' }, 422);
    await disableTotp(db, agent.id, request.admin.session!.id);
    await recordAdminEvent(db, agent.id, 'second_factor_off');
    agent.totpEnabled = false;
    return accountPage(request, reply, { notice: 'The second factor is off.' });
  });

  app.post<Form>('/admin/account/totp/codes', async (request, reply) => {
    if (await refused(request, reply, 'totp-codes', true)) return reply;
    const agent = ctx.agent(request);
    if (!(await checkTotp(db, agent.id, String(request.body?.code ?? ''))))
      return accountPage(request, reply, { error: 'That code is not right.' }, 422);
    const codes = await newRecoveryCodes(db, agent.id);
    await recordAdminEvent(db, agent.id, 'recovery_codes_renewed');
    return accountPage(request, reply, {
      notice: 'New recovery codes; the old ones no longer work. They are shown only now.',
      recoveryCodes: codes,
    });
  });
}
