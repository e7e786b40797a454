# Zegel: English texts for recipients.
#
# Same ids as ../nl/zegel.ftl (the Dutch catalog is the reference; a unit test
# checks that both define exactly the same ids). See there for the naming scheme.
# An id ending in -html holds trusted markup; its arguments are HTML-escaped.
# Texts that carry a one-time code (code-mail-*, code-sms) hold no other digits.

## Layout of every page

# The link to the other language, written in that language.
lang-switch = Nederlands
layout-title-default = Secure message
layout-skip = Skip to content
layout-secure = Secure message
layout-footer = This message is stored securely and is meant for you only. Do not share this link or your code with anyone.
error-fallback = Something went wrong. Please try again later.

## Landing page

landing-title = Open message
landing-heading = You have a secure message
landing-intro-html = <strong>{ $sender }</strong> of <strong>{ $org }</strong> has sent you a secure message.
landing-explain = To read the message, you first confirm who you are with a one-time code.
landing-open = Open message
landing-available = This message is available until { $date }.

## Confirm where the code goes

send-title = Get your code
send-heading = Get your code
send-sms-lead-html = We will send a code by text message to <strong class="addr">{ $destination }</strong>.
send-sms-not-yours = Is this not your phone number? Then do not send a code, but ask { $sender } ({ $org }) to send the message again.
send-email-lead-html = We will send a code by e-mail to <strong class="addr">{ $destination }</strong>.
send-button = Send me the code

## Enter the code

code-title = Enter code
code-heading = Enter code
code-lead-sender = Enter the code you received from { $sender } ({ $org }).
code-hint-html = Hint from the sender: <em>{ $hint }</em>
code-lead-sent-html = Enter the 6-digit code we sent to <strong class="addr">{ $destination }</strong>.
code-label = Code (6 digits)
code-submit = Confirm
code-no-code = No code received, or has the code expired?
code-resend = Send a new code
code-sent-sms = We have sent the code by text message. It may take a minute to arrive.
code-sent-email = We have sent the code by e-mail. Please also check your spam or junk folder.
code-wrong =
    This code is not correct. You can try { $remaining ->
        [one] 1 more time
       *[other] { $remaining } more times
    }.
code-expired = This code has expired or has already been used. Request a new code below.

## The message

message-from = From
message-sent = Sent
message-available-until = Available until
message-sender = { $sender } ({ $org })
message-attachments = Attachments
message-attachment-meta = { $kind }, { $size }
message-download = download

## Problem pages

problem-back = Back to the start
problem-not-found-title = This link does not work
problem-not-found-check = Check that you used the complete link from the e-mail; a long link is sometimes broken into two parts.
problem-not-found-contact = Still not working? Then contact the sender of the message.
problem-rate-title = Please wait a moment
problem-rate-text = Too many requests were made at once. Please try again in { $duration }.
problem-expired-title = This message has expired
problem-expired-text = This message was available until { $date } and has since been deleted for security reasons.
problem-gone-contact = Do you still need the message? Then contact { $sender } of { $org }.
problem-revoked-title = This message has been withdrawn
problem-revoked-text = The sender has withdrawn this message. It can no longer be read.
problem-locked-title = Too many wrong codes
problem-locked-why = To protect your message, access has been blocked for a while because a wrong code was entered too many times.
problem-locked-retry = You can try again in { $duration }, from { $time }. You will then get a new code.
problem-locked-not-you = Did you not enter a code yourself? Then contact the sender.
problem-blocked-title = Access blocked
problem-blocked-why = A wrong code was entered too many times. To protect your message, it can no longer be opened, not later either.
problem-blocked-contact = Please contact { $sender } at { $org }. The sender can restore your access.
problem-codes-title = New code asked for too often
problem-codes-text = You asked for a new code too often in a short time. You can have a code sent again in { $duration }, from { $time }.
problem-codes-have-one = Did you already receive a code? You can still use it while it is valid.
problem-sms-title = No SMS code possible right now
problem-sms-text = SMS codes cannot be sent right now. Please try again in { $duration }, or contact { $sender } at { $org }.
problem-error-title = Something went wrong
problem-error-text = Please try again in a few minutes. If it keeps going wrong, contact the sender.
problem-failed-title = This did not work
problem-failed-text = Go back to the link in your e-mail and try again.
problem-csrf-title = This page has expired
problem-csrf-back = Go back to the link in your e-mail and try again.
problem-csrf-cookies = Your browser must allow cookies from this website.

## Notification e-mail (never any content of the message itself)

notify-subject = Secure message from { $org }
notify-intro = { $sender } of { $org } has sent you a secure message.
notify-intro-forwarded = { $forwarder } has forwarded you a secure message from { $sender } ({ $org }).
notify-button = Read message
notify-how = Press the button to open the message. You will first be asked for a one-time code, so that only you can read it. You can also reply securely there; please do not reply to this e-mail.
notify-genuine = Is this e-mail genuine? The link must start with { $prefix } . If in doubt, contact { $org } directly.
notify-auto = This e-mail was sent automatically.

## The one-time code by e-mail and SMS (no digits besides the code)

code-mail-subject = Your access code for the message from { $org }
code-mail-code = Your one-time access code is: { $code }
code-mail-validity = It is valid for fifteen minutes. Never share this code with anyone.
code-sms = Your code for the secure message from { $org }: { $code } (valid for fifteen minutes)

## Dates (Europe/Amsterdam), durations, sizes, file kinds

datetime = { $day } { $month } { $year } at { $time }
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
duration-minutes =
    { $minutes ->
        [one] a minute
       *[other] { $minutes } minutes
    }
duration-hours =
    { $hours ->
        [one] an hour
       *[other] { $hours } hours
    }
size-bytes =
    { $n ->
        [one] { $n } byte
       *[other] { $n } bytes
    }
size-kb = { $n } kB
size-mb = { $n } MB
kind-pdf = PDF document
kind-image = image
kind-word = Word document
kind-excel = Excel file
kind-text = text file
kind-ext = { $ext } file
kind-other = file

## Conversation: thread, reply, forward, own copy, remembered device

message-thread-heading = Other messages in this conversation
message-thread-you = You
message-thread-gone = This message is no longer available.
message-actions = What would you like to do?
message-reply = Reply
message-forward = Forward
message-copy = Download a copy (.eml)
message-copy-help = One file with the whole conversation and its attachments, to open in your e-mail program.
message-reply-off = The sender has turned off replies to this message. Do you have a question? Please contact { $sender } ({ $org }).
message-reply-used = You have already replied; this message allows one reply. Do you have another question? Please contact { $sender } ({ $org }).
message-replied = Your reply was sent securely to { $sender }.
message-forwarded = The message was forwarded securely. The recipient gets their own e-mail and confirms who they are with a code.
message-forwarded-by = Forwarded by { $email }.
message-forward-note = Note from { $email }:
message-contact = Contact: { $contact }

reply-title = Reply
reply-heading = Reply to { $sender }
reply-lead = Your reply goes securely to { $sender } ({ $org }) only. Other recipients do not see it.
reply-body-label = Your reply
reply-files-label = Attachments (optional)
reply-files-help = For example a photo or a completed form: at most { $max } files, { $size } together.
reply-submit = Send reply
reply-back = Back to the message
reply-empty = Write a reply or add an attachment.
reply-too-large = The attachments are too large together. The maximum is { $size }.
reply-too-many = You can send at most { $max } attachments.
reply-off-title = Replying is not possible
reply-used-title = You have already replied
forward-title = Forward
forward-heading = Forward the message securely
forward-lead = The message and its attachments go securely to the new recipient. They get their own e-mail and confirm who they are with a code. { $sender } sees that you forwarded the message.
forward-email-label = Recipient's e-mail address
forward-phone-label = Recipient's mobile number (optional)
forward-phone-help = With a mobile number the recipient gets the code by text message, otherwise by e-mail.
forward-note-label = Note for the recipient (optional)
forward-submit = Forward securely
forward-off-title = Forwarding is not possible
forward-off = { $org } does not allow messages to be forwarded. Do you have a question? Please contact { $sender }.
forward-bad-email = This e-mail address is not valid. Please check it and try again.
forward-bad-phone = This phone number is not valid. Please use a mobile number, for example 06 12 34 56 78.
forward-not-mobile = This is not a mobile number. The code goes by text message, so only to a mobile number, for example 06 12 34 56 78. Leave the field empty to send the code by e-mail.
forward-note-too-long = The note is too long. Please use at most 2000 characters.
forward-refused = This message cannot be forwarded to this e-mail address. Do you have a question? Then contact { $sender }.
forward-phone-country = We cannot send an SMS code to this phone number. Leave the number empty; the recipient then gets the code by e-mail.
code-remember =
    Remember this device for { $days ->
        [one] one day
       *[other] { $days } days
    } (only on your own phone or computer)
send-not-mine = This is not my number
wrong-number-title = Not your number?
wrong-number-text = Then do not request a code. Ask { $sender } of { $org } to send the message again, to the right number.
wrong-number-safe = Your message stays safe: without the code nobody can read it.

## The sender's notification of a secure reply (staff; never any content)

notify-reply-subject = You have a secure reply
notify-reply-intro = { $from } has replied securely to your message via { $org }. The reply is waiting, encrypted; it is not in this e-mail.
notify-reply-how = Read the reply in Zegel ({ $url }) or through your integration (GET /api/v1/inbox).
notify-reply-received = Received: { $date }

## Sender accounts: sign-in, set-up, settings (issue 13)

acct-signin-title = Sign in
acct-email = Email address
acct-password = Password
acct-signin-submit = Sign in
acct-passkey-signin-lead = Or sign in with a passkey on this device (enter your email address first).
acct-passkey-signin = Sign in with a passkey
acct-second-title = Second step
acct-second-lead = Enter the 6-digit code from your authenticator app.
acct-second-passkey-lead = Or confirm with your passkey.
acct-code = Verification code
acct-code-submit = Confirm
acct-start-again = Start again
acct-wrong-credentials = The email address or the password is not right.
acct-wrong-code = This code is not right or was used already. Wait for a new code and try again.
acct-expired = That took too long. Please start again.
acct-second-factor-required = Your organisation asks for a second step when signing in: set up an authenticator app or a passkey.
acct-password-too-short = Choose a password of at least 12 characters.
acct-password-guessable = This password is too easy to guess. Choose a longer one, for example a sentence of a few words.
acct-wrong-current-password = The current password is not right.
acct-passkey-failed = Signing in or setting up with the passkey did not work.
acct-locked = Too many attempts. Please try again later.
acct-failed = That did not work. Please try again.
acct-failed-title = That did not work
acct-link-gone-title = This link no longer works
acct-link-gone-text = This link to set up your account was used already or has expired. Ask your administrator for a new link.
acct-welcome-title = Welcome to Zegel
acct-welcome-lead = You are setting up the account { $email }. First choose a password.
acct-new-password = New password
acct-password-help = At least 12 characters and not easy to guess, for example a sentence of a few words.
acct-password-save = Save password
acct-security-title = Set up a second step
acct-security-lead = Set up an authenticator app or a passkey for extra security. Then choose Done.
acct-security-lead-required = Your organisation asks for a second step: set up an authenticator app or a passkey. Then choose Done.
acct-totp-heading = Authenticator app
acct-totp-enabled = The authenticator app is set up.
acct-totp-none = No authenticator app is set up.
acct-totp-scan = Scan this QR code with your authenticator app and enter the code the app shows.
acct-totp-qr-label = QR code for the authenticator app
acct-totp-uri-label = Or enter these details in the app:
acct-totp-confirm = Confirm
acct-totp-add = Set up an authenticator app
acct-totp-remove = Remove the authenticator app
acct-passkeys-heading = Passkeys
acct-passkeys-none = No passkeys are set up.
acct-passkey-name = Name of the passkey
acct-passkey-add = Add a passkey
acct-passkey-needs-js = Passkeys need JavaScript.
acct-passkey-remove-named = Remove passkey { $name }
acct-added-on = added on { $date }
acct-remove = Remove
acct-setup-finish = Done
acct-settings-title = Settings
acct-password-heading = Password
acct-current-password = Current password
acct-password-change = Change password
acct-tokens-heading = API tokens
acct-tokens-none = You have no API tokens.
acct-token-created = Your new API token is below. Copy it now: it will not be shown again.
acct-token-label = Description
acct-token-created-at = Created
acct-token-used-at = Last used
acct-token-actions = Actions
acct-token-never = never
acct-token-revoke = Revoke
acct-token-revoke-named = Revoke token { $label }
acct-token-create = Create token
acct-smtp-heading = SMTP for your mail program or EHR
acct-smtp-intro = With an SMTP user name and password, Outlook or the EHR sends secure messages through Zegel (STARTTLS required). Give each program its own, so that you can revoke it on its own.
acct-smtp-created = Your new SMTP details are below. Copy the password now: it will not be shown again.
acct-smtp-username = User name
acct-smtp-password = Password
acct-smtp-none = You have no SMTP details.
acct-smtp-revoke-named = Revoke SMTP details { $user }
acct-smtp-create = Create SMTP details
acct-notice-smtp-revoked = The SMTP details have been revoked.
acct-notice-password = Your password was changed. You were signed out on your other devices.
acct-notice-totp-added = The authenticator app is set up.
acct-notice-totp-removed = The authenticator app was removed.
acct-notice-passkey-added = The passkey was added.
acct-notice-passkey-removed = The passkey was removed.
acct-notice-token-revoked = The API token was revoked.

## The sender web app: the frame of every signed-in page

sender-nav-label = Main menu
sender-nav-sent = Messages
sender-nav-compose = New message
sender-nav-inbox = Inbox
sender-nav-settings = Settings
sender-nav-signout = Sign out

## Compose (issue 13, helper B): prefix compose-
compose-receipt-subject = Read receipt: your secure message was opened
compose-receipt-opened = { $email } opened your secure message.
compose-receipt-link = See the message's status here:
compose-title = New message
compose-heading = New secure message
compose-errors-heading = Please check the form
compose-recipient-legend = Recipient { $n }
compose-recipient-legend-js = Recipient
compose-to = To
compose-method = Verification
compose-method-sms = SMS code
compose-method-email = E-mail code
compose-method-code = Own code
compose-phone = Mobile number
compose-phone-help = Needed for an SMS code, for example 06 1234 5678.
compose-code = Code
compose-code-help = Needed for Own code: 6 digits you give the recipient yourself, for example by phone.
compose-hint = Hint
compose-hint-help = For Own code, optional: a reminder without personal data.
compose-known = Used before: { $method }
compose-known-phone = Used before: { $method }, { $phone }
compose-known-js = Used before:
compose-add-recipient = Add recipient
compose-subject = Subject
compose-body = Message
compose-reply = Replies
compose-reply-once = Reply once
compose-reply-unlimited = Reply without limit
compose-reply-off = No replies
compose-days = Available (days)
compose-days-help = { $default } days by default; you can choose up to { $max } days (your organisation's policy). The message is destroyed after that.
compose-read-receipt = Read receipt
compose-read-receipt-help = You get an e-mail (without content) when each recipient first opens the message.
compose-files = Attachments
compose-files-help = At most { $max } files, { $size } together.
compose-uploading = Sending…
compose-cancel-upload = Stop
compose-upload-cancelled = Stopped. Nothing was sent or kept.
compose-upload-failed = Sending failed. Please try again.
compose-send = Send
compose-error-email-missing = Enter the e-mail address of recipient { $n }.
compose-error-email-invalid = The e-mail address of recipient { $n } is not valid. Example: name@example.com
compose-error-email-twice = Recipient { $n } is already listed.
compose-error-phone-missing = Enter the mobile number of recipient { $n }: an SMS code needs it.
compose-error-phone-invalid = The mobile number of recipient { $n } is not valid.
compose-error-phone-mobile = The number of recipient { $n } is not a mobile number. An SMS code can only go to a mobile number.
compose-error-phone-country = Your organisation sends no SMS to the number of recipient { $n }. Choose another verification.
compose-error-code-missing = Enter the code for recipient { $n }: 6 digits you pass on yourself.
compose-error-code-invalid = The code for recipient { $n } must be 6 digits.
compose-error-hint-invalid = The hint for recipient { $n } is too long or contains personal data.
compose-error-subject = Enter a subject.
compose-error-subject-long = The subject is too long.
compose-error-body = The message is too long.
compose-error-days = Choose a number of days from 1 to { $max }.
compose-error-reply = Your organisation does not allow this reply choice.
compose-error-recipients = Too many recipients: at most { $max }.
compose-error-files-large = The attachments are too large together: at most { $size }. Nothing was sent.
compose-error-files-many = Too many attachments: at most { $max }. Nothing was sent.
compose-error-other = The message could not be sent. Please check the form.
compose-check-title = Check before sending
compose-check-heading = Check before sending
compose-check-lead = The message has not been sent yet. Please check these points.
compose-check-recipients = Recipients
compose-check-send = Send anyway
compose-check-cancel = Cancel
compose-check-cancel-help = Cancelling destroys the message and its attachments at once.
compose-warning-first = First message to this address
compose-warning-did-you-mean = Did you mean { $suggestion }?
compose-warning-did-you-mean-detail = You typed { $email }.
compose-warning-many = More than 5 recipients: the message goes to { $count } addresses.
## Following sent messages and the inbox (sender web app; helper C)

sent-title = Sent messages
sent-filter-recipient = Recipient
sent-filter-status = Status
sent-filter-all = All statuses
sent-filter-submit = Filter
sent-filter-clear = Clear filter
sent-filter-bad-status = Choose a status from the list.
sent-filter-bad-address = Enter a full e-mail address, for example name@example.com.
sent-empty = You have not sent any messages yet.
sent-empty-filtered = No messages match this filter.
sent-sent-at = Sent
sent-expires-at = available until
sent-paging = Pages
sent-prev = Previous
sent-next = Next
sent-subject-gone = (subject no longer readable)
sent-status-queued = Queued
sent-status-notified = Sent
sent-status-delivered = Delivered directly
sent-status-opened = Opened
sent-status-downloaded = Downloaded
sent-status-replied = Replied
sent-status-failed = Failed
sent-status-revoked = Revoked
sent-status-expired = Expired
sent-event-sent = Message sent
sent-event-notified = Notification delivered
sent-event-deferred = Notification delayed, will be retried
sent-event-failed = Notification failed
sent-event-delivered-direct = Delivered directly to the recipient's secure mail provider (NTA 7516)
sent-event-direct-failed = Direct delivery not possible, notification sent instead
sent-event-mail-received = Secure mail received from another provider
sent-event-code-requested = Code requested
sent-event-code-sent = Code sent
sent-event-code-failed = Code could not be sent
sent-event-code-wrong = Wrong code entered
sent-event-locked = Locked for a while after too many wrong codes
sent-event-blocked = Blocked after too many wrong codes
sent-event-unblocked = Block lifted
sent-event-opened = Opened
sent-event-viewed = Message viewed
sent-event-downloaded = Attachment downloaded
sent-event-exported = Copy downloaded
sent-event-replied = Replied
sent-event-reply-notified = You were told about the reply
sent-event-reply-read = Reply read
sent-event-reply-downloaded = Attachment of the reply downloaded
sent-event-forwarded = Forwarded
sent-event-device-remembered = Device remembered
sent-event-device-revoked = Remembered device revoked
sent-event-link-renewed = New link sent
sent-event-extended = Availability extended
sent-event-revoked = Revoked
sent-event-expired = Expired
sent-event-receipt-issued = Receipt downloaded
sent-event-sender-viewed = Viewed by you
sent-event-extended-until = until { $date }
sent-event-from = from { $ip }
sent-state = State of the message
sent-state-active = Available
sent-state-revoked = Revoked
sent-state-expired = Expired
sent-available-until = Available until
sent-attachments = Attachments
sent-receipt-download = Download receipt
sent-receipt-help = A receipt signed by the organisation (JWS) of sending, delivery, opening and downloads, without the message content.
sent-recipients = Recipients
sent-forwarded = Added by a forward
sent-new-link = Send a new link
sent-extend-heading = Extend
sent-extend-days = Extend by (days)
sent-extend-help = At most { $max } days.
sent-extend-submit = Extend
sent-extend-bad-days = Enter a number of days from 1 to { $max }.
sent-extend-none-left = This message cannot stay available any longer.
sent-revoke-heading = Revoke
sent-revoke = Revoke
sent-back-to-list = Back to sent messages
sent-notice-revoked = The message was revoked. Its content is destroyed; recipients can no longer read it.
sent-notice-new-link = A new link was sent. The old link no longer works.
sent-notice-extended = The availability was extended.
sent-revoke-title = Revoke message?
sent-revoke-confirm = Are you sure you want to revoke the message "{ $subject }"?
sent-revoke-effect = Its content and attachments are destroyed at once. Recipients ({ $count }) can no longer read it. This cannot be undone.
sent-revoke-cancel = Cancel, back to the message
inbox-title = Inbox
inbox-unread-count = Unread: { $count }
inbox-empty = There are no replies or forwarded messages yet.
inbox-unread = Unread
inbox-kind-reply = Reply
inbox-kind-mail = Secure mail
inbox-kind-mail-unverified = Secure mail (sender not verified)
inbox-unverified = Caution: the sender of this mail is not verified. The domain of the sender's address did not sign it (DKIM); it may come from someone else. Do not open attachments or act on requests without checking.
inbox-kind-forward = Forwarded
inbox-from = From { $from }
inbox-to = to { $to }
inbox-attachments = attachments: { $count }
inbox-back = Back to the inbox
inbox-original = Your original message
inbox-attachments-heading = Attachments
inbox-answer-heading = Answer
inbox-answer-label = Your answer
inbox-files-label = Attachments
inbox-files-help = At most { $max } files, together at most { $size }.
inbox-answer-submit = Send
inbox-answer-sent = Your answer was sent securely.
inbox-answer-code = Give { $to } this code (by phone or letter); it is shown only once:
inbox-back-to-reply = Back to the reply
inbox-answer-empty = Write your answer first.
inbox-answer-too-large = The attachments are too large together (at most { $size }).
inbox-answer-too-many = Too many attachments (at most { $max }).

## The patient's view (NEN 7513): who accessed this message

message-access-heading = Who has viewed this message?
message-access-intro = Below is every time someone opened, read, downloaded or forwarded this message, newest first. Your own visits are listed too.
message-access-you = You
message-access-sender = The sender, { $sender } ({ $org })
message-access-forwarded-to = Someone you forwarded the message to ({ $email })
message-access-forwarded-on = Someone the message was forwarded on to ({ $email })
message-access-opened = opened with the code
message-access-viewed = viewed
message-access-downloaded = attachment downloaded
message-access-exported = downloaded as e-mail (copy)
message-access-forwarded = forwarded
message-access-forwarded-to-address = forwarded to { $email }
message-access-replied = replied
message-access-sender-viewed = viewed
message-access-reply-read = read your reply
message-access-reply-downloaded = downloaded an attachment of your reply
message-access-earlier =
    { $n ->
        [one] And one earlier time.
       *[other] And { $n } earlier times.
    }
