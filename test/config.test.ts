import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('config', () => {
  it('has working defaults and is frozen', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.smtp.port).toBe(2525);
    expect(c.smtp.maxMessageBytes).toBe(25 * 1024 * 1024);
    expect(c.smtp.tls).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.smtp)).toBe(true);
  });

  it('reads every variable it knows', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/inbound',
      SMTP_PORT: '0',
      HTTP_PORT: '8080',
      MAX_MESSAGE_BYTES: '1000',
      PUBLIC_URL: 'https://help.example.com',
      OUTBOUND_SMTP_URL: 'smtp://relay.example.com:587',
      LOG_LEVEL: 'debug',
      SMTP_TLS_CERT: '/etc/cert.pem',
      SMTP_TLS_KEY: '/etc/key.pem',
    });
    expect(c).toMatchObject({
      databaseUrl: 'postgres://u:p@db:5432/inbound',
      smtp: { port: 0, maxMessageBytes: 1000, tls: { certFile: '/etc/cert.pem', keyFile: '/etc/key.pem' } },
      http: { port: 8080, publicUrl: 'https://help.example.com' },
      outboundSmtpUrl: 'smtp://relay.example.com:587',
      logLevel: 'debug',
    });
  });

  it.each([
    ['SMTP_PORT', 'twenty-five'],
    ['SMTP_PORT', '70000'],
    ['HTTP_PORT', '-1'],
    ['MAX_MESSAGE_BYTES', '0'],
    ['MAX_MESSAGE_BYTES', '1.5'],
    ['DATABASE_URL', 'mysql://localhost/x'],
    ['PUBLIC_URL', 'not a url'],
    ['LOG_LEVEL', 'loud'],
    ['WORKER_CONCURRENCY', '1000'],
    ['TRUST_PROXY', 'the load balancer'],
    ['ACK_LIMIT_PER_HOUR', '-1'],
    ['TICKET_LINK_DAYS', '0'],
    ['METRICS_PORT', 'nine-thousand'],
    ['METRICS_PORT', '0'],
    ['METRICS_PORT', '65536'],
    ['METRICS_PORT', '9100.5'],
    ['METRICS_TOKEN', 'short'],
  ])('stops on a bad %s (%s) and names it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrowError(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrowError(new RegExp(`${name}=`));
  });

  it('serves no metrics port unless METRICS_PORT is set, and never repeats METRICS_TOKEN in an error', () => {
    expect(loadConfig({}).metrics).toEqual({ port: undefined, token: undefined });
    expect(loadConfig({ METRICS_PORT: '' }).metrics.port).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '9100', METRICS_TOKEN: 'a-long-enough-token' }).metrics).toEqual({
      port: 9100,
      token: 'a-long-enough-token',
    });
    expect(() => loadConfig({ METRICS_TOKEN: 'sesame' })).toThrowError(/METRICS_TOKEN="\(not shown\)"/);
    expect(() => loadConfig({ METRICS_TOKEN: 'sesame' })).not.toThrowError(/sesame/);
  });

  it('wants both or neither of the TLS files', () => {
    expect(() => loadConfig({ SMTP_TLS_CERT: '/etc/cert.pem' })).toThrowError(/SMTP_TLS_CERT and SMTP_TLS_KEY/);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PUBLIC_URL: ' ' }).databaseUrl).toBeUndefined();
  });
});
