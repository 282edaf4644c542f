// What the account pages say: password links, "forgot password" (and the invitation again),
// sign-in by mail link, self sign-up.
export const en = {
  'request.email': 'Email address',
  'request.invalid': 'Please enter a valid email address.',
  'request.limited': 'Too many requests. Please wait a while and try again.',
  'request.sent':
    'If an account exists for this address, we have sent a link. Please check your inbox, and your spam folder too.',
  'request.back': 'Back to sign-in',
  'forgot.title': 'Get a password link',
  'forgot.intro':
    'Forgot your password, or need your invitation again? Enter your email address and we will send you a link to choose a password.',
  'forgot.submit': 'Send me the link',
  'signInMail.title': 'Sign in with a link by email',
  'signInMail.intro':
    'Enter your email address and we will send you a link that signs you in, no password needed. The link works for 15 minutes, once.',
  'signInMail.submit': 'Email me a sign-in link',
  'signUp.title': 'Sign up',
  'signUp.intro': 'Enter your email address and we will send you a link to finish signing up.',
  'signUp.submit': 'Send me the link',
  'signUp.sent':
    'Thank you. If this address can sign up, we have sent it a link to finish. Please check your inbox, and your spam folder too.',
  'signUp.haveAccount': 'Have an account already? Sign in',
  'password.title': 'Choose your password',
  'password.intro': 'Choose a password for your account. You will be signed in straight away.',
  'password.new': 'New password',
  'password.repeat': 'New password, again',
  'password.rule': 'At least {min} characters. A few unrelated words make a good password.',
  'password.submit': 'Save password and sign in',
  'password.tooShort': 'The password needs at least {min} characters.',
  'password.tooLong': 'The password can have at most {max} characters.',
  'password.mismatch': 'The two passwords are not the same. Please type them again.',
  'signUpDone.title': 'Finish signing up',
  'signUpDone.intro': 'Tell us your name and choose a password. You will be signed in straight away.',
  'signUpDone.name': 'Your name',
  'signUpDone.nameMissing': 'Please enter your name.',
  'signUpDone.submit': 'Create my account',
  'signInLink.title': 'Sign in',
  'signInLink.intro': 'Press the button to sign in to the portal.',
  'signInLink.submit': 'Sign in',
  'link.goneTitle': 'This link no longer works',
  'link.passwordGone':
    'This link has expired or has been used already: a link to set a password works for 24 hours, once. We can send you a new one.',
  'link.signInGone':
    'This sign-in link has expired or has been used already: a sign-in link works for 15 minutes, once.',
  'link.signUpGone': 'This sign-up link has expired or has been used already: it works for 24 hours, once.',
  'link.newSignIn': 'Email me a new sign-in link',
  'link.signUpAgain': 'Sign up again',
  'link.refusedTitle': 'This account cannot use the portal',
  'link.refused': 'This account cannot use the portal. If you think this is a mistake, please write to us.',
} as const;

export const de: Partial<Record<keyof typeof en, string>> = {
  'request.email': 'E-Mail-Adresse',
  'request.invalid': 'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
  'request.limited': 'Zu viele Anfragen. Bitte warten Sie eine Weile und versuchen Sie es erneut.',
  'request.sent':
    'Falls es für diese Adresse ein Konto gibt, haben wir einen Link gesendet. Bitte sehen Sie in Ihrem Posteingang nach, auch im Spam-Ordner.',
  'request.back': 'Zurück zur Anmeldung',
  'forgot.title': 'Passwort-Link anfordern',
  'forgot.intro':
    'Passwort vergessen oder Einladung erneut benötigt? Geben Sie Ihre E-Mail-Adresse ein, und wir senden Ihnen einen Link, mit dem Sie ein Passwort festlegen.',
  'forgot.submit': 'Link senden',
  'signInMail.title': 'Mit Link per E-Mail anmelden',
  'signInMail.intro':
    'Geben Sie Ihre E-Mail-Adresse ein, und wir senden Ihnen einen Link, der Sie ohne Passwort anmeldet. Der Link gilt 15 Minuten und einmal.',
  'signInMail.submit': 'Anmeldelink per E-Mail senden',
  'signUp.title': 'Registrieren',
  'signUp.intro':
    'Geben Sie Ihre E-Mail-Adresse ein, und wir senden Ihnen einen Link, mit dem Sie die Registrierung abschließen.',
  'signUp.submit': 'Link senden',
  'signUp.sent':
    'Vielen Dank. Falls sich diese Adresse registrieren kann, haben wir ihr einen Link gesendet. Bitte sehen Sie in Ihrem Posteingang nach, auch im Spam-Ordner.',
  'signUp.haveAccount': 'Schon ein Konto? Anmelden',
  'password.title': 'Passwort festlegen',
  'password.intro': 'Legen Sie ein Passwort für Ihr Konto fest. Sie werden danach gleich angemeldet.',
  'password.new': 'Neues Passwort',
  'password.repeat': 'Neues Passwort wiederholen',
  'password.rule': 'Mindestens {min} Zeichen. Einige zufällige Wörter ergeben ein gutes Passwort.',
  'password.submit': 'Passwort speichern und anmelden',
  'password.tooShort': 'Das Passwort braucht mindestens {min} Zeichen.',
  'password.tooLong': 'Das Passwort darf höchstens {max} Zeichen haben.',
  'password.mismatch': 'Die beiden Passwörter stimmen nicht überein. Bitte geben Sie sie erneut ein.',
  'signUpDone.title': 'Registrierung abschließen',
  'signUpDone.intro':
    'Nennen Sie uns Ihren Namen und legen Sie ein Passwort fest. Sie werden danach gleich angemeldet.',
  'signUpDone.name': 'Ihr Name',
  'signUpDone.nameMissing': 'Bitte geben Sie Ihren Namen ein.',
  'signUpDone.submit': 'Konto anlegen',
  'signInLink.title': 'Anmelden',
  'signInLink.intro': 'Klicken Sie auf die Schaltfläche, um sich im Portal anzumelden.',
  'signInLink.submit': 'Anmelden',
  'link.goneTitle': 'Dieser Link funktioniert nicht mehr',
  'link.passwordGone':
    'Dieser Link ist abgelaufen oder wurde schon verwendet: Ein Link zum Festlegen des Passworts gilt 24 Stunden und einmal. Wir können Ihnen einen neuen senden.',
  'link.signInGone':
    'Dieser Anmeldelink ist abgelaufen oder wurde schon verwendet: Ein Anmeldelink gilt 15 Minuten und einmal.',
  'link.signUpGone':
    'Dieser Registrierungslink ist abgelaufen oder wurde schon verwendet: Er gilt 24 Stunden und einmal.',
  'link.newSignIn': 'Neuen Anmeldelink senden',
  'link.signUpAgain': 'Erneut registrieren',
  'link.refusedTitle': 'Dieses Konto kann das Portal nicht nutzen',
  'link.refused':
    'Dieses Konto kann das Portal nicht nutzen. Falls Sie das für einen Fehler halten, schreiben Sie uns bitte.',
};
