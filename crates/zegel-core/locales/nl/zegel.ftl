# Zegel: Dutch texts for recipients (the default language).
#
# Message ids: <area>-<what>. Areas: lang, layout, landing, send, code, message,
# problem, notify, code-mail, code-sms, datetime, month, duration, size, kind.
# An id ending in -html holds trusted markup: its arguments are HTML-escaped by
# i18n::tr_html and the result is inserted unescaped (askama `|safe`).
# Every id here must also be in ../en/zegel.ftl (a unit test checks this).
# Texts that carry a one-time code (code-mail-*, code-sms) hold no other digits.

## Layout of every page

# The link to the other language, written in that language.
lang-switch = English
layout-title-default = Beveiligd bericht
layout-skip = Naar de inhoud
layout-secure = Beveiligd bericht
layout-footer = Dit bericht wordt veilig bewaard en is alleen voor u bestemd. Deel deze link en uw code met niemand.
error-fallback = Er ging iets mis. Probeer het later opnieuw.

## Landing page

landing-title = Bericht openen
landing-heading = U heeft een beveiligd bericht
landing-intro-html = <strong>{ $sender }</strong> van <strong>{ $org }</strong> heeft u een beveiligd bericht gestuurd.
landing-explain = Om het bericht te lezen, bevestigt u eerst wie u bent met een eenmalige code.
landing-open = Bericht openen
landing-available = Dit bericht is beschikbaar tot { $date }.

## Confirm where the code goes

send-title = Code ontvangen
send-heading = Code ontvangen
send-sms-lead-html = We sturen een code per sms naar <strong class="addr">{ $destination }</strong>.
send-sms-not-yours = Is dit niet uw telefoonnummer? Stuur dan geen code, maar vraag { $sender } ({ $org }) om het bericht opnieuw te sturen.
send-email-lead-html = We sturen een code per e-mail naar <strong class="addr">{ $destination }</strong>.
send-button = Stuur mij de code

## Enter the code

code-title = Code invoeren
code-heading = Code invoeren
code-lead-sender = Vul de code in die u van { $sender } ({ $org }) heeft gekregen.
code-hint-html = Hint van de afzender: <em>{ $hint }</em>
code-lead-sent-html = Vul de code van 6 cijfers in die we naar <strong class="addr">{ $destination }</strong> hebben gestuurd.
code-label = Code (6 cijfers)
code-submit = Bevestigen
code-no-code = Geen code ontvangen of is de code verlopen?
code-resend = Stuur een nieuwe code
code-sent-sms = We hebben de code per sms verstuurd. Het kan een minuut duren voordat hij aankomt.
code-sent-email = We hebben de code per e-mail verstuurd. Kijk ook in uw map met ongewenste e-mail.
code-wrong =
    Deze code klopt niet. U kunt het nog { $remaining ->
        [one] 1 keer
       *[other] { $remaining } keer
    } proberen.
code-expired = Deze code is verlopen of al gebruikt. Vraag hieronder een nieuwe code aan.

## The message

message-from = Van
message-sent = Verstuurd
message-available-until = Beschikbaar tot
message-sender = { $sender } ({ $org })
message-attachments = Bijlagen
message-attachment-meta = { $kind }, { $size }
message-download = downloaden

## Problem pages

problem-back = Terug naar het begin
problem-not-found-title = Deze link werkt niet
problem-not-found-check = Controleer of u de volledige link uit de e-mail heeft gebruikt; soms wordt een lange link in twee stukken gebroken.
problem-not-found-contact = Werkt het nog steeds niet? Neem dan contact op met de afzender van het bericht.
problem-rate-title = Even geduld
problem-rate-text = Er zijn te veel verzoeken tegelijk gedaan. Probeer het over { $duration } opnieuw.
problem-expired-title = Dit bericht is verlopen
problem-expired-text = Dit bericht was beschikbaar tot { $date } en is daarna om veiligheidsredenen verwijderd.
problem-gone-contact = Heeft u het bericht nog nodig? Neem dan contact op met { $sender } van { $org }.
problem-revoked-title = Dit bericht is ingetrokken
problem-revoked-text = De afzender heeft dit bericht ingetrokken. Het is niet meer te lezen.
problem-locked-title = Te vaak een verkeerde code
problem-locked-why = Om uw bericht te beschermen is de toegang tijdelijk geblokkeerd, omdat er te vaak een verkeerde code is ingevuld.
problem-locked-retry = U kunt het over { $duration } opnieuw proberen, vanaf { $time } uur. U krijgt dan een nieuwe code.
problem-locked-not-you = Heeft u zelf geen code ingevuld? Neem dan contact op met de afzender.
problem-blocked-title = Toegang geblokkeerd
problem-blocked-why = Er is te vaak een verkeerde code ingevuld. Om uw bericht te beschermen kunt u het nu niet meer openen, ook niet later.
problem-blocked-contact = Neem contact op met { $sender } van { $org }. De afzender kan de toegang weer vrijgeven.
problem-codes-title = Te vaak een nieuwe code gevraagd
problem-codes-text = U heeft in korte tijd te vaak een nieuwe code gevraagd. U kunt over { $duration } weer een code laten sturen, vanaf { $time } uur.
problem-codes-have-one = Heeft u al een code ontvangen? Die kunt u nog gebruiken zolang hij geldig is.
problem-sms-title = Nu geen sms-code mogelijk
problem-sms-text = Er kunnen op dit moment geen sms-codes worden verstuurd. Probeer het over { $duration } opnieuw, of neem contact op met { $sender } van { $org }.
problem-error-title = Er ging iets mis
problem-error-text = Probeer het over een paar minuten opnieuw. Blijft het misgaan? Neem dan contact op met de afzender.
problem-failed-title = Dit lukt niet
problem-failed-text = Ga terug naar de link in uw e-mail en probeer het opnieuw.
problem-csrf-title = De pagina is verlopen
problem-csrf-back = Ga terug naar de link in uw e-mail en probeer het opnieuw.
problem-csrf-cookies = Uw browser moet cookies van deze website toestaan.

## Notification e-mail (never any content of the message itself)

notify-subject = Beveiligd bericht van { $org }
notify-intro = { $sender } van { $org } heeft u een beveiligd bericht gestuurd.
notify-intro-forwarded = { $forwarder } heeft u een beveiligd bericht van { $sender } ({ $org }) doorgestuurd.
notify-button = Bericht lezen
notify-how = Klik op de knop om het bericht te openen. U krijgt eerst een eenmalige code, zodat alleen u het bericht kunt lezen. Daar kunt u ook veilig antwoorden; beantwoord deze e-mail niet.
notify-genuine = Is deze e-mail echt? De link moet beginnen met { $prefix } . Twijfelt u? Neem dan zelf contact op met { $org }.
notify-auto = Deze e-mail is automatisch verstuurd.

## The one-time code by e-mail and SMS (no digits besides the code)

code-mail-subject = Uw toegangscode voor het bericht van { $org }
code-mail-code = Uw eenmalige toegangscode is: { $code }
code-mail-validity = De code is een kwartier geldig. Deel deze code met niemand.
code-sms = Uw code voor het beveiligde bericht van { $org }: { $code } (een kwartier geldig)

## Dates (Europe/Amsterdam), durations, sizes, file kinds

datetime = { $day } { $month } { $year } om { $time }
month-1 = januari
month-2 = februari
month-3 = maart
month-4 = april
month-5 = mei
month-6 = juni
month-7 = juli
month-8 = augustus
month-9 = september
month-10 = oktober
month-11 = november
month-12 = december
duration-minutes =
    { $minutes ->
        [one] een minuut
       *[other] { $minutes } minuten
    }
duration-hours =
    { $hours ->
        [one] een uur
       *[other] { $hours } uur
    }
size-bytes =
    { $n ->
        [one] { $n } byte
       *[other] { $n } bytes
    }
size-kb = { $n } kB
size-mb = { $n } MB
kind-pdf = PDF-document
kind-image = afbeelding
kind-word = Word-document
kind-excel = Excel-bestand
kind-text = tekstbestand
kind-ext = { $ext }-bestand
kind-other = bestand

## Conversation: thread, reply, forward, own copy, remembered device

message-thread-heading = Andere berichten in dit gesprek
message-thread-you = U
message-thread-gone = Dit bericht is niet meer beschikbaar.
message-actions = Wat wilt u doen?
message-reply = Beantwoorden
message-forward = Doorsturen
message-copy = Kopie downloaden (.eml)
message-copy-help = Eén bestand met het hele gesprek en de bijlagen, te openen met uw e-mailprogramma.
message-reply-off = De afzender heeft antwoorden op dit bericht uitgezet. Heeft u een vraag? Neem dan contact op met { $sender } ({ $org }).
message-reply-used = U heeft dit bericht al beantwoord; bij dit bericht kan dat één keer. Heeft u nog een vraag? Neem dan contact op met { $sender } ({ $org }).
message-replied = Uw antwoord is veilig verstuurd naar { $sender }.
message-forwarded = Het bericht is veilig doorgestuurd. De ontvanger krijgt een eigen e-mail en bevestigt zelf met een code wie hij of zij is.
message-forwarded-by = Doorgestuurd door { $email }.
message-forward-note = Notitie van { $email }:
message-contact = Contact: { $contact }

reply-title = Beantwoorden
reply-heading = Antwoord aan { $sender }
reply-lead = Uw antwoord gaat beveiligd en alleen naar { $sender } ({ $org }). Andere ontvangers zien het niet.
reply-body-label = Uw antwoord
reply-files-label = Bijlagen (niet verplicht)
reply-files-help = Bijvoorbeeld een foto of een ingevulde vragenlijst: hoogstens { $max } bestanden, samen hoogstens { $size }.
reply-submit = Antwoord versturen
reply-back = Terug naar het bericht
reply-empty = Schrijf een antwoord of voeg een bijlage toe.
reply-too-large = De bijlagen zijn samen te groot. Het maximum is { $size }.
reply-too-many = U kunt hoogstens { $max } bijlagen meesturen.
reply-off-title = Antwoorden is niet mogelijk
reply-used-title = U heeft al geantwoord
forward-title = Doorsturen
forward-heading = Bericht veilig doorsturen
forward-lead = Het bericht en de bijlagen gaan beveiligd naar de nieuwe ontvanger. Die krijgt een eigen e-mail en bevestigt zelf met een code wie hij of zij is. { $sender } ziet dat u het bericht heeft doorgestuurd.
forward-email-label = E-mailadres van de ontvanger
forward-phone-label = Mobiel nummer van de ontvanger (niet verplicht)
forward-phone-help = Met een mobiel nummer krijgt de ontvanger de code per sms, anders per e-mail.
forward-note-label = Notitie voor de ontvanger (niet verplicht)
forward-submit = Veilig doorsturen
forward-off-title = Doorsturen is niet mogelijk
forward-off = { $org } staat niet toe dat berichten worden doorgestuurd. Heeft u een vraag? Neem dan contact op met { $sender }.
forward-bad-email = Dit e-mailadres klopt niet. Controleer het en probeer het opnieuw.
forward-bad-phone = Dit telefoonnummer klopt niet. Gebruik een mobiel nummer, bijvoorbeeld 06 12 34 56 78.
forward-not-mobile = Dit is geen mobiel nummer. De code gaat per sms, dus alleen naar een mobiel nummer, bijvoorbeeld 06 12 34 56 78. Laat het veld leeg om de code per e-mail te sturen.
forward-note-too-long = De notitie is te lang. Gebruik hoogstens 2000 tekens.
forward-refused = Dit bericht kan niet naar dit e-mailadres worden doorgestuurd. Heeft u een vraag? Neem dan contact op met { $sender }.
forward-phone-country = Naar dit telefoonnummer kunnen we geen sms-code sturen. Laat het nummer leeg; de ontvanger krijgt de code dan per e-mail.
code-remember =
    Dit apparaat { $days ->
        [one] een dag
       *[other] { $days } dagen
    } onthouden (alleen op uw eigen telefoon of computer)
send-not-mine = Dit is niet mijn nummer
wrong-number-title = Niet uw nummer?
wrong-number-text = Stuur dan geen code. Vraag { $sender } van { $org } om het bericht opnieuw te sturen, naar het juiste nummer.
wrong-number-safe = Uw bericht blijft veilig: zonder de code kan niemand het lezen.

## The sender's notification of a secure reply (staff; never any content)

notify-reply-subject = U heeft een beveiligd antwoord
notify-reply-intro = { $from } heeft via { $org } beveiligd geantwoord op uw bericht. Het antwoord staat versleuteld klaar; het staat niet in deze e-mail.
notify-reply-how = Lees het antwoord in Zegel ({ $url }) of via uw koppeling (GET /api/v1/inbox).
notify-reply-received = Ontvangen: { $date }

## Sender accounts: sign-in, set-up, settings (issue 13)

acct-signin-title = Inloggen
acct-email = E-mailadres
acct-password = Wachtwoord
acct-signin-submit = Inloggen
acct-passkey-signin-lead = Of log in met een passkey op dit apparaat (vul eerst uw e-mailadres in).
acct-passkey-signin = Inloggen met passkey
acct-second-title = Tweede stap
acct-second-lead = Vul de code van 6 cijfers uit uw verificatie-app in.
acct-second-passkey-lead = Of bevestig met uw passkey.
acct-code = Verificatiecode
acct-code-submit = Bevestigen
acct-start-again = Opnieuw beginnen
acct-wrong-credentials = Het e-mailadres of het wachtwoord klopt niet.
acct-wrong-code = Deze code klopt niet of is al gebruikt. Wacht op een nieuwe code en probeer het opnieuw.
acct-expired = Dit duurde te lang. Begin opnieuw.
acct-second-factor-required = Uw organisatie vraagt een tweede stap bij het inloggen: stel een verificatie-app of een passkey in.
acct-password-too-short = Kies een wachtwoord van minstens 12 tekens.
acct-password-guessable = Dit wachtwoord is te makkelijk te raden. Kies een langer wachtwoord, bijvoorbeeld een zin van een paar woorden.
acct-wrong-current-password = Het huidige wachtwoord klopt niet.
acct-passkey-failed = Inloggen of instellen met de passkey is niet gelukt.
acct-locked = Te veel pogingen. Probeer het later opnieuw.
acct-failed = Dat is niet gelukt. Probeer het opnieuw.
acct-failed-title = Dat is niet gelukt
acct-link-gone-title = Deze link werkt niet meer
acct-link-gone-text = Deze link om uw account in te stellen is al gebruikt of verlopen. Vraag uw beheerder om een nieuwe link.
acct-welcome-title = Welkom bij Zegel
acct-welcome-lead = U stelt het account { $email } in. Kies eerst een wachtwoord.
acct-new-password = Nieuw wachtwoord
acct-password-help = Minstens 12 tekens en niet makkelijk te raden, bijvoorbeeld een zin van een paar woorden.
acct-password-save = Wachtwoord opslaan
acct-security-title = Tweede stap instellen
acct-security-lead = Stel een verificatie-app of een passkey in voor extra veiligheid. Daarna kiest u Klaar.
acct-security-lead-required = Uw organisatie vraagt een tweede stap: stel een verificatie-app of een passkey in. Daarna kiest u Klaar.
acct-totp-heading = Verificatie-app
acct-totp-enabled = De verificatie-app is ingesteld.
acct-totp-none = Er is geen verificatie-app ingesteld.
acct-totp-scan = Scan deze QR-code met uw verificatie-app en vul de code in die de app toont.
acct-totp-qr-label = QR-code voor de verificatie-app
acct-totp-uri-label = Of voer deze gegevens in de app in:
acct-totp-confirm = Bevestigen
acct-totp-add = Verificatie-app instellen
acct-totp-remove = Verificatie-app verwijderen
acct-passkeys-heading = Passkeys
acct-passkeys-none = Er zijn geen passkeys ingesteld.
acct-passkey-name = Naam van de passkey
acct-passkey-add = Passkey toevoegen
acct-passkey-needs-js = Voor passkeys is JavaScript nodig.
acct-passkey-remove-named = Passkey { $name } verwijderen
acct-added-on = toegevoegd op { $date }
acct-remove = Verwijderen
acct-setup-finish = Klaar
acct-settings-title = Instellingen
acct-password-heading = Wachtwoord
acct-current-password = Huidig wachtwoord
acct-password-change = Wachtwoord wijzigen
acct-tokens-heading = API-tokens
acct-tokens-none = U heeft geen API-tokens.
acct-token-created = Uw nieuwe API-token staat hieronder. Kopieer het nu: het wordt niet nog eens getoond.
acct-token-label = Omschrijving
acct-token-created-at = Gemaakt
acct-token-used-at = Laatst gebruikt
acct-token-actions = Acties
acct-token-never = nooit
acct-token-revoke = Intrekken
acct-token-revoke-named = Token { $label } intrekken
acct-token-create = Token maken
acct-smtp-heading = SMTP voor uw mailprogramma of EPD
acct-smtp-intro = Met een SMTP-gebruikersnaam en -wachtwoord verstuurt Outlook of het EPD beveiligde berichten via Zegel (STARTTLS verplicht). Elk programma krijgt het zijne, zodat u het los kunt intrekken.
acct-smtp-created = Uw nieuwe SMTP-gegevens staan hieronder. Kopieer het wachtwoord nu: het wordt niet nog eens getoond.
acct-smtp-username = Gebruikersnaam
acct-smtp-password = Wachtwoord
acct-smtp-none = U heeft geen SMTP-gegevens.
acct-smtp-revoke-named = SMTP-gegevens { $user } intrekken
acct-smtp-create = SMTP-gegevens maken
acct-notice-smtp-revoked = De SMTP-gegevens zijn ingetrokken.
acct-notice-password = Uw wachtwoord is gewijzigd. Op uw andere apparaten bent u uitgelogd.
acct-notice-totp-added = De verificatie-app is ingesteld.
acct-notice-totp-removed = De verificatie-app is verwijderd.
acct-notice-passkey-added = De passkey is toegevoegd.
acct-notice-passkey-removed = De passkey is verwijderd.
acct-notice-token-revoked = Het API-token is ingetrokken.

## The sender web app: the frame of every signed-in page

sender-nav-label = Hoofdmenu
sender-nav-sent = Berichten
sender-nav-compose = Nieuw bericht
sender-nav-inbox = Inbox
sender-nav-settings = Instellingen
sender-nav-signout = Uitloggen

## Compose (issue 13, helper B): prefix compose-
compose-receipt-subject = Leesbevestiging: uw beveiligd bericht is geopend
compose-receipt-opened = { $email } heeft uw beveiligd bericht geopend.
compose-receipt-link = De status van het bericht ziet u hier:
compose-title = Nieuw bericht
compose-heading = Nieuw beveiligd bericht
compose-errors-heading = Controleer het formulier
compose-recipient-legend = Ontvanger { $n }
compose-recipient-legend-js = Ontvanger
compose-to = Aan
compose-method = Controle
compose-method-sms = Sms-code
compose-method-email = E-mailcode
compose-method-code = Eigen code
compose-phone = Mobiel nummer
compose-phone-help = Nodig bij Sms-code, bijvoorbeeld 06 1234 5678.
compose-code = Code
compose-code-help = Nodig bij Eigen code: 6 cijfers die u de ontvanger zelf geeft, bijvoorbeeld telefonisch.
compose-hint = Hint
compose-hint-help = Bij Eigen code, niet verplicht: een geheugensteun zonder persoonsgegevens.
compose-known = Eerder gebruikt: { $method }
compose-known-phone = Eerder gebruikt: { $method }, { $phone }
compose-known-js = Eerder gebruikt:
compose-add-recipient = Ontvanger toevoegen
compose-subject = Onderwerp
compose-body = Bericht
compose-reply = Antwoorden
compose-reply-once = Eén keer antwoorden
compose-reply-unlimited = Onbeperkt antwoorden
compose-reply-off = Niet antwoorden
compose-days = Beschikbaar (dagen)
compose-days-help = Standaard { $default } dagen; u kunt tot { $max } dagen kiezen (beleid van uw organisatie). Daarna wordt het bericht vernietigd.
compose-read-receipt = Leesbevestiging
compose-read-receipt-help = U krijgt een e-mail (zonder inhoud) zodra elke ontvanger het bericht voor het eerst opent.
compose-files = Bijlagen
compose-files-help = Hoogstens { $max } bestanden, samen hoogstens { $size }.
compose-uploading = Versturen…
compose-cancel-upload = Stoppen
compose-upload-cancelled = Gestopt. Er is niets verstuurd of bewaard.
compose-upload-failed = Het versturen is mislukt. Probeer het opnieuw.
compose-send = Versturen
compose-error-email-missing = Vul het e-mailadres van ontvanger { $n } in.
compose-error-email-invalid = Het e-mailadres van ontvanger { $n } klopt niet. Voorbeeld: naam@voorbeeld.nl
compose-error-email-twice = Ontvanger { $n } staat er al eerder in.
compose-error-phone-missing = Vul het mobiele nummer van ontvanger { $n } in: dat is nodig voor een sms-code.
compose-error-phone-invalid = Het mobiele nummer van ontvanger { $n } klopt niet.
compose-error-phone-mobile = Het nummer van ontvanger { $n } is geen mobiel nummer. Een sms-code kan alleen naar een mobiel nummer.
compose-error-phone-country = Naar het nummer van ontvanger { $n } stuurt uw organisatie geen sms. Kies een andere controle.
compose-error-code-missing = Vul de code voor ontvanger { $n } in: 6 cijfers die u zelf doorgeeft.
compose-error-code-invalid = De code voor ontvanger { $n } moet uit 6 cijfers bestaan.
compose-error-hint-invalid = De hint voor ontvanger { $n } is te lang of bevat persoonsgegevens.
compose-error-subject = Vul een onderwerp in.
compose-error-subject-long = Het onderwerp is te lang.
compose-error-body = Het bericht is te lang.
compose-error-days = Kies een aantal dagen van 1 tot en met { $max }.
compose-error-reply = Uw organisatie staat deze keuze voor antwoorden niet toe.
compose-error-recipients = Te veel ontvangers: hoogstens { $max }.
compose-error-files-large = De bijlagen zijn samen te groot: hoogstens { $size }. Er is niets verstuurd.
compose-error-files-many = Te veel bijlagen: hoogstens { $max }. Er is niets verstuurd.
compose-error-other = Het bericht kon niet worden verstuurd. Controleer het formulier.
compose-check-title = Controleer voor het versturen
compose-check-heading = Controleer voor het versturen
compose-check-lead = Het bericht is nog niet verstuurd. Kijk deze punten na.
compose-check-recipients = Ontvangers
compose-check-send = Toch versturen
compose-check-cancel = Annuleren
compose-check-cancel-help = Annuleren vernietigt het bericht en de bijlagen meteen.
compose-warning-first = Eerste bericht aan dit adres
compose-warning-did-you-mean = Bedoelde u { $suggestion }?
compose-warning-did-you-mean-detail = U typte { $email }.
compose-warning-many = Meer dan 5 ontvangers: het bericht gaat naar { $count } adressen.
## Following sent messages and the inbox (sender web app; helper C)

sent-title = Verzonden berichten
sent-filter-recipient = Ontvanger
sent-filter-status = Status
sent-filter-all = Alle statussen
sent-filter-submit = Filteren
sent-filter-clear = Filter wissen
sent-filter-bad-status = Kies een status uit de lijst.
sent-filter-bad-address = Vul een volledig e-mailadres in, bijvoorbeeld naam@voorbeeld.nl.
sent-empty = U heeft nog geen berichten verstuurd.
sent-empty-filtered = Geen berichten gevonden met dit filter.
sent-sent-at = Verzonden
sent-expires-at = beschikbaar tot
sent-paging = Pagina's
sent-prev = Vorige
sent-next = Volgende
sent-subject-gone = (onderwerp niet meer leesbaar)
sent-status-queued = In de wachtrij
sent-status-notified = Verstuurd
sent-status-delivered = Rechtstreeks afgeleverd
sent-status-opened = Geopend
sent-status-downloaded = Gedownload
sent-status-replied = Beantwoord
sent-status-failed = Mislukt
sent-status-revoked = Ingetrokken
sent-status-expired = Verlopen
sent-event-sent = Bericht verstuurd
sent-event-notified = Melding afgeleverd
sent-event-deferred = Melding uitgesteld, wordt opnieuw geprobeerd
sent-event-failed = Melding mislukt
sent-event-delivered-direct = Rechtstreeks afgeleverd bij de beveiligde-mailprovider van de ontvanger (NTA 7516)
sent-event-direct-failed = Rechtstreeks afleveren lukte niet, melding gestuurd
sent-event-mail-received = Beveiligde mail ontvangen van een andere provider
sent-event-code-requested = Code aangevraagd
sent-event-code-sent = Code verstuurd
sent-event-code-failed = Code kon niet worden verstuurd
sent-event-code-wrong = Verkeerde code ingevuld
sent-event-locked = Tijdelijk geblokkeerd na te veel verkeerde codes
sent-event-blocked = Geblokkeerd na te veel verkeerde codes
sent-event-unblocked = Blokkade opgeheven
sent-event-opened = Geopend
sent-event-viewed = Bericht bekeken
sent-event-downloaded = Bijlage gedownload
sent-event-exported = Kopie gedownload
sent-event-replied = Beantwoord
sent-event-reply-notified = U bent gemeld over het antwoord
sent-event-reply-read = Antwoord gelezen
sent-event-reply-downloaded = Bijlage van het antwoord gedownload
sent-event-forwarded = Doorgestuurd
sent-event-device-remembered = Apparaat onthouden
sent-event-device-revoked = Onthouden apparaat ingetrokken
sent-event-link-renewed = Nieuwe link gestuurd
sent-event-extended = Beschikbaarheid verlengd
sent-event-revoked = Ingetrokken
sent-event-expired = Verlopen
sent-event-receipt-issued = Bewijs gedownload
sent-event-sender-viewed = Door u bekeken
sent-event-extended-until = tot { $date }
sent-event-from = vanaf { $ip }
sent-state = Status van het bericht
sent-state-active = Beschikbaar
sent-state-revoked = Ingetrokken
sent-state-expired = Verlopen
sent-available-until = Beschikbaar tot
sent-attachments = Bijlagen
sent-receipt-download = Bewijs downloaden
sent-receipt-help = Een door de organisatie ondertekend bewijs (JWS) van verzending, aflevering, openen en downloaden, zonder de inhoud van het bericht.
sent-recipients = Ontvangers
sent-forwarded = Toegevoegd door doorsturen
sent-new-link = Nieuwe link sturen
sent-extend-heading = Verlengen
sent-extend-days = Verlengen met (dagen)
sent-extend-help = Ten hoogste { $max } dagen.
sent-extend-submit = Verlengen
sent-extend-bad-days = Vul een aantal dagen in van 1 tot en met { $max }.
sent-extend-none-left = Dit bericht kan niet langer beschikbaar blijven.
sent-revoke-heading = Intrekken
sent-revoke = Intrekken
sent-back-to-list = Terug naar verzonden berichten
sent-notice-revoked = Het bericht is ingetrokken. De inhoud is vernietigd; ontvangers kunnen het niet meer lezen.
sent-notice-new-link = Er is een nieuwe link gestuurd. De oude link werkt niet meer.
sent-notice-extended = De beschikbaarheid is verlengd.
sent-revoke-title = Bericht intrekken?
sent-revoke-confirm = Weet u zeker dat u het bericht "{ $subject }" wilt intrekken?
sent-revoke-effect = De inhoud en de bijlagen worden direct vernietigd. Ontvangers ({ $count }) kunnen het bericht daarna niet meer lezen. Dit kan niet ongedaan worden gemaakt.
sent-revoke-cancel = Annuleren, terug naar het bericht
inbox-title = Inbox
inbox-unread-count = Ongelezen: { $count }
inbox-empty = Er zijn nog geen antwoorden of doorgestuurde berichten.
inbox-unread = Ongelezen
inbox-kind-reply = Antwoord
inbox-kind-mail = Beveiligde mail
inbox-kind-mail-unverified = Beveiligde mail (afzender niet geverifieerd)
inbox-unverified = Let op: de afzender van deze mail is niet geverifieerd. Het domein van het afzendadres heeft de mail niet ondertekend (DKIM); hij kan van iemand anders komen. Open geen bijlagen en ga niet in op verzoeken zonder het na te gaan.
inbox-kind-forward = Doorgestuurd
inbox-from = Van { $from }
inbox-to = aan { $to }
inbox-attachments = bijlagen: { $count }
inbox-back = Terug naar de inbox
inbox-original = Uw oorspronkelijke bericht
inbox-attachments-heading = Bijlagen
inbox-answer-heading = Beantwoorden
inbox-answer-label = Uw antwoord
inbox-files-label = Bijlagen
inbox-files-help = Ten hoogste { $max } bestanden, samen ten hoogste { $size }.
inbox-answer-submit = Versturen
inbox-answer-sent = Uw antwoord is beveiligd verstuurd.
inbox-answer-code = Geef { $to } deze code door (telefonisch of per brief); hij wordt maar één keer getoond:
inbox-back-to-reply = Terug naar het antwoord
inbox-answer-empty = Schrijf eerst uw antwoord.
inbox-answer-too-large = De bijlagen zijn samen te groot (ten hoogste { $size }).
inbox-answer-too-many = Te veel bijlagen (ten hoogste { $max }).

## The patient's view (NEN 7513): who accessed this message

message-access-heading = Wie heeft dit bericht bekeken?
message-access-intro = Hieronder ziet u elke keer dat iemand dit bericht opende, las, downloadde of doorstuurde, het nieuwste eerst. Uw eigen bezoeken staan er ook bij.
message-access-you = U
message-access-sender = De afzender, { $sender } ({ $org })
message-access-forwarded-to = Iemand aan wie u het bericht hebt doorgestuurd ({ $email })
message-access-forwarded-on = Iemand aan wie het bericht daarna is doorgestuurd ({ $email })
message-access-opened = geopend met de code
message-access-viewed = bekeken
message-access-downloaded = bijlage gedownload
message-access-exported = gedownload als e-mail (kopie)
message-access-forwarded = doorgestuurd
message-access-forwarded-to-address = doorgestuurd aan { $email }
message-access-replied = beantwoord
message-access-sender-viewed = bekeken
message-access-reply-read = uw antwoord gelezen
message-access-reply-downloaded = bijlage van uw antwoord gedownload
message-access-earlier =
    { $n ->
        [one] En nog één eerdere keer.
       *[other] En nog { $n } eerdere keren.
    }
