// The optional second factor: TOTP (RFC 6238, 30-second steps, 6 digits, SHA-1 as every
// authenticator app supports) with the otpauth library, and ten recovery codes shown once.
//
// The TOTP secret is sealed (AES-256-GCM with a server key) before it is stored. A code is
// accepted once: the step it belongs to is recorded, and a code of that step or an earlier one is
// refused afterwards (the update is conditional, so two requests racing with one code cannot both
// pass). Recovery codes are stored as sha256 and each works once.
import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import QRCode from 'qrcode';
import type { Db } from '../db/index.ts';
import { hashSecret, serverKey } from '../access/index.ts';
import { endAllAdminSessions } from './sessions.ts';

const ISSUER = 'Inbound';
const PERIOD = 30;
const RECOVERY_CODES = 10;
/** lower case letters and digits without look-alikes (no 0/o, 1/l/i) */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

function totpFor(secret: OTPAuth.Secret, label: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({ issuer: ISSUER, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret });
}

async function seal(db: Db, plain: string): Promise<string> {
  const key = await serverKey(db, 'admin-totp');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join(
    '.',
  );
}

async function unseal(db: Db, sealed: string): Promise<string> {
  const [v, iv, body, tag] = sealed.split('.');
  if (v !== 'v1' || !iv || !body || !tag) throw new Error('sealed TOTP secret: unknown format');
  const decipher = createDecipheriv('aes-256-gcm', await serverKey(db, 'admin-totp'), Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}

export interface TotpSetup {
  /** base32, for typing into an app */
  secret: string;
  uri: string;
  /** the URI as a QR code, an SVG document */
  qrSvg: string;
}

/**
 * Starts setting up TOTP: a new secret, stored sealed but not yet in force (a second factor that
 * is on stays on until this one is confirmed). Shown to the agent as text and QR code.
 */
export async function beginTotp(db: Db, agent: { id: number; email: string }): Promise<TotpSetup> {
  const secret = new OTPAuth.Secret({ size: 20 });
  const uri = totpFor(secret, agent.email).toString();
  await db('agents')
    .where({ id: agent.id })
    .update({ totp_secret: await seal(db, secret.base32), totp_enabled_at: null, totp_last_step: null });
  return { secret: secret.base32, uri, qrSvg: await QRCode.toString(uri, { type: 'svg', margin: 2 }) };
}

/** The setup in progress (the page shown again after a wrong code), if any. */
export async function pendingTotp(db: Db, agent: { id: number; email: string }): Promise<TotpSetup | undefined> {
  const row = await db('agents').where({ id: agent.id }).first('totp_secret', 'totp_enabled_at');
  if (!row?.totp_secret || row.totp_enabled_at) return undefined;
  const secret = OTPAuth.Secret.fromBase32(await unseal(db, row.totp_secret));
  const uri = totpFor(secret, agent.email).toString();
  return { secret: secret.base32, uri, qrSvg: await QRCode.toString(uri, { type: 'svg', margin: 2 }) };
}

/**
 * Whether `code` is the agent's current TOTP code (one step of clock drift either way), and not
 * one used before. `enabled`: the second factor in force (sign-in) or the one being set up.
 */
export async function checkTotp(db: Db, agentId: number, code: string, enabled = true): Promise<boolean> {
  const token = code.replace(/\s/g, '');
  if (!/^\d{6}$/.test(token)) return false;
  const row = await db('agents').where({ id: agentId }).first('totp_secret', 'totp_enabled_at', 'email');
  if (!row?.totp_secret || (row.totp_enabled_at !== null) !== enabled) return false;
  const totp = totpFor(OTPAuth.Secret.fromBase32(await unseal(db, row.totp_secret)), row.email);
  const now = Date.now();
  const delta = totp.validate({ token, timestamp: now, window: 1 });
  if (delta === null) return false;
  const step = Math.floor(now / 1000 / PERIOD) + delta;
  const n = await db('agents')
    .where({ id: agentId })
    .where((q) => q.whereNull('totp_last_step').orWhere('totp_last_step', '<', step))
    .update({ totp_last_step: step });
  return n === 1;
}

/**
 * Puts the set-up TOTP in force when `code` is right, ends the agent's other sessions, and returns
 * ten new recovery codes (the old ones die), to be shown once.
 */
export async function confirmTotp(
  db: Db,
  agentId: number,
  code: string,
  keepSession: number,
): Promise<string[] | undefined> {
  if (!(await checkTotp(db, agentId, code, false))) return undefined;
  return db.transaction(async (trx) => {
    await trx('agents').where({ id: agentId }).update({ totp_enabled_at: trx.fn.now() });
    await endAllAdminSessions(trx, agentId, keepSession);
    return newRecoveryCodes(trx, agentId);
  });
}

export async function newRecoveryCodes(db: Db, agentId: number): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODES }, () => {
    let s = '';
    for (let i = 0; i < 10; i++) s += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
    return `${s.slice(0, 5)}-${s.slice(5)}`;
  });
  await db('agent_recovery_codes').where({ agent_id: agentId }).delete();
  await db('agent_recovery_codes').insert(codes.map((c) => ({ agent_id: agentId, code_hash: hashSecret(c) })));
  return codes;
}

/** Uses one recovery code (any case, with or without its dash); true when it was live. */
export async function useRecoveryCode(db: Db, agentId: number, code: string): Promise<boolean> {
  const plain = code.trim().toLowerCase().replace(/[\s-]/g, '');
  if (!/^[a-z0-9]{10}$/.test(plain)) return false;
  const n = await db('agent_recovery_codes')
    .where({ agent_id: agentId, code_hash: hashSecret(`${plain.slice(0, 5)}-${plain.slice(5)}`) })
    .whereNull('used_at')
    .update({ used_at: db.fn.now() });
  return n === 1;
}

export async function recoveryCodesLeft(db: Db, agentId: number): Promise<number> {
  const row = await db('agent_recovery_codes')
    .where({ agent_id: agentId })
    .whereNull('used_at')
    .count('* as n')
    .first();
  return Number(row?.n ?? 0);
}

/** Turns the second factor off (after the agent gave a current code); other sessions end. */
export async function disableTotp(db: Db, agentId: number, keepSession: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('agents')
      .where({ id: agentId })
      .update({ totp_secret: null, totp_enabled_at: null, totp_last_step: null });
    await trx('agent_recovery_codes').where({ agent_id: agentId }).delete();
    await endAllAdminSessions(trx, agentId, keepSession);
  });
}
