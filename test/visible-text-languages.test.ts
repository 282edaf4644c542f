// The visible reply in every language of src/inbound/quote-rules.ts: a case for every row of every
// table (attributions, header labels, separators, mobile signatures, quote markers, signature
// separators), plus the shapes the rules promise (wrapped attributions, header blocks in any
// order, inline replies, closings that stay). Each case is a mail as a customer sends it: a reply
// in the row's language, the boundary as the row's client writes it, and the earlier mail below.
// All mails go through SMTP to a live ingest and worker first; each case then reads its stored
// messages.visible_text, which must be the reply exactly (so nothing of the history).
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { eventually, startBossFor, startTestIngest, startTestWorker, type TestIngest } from './helpers/app.ts';
import { SmtpClient } from './helpers/smtp-client.ts';
import { PhraseSet, phraseText } from '../src/inbound/phrases.ts';
import {
  ATTRIBUTIONS,
  HEADER_LABELS,
  type Lang,
  type LabelRow,
  MOBILE_SIGNATURES,
  type PatternRow,
  QUOTE_MARKERS,
  SEPARATORS,
  SIGNATURE_SEPARATORS,
} from '../src/inbound/quote-rules.ts';

/** "Thanks, that fixed it." as a customer writes it. */
const REPLIES: Record<Lang, string> = {
  bg: 'Благодаря, това реши проблема.',
  cs: 'Děkuji, tím se to vyřešilo.',
  da: 'Tak, det løste problemet.',
  de: 'Danke, das hat das Problem gelöst.',
  el: 'Ευχαριστώ, αυτό έλυσε το πρόβλημα.',
  en: 'Thanks, that fixed it.',
  es: 'Gracias, eso lo solucionó.',
  et: 'Aitäh, see lahendas probleemi.',
  fi: 'Kiitos, se korjasi ongelman.',
  fr: 'Merci, cela a résolu le problème.',
  ga: 'Go raibh maith agat, réitigh sé sin an fhadhb.',
  hr: 'Hvala, to je riješilo problem.',
  hu: 'Köszönöm, ez megoldotta a problémát.',
  it: 'Grazie, ha risolto il problema.',
  lt: 'Ačiū, tai išsprendė problemą.',
  lv: 'Paldies, tas atrisināja problēmu.',
  mt: 'Grazzi, dan solva l-problema.',
  nl: 'Bedankt, dat heeft het opgelost.',
  pl: 'Dziękuję, to rozwiązało problem.',
  pt: 'Obrigado, isso resolveu o problema.',
  'pt-BR': 'Valeu, isso resolveu o problema.',
  ro: 'Mulțumesc, asta a rezolvat problema.',
  sk: 'Ďakujem, to problém vyriešilo.',
  sl: 'Hvala, to je rešilo težavo.',
  sv: 'Tack, det löste problemet.',
  ru: 'Спасибо, это решило проблему.',
  uk: 'Дякую, це вирішило проблему.',
  tr: 'Teşekkürler, bu sorunu çözdü.',
  zh: '谢谢，问题解决了。',
  ja: 'ありがとうございます。問題が解決しました。',
  ko: '감사합니다. 문제가 해결되었습니다.',
};

/** The earlier mail, as it follows the boundary. */
const QUOTED = '> Hello Ann,\n>\n> please restart the printer and tell us if the error persists.\n>\n> Support Team';
const UNQUOTED = 'Hello Ann,\n\nplease restart the printer and tell us if the error persists.\n\nSupport Team';
const ADDR = 'Support Team <support@example.com>';

/** What each attribution row's client writes, dates in words and in numbers. */
const ATTRIBUTION_EXAMPLES: Record<string, string[]> = {
  'en On * wrote:': [
    `On Tue, 3 Dec 2024 at 10:00, ${ADDR} wrote:`,
    `On Tue, Dec 3, 2024 at 10:00 AM ${ADDR} wrote:`,
    `On 3 Dec 2024, at 10:00, ${ADDR} wrote:`,
    'On 03/12/2024 10:00, Support Team wrote:',
    `On Tuesday, December 3, 2024, 10:00:00 AM GMT+1, ${ADDR} wrote:`,
  ],
  'en --- On * wrote:': [`--- On Tue, 12/3/24, ${ADDR} wrote:`],
  'en ---- On * wrote ----': [`---- On Tue, 03 Dec 2024 10:00:00 +0100 ${ADDR} wrote ----`],
  'en * wrote:': [`${ADDR} wrote:`, 'At 10:00 03/12/2024, you wrote:'],
  'en * wrote on *:': ['Support Team wrote on 03/12/2024 10:00:'],
  'en * writes:': [`${ADDR} writes:`],
  'en Quoting *:': [`Quoting ${ADDR}:`],
  'en ####-##-## * GMT*': [`2024-12-03 10:00 GMT+01:00 ${ADDR}:`],
  'de Am * schrieb *:': [
    `Am Di., 3. Dez. 2024 um 10:00 Uhr schrieb ${ADDR}:`,
    `Am 03.12.2024 um 10:00 schrieb ${ADDR}:`,
    'Am 03.12.24 um 10:00 schrieb Support Team:',
  ],
  'de * schrieb am *:': [`${ADDR} schrieb am Di., 3. Dez. 2024, 10:00:`],
  'de * schrieb:': [`${ADDR} schrieb:`],
  'fr Le * a écrit :': [
    `Le mar. 3 déc. 2024 à 10:00, ${ADDR} a écrit :`,
    `Le 3 déc. 2024 à 10:00, ${ADDR} a écrit\u00a0:`,
    'Le 03/12/2024 à 10:00, Support Team a écrit :',
  ],
  'fr * a écrit :': [`${ADDR} a écrit :`],
  'es El * escribió:': [
    'El mar, 3 dic 2024 a las 10:00, Support Team (<support@example.com>) escribió:',
    `El 3 dic 2024, a las 10:00, ${ADDR} escribió:`,
  ],
  'es * escribió:': [`${ADDR} escribió:`],
  'it Il * ha scritto:': [
    `Il giorno mar 3 dic 2024 alle ore 10:00 ${ADDR} ha scritto:`,
    'Il 03/12/2024 10:00, Support Team ha scritto:',
  ],
  'it In data * ha scritto:': ['In data martedì 3 dicembre 2024 10:00:00 CET, Support Team ha scritto:'],
  'it * scrisse:': [`${ADDR} scrisse:`],
  'pt * escreveu no dia *:': [`${ADDR} escreveu no dia terça, 3/12/2024 à(s) 10:00:`],
  'pt A * escreveu:': [`A 3 de dez. de 2024, às 10:00, ${ADDR} escreveu:`],
  'pt * escreveu:': [`${ADDR} escreveu:`],
  'pt-BR Em * escreveu:': [
    `Em ter., 3 de dez. de 2024 às 10:00, ${ADDR} escreveu:`,
    `Em 3 de dez. de 2024, à(s) 10:00, ${ADDR} escreveu:`,
  ],
  'nl Op * schreef *:': [`Op di 3 dec 2024 om 10:00 schreef ${ADDR}:`, 'Op 03-12-2024 om 10:00 schreef Support Team:'],
  'nl Op * het volgende geschreven:': [`Op 3 dec. 2024 om 10:00 heeft ${ADDR} het volgende geschreven:`],
  'da Den * skrev *:': [`Den 3. dec. 2024 kl. 10.00 skrev ${ADDR}:`],
  'da * skrev *:': [`tir. 3. dec. 2024 kl. 10.00 skrev ${ADDR}:`],
  'sv Den * skrev *:': [`Den tis 3 dec. 2024 kl 10:00 skrev ${ADDR}:`],
  'sv * skrev *:': [`3 dec. 2024 kl. 10:00 skrev ${ADDR}:`],
  'fi * kirjoitti*:': [
    'ti 3. jouluk. 2024 klo 10.00 Support Team (support@example.com) kirjoitti:',
    `${ADDR} kirjoitti 3.12.2024 kello 10.00:`,
  ],
  'pl * napisał*:': [`wt., 3 gru 2024 o 10:00 ${ADDR} napisał(a):`, `Dnia 3 grudnia 2024 10:00 ${ADDR} napisał:`],
  'pl W dniu * pisze:': ['W dniu 3.12.2024 o 10:00, Support Team pisze:'],
  'pl Wiadomość napisana przez *:': [`Wiadomość napisana przez ${ADDR} w dniu 03.12.2024, o godz. 10:00:`],
  'cs * napsal*:': [
    `út 3. 12. 2024 v 10:00 odesílatel ${ADDR} napsal:`,
    'Dne 03. 12. 24 v 10:00 Support Team napsal(a):',
  ],
  'sk * napísal*:': [`ut 3. 12. 2024 o 10:00 ${ADDR} napísal(a):`],
  'hu * írta*:': [
    `${ADDR} ezt írta (időpont: 2024. dec. 3., K, 10:00):`,
    '2024. 12. 03. 10:00 keltezéssel, Support Team írta:',
  ],
  'ro * a scris*:': [`În mar., 3 dec. 2024 la 10:00, ${ADDR} a scris:`],
  'bg * написа*:': [`На вт, 3.12.2024 г. в 10:00 ч. ${ADDR} написа:`],
  'el * έγραψε*:': [`Στις Τρί 3 Δεκ 2024 στις 10:00, ο/η ${ADDR} έγραψε:`],
  'et * kirjutas*:': ['Support Team (<support@example.com>) kirjutas kuupäeval T, 3. detsember 2024 kell 10:00:'],
  'lv * rakstīja*:': [
    'otrd., 2024. g. 3. dec., plkst. 10:00 — lietotājs Support Team (<support@example.com>) rakstīja:',
  ],
  'lt * rašė*:': [`2024-12-03, an, 10:00, ${ADDR} rašė:`],
  'sl * napisal*:': [`${ADDR} je napisal/-a dne tor., 3. dec. 2024 ob 10:00:`],
  'hr * napisao*:': [`uto, 3. pro 2024. u 10:00 ${ADDR} napisao je:`],
  'ga * scríobh *:': [`Ar Máirt 3 Noll 2024 ag 10:00, scríobh ${ADDR}:`],
  'mt * kiteb*:': [`Fi tlt., 3 ta’ Diċ 2024 fl-10:00, ${ADDR} kiteb:`],
  'ru * г. в *>:': [`вт, 3 дек. 2024 г. в 10:00, ${ADDR}:`],
  'ru * написал*:': [
    `3 дек. 2024 г., в 10:00, ${ADDR} написал(а):`,
    `вторник, 3 декабря 2024 г. в 10:00 пользователь ${ADDR} написал:`,
  ],
  'ru * пишет:': ['03.12.2024 10:00, Support Team пишет:'],
  'ru ##.##.####, ##:##, *>:': ['03.12.2024, 10:00, "Support Team" <support@example.com>:'],
  'uk * пише:': [`вт, 3 груд. 2024 р. о 10:00 ${ADDR} пише:`],
  'uk * написав*:': [`3 груд. 2024 р. о 10:00 ${ADDR} написав(-ла):`],
  'tr * yazdı:': [
    `${ADDR}, 3 Ara 2024 Sal, 10:00 tarihinde şunu yazdı:`,
    `3 Ara 2024 tarihinde 10:00 saatinde, ${ADDR} şunları yazdı:`,
  ],
  'zh *写道：': [`${ADDR} 于2024年12月3日周二 10:00写道：`, `2024年12月3日 10:00，${ADDR} 写道：`],
  'zh *寫道：': [`${ADDR} 於 2024年12月3日 週二 上午10:00寫道：`],
  'ja *年*月*日*<*@*>:': [`2024年12月3日(火) 10:00 ${ADDR}:`],
  'ja *のメール:': [`2024/12/03 10:00、${ADDR}のメール:`],
  'ja *のメッセージ:': ['2024/12/03 10:00、Support Team のメッセージ:'],
  'ko *작성:': [`2024년 12월 3일 (화) 오전 10:00, ${ADDR}님이 작성:`, `2024. 12. 3. 오전 10:00, ${ADDR} 작성:`],
};

/** What each mobile signature row's app writes. */
const MOBILE_EXAMPLES: Record<string, string> = {
  'en Sent from my *': 'Sent from my iPhone',
  'en Sent from *': 'Sent from Outlook for Android',
  'en Get Outlook for *': 'Get Outlook for iOS<https://aka.ms/o0ukef>',
  'en Sent with *': 'Sent with Proton Mail secure email.',
  'de Von meinem * gesendet*': 'Von meinem iPhone gesendet',
  'de Gesendet von *': 'Gesendet von Outlook für iOS',
  'de Gesendet mit *': 'Gesendet mit der WEB.DE Mail App',
  'de Outlook für * beziehen': 'Outlook für iOS beziehen',
  'fr Envoyé de mon *': 'Envoyé de mon iPhone',
  'fr Envoyé depuis *': 'Envoyé depuis mon appareil Galaxy',
  'fr Envoyé à partir de *': 'Envoyé à partir de Outlook pour iOS',
  'fr Télécharger Outlook pour *': 'Télécharger Outlook pour iOS',
  'es Enviado desde *': 'Enviado desde mi iPhone',
  'es Obtener Outlook para *': 'Obtener Outlook para iOS',
  'it Inviato da *': 'Inviato da iPhone',
  'it Inviato dal mio *': 'Inviato dal mio dispositivo Galaxy',
  'pt Enviado do meu *': 'Enviado do meu iPhone',
  'pt Enviado do *': 'Enviado do Outlook para iOS',
  'pt-BR Enviado de meu *': 'Enviado de meu iPhone',
  'nl Verstuurd vanaf *': 'Verstuurd vanaf mijn iPhone',
  'nl Verzonden vanaf *': 'Verzonden vanaf Outlook voor iOS',
  'da Sendt fra *': 'Sendt fra min iPhone',
  'sv Skickat från *': 'Skickat från min iPhone',
  'fi Lähetetty *sta': 'Lähetetty iPhonesta',
  'pl Wysłane z *': 'Wysłane z iPhone’a',
  'cs Odesláno z *': 'Odesláno z iPhonu',
  'sk Odoslané z *': 'Odoslané z iPhonu',
  'hu *ról küldve': 'iPhone-ról küldve',
  'ro Trimis de pe *': 'Trimis de pe iPhone-ul meu',
  'bg Изпратено от *': 'Изпратено от моя iPhone',
  'el Στάλθηκε από *': 'Στάλθηκε από το iPhone μου',
  'et Saadetud minu *': 'Saadetud minu iPhone’ist',
  'lv Nosūtīts no *': 'Nosūtīts no mana iPhone',
  'lt Išsiųsta iš *': 'Išsiųsta iš mano iPhone',
  'sl Poslano iz *': 'Poslano iz mojega iPhona',
  'sl Poslano z *': 'Poslano z mojega telefona Samsung Galaxy',
  'hr Poslano s *': 'Poslano s mog iPhonea',
  'ga Seolta ó *': 'Seolta ó mo iPhone',
  'mt Mibgħut mill-*': 'Mibgħut mill-iPhone tiegħi',
  'ru Отправлено с *': 'Отправлено с iPhone',
  'ru Отправлено из *': 'Отправлено из мобильной Почты Mail.ru',
  'uk Надіслано з *': 'Надіслано з iPhone',
  'tr *dan gönderildi': 'iPhone’umdan gönderildi',
  'tr *den gönderildi': 'iPad’imden gönderildi',
  'zh 发自我的*': '发自我的iPhone',
  'zh 從我的*傳送': '從我的 iPhone 傳送',
  'ja *から送信': 'iPhoneから送信',
  'ko *에서 보냄': 'iPhone에서 보냄',
};

const key = (row: PatternRow): string => `${row.lang} ${row.pattern}`;

/** The fields of a header label row: From, Sent, To, Cc, Subject, Date, each a list. */
function labelsOf(row: LabelRow): string[][] {
  return row.labels.split(' / ').map((field) => field.split(', '));
}

/** A header block: Outlook's order and first labels, or Thunderbird's order and the last ones. */
function headerBlock(row: LabelRow, variant: 'outlook' | 'thunderbird'): string {
  const [from, sent, to, cc, subject, date] = labelsOf(row) as [
    string[],
    string[],
    string[],
    string[],
    string[],
    string[],
  ];
  const colon = row.lang === 'fr' ? ' :' : variant === 'thunderbird' && row.lang === 'zh' ? '：' : ':';
  const field = (labels: string[], value: string) =>
    `${variant === 'outlook' ? labels[0] : labels.at(-1)}${colon} ${value}`;
  return variant === 'outlook'
    ? [
        field(from, ADDR),
        field(sent, '03.12.2024 10:00'),
        field(to, 'Ann Example <ann@example.com>'),
        field(subject, 'Printer #4711'),
      ].join('\n')
    : [
        field(subject, 'Printer #4711'),
        field(date, '03.12.2024 10:00'),
        field(from, ADDR),
        field(to, 'Ann Example <ann@example.com>'),
        field(cc, 'Bob Example <bob@example.com>'),
      ].join('\n');
}

/** The separator line as the row's first client writes it. */
function separatorLine(row: (typeof SEPARATORS)[number]): string {
  const client = row.clients.split(', ')[0] ?? '';
  if (client.startsWith('Apple Mail')) return row.lang === 'fr' ? `${row.phrase} :` : `${row.phrase}:`;
  if (client.startsWith('Outlook')) return `-----${row.phrase}-----`;
  if (client.startsWith('Gmail')) return `---------- ${row.phrase} ---------`;
  if (client.startsWith('Yahoo')) return `----- ${row.phrase} -----`;
  return `-------- ${row.phrase} --------`; // Thunderbird, Android, QQ Mail
}

interface Case {
  name: string;
  body: string;
  visible: string;
}

const cases: Case[] = [];
const add = (name: string, body: string, visible: string) => cases.push({ name, body, visible });

for (const row of ATTRIBUTIONS) {
  for (const [i, example] of (ATTRIBUTION_EXAMPLES[key(row)] ?? []).entries()) {
    const reply = REPLIES[row.lang];
    const history = i % 2 === 0 ? QUOTED : UNQUOTED;
    add(`attribution ${key(row)} #${i + 1}`, `${reply}\n\n${example}\n\n${history}\n`, reply);
  }
}
for (const row of HEADER_LABELS) {
  const reply = REPLIES[row.lang];
  for (const variant of ['outlook', 'thunderbird'] as const) {
    add(`header labels ${row.lang} (${variant})`, `${reply}\n\n${headerBlock(row, variant)}\n\n${UNQUOTED}\n`, reply);
  }
}
for (const row of SEPARATORS) {
  const reply = REPLIES[row.lang];
  add(`separator ${row.lang} ${row.phrase}`, `${reply}\n\n${separatorLine(row)}\n${UNQUOTED}\n`, reply);
}
for (const row of MOBILE_SIGNATURES) {
  const reply = REPLIES[row.lang];
  add(`mobile signature ${key(row)}`, `${reply}\n\n${MOBILE_EXAMPLES[key(row)] ?? ''}\n\n${QUOTED}\n`, reply);
}

// Quote markers: the earlier mail quoted by each, under an attribution and bare.
const MARKED: Record<string, (line: string) => string> = {
  '>': (line) => `> ${line}`,
  '|': (line) => `| ${line}`,
  'C>': (line) => `ST> ${line}`,
};
for (const { marker } of QUOTE_MARKERS) {
  const quote = (text: string) => text.split('\n').map(MARKED[marker]!).join('\n');
  const reply = REPLIES.en;
  add(`quote marker ${marker}`, `${reply}\n\n${quote(UNQUOTED)}\n`, reply);
  add(
    `quote marker ${marker} under an attribution`,
    `${reply}\n\nSupport Team wrote on 03/12/2024 10:00:\n${quote(UNQUOTED)}\n`,
    reply,
  );
  add(
    `quote marker ${marker}: the quotes a sender answers stay`,
    `${quote('Can you come?')}\n\nYes.\n\n${quote('At ten?')}\n\nAt eleven.\n\n${quote('Bye')}\n`,
    `${quote('Can you come?')}\n\nYes.\n\n${quote('At ten?')}\n\nAt eleven.`,
  );
}

// Signature separators, with the closing above them that stays.
const SEPARATOR_LINES: Record<string, string> = { '-- ': '-- ', '--': '--', '---': '-----', __: '_'.repeat(32) };
for (const { marker } of SIGNATURE_SEPARATORS) {
  const reply = `${REPLIES.de}\n\nViele Grüße\nAnn`;
  const signature = 'Ann Example\nHead of Operations, Example GmbH\nTel. +49 30 1234567\nhttps://example.com';
  add(`signature separator "${marker}"`, `${reply}\n\n${SEPARATOR_LINES[marker]}\n${signature}\n`, reply);
  add(
    `signature separator "${marker}" above the quoted mail`,
    `${reply}\n\n${SEPARATOR_LINES[marker]}\n${signature}\n\nAm 03.12.2024 um 10:00 schrieb ${ADDR}:\n${QUOTED}\n`,
    reply,
  );
}

// Closings that the reply parser library takes for signatures: they stay with the reply.
const CLOSINGS = [
  'Cheers,',
  'Best regards,',
  'Kind regards,',
  'Regards,',
  'Thanks and regards,',
  'Best wishes,',
  'Cordialement,',
  'Bien cordialement,',
  'Bien à vous,',
  'Bonne journée !',
  'Mit freundlichen Grüßen',
  'Saludos cordiales,',
];
for (const closing of CLOSINGS) {
  const reply = `${REPLIES.en}\n\n${closing}\nAnn`;
  add(`closing "${closing}" stays`, `${reply}\n\nOn Tue, 3 Dec 2024 at 10:00, ${ADDR} wrote:\n${QUOTED}\n`, reply);
}
add(
  'closing and signature before a mobile signature',
  `${REPLIES.en}\n\nBest regards, Ann\n\nSent from my iPhone\n`,
  `${REPLIES.en}\n\nBest regards, Ann`,
);

// Shapes: attributions that clients wrap over two or three lines.
const WRAPPED: [string, Lang, string][] = [
  [
    'continuation starting with "<"',
    'en',
    'On Tue, 3 Dec 2024 at 10:00, Support Team of Example Company Limited\n<support@example.com> wrote:',
  ],
  ['continuation starting with ">"', 'en', 'On Tue, 3 Dec 2024 at 10:00, Support Team <support@example.com\n> wrote:'],
  [
    'wrapped before the address',
    'en',
    'On Mon, Aug 26, 2019 at 4:37 PM The Hiring Engine <\nlong-address+1234556@humanresources.example.com> wrote:',
  ],
  [
    'wrapped after a capitalised name',
    'en',
    'On Tue, Dec 3, 2024 at 10:00 AM Example Company Customer Service and\nSupport Team <support@example.com> wrote:',
  ],
  [
    'three lines',
    'fr',
    'Le mar. 3 déc. 2024 à 10:00, Service clientèle de la Compagnie Générale des\nEaux <\nservice.client@compagnie-generale.example.com> a écrit :',
  ],
  [
    '"(" continuation',
    'lv',
    'otrd., 2024. g. 3. dec., plkst. 10:00 — lietotājs Support Team\n(<support@example.com>) rakstīja:',
  ],
  ['date wrapped', 'hu', 'Support Team <support@example.com> ezt írta (időpont: 2024. dec.\n3., K, 10:00):'],
  [
    'date after the verb, wrapped',
    'de',
    'Support Team <support@example.com> schrieb am Di., 3. Dez. 2024\num 10:00 Uhr:',
  ],
  ['verb wrapped', 'nl', 'Op 3 dec. 2024 10:00 schreef "Support Team" <support@example.com> het\nvolgende geschreven:'],
  ['verb on the second line', 'tr', 'Support Team <support@example.com>, 3 Ara 2024 Sal, 10:00 tarihinde\nşunu yazdı:'],
];
for (const [name, lang, attribution] of WRAPPED) {
  add(`wrapped attribution: ${name}`, `${REPLIES[lang]}\n\n${attribution}\n\n${QUOTED}\n`, REPLIES[lang]);
}

// Shapes: header blocks in any order, with an unknown label, in bold, in mixed languages.
const HEADER_SHAPES: [string, string][] = [
  ['From not first', `Date: Tue, 3 Dec 2024 10:00\nTo: Ann Example <ann@example.com>\nFrom: ${ADDR}\nSubject: Printer`],
  ['an unknown label between', `From: ${ADDR}\nOrganisation: Example Ltd\nDate: Tue, 3 Dec 2024 10:00`],
  [
    'a wrapped value',
    `Subject: Printer #4711 still shows error 0x8000 after the firmware\n update of Monday\nFrom: ${ADDR}`,
  ],
  [
    'bold labels after HTML conversion',
    `*From:* Support Team [mailto:support@example.com]\n*Sent:* Tuesday, December 3, 2024 10:00 AM\n*Subject:* Printer`,
  ],
  [
    'Gmail: only From translated',
    `Von: ${ADDR}\nDate: Di., 3. Dez. 2024 um 10:00 Uhr\nSubject: Drucker\nTo: <ann@example.com>`,
  ],
];
for (const [name, block] of HEADER_SHAPES) {
  add(`header block: ${name}`, `${REPLIES.en}\n\n${block}\n\n${UNQUOTED}\n`, REPLIES.en);
}

// What is not history stays.
const KEPT = [
  'Here is what I wrote:\n\nthe summary of the issue',
  'Am Montag schrieb ich Ihnen:\n\nder Drucker ist kaputt.',
  'From: the warehouse in Berlin\n\nTo: our office in Hamburg, every Monday.',
  'Steps:\n-----\n1. open the tray\n2. remove the paper\n3. close the tray\n4. press start\n5. wait\n6. check the display\n7. note the code\n8. restart\n9. wait again\n10. print a test page\n11. send us the code',
  '| Printer | Error |\n| --- | --- |\n| P-4711 | 0x8000 |',
];
for (const [i, text] of KEPT.entries()) add(`kept #${i + 1}: ${text.split('\n')[0]}`, `${text}\n`, text);

// Inline and bottom-posted replies: the sender's answers below the quote stay.
add(
  'inline reply under an attribution',
  `Hi,\nOn Tue, 3 Dec 2024 at 10:00, ${ADDR} wrote:\n> Which model is it?\n\nA P-4711.\n\n> Which firmware?\n\n2.1.0\n`,
  'Hi,\n\nA P-4711.\n\n> Which firmware?\n\n2.1.0',
);
add(
  'bottom-posted reply below the quote of a mail that starts with the attribution',
  `Le 3 déc. 2024 à 10:00, ${ADDR} a écrit :\n> Bonjour Ann,\n> redémarrez l'imprimante.\n\n${REPLIES.fr}\n`,
  REPLIES.fr,
);

add(
  'our reply marker in the quote: nothing below it is taken for an answer',
  `Thanks!\n\nOn Tue, 3 Dec 2024 at 10:00, ${ADDR} wrote:\n> ##- Please type your reply above this line -##\n>\n> Which model is it?\n\nA P-4711.\n`,
  'Thanks!',
);

// ---------------------------------------------------------------------------------------------

describe('the tables and their cases', () => {
  it('every attribution and mobile signature row has examples, each matched by the row itself', () => {
    for (const [rows, examples] of [
      [ATTRIBUTIONS, ATTRIBUTION_EXAMPLES],
      [MOBILE_SIGNATURES, MOBILE_EXAMPLES],
    ] as const) {
      expect(Object.keys(examples).sort()).toEqual(rows.map(key).sort());
      for (const row of rows) {
        const own = new PhraseSet([row], (r) => r.pattern);
        for (const example of [examples[key(row)] ?? []].flat()) {
          // a wrapped example is matched as the rules join it: line by line, with a space
          expect(own.match(phraseText(example.replaceAll('\n', ' '))), `${key(row)}: ${example}`).toBe(row);
        }
      }
    }
  });

  it('covers the 24 EU languages, Russian, Ukrainian, Turkish, Chinese, Japanese, Korean and pt-BR in each language table', () => {
    const all = Object.keys(REPLIES).sort();
    expect(all).toHaveLength(31);
    for (const rows of [ATTRIBUTIONS, HEADER_LABELS, SEPARATORS, MOBILE_SIGNATURES]) {
      const langs = new Set<string>(rows.map((r) => r.lang));
      // pt-BR shares Portugal's words where Brazil writes the same
      if (!langs.has('pt-BR') && langs.has('pt')) langs.add('pt-BR');
      expect([...langs].sort()).toEqual(all);
    }
  });
});

describe('visible text of replies in every language, through SMTP', () => {
  let t: TestDatabase;
  let app: TestIngest;
  const visible = new Map<string, string>();

  beforeAll(async () => {
    t = await createTestDatabase();
    const boss = await startBossFor(t.url, true);
    app = await startTestIngest(t.url, { inboxes: ['support@localhost'], boss });
    await startTestWorker(t.url, boss, 1);

    const { client } = await SmtpClient.connect(app.port);
    await client.command('EHLO client.example');
    const sent = new Map<number, string>();
    for (const [i, c] of cases.entries()) {
      const raw = mail(i, c.body);
      expect((await client.command('MAIL FROM:<ann@example.com>')).code).toBe(250);
      expect((await client.command('RCPT TO:<support@localhost>')).code).toBe(250);
      expect((await client.command('DATA')).code).toBe(354);
      const reply = await client.data(raw);
      expect(reply.code, c.name).toBe(250);
      sent.set(Number(/queued as (\d+)/.exec(reply.text)?.[1]), c.name);
    }
    client.close();

    const ids = [...sent.keys()];
    await eventually(async () => {
      const [row] = await t.db('raw_messages').whereIn('id', ids).where({ status: 'received' }).count({ n: '*' });
      return Number(row?.n) === 0;
    }, 120_000);
    const rows = await t.db('messages').whereIn('raw_message_id', ids).select('raw_message_id', 'visible_text');
    for (const r of rows) visible.set(sent.get(Number(r.raw_message_id))!, r.visible_text);
  }, 180_000);

  it.each(cases)('$name', ({ name, visible: expected }) => {
    expect(visible.get(name)).toBe(expected);
  });
});

/** A customer's mail: UTF-8 text, base64 as mail clients send non-ASCII text. */
function mail(i: number, body: string): string {
  const encoded = Buffer.from(body.replaceAll('\n', '\r\n'), 'utf8').toString('base64');
  return [
    'From: Ann Example <ann@example.com>',
    'To: support@localhost',
    `Subject: Re: Printer #4711 (${i})`,
    'Date: Tue, 03 Dec 2024 10:05:00 +0100',
    `Message-ID: <reply-${i}.${Date.now()}@client.example>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    ...(encoded.match(/.{1,76}/g) ?? []),
    '',
  ].join('\r\n');
}
