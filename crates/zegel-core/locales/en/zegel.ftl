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
