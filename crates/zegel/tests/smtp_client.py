"""A mail client for the submission tests: Python's smtplib, driven by a JSON plan on stdin.

The plan: {"port": N, "cafile": PATH, "steps": [...]} where each step is one of
  ["ehlo"], ["starttls"], ["auth", "PLAIN"|"LOGIN", user, password],
  ["raw", "COMMAND LINE"], ["mail", from, size_or_null], ["rcpt", address],
  ["data", path_of_the_mail], ["noop"], ["rset"], ["quit"]
Prints one JSON list: per step [code, text] (text lines joined by "\n"), or ["closed", why]
once the server closed the connection (and stops there).
"""

import json
import smtplib
import ssl
import sys


def main():
    plan = json.load(sys.stdin)
    ctx = ssl.create_default_context(cafile=plan["cafile"])
    s = smtplib.SMTP("127.0.0.1", plan["port"], local_hostname="client.example", timeout=60)
    out = []
    try:
        for step in plan["steps"]:
            kind = step[0]
            if kind == "ehlo":
                code, text = s.ehlo()
            elif kind == "starttls":
                code, text = s.starttls(context=ctx)
                s.ehlo_resp = None
            elif kind == "auth":
                mech, user, password = step[1], step[2], step[3]
                s.user, s.password = user, password
                try:
                    code, text = s.auth(mech, getattr(s, "auth_" + mech.lower()), initial_response_ok=True)
                except smtplib.SMTPAuthenticationError as e:
                    code, text = e.smtp_code, e.smtp_error
                except smtplib.SMTPNotSupportedError as e:
                    code, text = 0, str(e).encode()
            elif kind == "raw":
                code, text = s.docmd(step[1])
            elif kind == "mail":
                opts = [] if step[2] is None else ["SIZE=%d" % step[2]]
                code, text = s.mail(step[1], opts)
            elif kind == "rcpt":
                code, text = s.rcpt(step[1])
            elif kind == "data":
                with open(step[1], "rb") as f:
                    body = f.read()
                try:
                    code, text = s.data(body)
                except smtplib.SMTPDataError as e:
                    code, text = e.smtp_code, e.smtp_error
            elif kind == "noop":
                code, text = s.noop()
            elif kind == "rset":
                code, text = s.rset()
            elif kind == "quit":
                code, text = s.docmd("QUIT")
            else:
                raise ValueError(kind)
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            out.append([code, text])
    except (smtplib.SMTPServerDisconnected, ConnectionError) as e:
        out.append(["closed", str(e)])
    print(json.dumps(out))


main()
