//! NTA 7516 direct delivery between providers (issue 15), with real parts: `zegel serve`, a DNS
//! server on 127.0.0.1 (dnsmasq) publishing the NTA 7516 TXT records and MX hosts, a receiving
//! provider (aiosmtpd with STARTTLS, or a second Zegel installation) with a certificate from a
//! throw-away CA. Both backends.
//!
//! Needs `dnsmasq` (scripts/test.sh installs `dnsmasq-base`), Python's `aiosmtpd` and `dnslib`
//! (tests/peers/: a DNS server that validates like unbound, an MTA-STS policy server) and openssl.

#[allow(dead_code)]
mod common_bin;

use common_bin::dns::Dns;
use common_bin::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::{Child, Command};

const SENDER: &str = "dokter@ziekenhuis.test";

/// Direct delivery on (NTA 7516), resolving with the DNS server at `dns`, delivering to the
/// providers' `port` and trusting `ca`; bounces go to Zegel's own address.
fn direct_delivery<'a>(env: &'a mut Env, dns: &str, port: u16, ca: &Path) -> &'a mut Env {
    env.set("ZEGEL_NTA7516", "on")
        .set("ZEGEL_DNS_RESOLVER", dns)
        .set("ZEGEL_DIRECT_SMTP_PORT", &port.to_string())
        .set("ZEGEL_SMTP_CA_FILE", &ca.to_string_lossy())
        .set("ZEGEL_MAIL_FROM", "zegel@ziekenhuis.test")
}

fn nta(domain: &str, dates: &str, mx: &str) -> String {
    format!("--txt-record={domain},v=NTA7516-1;{dates};provider=Testzorg;{mx}")
}

fn events(st: &Value) -> Vec<(String, String)> {
    st["recipients"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The attachments of a received mail: (name, bytes).
fn attachments(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    use mail_parser::{MessageParser, MimeHeaders};
    let msg = MessageParser::default().parse(raw).expect("a mail");
    msg.attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_owned(),
                a.contents().to_vec(),
            )
        })
        .collect()
}

/// The details of the `direct_failed` events among `ev`.
fn direct_failed(ev: &[(String, String)]) -> Vec<&String> {
    ev.iter()
        .filter(|(t, _)| t == "direct_failed")
        .map(|(_, d)| d)
        .collect()
}

async fn status_when(server: &Server, token: &str, id: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = server.message_status(token, id).await;
        if st["recipients"][0]["status"] == want {
            return st;
        }
        if std::time::Instant::now() > deadline {
            server.fail(&format!("status not {want} within 30 s: {st}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get_json(server: &Server, path: &str, token: &str) -> Value {
    server.get_auth(path, token).await.json().await.unwrap()
}

fn mails_to(dir: &Path, to: &str) -> Vec<PathBuf> {
    files_in(dir)
        .into_iter()
        .filter(|p| Mail::read(p).to.as_deref() == Some(to))
        .collect()
}

/// An NTA domain gets the whole message directly (TLS, verified); a domain without a record,
/// one whose record has expired, and one whose host's certificate does not match get the
/// portal notification, the last with `direct_failed` and the reason.
async fn direct_delivery_follows_the_nta_record(mut env: Env) {
    let ca_dir = env.scratch("ca");
    let (ca, cert, key) = internal_ca_for(&ca_dir, "DNS:mx.nta.test");
    let provider = env.scratch("provider");
    let port = free_port();
    let sink = SmtpSink::start_mode(
        port,
        &provider.join("in"),
        &format!("starttls:{}:{}", cert.display(), key.display()),
    )
    .await;
    let dns = Dns::start(
        &env.scratch("dns"),
        &[
            nta(
                "nta.test",
                "startdate=2024-01;enddate=2099-12",
                "ntamx=10 mx.nta.test",
            ),
            // Without ntamx: the domain's MX hosts.
            nta("mxonly.test", "startdate=2024-01;enddate=2099-12", ""),
            "--mx-host=mxonly.test,mx.nta.test,10".into(),
            nta(
                "expired.test",
                "startdate=2020-01;enddate=2021-12",
                "ntamx=10 mx.nta.test",
            ),
            // Its host answers with mx.nta.test's certificate: the name does not match.
            nta(
                "badtls.test",
                "startdate=2024-01;enddate=2099-12",
                "ntamx=10 mx.badtls.test",
            ),
            "--host-record=mx.nta.test,127.0.0.1".into(),
            "--host-record=mx.badtls.test,127.0.0.1".into(),
            "--txt-record=plain.test,v=spf1 -all".into(),
        ],
    )
    .await;
    direct_delivery(&mut env, &dns.addr(), port, &ca)
        .set("ZEGEL_PUBLIC_URL", "https://zegel.ziekenhuis.test");
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let pdf: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut ids = Vec::new();
    for domain in ["nta", "mxonly", "expired", "badtls", "plain"] {
        let id = send_with_file(
            &server,
            &token,
            ("Uitslag bloedonderzoek", "Beste patiënt, zie de bijlage."),
            &format!("pat@{domain}.test"),
            ("uitslag-één.pdf", &pdf),
        )
        .await;
        ids.push(id);
    }

    // Directly delivered: the status, the event with the provider and host, the whole
    // message at the provider over TLS with the attachment byte for byte.
    for (id, to) in [(&ids[0], "pat@nta.test"), (&ids[1], "pat@mxonly.test")] {
        let st = status_when(&server, &token, id, "delivered").await;
        let ev = events(&st);
        assert!(
            ev.iter()
                .any(|(t, d)| t == "delivered_direct" && d.contains("Testzorg via mx.nta.test")),
            "{ev:?}"
        );
        assert!(
            !ev.iter()
                .any(|(t, _)| t == "notified" || t == "direct_failed"),
            "{ev:?}"
        );
        let got = mails_to(&sink.dir, to);
        assert_eq!(got.len(), 1, "one mail to {to}");
        let mail = Mail::read(&got[0]);
        assert_eq!(mail.subject.as_deref(), Some("Uitslag bloedonderzoek"));
        assert_eq!(mail.from_addr.as_deref(), Some(SENDER));
        assert!(mail
            .text_parts
            .iter()
            .any(|t| t.contains("Beste patiënt, zie de bijlage.")));
        assert_eq!(
            attachments(&std::fs::read(&got[0]).unwrap()),
            vec![("uitslag-één.pdf".to_owned(), pdf.clone())]
        );
    }
    assert!(
        sink.arrivals().iter().all(|a| a.tls),
        "direct delivery only over TLS"
    );
    // EHLO with the name other providers know us by; bounces come to Zegel's address.
    for p in files_in(&sink.dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let meta = std::fs::read(sink.dir.join(format!(".{name}.json"))).unwrap();
        let meta: Value = serde_json::from_slice(&meta).unwrap();
        assert_eq!(meta["helo"], "zegel.ziekenhuis.test", "{meta}");
        assert_eq!(meta["mail_from"], "zegel@ziekenhuis.test", "{meta}");
    }

    // The others: the portal notification, nothing of the message at the provider.
    let outbox = env.data().join("outbox/mail");
    for (id, to, why) in [
        (&ids[2], "pat@expired.test", None),
        (&ids[3], "pat@badtls.test", Some("mx.badtls.test")),
        (&ids[4], "pat@plain.test", None),
    ] {
        let st = status_when(&server, &token, id, "notified").await;
        let ev = events(&st);
        assert!(ev.iter().any(|(t, _)| t == "notified"), "{ev:?}");
        assert!(!ev.iter().any(|(t, _)| t == "delivered_direct"), "{ev:?}");
        let failed = direct_failed(&ev);
        match why {
            None => assert!(failed.is_empty(), "{to}: {ev:?}"),
            Some(host) => {
                assert_eq!(failed.len(), 1, "{to}: {ev:?}");
                assert!(
                    failed[0].contains(host) && failed[0].contains("TLS"),
                    "the sender sees why: {}",
                    failed[0]
                );
            }
        }
        assert!(
            mails_to(&sink.dir, to).is_empty(),
            "{to} got nothing directly"
        );
        assert_eq!(mails_to(&outbox, to).len(), 1, "{to} got the notification");
    }
    for to in ["pat@nta.test", "pat@mxonly.test"] {
        assert!(
            mails_to(&outbox, to).is_empty(),
            "{to} got no portal notification"
        );
    }
    // The sent list filters on the new status.
    let listed = get_json(&server, "/api/v1/messages?status=delivered", &token).await;
    let mut listed: Vec<&str> = listed["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    listed.sort_unstable();
    let mut want = vec![ids[0].as_str(), ids[1].as_str()];
    want.sort_unstable();
    assert_eq!(listed, want);
    let out = env.run(&["audit", "verify"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    server.assert_logs_never_contain(&[
        "Uitslag bloedonderzoek",
        "uitslag-één.pdf",
        "Beste patiënt",
    ]);
    drop(sink);
}

/// A large message streams out: a 48 MiB attachment (65 MiB as mail), DKIM-signed (the body is
/// hashed in a first pass), arrives byte for byte with a valid signature while the server's
/// memory grows by less than the attachment, let alone the mail (measured: +2 to +6 MiB; +271
/// MiB when the mail was built in memory). The same upload goes
/// to a portal-only address first, so that the allocator already holds what an upload takes
/// (+40 MiB the first time, whatever its size). A message larger than the provider's announced
/// SIZE is not sent at all: the sender sees why, the patient gets the portal notification.
async fn a_large_message_streams_to_the_provider(mut env: Env) {
    const MIB: usize = 1 << 20;
    let ca_dir = env.scratch("ca");
    let (ca, cert, key) = internal_ca_for(&ca_dir, "DNS:mx.groot.test,DNS:mx.klein.test");
    let (dkim_pem, dkim_record) = zegel_testkit::dkim::ed25519_key();
    let dkim_file = env.scratch("dkim").join("zegel.pem");
    std::fs::write(&dkim_file, dkim_pem).unwrap();
    let port = free_port();
    let tls = format!("starttls:{}:{}", cert.display(), key.display());
    let big =
        SmtpSink::start_sized_at("127.0.0.1", port, &env.scratch("groot"), &tls, 128 * MIB).await;
    let small =
        SmtpSink::start_sized_at("127.0.0.2", port, &env.scratch("klein"), &tls, 4 * MIB).await;
    let dates = "startdate=2024-01;enddate=2099-12";
    let dns = Dns::start(
        &env.scratch("dns"),
        &[
            nta("groot.test", dates, "ntamx=10 mx.groot.test"),
            nta("klein.test", dates, "ntamx=10 mx.klein.test"),
            "--host-record=mx.groot.test,127.0.0.1".into(),
            "--host-record=mx.klein.test,127.0.0.2".into(),
        ],
    )
    .await;
    direct_delivery(&mut env, &dns.addr(), port, &ca)
        .set("ZEGEL_DKIM_DOMAIN", "ziekenhuis.test")
        .set("ZEGEL_DKIM_SELECTOR", "zegel")
        .set("ZEGEL_DKIM_KEY_FILE", &dkim_file.to_string_lossy())
        .set("ZEGEL_DIRECT_MAX_BYTES", &(64 * MIB).to_string());
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;

    let scan: Vec<u8> = (0..48 * MIB as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let warm_up = send_with_file(
        &server,
        &token,
        ("MRI-beelden", "Beste collega, de beelden."),
        "pat@elders.test",
        ("mri-scan.dcm", &scan),
    )
    .await;
    status_when(&server, &token, &warm_up, "notified").await;
    let peak = Peak::start(server.pid());
    let id = send_with_file(
        &server,
        &token,
        ("MRI-beelden", "Beste collega, de beelden."),
        "pat@groot.test",
        ("mri-scan.dcm", &scan),
    )
    .await;
    let st = status_when(&server, &token, &id, "delivered").await;
    let (before, at_peak) = peak.read();
    assert!(
        events(&st)
            .iter()
            .any(|(t, d)| t == "delivered_direct" && d.contains("mx.groot.test")),
        "{st}"
    );
    let got = mails_to(&big.dir, "pat@groot.test");
    assert_eq!(got.len(), 1);
    let raw = std::fs::read(&got[0]).unwrap();
    assert_eq!(
        attachments(&raw),
        vec![("mri-scan.dcm".to_owned(), scan.clone())]
    );
    zegel_testkit::dkim::verify(&raw, "zegel", "ziekenhuis.test", &dkim_record)
        .await
        .expect("the provider verifies the signature over the whole mail");
    let grew = at_peak.saturating_sub(before);
    eprintln!(
        "DIRECT: before {} peak {} grew {}",
        before / MIB,
        at_peak / MIB,
        grew / MIB
    );
    assert!(
        grew < 48 * MIB,
        "a 48 MiB attachment sent (65 MiB as mail) grew the server by {} MiB \
         (resident {} MiB before, {} MiB at the peak)",
        grew / MIB,
        before / MIB,
        at_peak / MIB
    );

    // 5 MiB to a provider that takes 4 MiB: refused before MAIL, the portal instead.
    let five = &scan[..5 * MIB];
    let id = send_with_file(
        &server,
        &token,
        ("Verslag", "Beste collega, het verslag."),
        "pat@klein.test",
        ("verslag.pdf", five),
    )
    .await;
    let st = status_when(&server, &token, &id, "notified").await;
    let ev = events(&st);
    let failed = direct_failed(&ev);
    assert_eq!(failed.len(), 1, "{ev:?}");
    assert!(
        failed[0].contains("mx.klein.test") && failed[0].contains("up to 4 MiB"),
        "the sender sees why: {}",
        failed[0]
    );
    assert!(
        files_in(&small.dir).is_empty(),
        "nothing reached the small provider"
    );
    let outbox = env.data().join("outbox/mail");
    assert_eq!(mails_to(&outbox, "pat@klein.test").len(), 1);
    server.assert_logs_never_contain(&["MRI-beelden", "mri-scan.dcm", "Verslag", "verslag.pdf"]);
}

/// Two Zegel installations: the hospital's delivers directly to the GP practice's, whose
/// listener takes mail for its own domain over STARTTLS without AUTH and puts it, encrypted,
/// into the addressed user's inbox, verified by the hospital's DKIM signature. A forged mail
/// (no signature) is kept but marked unverified. An address nobody has there is refused at
/// RCPT: the hospital falls back to the portal notification and says why.
async fn two_installations_exchange_mail_directly(mut a: Env, mut b: Env) {
    let ca_dir = a.scratch("ca");
    let (ca, cert, key) = internal_ca_for(&ca_dir, "DNS:mx.praktijk.test,IP:127.0.0.1");
    // The hospital signs its mail (DKIM) and publishes the key and its own NTA record.
    let (dkim_pem, dkim_record) = zegel_testkit::dkim::ed25519_key();
    let dkim_file = a.scratch("dkim").join("zegel.pem");
    std::fs::write(&dkim_file, dkim_pem).unwrap();
    let dates = "startdate=2024-01;enddate=2099-12";
    let dns = Dns::start(
        &a.scratch("dns"),
        &[
            nta("praktijk.test", dates, "ntamx=10 mx.praktijk.test"),
            "--host-record=mx.praktijk.test,127.0.0.1".into(),
            nta("ziekenhuis.test", dates, "ntamx=10 mx.ziekenhuis.test"),
            format!("--txt-record=zegel._domainkey.ziekenhuis.test,{dkim_record}"),
        ],
    )
    .await;
    // B: the GP practice, receiving for praktijk.test.
    let port_b = free_port();
    b.set("ZEGEL_SUBMISSION_LISTEN", &format!("127.0.0.1:{port_b}"))
        .set("ZEGEL_SUBMISSION_TLS_CERT", &cert.to_string_lossy())
        .set("ZEGEL_SUBMISSION_TLS_KEY", &key.to_string_lossy())
        .set("ZEGEL_MAIL_FROM", "zegel@praktijk.test")
        .set("ZEGEL_DNS_RESOLVER", &dns.addr());
    let gp = "huisarts@praktijk.test";
    let token_b = b.token(gp).await;
    let out = b
        .run_ok(&[
            "admin",
            "org",
            "domains",
            "--slug",
            "default",
            "--add",
            "Praktijk.Test.",
        ])
        .await;
    assert_eq!(out.trim(), "praktijk.test");
    let server_b = b.start(&["serve"]).await;
    // A: the hospital, delivering directly.
    direct_delivery(&mut a, &dns.addr(), port_b, &ca)
        .set("ZEGEL_DKIM_DOMAIN", "ziekenhuis.test")
        .set("ZEGEL_DKIM_SELECTOR", "zegel")
        .set("ZEGEL_DKIM_KEY_FILE", &dkim_file.to_string_lossy());
    let token_a = a.token(SENDER).await;
    let server_a = a.start(&["serve"]).await;
    let letter: Vec<u8> = (0..90_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let sent = send_with_file(
        &server_a,
        &token_a,
        ("Ontslagbrief", "Geachte collega, bijgaand de ontslagbrief."),
        gp,
        ("ontslagbrief.pdf", &letter),
    )
    .await;
    let st = status_when(&server_a, &token_a, &sent, "delivered").await;
    assert!(
        events(&st)
            .iter()
            .any(|(t, d)| t == "delivered_direct" && d.contains("mx.praktijk.test")),
        "{st}"
    );

    // At B: in the GP's inbox as secure mail from the hospital's sender.
    let inbox = get_json(&server_b, "/api/v1/inbox", &token_b).await;
    let items = inbox["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{inbox}"));
    assert_eq!(items.len(), 1, "{inbox}");
    assert_eq!(items[0]["type"], "mail");
    assert_eq!(items[0]["from"]["email"], SENDER);
    assert_eq!(items[0]["subject"], "Ontslagbrief");
    assert_eq!(
        items[0]["verified"], true,
        "signed by the hospital's domain: {inbox}"
    );
    let id = items[0]["id"].as_str().unwrap().to_owned();
    let mail = get_json(&server_b, &format!("/api/v1/inbox/{id}"), &token_b).await;
    assert_eq!(
        mail["body"].as_str().map(str::trim),
        Some("Geachte collega, bijgaand de ontslagbrief."),
        "{mail}"
    );
    let att = &mail["attachments"][0];
    assert_eq!(att["name"], "ontslagbrief.pdf");
    let res = server_b
        .get_auth(
            &format!(
                "/api/v1/inbox/{id}/attachments/{}",
                att["id"].as_str().unwrap()
            ),
            &token_b,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().to_vec(), letter, "byte for byte");
    // The GP is told (no content), as for a reply.
    let told = wait_for_files(&b.data().join("outbox/mail"), 1, Duration::from_secs(30)).await;
    let told = Mail::read(&told[0]);
    assert_eq!(told.to.as_deref(), Some(gp));
    assert_no_content(
        &told,
        &["Ontslagbrief", "ontslagbrief.pdf", "Geachte collega"],
    );

    // A forged mail "from" the hospital, without its signature, straight to B's listener: kept
    // (a provider may not sign), but marked unverified. An unknown user is refused at RCPT.
    let forged = b.scratch("forged").join("forged.eml");
    std::fs::write(
        &forged,
        format!("From: {SENDER}\r\nTo: {gp}\r\nSubject: Dringend\r\n\r\nKlik hier.\r\n"),
    )
    .unwrap();
    let replies = smtp_client(
        port_b,
        &ca,
        serde_json::json!([
            ["ehlo"],
            ["starttls"],
            ["ehlo"],
            ["mail", SENDER, null],
            ["rcpt", "onbekend@praktijk.test"],
            ["rcpt", gp],
            ["data", forged],
            ["quit"]
        ]),
    )
    .await;
    let codes: Vec<u64> = replies.iter().filter_map(|(c, _)| c.as_u64()).collect();
    assert_eq!(
        codes,
        [250, 220, 250, 250, 550, 250, 250, 221],
        "{replies:?}"
    );
    let inbox = get_json(&server_b, "/api/v1/inbox", &token_b).await;
    let forged_item = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["subject"] == "Dringend")
        .unwrap_or_else(|| panic!("{inbox}"))
        .clone();
    assert_eq!(forged_item["verified"], false, "{forged_item}");
    let path = format!("/api/v1/inbox/{}", forged_item["id"].as_str().unwrap());
    let read = get_json(&server_b, &path, &token_b).await;
    assert_eq!(read["verified"], false, "{read}");

    // Nobody at B has this address: refused at RCPT, A notifies through its portal.
    let nobody = send_with_file(
        &server_a,
        &token_a,
        ("Uitslag", "Tekst"),
        "niemand@praktijk.test",
        ("u.pdf", b"%PDF-1.4"),
    )
    .await;
    let st = status_when(&server_a, &token_a, &nobody, "notified").await;
    let failed: Vec<String> = events(&st)
        .into_iter()
        .filter(|(t, _)| t == "direct_failed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(failed.len(), 1, "{st}");
    assert!(failed[0].contains("550"), "{}", failed[0]);
    let inbox = get_json(&server_b, "/api/v1/inbox", &token_b).await;
    assert_eq!(
        inbox["items"].as_array().map(Vec::len),
        Some(2),
        "nothing more at B"
    );
    for (env, _) in [(&a, 0), (&b, 1)] {
        let out = env.run(&["audit", "verify"]).await;
        assert!(out.status.success(), "{}", out.stderr);
    }
    server_b.assert_logs_never_contain(&["Ontslagbrief", "ontslagbrief.pdf", "Geachte collega"]);
}

#[tokio::test]
async fn two_installations_exchange_mail_directly_on_sqlite() {
    two_installations_exchange_mail_directly(Env::new(), Env::new()).await;
}

#[tokio::test]
async fn two_installations_exchange_mail_directly_on_postgres() {
    let (Some(db_a), Some(db_b)) = (
        zegel_testkit::PgDb::create().await,
        zegel_testkit::PgDb::create().await,
    ) else {
        return;
    };
    let (mut a, mut b) = (Env::new(), Env::new());
    a.set("ZEGEL_DATABASE_URL", db_a.url());
    b.set("ZEGEL_DATABASE_URL", db_b.url());
    two_installations_exchange_mail_directly(a, b).await;
    drop((db_a, db_b));
}

/// A helper server in Python (tests/peers/*.py) that prints `ready` when it serves; killed on
/// drop.
struct Peer {
    _child: Child,
}

impl Peer {
    async fn start(script: &str, args: &[String]) -> Peer {
        // Debian's python3-dnslib lives in /usr/bin/python3 (`python3` may be a pyenv shim).
        let py = ["python3", "/usr/bin/python3"]
            .into_iter()
            .find(|py| {
                std::process::Command::new(py)
                    .args(["-c", "import dnslib"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect("Python with dnslib (apt-get install python3-dnslib; scripts/test.sh does)");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers")
            .join(script);
        let mut child = Command::new(py)
            .arg(&path)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start a test peer");
        use tokio::io::AsyncBufReadExt;
        let out = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(out).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        assert!(
            matches!(&ready, Ok(Ok(Some(l))) if l.trim() == "ready"),
            "{script} did not start: {ready:?}"
        );
        Peer { _child: child }
    }
}

/// The hex SHA-256 of a certificate's SubjectPublicKeyInfo (`spki`, a TLSA `3 1 1` record's
/// data) or of the whole certificate (a `2 0 1` record's), as `openssl` computes it.
fn cert_sha256(cert: &Path, spki: bool) -> String {
    let der = if spki {
        "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform DER"
    } else {
        "openssl x509 -in '{}' -outform DER"
    }
    .replace("{}", &cert.display().to_string());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{der} | openssl dgst -sha256 -r"))
        .output()
        .expect("openssl runs");
    assert!(out.status.success());
    let hex = String::from_utf8_lossy(&out.stdout);
    let hex = hex.split_whitespace().next().expect("a digest").to_owned();
    assert_eq!(hex.len(), 64);
    hex
}

/// A self-signed certificate no CA vouches for, with a name that is not the host's.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=not-the-host.example",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "self.key",
            "-out",
            "self.pem",
        ],
    );
    (dir.join("self.pem"), dir.join("self.key"))
}

/// DANE and MTA-STS on the direct path. A DNS server that validates like unbound (the AD bit
/// for signed zones, when asked with DNSSEC OK) publishes TLSA records; an HTTPS server serves
/// MTA-STS policies. A DANE-EE host with a self-signed certificate gets the mail, and so does a
/// host whose chain holds the CA a DANE-TA record names; a signed
/// host whose certificate matches no TLSA record does not, although a CA vouches for it; an
/// unsigned zone's TLSA record changes nothing; an `enforce` policy that does not list the
/// host refuses it, one that does lets it through. Every refusal falls back to the portal.
async fn direct_delivery_checks_dane_and_mta_sts(mut env: Env) {
    let ca_dir = env.scratch("ca");
    let (ca, cert, key) = internal_ca_for(
        &ca_dir,
        "DNS:mx.danebad.test,DNS:mx.danta.test,DNS:mx.sts.test,DNS:mx.stsok.test,DNS:mta-sts.sts.test,DNS:mta-sts.stsok.test",
    );
    // The CA's host presents its chain (its certificate, then the CA's): DANE-TA needs the CA.
    let chain = ca_dir.join("chain.pem");
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::fs::read(&ca).unwrap());
    std::fs::write(&chain, pem).unwrap();
    let (self_cert, self_key) = self_signed(&env.scratch("self"));
    let port = free_port();
    // Two providers' hosts on one port: 127.0.0.2 with the self-signed certificate, 127.0.0.1
    // with the CA's.
    let dane_sink = SmtpSink::start_mode_at(
        "127.0.0.2",
        port,
        &env.scratch("dane").join("in"),
        &format!("starttls:{}:{}", self_cert.display(), self_key.display()),
    )
    .await;
    let ca_sink = SmtpSink::start_mode(
        port,
        &env.scratch("ca-host").join("in"),
        &format!("starttls:{}:{}", chain.display(), key.display()),
    )
    .await;
    let policies = env.scratch("policies");
    std::fs::write(
        policies.join("mta-sts.sts.test.txt"),
        "version: STSv1\r\nmode: enforce\r\nmx: mail.sts.test\r\nmax_age: 86400\r\n",
    )
    .unwrap();
    std::fs::write(
        policies.join("mta-sts.stsok.test.txt"),
        "version: STSv1\r\nmode: enforce\r\nmx: *.stsok.test\r\nmax_age: 86400\r\n",
    )
    .unwrap();
    let https_port = free_port();
    let _policy_server = Peer::start(
        "policy_server.py",
        &[
            https_port.to_string(),
            policies.display().to_string(),
            cert.display().to_string(),
            key.display().to_string(),
        ],
    )
    .await;
    let dane = cert_sha256(&self_cert, true);
    let tlsa_ta = serde_json::json!([
        format!("_{port}._tcp.mx.danta.test"),
        "TLSA",
        format!("2 0 1 {}", cert_sha256(&ca, false))
    ]);
    let tlsa = |host: &str, data: &str| {
        serde_json::json!([
            format!("_{port}._tcp.{host}"),
            "TLSA",
            format!("3 1 1 {data}")
        ])
    };
    let nta_txt = |domain: &str| {
        serde_json::json!([
            domain,
            "TXT",
            format!("v=NTA7516-1;startdate=2024-01;enddate=2099-12;provider=Testzorg;ntamx=10 mx.{domain}")
        ])
    };
    let a = |host: &str, ip: &str| serde_json::json!([host, "A", ip]);
    let zone = serde_json::json!({
        "signed": ["dane.test", "danebad.test", "danta.test"],
        "records": [
            nta_txt("dane.test"), a("mx.dane.test", "127.0.0.2"), tlsa("mx.dane.test", &dane),
            nta_txt("danebad.test"), a("mx.danebad.test", "127.0.0.1"),
            tlsa("mx.danebad.test", &"ab".repeat(32)),
            nta_txt("danta.test"), a("mx.danta.test", "127.0.0.1"), tlsa_ta,
            nta_txt("unsigned.test"), a("mx.unsigned.test", "127.0.0.2"),
            tlsa("mx.unsigned.test", &dane),
            nta_txt("sts.test"), a("mx.sts.test", "127.0.0.1"),
            ["_mta-sts.sts.test", "TXT", "v=STSv1; id=20261206"], a("mta-sts.sts.test", "127.0.0.1"),
            nta_txt("stsok.test"), a("mx.stsok.test", "127.0.0.1"),
            ["_mta-sts.stsok.test", "TXT", "v=STSv1; id=1"], a("mta-sts.stsok.test", "127.0.0.1"),
        ],
    });
    let zone_file = env.scratch("dns").join("zone.json");
    std::fs::write(&zone_file, zone.to_string()).unwrap();
    let dns_port = free_port();
    let _dns = Peer::start(
        "dns_server.py",
        &[dns_port.to_string(), zone_file.display().to_string()],
    )
    .await;
    direct_delivery(&mut env, &format!("127.0.0.1:{dns_port}"), port, &ca)
        .set("ZEGEL_MTA_STS_PORT", &https_port.to_string())
        .set("ZEGEL_PUBLIC_URL", "https://zegel.ziekenhuis.test");
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let pdf: Vec<u8> = (0..40_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let mut ids = std::collections::HashMap::new();
    for domain in ["dane", "danebad", "danta", "unsigned", "sts", "stsok"] {
        let id = send_with_file(
            &server,
            &token,
            ("Verwijzing", "Beste collega, zie de bijlage."),
            &format!("pat@{domain}.test"),
            ("verwijzing.pdf", &pdf),
        )
        .await;
        ids.insert(domain, id);
    }

    // Delivered, and the sender sees how the host was checked.
    for (domain, sink, detail) in [
        (
            "dane",
            &dane_sink,
            "Testzorg via mx.dane.test (DANE-EE, DNSSEC)",
        ),
        (
            "danta",
            &ca_sink,
            "Testzorg via mx.danta.test (DANE-TA, DNSSEC)",
        ),
        ("stsok", &ca_sink, "Testzorg via mx.stsok.test (MTA-STS)"),
    ] {
        let st = status_when(&server, &token, &ids[domain], "delivered").await;
        let ev = events(&st);
        assert!(
            ev.iter()
                .any(|(t, d)| t == "delivered_direct" && d == detail),
            "{domain}: {ev:?}"
        );
        let to = format!("pat@{domain}.test");
        let got = mails_to(&sink.dir, &to);
        assert_eq!(got.len(), 1, "one mail to {to}");
        assert_eq!(
            attachments(&std::fs::read(&got[0]).unwrap()),
            vec![("verwijzing.pdf".to_owned(), pdf.clone())]
        );
    }
    assert!(dane_sink.arrivals().iter().all(|a| a.tls));

    // Refused on the direct path, each for its own reason, then notified through the portal.
    let outbox = env.data().join("outbox/mail");
    for (domain, host, why, not) in [
        ("danebad", "mx.danebad.test", "DANE", None),
        // Unsigned: the TLSA record does not count; the self-signed certificate fails as TLS.
        ("unsigned", "mx.unsigned.test", "TLS", Some("DANE")),
        ("sts", "mx.sts.test", "MTA-STS", None),
    ] {
        let st = status_when(&server, &token, &ids[domain], "notified").await;
        let ev = events(&st);
        let failed = direct_failed(&ev);
        assert_eq!(failed.len(), 1, "{domain}: {ev:?}");
        assert!(
            failed[0].contains(host) && failed[0].contains(why),
            "{domain}: the sender sees why: {}",
            failed[0]
        );
        if let Some(not) = not {
            assert!(!failed[0].contains(not), "{domain}: {}", failed[0]);
        }
        assert!(!ev.iter().any(|(t, _)| t == "delivered_direct"), "{ev:?}");
        let to = format!("pat@{domain}.test");
        assert!(mails_to(&dane_sink.dir, &to).is_empty(), "{to}");
        assert!(mails_to(&ca_sink.dir, &to).is_empty(), "{to}");
        assert_eq!(mails_to(&outbox, &to).len(), 1, "{to} got the notification");
    }
    let out = env.run(&["audit", "verify"]).await;
    assert!(out.status.success(), "{}", out.stderr);
    server.assert_logs_never_contain(&["Verwijzing", "verwijzing.pdf", "Beste collega"]);
}

env_tests!(
    direct_delivery_follows_the_nta_record,
    a_large_message_streams_to_the_provider,
    direct_delivery_checks_dane_and_mta_sts,
);
