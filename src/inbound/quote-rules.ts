// Where quoted history and signatures start, as mail clients write it: one table per kind, each
// row with its language and the clients that write it. email-reply-parser (visible-text.ts) knows
// a few of these, mostly in English; history.ts applies all of them before the library reads the
// reply. Every row has a test case in test/visible-text-languages.test.ts, sent through SMTP.
//
// Languages: the 24 official EU languages, Russian, Ukrainian, Turkish, Chinese, Japanese, Korean
// and Brazilian Portuguese (pt-BR; pt is Portugal).
//
// Patterns are written as the client writes them. They are compared case-insensitively with a
// line whose runs of spaces (no-break ones too) are one space and whose ' :' and '：' read ':'
// (phrases.ts). '*' stands for any text (a date, a name, an address); '#' for one digit, only in
// the fixed start of a pattern. Everything else is literal: no regular expressions.

// biome-ignore format: the languages on two lines
export type Lang =
  | 'bg' | 'cs' | 'da' | 'de' | 'el' | 'en' | 'es' | 'et' | 'fi' | 'fr' | 'ga' | 'hr' | 'hu' | 'it' | 'lt' | 'lv'
  | 'mt' | 'nl' | 'pl' | 'pt' | 'ro' | 'sk' | 'sl' | 'sv' | 'ru' | 'uk' | 'tr' | 'zh' | 'ja' | 'ko' | 'pt-BR';

export interface PatternRow {
  lang: Lang;
  pattern: string;
  clients: string;
}

/**
 * The line above the quoted mail ("On <date>, <name> wrote:"), which clients wrap over two or
 * three lines. A match counts only with an address ('@') or a date or time in it, so that "Here is
 * what I wrote:" stays. Patterns with a fixed start are tried first: they say where a wrapped
 * attribution begins.
 */
// biome-ignore format: one row a line
export const ATTRIBUTIONS: readonly PatternRow[] = [
  { lang: 'en', pattern: 'On * wrote:', clients: 'Gmail, Apple Mail, Outlook for iOS/Android, Thunderbird, Yahoo Mail, mutt' },
  { lang: 'en', pattern: '--- On * wrote:', clients: 'Yahoo Mail (classic)' },
  { lang: 'en', pattern: '---- On * wrote ----', clients: 'Zoho Mail' },
  { lang: 'en', pattern: '* wrote:', clients: 'Thunderbird ("<name> wrote:"), Eudora ("At <date>, you wrote:"), K-9 Mail' },
  { lang: 'en', pattern: '* wrote on *:', clients: 'Thunderbird ("<name> wrote on <date>:")' },
  { lang: 'en', pattern: '* writes:', clients: 'Gnus, mailing-list archives' },
  { lang: 'en', pattern: 'Quoting *:', clients: 'Horde IMP' },
  { lang: 'en', pattern: '####-##-## * GMT*', clients: 'Gmail 2013-2016, all languages ("2016-03-03 17:21 GMT+01:00 <name>")' },
  { lang: 'de', pattern: 'Am * schrieb *:', clients: 'Gmail, Apple Mail, Thunderbird, Outlook' },
  { lang: 'de', pattern: '* schrieb am *:', clients: 'Gmail since 2016' },
  { lang: 'de', pattern: '* schrieb:', clients: 'Thunderbird ("<name> schrieb:"), K-9 Mail' },
  { lang: 'fr', pattern: 'Le * a écrit :', clients: 'Gmail, Apple Mail, Thunderbird, Outlook' },
  { lang: 'fr', pattern: '* a écrit :', clients: 'Thunderbird ("<name> a écrit :"), Roundcube' },
  { lang: 'es', pattern: 'El * escribió:', clients: 'Gmail, Apple Mail, Thunderbird, Outlook' },
  { lang: 'es', pattern: '* escribió:', clients: 'Thunderbird ("<name> escribió:")' },
  { lang: 'it', pattern: 'Il * ha scritto:', clients: 'Gmail ("Il giorno <date> <name> ha scritto:"), Apple Mail, Thunderbird, Outlook' },
  { lang: 'it', pattern: 'In data * ha scritto:', clients: 'KMail, Libero Mail' },
  { lang: 'it', pattern: '* scrisse:', clients: 'Thunderbird (older versions)' },
  { lang: 'pt', pattern: '* escreveu no dia *:', clients: 'Gmail (Portugal)' },
  { lang: 'pt', pattern: 'A * escreveu:', clients: 'Apple Mail (Portugal)' },
  { lang: 'pt', pattern: '* escreveu:', clients: 'Thunderbird, Outlook' },
  { lang: 'pt-BR', pattern: 'Em * escreveu:', clients: 'Gmail, Apple Mail, Thunderbird, Outlook (Brazil)' },
  { lang: 'nl', pattern: 'Op * schreef *:', clients: 'Gmail, Thunderbird' },
  { lang: 'nl', pattern: 'Op * het volgende geschreven:', clients: 'Apple Mail, Outlook' },
  { lang: 'da', pattern: 'Den * skrev *:', clients: 'Apple Mail, Thunderbird, Outlook' },
  { lang: 'da', pattern: '* skrev *:', clients: 'Gmail ("tir. 3. dec. 2024 kl. 10.00 skrev <name>:")' },
  { lang: 'sv', pattern: 'Den * skrev *:', clients: 'Gmail, Outlook ("Den <date> skrev <name> följande:")' },
  { lang: 'sv', pattern: '* skrev *:', clients: 'Apple Mail ("3 dec. 2024 kl. 10:00 skrev <name>:")' },
  { lang: 'fi', pattern: '* kirjoitti*:', clients: 'Gmail, Apple Mail, Outlook ("<name> kirjoitti <date>:")' },
  { lang: 'pl', pattern: '* napisał*:', clients: 'Gmail ("<date> <name> napisał(a):"), Outlook ("Dnia <date> <name> napisał:")' },
  { lang: 'pl', pattern: 'W dniu * pisze:', clients: 'Thunderbird' },
  { lang: 'pl', pattern: 'Wiadomość napisana przez *:', clients: 'Apple Mail' },
  { lang: 'cs', pattern: '* napsal*:', clients: 'Gmail ("<date> odesílatel <name> napsal:"), Thunderbird, Outlook' },
  { lang: 'sk', pattern: '* napísal*:', clients: 'Gmail, Thunderbird, Outlook ("<date> používateľ <name> napísal:")' },
  { lang: 'hu', pattern: '* írta*:', clients: 'Gmail ("<name> ezt írta (időpont: <date>):"), Thunderbird, Outlook' },
  { lang: 'ro', pattern: '* a scris*:', clients: 'Gmail, Apple Mail, Thunderbird' },
  { lang: 'bg', pattern: '* написа*:', clients: 'Gmail ("На <date> <name> написа:"), Thunderbird' },
  { lang: 'el', pattern: '* έγραψε*:', clients: 'Gmail ("Στις <date>, ο/η <name> έγραψε:"), Apple Mail, Thunderbird' },
  { lang: 'et', pattern: '* kirjutas*:', clients: 'Gmail ("<name> kirjutas kuupäeval <date>:"), Thunderbird' },
  { lang: 'lv', pattern: '* rakstīja*:', clients: 'Gmail ("<date> — lietotājs <name> rakstīja:"), Thunderbird' },
  { lang: 'lt', pattern: '* rašė*:', clients: 'Gmail, Thunderbird' },
  { lang: 'sl', pattern: '* napisal*:', clients: 'Gmail ("<name> je napisal/-a dne <date>:"), Thunderbird' },
  { lang: 'hr', pattern: '* napisao*:', clients: 'Gmail ("<date> <name> napisao je:"), Thunderbird' },
  { lang: 'ga', pattern: '* scríobh *:', clients: 'Gmail ("Ar <date>, scríobh <name>:")' },
  { lang: 'mt', pattern: '* kiteb*:', clients: 'Gmail' },
  { lang: 'ru', pattern: '* г. в *>:', clients: 'Gmail ("вт, 3 дек. 2024 г. в 10:00, <name> <address>:")' },
  { lang: 'ru', pattern: '* написал*:', clients: 'Apple Mail ("<date> <name> написал(а):"), Outlook ("<date> пользователь <name> написал:")' },
  { lang: 'ru', pattern: '* пишет:', clients: 'Thunderbird' },
  { lang: 'ru', pattern: '##.##.####, ##:##, *>:', clients: 'Yandex Mail' },
  { lang: 'uk', pattern: '* пише:', clients: 'Gmail' },
  { lang: 'uk', pattern: '* написав*:', clients: 'Apple Mail ("<date> <name> написав(-ла):")' },
  { lang: 'tr', pattern: '* yazdı:', clients: 'Gmail ("<name>, <date> tarihinde şunu yazdı:"), Apple Mail, Outlook' },
  { lang: 'zh', pattern: '*写道：', clients: 'Gmail ("<name> 于<date>写道："), Apple Mail, QQ Mail, Foxmail (simplified)' },
  { lang: 'zh', pattern: '*寫道：', clients: 'Gmail, Apple Mail (traditional)' },
  { lang: 'ja', pattern: '*年*月*日*<*@*>:', clients: 'Gmail ("2024年12月3日(火) 10:00 <name> <address>:")' },
  { lang: 'ja', pattern: '*のメール:', clients: 'Apple Mail' },
  { lang: 'ja', pattern: '*のメッセージ:', clients: 'Outlook, Yahoo! Mail' },
  { lang: 'ko', pattern: '*작성:', clients: 'Gmail ("<date>, <name>님이 작성:"), Apple Mail' },
];

export interface LabelRow {
  lang: Lang;
  /** From / Sent / To / Cc / Subject / Date, each a list of the words clients use, comma-separated */
  labels: string;
  clients: string;
}

/**
 * The labels of the header block that Outlook, Apple Mail, Gmail and Thunderbird put above a
 * quoted or forwarded mail ("From: ... / Sent: ... / To: ... / Subject: ..."). Clients mix
 * languages (Gmail translates only "From"), so every label counts in every language. A block is
 * a From label and another one within a few lines, in any order, tolerating one unknown label.
 */
// biome-ignore format: one row a line
export const HEADER_LABELS: readonly LabelRow[] = [
  { lang: 'en', labels: 'From / Sent / To, Reply-To / Cc, Bcc / Subject / Date', clients: 'Outlook, Apple Mail, Gmail, Thunderbird, Yahoo Mail' },
  { lang: 'de', labels: 'Von / Gesendet / An, Antwort an / Cc, Kopie, Kopie (CC) / Betreff / Datum', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'fr', labels: 'De, Expéditeur / Envoyé, Envoyé le / À, A, Pour, Destinataire, Répondre à / Cc, Copie à / Objet, Sujet / Date', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'es', labels: 'De, Remitente / Enviado, Enviado el / Para, Responder a / CC, CCO / Asunto / Fecha', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'it', labels: 'Da, Mittente / Inviato / A, Rispondi a / Cc, Ccn / Oggetto / Data', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'pt', labels: 'De / Enviado, Enviada / Para, Responder A / Cc / Assunto / Data', clients: 'Outlook, Apple Mail, Thunderbird (Portugal)' },
  { lang: 'pt-BR', labels: 'De / Enviado, Enviada em / Para, Responder a / Cc, Cco / Assunto / Data', clients: 'Outlook, Apple Mail, Thunderbird (Brazil)' },
  { lang: 'nl', labels: 'Van / Verzonden / Aan, Antwoord aan / CC, Kopie / Onderwerp / Datum', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'da', labels: 'Fra / Sendt / Til, Svar til / Cc, Kopi / Emne / Dato', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'sv', labels: 'Från / Skickat / Till, Svara till / Kopia / Ämne / Datum', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'fi', labels: 'Lähettäjä / Lähetetty / Vastaanottaja, Vastaus / Kopio / Aihe / Päivämäärä, Päiväys', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'pl', labels: 'Od, Nadawca / Wysłano, Wysłane / Do, Adresat, Odpowiedź-do / DW, Kopia / Temat / Data', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'cs', labels: 'Od / Odesláno / Komu, Odpověď na / Kopie / Předmět / Datum', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'sk', labels: 'Od / Odoslané / Komu, Pre, Odpovedať-Pre / Kópia / Predmet / Dátum', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'hu', labels: 'Feladó / Elküldve / Címzett, Válaszcím / Másolat, Másolatot kap / Tárgy / Dátum', clients: 'Outlook, Apple Mail, Thunderbird' },
  { lang: 'ro', labels: 'De la, Expeditorul / Trimis / Către, Destinatarul, Răspuns către / Cc / Subiect, Subiectul / Dată', clients: 'Outlook, Apple Mail, Gmail, Thunderbird' },
  { lang: 'bg', labels: 'От / Изпратено / До / Копие / Относно, Тема / Дата', clients: 'Outlook, Thunderbird' },
  { lang: 'el', labels: 'Από / Στάλθηκε / Προς / Κοιν. / Θέμα / Ημερομηνία', clients: 'Outlook, Thunderbird' },
  { lang: 'et', labels: 'Saatja / Saadetud / Adressaat, Saaja / Koopia / Teema / Kuupäev', clients: 'Outlook, Gmail' },
  { lang: 'lv', labels: 'No / Nosūtīts / Kam / Kopija / Tēma / Datums', clients: 'Outlook' },
  { lang: 'lt', labels: 'Nuo / Išsiųsta / Kam / Kopija / Tema / Data', clients: 'Outlook' },
  { lang: 'sl', labels: 'Od / Poslano / Za / Kp / Zadeva / Datum', clients: 'Outlook' },
  { lang: 'hr', labels: 'Šalje, Od / Poslano / Prima, Za / Kopija / Predmet, Naslov / Datum', clients: 'Outlook, Apple Mail, Gmail, Thunderbird' },
  { lang: 'ga', labels: 'Ó / Seolta / Chuig / Cc / Ábhar / Dáta', clients: 'Outlook' },
  { lang: 'mt', labels: 'Minn / Mibgħut / Lil / Cc / Suġġett / Data', clients: 'Outlook' },
  { lang: 'ru', labels: 'От, Отправитель / Отправлено / Кому, Ответ-Кому / Копия / Тема / Дата', clients: 'Outlook, Apple Mail, Gmail, Thunderbird' },
  { lang: 'uk', labels: 'Від, Від кого / Надіслано, Відправлено / Кому, Кому відповісти / Копія / Тема / Дата', clients: 'Outlook, Apple Mail, Gmail, Thunderbird' },
  { lang: 'tr', labels: 'Kimden, Gönderen / Gönderildi, Gönderilen / Kime, Yanıt Adresi / Bilgi / Konu / Tarih', clients: 'Outlook, Apple Mail, Gmail, Thunderbird' },
  { lang: 'zh', labels: '发件人, 寄件者 / 发送时间, 寄件日期 / 收件人, 收件者 / 抄送, 副本 / 主题, 主旨 / 日期', clients: 'Outlook, QQ Mail, Foxmail' },
  { lang: 'ja', labels: '差出人, 送信者 / 送信日時 / 宛先 / CC / 件名 / 日付, 日時', clients: 'Outlook, Thunderbird' },
  { lang: 'ko', labels: '보낸 사람 / 보낸 날짜 / 받는 사람 / 참조 / 제목 / 날짜', clients: 'Outlook' },
];

export interface PhraseRow {
  lang: Lang;
  phrase: string;
  clients: string;
}

/**
 * The line above an earlier mail: "-----Original Message-----", "---------- Forwarded message
 * ---------" (Gmail, in every language), "Begin forwarded message:" (Apple Mail). The phrase
 * counts between rules of '-', '_', '=' or '*', or alone on its line followed by ':'.
 */
// biome-ignore format: one row a line
export const SEPARATORS: readonly PhraseRow[] = [
  { lang: 'en', phrase: 'Original Message', clients: 'Outlook, Thunderbird, Yahoo Mail, Zimbra' },
  { lang: 'en', phrase: 'Forwarded message', clients: 'Gmail (all languages), Thunderbird, Yahoo Mail' },
  { lang: 'en', phrase: 'Begin forwarded message', clients: 'Apple Mail' },
  { lang: 'en', phrase: 'Reply message', clients: 'Android Email' },
  { lang: 'de', phrase: 'Ursprüngliche Nachricht', clients: 'Outlook' },
  { lang: 'de', phrase: 'Originalnachricht', clients: 'Thunderbird' },
  { lang: 'de', phrase: 'Weitergeleitete Nachricht', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'de', phrase: 'Anfang der weitergeleiteten Nachricht', clients: 'Apple Mail' },
  { lang: 'de', phrase: 'Anfang der weitergeleiteten E-Mail', clients: 'Apple Mail (since macOS 11)' },
  { lang: 'fr', phrase: "Message d'origine", clients: 'Outlook' },
  { lang: 'fr', phrase: 'Message original', clients: 'Thunderbird' },
  { lang: 'fr', phrase: 'Message transféré', clients: 'Thunderbird' },
  { lang: 'fr', phrase: 'Message transmis', clients: 'Yahoo Mail' },
  { lang: 'fr', phrase: 'Début du message réexpédié', clients: 'Apple Mail (macOS)' },
  { lang: 'fr', phrase: 'Début du message transféré', clients: 'Apple Mail (iOS)' },
  { lang: 'es', phrase: 'Mensaje original', clients: 'Outlook, Thunderbird' },
  { lang: 'es', phrase: 'Mensaje reenviado', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'es', phrase: 'Inicio del mensaje reenviado', clients: 'Apple Mail' },
  { lang: 'it', phrase: 'Messaggio originale', clients: 'Outlook, Thunderbird' },
  { lang: 'it', phrase: 'Messaggio inoltrato', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'it', phrase: 'Inizio messaggio inoltrato', clients: 'Apple Mail' },
  { lang: 'pt', phrase: 'Mensagem original', clients: 'Outlook, Thunderbird' },
  { lang: 'pt', phrase: 'Mensagem reencaminhada', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'pt', phrase: 'Início da mensagem reencaminhada', clients: 'Apple Mail' },
  { lang: 'pt-BR', phrase: 'Mensagem encaminhada', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'pt-BR', phrase: 'Início da mensagem encaminhada', clients: 'Apple Mail' },
  { lang: 'nl', phrase: 'Oorspronkelijk bericht', clients: 'Outlook' },
  { lang: 'nl', phrase: 'Doorgestuurd bericht', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'nl', phrase: 'Begin doorgestuurd bericht', clients: 'Apple Mail' },
  { lang: 'da', phrase: 'Oprindelig meddelelse', clients: 'Outlook' },
  { lang: 'da', phrase: 'Videresendt meddelelse', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'da', phrase: 'Start på videresendt besked', clients: 'Apple Mail' },
  { lang: 'sv', phrase: 'Ursprungligt meddelande', clients: 'Outlook' },
  { lang: 'sv', phrase: 'Vidarebefordrat meddelande', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'sv', phrase: 'Vidarebefordrat mejl', clients: 'Apple Mail' },
  { lang: 'fi', phrase: 'Alkuperäinen viesti', clients: 'Outlook' },
  { lang: 'fi', phrase: 'Edelleenlähetetty viesti', clients: 'Yahoo Mail' },
  { lang: 'fi', phrase: 'Välitetty viesti / Fwd.Msg', clients: 'Thunderbird' },
  { lang: 'fi', phrase: 'Välitetty viesti alkaa', clients: 'Apple Mail' },
  { lang: 'pl', phrase: 'Wiadomość oryginalna', clients: 'Outlook, Thunderbird' },
  { lang: 'pl', phrase: 'Przekazana wiadomość', clients: 'Yahoo Mail' },
  { lang: 'pl', phrase: 'Treść przekazanej wiadomości', clients: 'Thunderbird' },
  { lang: 'pl', phrase: 'Początek przekazywanej wiadomości', clients: 'Apple Mail' },
  { lang: 'cs', phrase: 'Původní zpráva', clients: 'Outlook, Thunderbird' },
  { lang: 'cs', phrase: 'Přeposlaná zpráva', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'cs', phrase: 'Začátek přeposílané zprávy', clients: 'Apple Mail' },
  { lang: 'sk', phrase: 'Pôvodná správa', clients: 'Outlook' },
  { lang: 'sk', phrase: 'Preposlaná správa', clients: 'Yahoo Mail' },
  { lang: 'sk', phrase: 'Začiatok preposlanej správy', clients: 'Apple Mail' },
  { lang: 'hu', phrase: 'Eredeti üzenet', clients: 'Outlook' },
  { lang: 'hu', phrase: 'Továbbított üzenet', clients: 'Thunderbird, Yahoo Mail' },
  { lang: 'hu', phrase: 'Továbbított levél kezdete', clients: 'Apple Mail' },
  { lang: 'ro', phrase: 'Mesaj original', clients: 'Outlook' },
  { lang: 'ro', phrase: 'Mesaj redirecționat', clients: 'Yahoo Mail' },
  { lang: 'ro', phrase: 'Începe mesajul redirecționat', clients: 'Apple Mail' },
  { lang: 'bg', phrase: 'Оригинално съобщение', clients: 'Outlook' },
  { lang: 'bg', phrase: 'Оригинално писмо', clients: 'Thunderbird' },
  { lang: 'el', phrase: 'Αρχικό μήνυμα', clients: 'Outlook, Thunderbird' },
  { lang: 'et', phrase: 'Algne sõnum', clients: 'Outlook' },
  { lang: 'lv', phrase: 'Sākotnējais ziņojums', clients: 'Outlook' },
  { lang: 'lt', phrase: 'Pradinis laiškas', clients: 'Outlook' },
  { lang: 'sl', phrase: 'Izvirno sporočilo', clients: 'Outlook' },
  { lang: 'hr', phrase: 'Izvorna poruka', clients: 'Outlook' },
  { lang: 'hr', phrase: 'Proslijeđena poruka', clients: 'Thunderbird' },
  { lang: 'hr', phrase: 'Započni proslijeđenu poruku', clients: 'Apple Mail' },
  { lang: 'ga', phrase: 'Bunteachtaireacht', clients: 'Outlook' },
  { lang: 'mt', phrase: 'Messaġġ oriġinali', clients: 'Outlook' },
  { lang: 'ru', phrase: 'Исходное сообщение', clients: 'Outlook' },
  { lang: 'ru', phrase: 'Пересылаемое сообщение', clients: 'Yandex Mail, Yahoo Mail' },
  { lang: 'ru', phrase: 'Перенаправленное сообщение', clients: 'Thunderbird' },
  { lang: 'ru', phrase: 'Начало переадресованного сообщения', clients: 'Apple Mail' },
  { lang: 'uk', phrase: 'Перенаправлене повідомлення', clients: 'Yahoo Mail' },
  { lang: 'uk', phrase: 'Переслане повідомлення', clients: 'Thunderbird' },
  { lang: 'uk', phrase: 'Початок листа, що пересилається', clients: 'Apple Mail' },
  { lang: 'tr', phrase: 'Özgün İleti', clients: 'Outlook' },
  { lang: 'tr', phrase: 'İletilen İleti', clients: 'Thunderbird' },
  { lang: 'tr', phrase: 'İletilmiş Mesaj', clients: 'Yahoo Mail' },
  { lang: 'tr', phrase: 'İleti başlangıcı', clients: 'Apple Mail' },
  { lang: 'zh', phrase: '原始邮件', clients: 'QQ Mail, Foxmail, Outlook (simplified)' },
  { lang: 'zh', phrase: '原始郵件', clients: 'Outlook (traditional)' },
  { lang: 'zh', phrase: '转发的邮件', clients: 'Apple Mail (simplified)' },
  { lang: 'ja', phrase: '元のメッセージ', clients: 'Outlook' },
  { lang: 'ja', phrase: '転送されたメッセージ', clients: 'Apple Mail' },
  { lang: 'ko', phrase: '원본 메시지', clients: 'Outlook' },
  { lang: 'ko', phrase: '전달된 메시지', clients: 'Apple Mail' },
];

/**
 * The signature line that phones and mail apps append ("Sent from my iPhone"). Everything from
 * it on is signature or history. Only lines of up to 100 characters are read as one.
 */
// biome-ignore format: one row a line
export const MOBILE_SIGNATURES: readonly PatternRow[] = [
  { lang: 'en', pattern: 'Sent from my *', clients: 'iOS Mail, Samsung Email, BlackBerry' },
  { lang: 'en', pattern: 'Sent from *', clients: 'Outlook for iOS/Android, Mail for Windows, Yahoo Mail app' },
  { lang: 'en', pattern: 'Get Outlook for *', clients: 'Outlook for iOS/Android' },
  { lang: 'en', pattern: 'Sent with *', clients: 'Proton Mail, BlackBerry Work' },
  { lang: 'de', pattern: 'Von meinem * gesendet*', clients: 'iOS Mail, Samsung Email' },
  { lang: 'de', pattern: 'Gesendet von *', clients: 'Outlook for iOS/Android, Mail for Windows' },
  { lang: 'de', pattern: 'Gesendet mit *', clients: 'GMX and WEB.DE Mail apps' },
  { lang: 'de', pattern: 'Outlook für * beziehen', clients: 'Outlook for iOS/Android' },
  { lang: 'fr', pattern: 'Envoyé de mon *', clients: 'iOS Mail' },
  { lang: 'fr', pattern: 'Envoyé depuis *', clients: 'Samsung Email, Yahoo Mail app' },
  { lang: 'fr', pattern: 'Envoyé à partir de *', clients: 'Outlook for iOS/Android' },
  { lang: 'fr', pattern: 'Télécharger Outlook pour *', clients: 'Outlook for iOS/Android' },
  { lang: 'es', pattern: 'Enviado desde *', clients: 'iOS Mail, Samsung Email, Outlook for iOS/Android' },
  { lang: 'es', pattern: 'Obtener Outlook para *', clients: 'Outlook for iOS/Android' },
  { lang: 'it', pattern: 'Inviato da *', clients: 'iOS Mail, Outlook for iOS/Android' },
  { lang: 'it', pattern: 'Inviato dal mio *', clients: 'Samsung Email' },
  { lang: 'pt', pattern: 'Enviado do meu *', clients: 'iOS Mail, Samsung Email (Portugal and Brazil)' },
  { lang: 'pt', pattern: 'Enviado do *', clients: 'Outlook for iOS/Android, Yahoo Mail app' },
  { lang: 'pt-BR', pattern: 'Enviado de meu *', clients: 'iOS Mail (older versions)' },
  { lang: 'nl', pattern: 'Verstuurd vanaf *', clients: 'iOS Mail' },
  { lang: 'nl', pattern: 'Verzonden vanaf *', clients: 'Outlook for iOS/Android, Samsung Email' },
  { lang: 'da', pattern: 'Sendt fra *', clients: 'iOS Mail, Outlook for iOS/Android' },
  { lang: 'sv', pattern: 'Skickat från *', clients: 'iOS Mail, Outlook for iOS/Android' },
  { lang: 'fi', pattern: 'Lähetetty *sta', clients: 'iOS Mail ("Lähetetty iPhonesta"), Samsung Email ("... -älypuhelimesta")' },
  { lang: 'pl', pattern: 'Wysłane z *', clients: 'iOS Mail, Samsung Email' },
  { lang: 'cs', pattern: 'Odesláno z *', clients: 'iOS Mail, Outlook for iOS/Android' },
  { lang: 'sk', pattern: 'Odoslané z *', clients: 'iOS Mail' },
  { lang: 'hu', pattern: '*ról küldve', clients: 'iOS Mail ("iPhone-ról küldve"), Samsung Email' },
  { lang: 'ro', pattern: 'Trimis de pe *', clients: 'iOS Mail' },
  { lang: 'bg', pattern: 'Изпратено от *', clients: 'iOS Mail' },
  { lang: 'el', pattern: 'Στάλθηκε από *', clients: 'iOS Mail' },
  { lang: 'et', pattern: 'Saadetud minu *', clients: 'iOS Mail' },
  { lang: 'lv', pattern: 'Nosūtīts no *', clients: 'iOS Mail' },
  { lang: 'lt', pattern: 'Išsiųsta iš *', clients: 'iOS Mail' },
  { lang: 'sl', pattern: 'Poslano iz *', clients: 'iOS Mail' },
  { lang: 'sl', pattern: 'Poslano z *', clients: 'Samsung Email' },
  { lang: 'hr', pattern: 'Poslano s *', clients: 'iOS Mail' },
  { lang: 'ga', pattern: 'Seolta ó *', clients: 'iOS Mail' },
  { lang: 'mt', pattern: 'Mibgħut mill-*', clients: 'iOS Mail' },
  { lang: 'ru', pattern: 'Отправлено с *', clients: 'iOS Mail, Samsung Email' },
  { lang: 'ru', pattern: 'Отправлено из *', clients: 'Mail.ru and Yandex Mail apps' },
  { lang: 'uk', pattern: 'Надіслано з *', clients: 'iOS Mail' },
  { lang: 'tr', pattern: '*dan gönderildi', clients: 'iOS Mail ("iPhone\'umdan gönderildi")' },
  { lang: 'tr', pattern: '*den gönderildi', clients: 'iOS Mail, Samsung Email' },
  { lang: 'zh', pattern: '发自我的*', clients: 'iOS Mail (simplified)' },
  { lang: 'zh', pattern: '從我的*傳送', clients: 'iOS Mail (traditional)' },
  { lang: 'ja', pattern: '*から送信', clients: 'iOS Mail' },
  { lang: 'ko', pattern: '*에서 보냄', clients: 'iOS Mail' },
];

export interface MarkerRow {
  marker: string;
  meaning: string;
  clients: string;
}

/**
 * Quote markers at the start of a line. Quoted lines are the library's business (it keeps the
 * ones a sender answered below); it knows only '>', so the others are shown to it as '>'.
 */
export const QUOTE_MARKERS: readonly MarkerRow[] = [
  { marker: '>', meaning: 'a ">" (nested: ">>", "> >")', clients: 'RFC 3676: every client quoting plain text' },
  {
    marker: '|',
    meaning: 'a "|", on a line that does not end in one (a table row)',
    clients: 'Yahoo Mail classic, Lotus Notes',
  },
  {
    marker: 'C>',
    meaning: 'one to three letters, then ">" (the author\'s initials)',
    clients: 'Supercite, Gnus, Pegasus Mail',
  },
];

/**
 * Lines above a signature. The RFC delimiter always starts one; a line of dashes or underscores
 * only when at most SIGNATURE_LINES lines follow it before the end or the next boundary (a rule
 * in the middle of a reply stays).
 */
export const SIGNATURE_SEPARATORS: readonly MarkerRow[] = [
  { marker: '-- ', meaning: 'the RFC 3676 delimiter, always', clients: 'Thunderbird, mutt, Evolution, KMail' },
  { marker: '--', meaning: 'the delimiter without its space, always', clients: 'Gmail, Outlook, text conversions' },
  { marker: '---', meaning: 'three or more dashes, before a short block', clients: 'web mail signature editors' },
  { marker: '__', meaning: 'two or more underscores, before a short block', clients: 'Outlook, web mail signatures' },
];

/** The most lines a signature after a line of dashes or underscores has. */
export const SIGNATURE_LINES = 10;
