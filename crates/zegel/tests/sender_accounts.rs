//! Sender accounts through the real router, on SQLite and PostgreSQL: sign-in (one answer for
//! unknown e-mail and wrong password, the lockout after 5 failures), invite set-up with TOTP,
//! the second step (wrong and replayed codes), set-up links (404 unknown, 410 used or
//! expired), CSRF, sign-out, password change, the administrator's reset, the second-factor
//! policy, own API tokens.

mod common;

use common::{browser, csrf_of, Backend, TestApp};
use reqwest::{Client, StatusCode};
use totp_rs::TOTP;
use zegel_core::signin::AccountEventKind;

const PASSWORD: &str = "paarse olifant danst op het dak";

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn page(c: &Client, url: &str) -> (StatusCode, String) {
    let res = c.get(url).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Signs in with a password (no second factor): the answer of `POST /inloggen`.
async fn sign_in(app: &TestApp, c: &Client, email: &str, password: &str) -> reqwest::Response {
    let (_, p) = page(c, &app.url("/inloggen")).await;
    c.post(app.url("/inloggen"))
        .form(&[
            ("csrf", csrf_of(&p).as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// The set-up link's path (`/welkom/{token}`) for a new invite of `email`.
async fn invite(app: &TestApp, email: &str) -> String {
    let link = app.z.invite_user(email).await.unwrap();
    let path = link.strip_prefix(&app.base).unwrap().to_string();
    assert!(path.starts_with("/welkom/"), "{link}");
    assert_eq!(path.len(), "/welkom/".len() + 43, "256-bit base64url token");
    path
}

fn totp_of(page: &str) -> TOTP {
    let uri = regex::Regex::new(r#"<code class="totp-uri">([^<]+)</code>"#)
        .unwrap()
        .captures(page)
        .expect("the otpauth URI as text")[1]
        .replace("&amp;", "&");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    TOTP::from_url_unchecked(uri).unwrap()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sets up an invited account with a password and TOTP; returns the TOTP and the browser
/// (signed in after "Klaar").
/// Sets up `email`'s account with a password and TOTP: the TOTP, the signed-in browser and the
/// code the enrolment used.
async fn set_up_with_totp(app: &TestApp, email: &str) -> (TOTP, Client, String) {
    let c = browser();
    let path = invite(app, email).await;
    let (status, p) = page(&c, &app.url(&path)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(p.contains("autocomplete=\"new-password\""), "{p}");
    let res = c
        .post(app.url(&path))
        .form(&[("csrf", csrf_of(&p).as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, p) = page(&c, &app.url(&path)).await;
    assert!(p.contains("<svg"), "QR code as SVG: {p}");
    let t = totp_of(&p);
    let enrolled = t.generate(now_secs());
    let res = c
        .post(app.url(&format!("{path}/totp")))
        .form(&[("csrf", csrf_of(&p).as_str()), ("code", enrolled.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, p) = page(&c, &app.url(&path)).await;
    let res = c
        .post(app.url(&format!("{path}/klaar")))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/berichten");
    (t, c, enrolled)
}

async fn event_kinds(app: &TestApp, email: &str) -> Vec<AccountEventKind> {
    let acc = app.z.account_by_email(email).await.unwrap().unwrap();
    app.z
        .account_events(&acc.user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.kind)
        .collect()
}

async fn wrong_password_and_unknown_email_get_one_answer(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let (_, p) = page(&app.client, &app.url("/inloggen")).await;
    for label in [
        "<label for=\"email\">E-mailadres</label>",
        "<label for=\"password\">Wachtwoord</label>",
        ">Inloggen</button>",
        "Inloggen met passkey",
    ] {
        assert!(p.contains(label), "{label} on the sign-in page: {p}");
    }
    app.z
        .admin_set_password(&app.sender.email, PASSWORD)
        .await
        .unwrap();
    let c = browser();
    let wrong = sign_in(&app, &c, &app.sender.email, "niet het goede wachtwoord").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong = wrong.text().await.unwrap();
    let unknown = sign_in(&app, &c, "niemand@ziekenhuis.example", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap();
    let msg = "Het e-mailadres of het wachtwoord klopt niet.";
    assert!(wrong.contains(msg) && unknown.contains(msg));
    assert!(wrong.contains("aria-describedby=\"inloggen-fout\""));
    // No session came of it.
    let (status, _) = page(&c, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The right password: signed in (no second factor set up, none required).
    let ok = sign_in(&app, &c, &app.sender.email.to_uppercase(), PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&ok), "/berichten");
    let (status, settings) = page(&c, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert!(settings.contains("<h1>Instellingen</h1>"));
    let kinds = event_kinds(&app, &app.sender.email).await;
    assert!(kinds.contains(&AccountEventKind::SignInFailed));
    assert_eq!(kinds.last(), Some(&AccountEventKind::SignInOk));
}

async fn five_failures_lock_the_account_even_for_the_right_password(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.z
        .admin_set_password(&app.sender.email, PASSWORD)
        .await
        .unwrap();
    let c = browser();
    for _ in 0..4 {
        let r = sign_in(&app, &c, &app.sender.email, "fout wachtwoord 123").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let fifth = sign_in(&app, &c, &app.sender.email, "fout wachtwoord 123").await;
    assert_eq!(fifth.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = fifth.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 800 && retry <= 900, "{retry}");
    let right = sign_in(&app, &c, &app.sender.email, PASSWORD).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS, "locked");
    assert!(right.headers().contains_key("retry-after"));
    let acc = app
        .z
        .account_by_email(&app.sender.email)
        .await
        .unwrap()
        .unwrap();
    assert!(acc.locked_until.is_some());
    assert!(event_kinds(&app, &app.sender.email)
        .await
        .contains(&AccountEventKind::Locked));
    // An address without an account answers the same: the fifth failure "locks" it too.
    for _ in 0..4 {
        let r = sign_in(
            &app,
            &c,
            "niemand@ziekenhuis.example",
            "fout wachtwoord 123",
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let fifth = sign_in(
        &app,
        &c,
        "niemand@ziekenhuis.example",
        "fout wachtwoord 123",
    )
    .await;
    assert_eq!(fifth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(fifth.headers().contains_key("retry-after"));
}

async fn invite_set_up_with_totp_and_sign_in_with_a_code(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let email = "nieuw@ziekenhuis.example";
    let (t, setup_browser, enrolled) = set_up_with_totp(&app, email).await;
    let (status, _) = page(&setup_browser, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::OK, "signed in after set-up");

    let c = browser();
    let res = sign_in(&app, &c, email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    assert!(to.starts_with("/inloggen/code"), "{to}");
    let (status, p) = page(&c, &app.url(&to)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        p.contains("<label for=\"code\">Verificatiecode</label>"),
        "{p}"
    );
    assert!(p.contains("autocomplete=\"one-time-code\"") && p.contains("inputmode=\"numeric\""));
    // The step of the enrolment was used: its code is a replay now (the enrolment's own code:
    // on a slow machine a 30-second step may have passed since).
    let used = enrolled;
    let post_code = |code: String, csrf: String| {
        let c = c.clone();
        let url = app.url("/inloggen/code");
        async move {
            c.post(url)
                .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let replay = post_code(used, csrf_of(&p)).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let p = replay.text().await.unwrap();
    assert!(p.contains("Deze code klopt niet of is al gebruikt."), "{p}");
    let wrong = post_code("000000".into(), csrf_of(&p)).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let p = wrong.text().await.unwrap();
    // The next step's code (within the skew) is accepted once.
    let next = t.generate(now_secs() + 30);
    let ok = post_code(next.clone(), csrf_of(&p)).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&ok), "/berichten");
    let (status, _) = page(&c, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::OK);

    // Signing in again with the same code: refused (each step once).
    let c2 = browser();
    let res = sign_in(&app, &c2, email, PASSWORD).await;
    let (_, p) = page(&c2, &app.url(&location(&res))).await;
    let res = c2
        .post(app.url("/inloggen/code"))
        .form(&[("csrf", csrf_of(&p).as_str()), ("code", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let kinds = event_kinds(&app, email).await;
    for k in [
        AccountEventKind::SetupLinkIssued,
        AccountEventKind::PasswordChanged,
        AccountEventKind::TotpAdded,
        AccountEventKind::SetupLinkUsed,
        AccountEventKind::SignInOk,
        AccountEventKind::SignInFailed,
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
}

async fn set_up_links_unknown_404_used_or_expired_410(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let c = browser();
    let (status, _) = page(&c, &app.url(&format!("/welkom/{}", "A".repeat(43)))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Used: after set-up.
    let email = "gebruikt@ziekenhuis.example";
    let path = invite(&app, email).await;
    let (_, p) = page(&c, &app.url(&path)).await;
    // A weak password is refused beside its field.
    let weak = c
        .post(app.url(&path))
        .form(&[("csrf", csrf_of(&p).as_str()), ("password", "welkom123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p = weak.text().await.unwrap();
    assert!(p.contains("te makkelijk te raden"), "{p}");
    assert!(p.contains("password-fout"));
    c.post(app.url(&path))
        .form(&[("csrf", csrf_of(&p).as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let (_, p) = page(&c, &app.url(&path)).await;
    let done = c
        .post(app.url(&format!("{path}/klaar")))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (status, p) = page(&browser(), &app.url(&path)).await;
    assert_eq!(status, StatusCode::GONE, "{p}");
    assert!(p.contains("Deze link werkt niet meer"));
    // Expired: 72 hours have passed (moved back in the database).
    let path2 = invite(&app, "verlopen@ziekenhuis.example").await;
    let token = path2.trim_start_matches("/welkom/");
    let hash = zegel_crypto::token_hash(token);
    let row = app.z.store.setup_link(&hash).await.unwrap().unwrap();
    assert!(row.expires_at.0 - row.created_at.0 == 72 * 3600 * 1000);
    expire_link(&app, &hash).await;
    let (status, _) = page(&browser(), &app.url(&path2)).await;
    assert_eq!(status, StatusCode::GONE);
}

/// Moves a set-up link's expiry into the past: a reset (which drops the user's unused links)
/// stores the same link again, expired.
async fn expire_link(app: &TestApp, hash: &[u8; 32]) {
    use zegel_core::signin::{AccountEvent, AccountEventKind as K, SetupLinkRow};
    let row = app.z.store.setup_link(hash).await.unwrap().unwrap();
    let past = SetupLinkRow {
        expires_at: zegel_core::model::Ts(row.created_at.0 - 1),
        ..row.clone()
    };
    let ev = |kind| AccountEvent {
        user_id: Some(row.user_id.clone()),
        kind,
        at: zegel_core::model::Ts::now(),
        ip: None,
        user_agent: None,
        detail: None,
    };
    app.z
        .store
        .reset_account(
            &row.user_id,
            &past,
            &ev(K::FactorsReset),
            &ev(K::SetupLinkIssued),
        )
        .await
        .unwrap();
}

async fn forms_without_csrf_are_403(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.z
        .admin_set_password(&app.sender.email, PASSWORD)
        .await
        .unwrap();
    let c = browser();
    let res = c
        .post(app.url("/inloggen"))
        .form(&[("email", app.sender.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let ok = sign_in(&app, &c, &app.sender.email, PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    for path in [
        "/instellingen/wachtwoord",
        "/instellingen/tokens",
        "/instellingen/totp/start",
    ] {
        let res = c
            .post(app.url(path))
            .form(&[("current", PASSWORD), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let path = invite(&app, "csrf@ziekenhuis.example").await;
    let res = c
        .post(app.url(&path))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn sign_out_ends_the_session(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.z
        .admin_set_password(&app.sender.email, PASSWORD)
        .await
        .unwrap();
    let c = browser();
    sign_in(&app, &c, &app.sender.email, PASSWORD).await;
    let (status, p) = page(&c, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::OK);
    // Keep the cookie to replay it after sign-out.
    let cookie = app
        .z
        .start_sender_session(&app.sender.id)
        .await
        .map(|t| format!("zegel_sender={t}"))
        .unwrap();
    let res = c
        .post(app.url("/uitloggen"))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/inloggen");
    let (status, _) = page(&c, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The other session is still alive (sign-out ends only this one).
    let res = app
        .client
        .get(app.url("/instellingen"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn password_change_asks_the_current_one_and_ends_other_sessions(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.z
        .admin_set_password(&app.sender.email, PASSWORD)
        .await
        .unwrap();
    let other = app.z.start_sender_session(&app.sender.id).await.unwrap();
    let c = browser();
    sign_in(&app, &c, &app.sender.email, PASSWORD).await;
    let (_, p) = page(&c, &app.url("/instellingen")).await;
    let new = "groene giraf leest de krant";
    let wrong = c
        .post(app.url("/instellingen/wachtwoord"))
        .form(&[
            ("csrf", csrf_of(&p).as_str()),
            ("current", "niet het huidige"),
            ("password", new),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p = wrong.text().await.unwrap();
    assert!(p.contains("Het huidige wachtwoord klopt niet."));
    assert!(p.contains("aria-describedby=\"current-fout\""));
    let ok = c
        .post(app.url("/instellingen/wachtwoord"))
        .form(&[
            ("csrf", csrf_of(&p).as_str()),
            ("current", PASSWORD),
            ("password", new),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let (status, _) = page(&c, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::OK, "this session goes on");
    let res = app
        .client
        .get(app.url("/instellingen"))
        .header("cookie", format!("zegel_sender={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    let res = sign_in(&app, &browser(), &app.sender.email, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the old password is gone"
    );
    let res = sign_in(&app, &browser(), &app.sender.email, new).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn reset_removes_factors_and_sessions(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let email = "reset@ziekenhuis.example";
    let (_, c, _) = set_up_with_totp(&app, email).await;
    let before = app.z.account_by_email(email).await.unwrap().unwrap();
    assert!(before.totp_enabled);
    let (user, link) = app.z.reset_user(email).await.unwrap();
    app.z
        .end_user_sender_sessions(&user.id, None)
        .await
        .unwrap();
    assert!(link.starts_with(&format!("{}/welkom/", app.base)));
    let after = app.z.account_by_email(email).await.unwrap().unwrap();
    assert!(!after.has_second_factor());
    assert_eq!(after.user.password_hash, None);
    let (status, _) = page(&c, &app.url("/instellingen")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "sessions ended");
    let res = sign_in(&app, &browser(), email, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "no password until set-up"
    );
    let path = link.strip_prefix(&app.base).unwrap();
    let (status, p) = page(&browser(), &app.url(path)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(p.contains("autocomplete=\"new-password\""));
}

async fn a_required_second_factor_is_insisted_on(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.z
        .set_second_factor_required("default", true)
        .await
        .unwrap();
    // An account without one cannot sign in with a password alone.
    app.z
        .admin_set_password(&app.sender.email, PASSWORD)
        .await
        .unwrap();
    let res = sign_in(&app, &browser(), &app.sender.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Set-up does not finish without one.
    let c = browser();
    let path = invite(&app, "verplicht@ziekenhuis.example").await;
    let (_, p) = page(&c, &app.url(&path)).await;
    c.post(app.url(&path))
        .form(&[("csrf", csrf_of(&p).as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let (_, p) = page(&c, &app.url(&path)).await;
    assert!(p.contains("Uw organisatie vraagt een tweede stap"));
    let res = c
        .post(app.url(&format!("{path}/klaar")))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // With TOTP it does; removing the only factor is then refused.
    let (t, c) = {
        let t = totp_of(&p);
        let res = c
            .post(app.url(&format!("{path}/totp")))
            .form(&[
                ("csrf", csrf_of(&p).as_str()),
                ("code", t.generate(now_secs()).as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = c
            .post(app.url(&format!("{path}/klaar")))
            .form(&[("csrf", csrf_of(&p).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        (t, c)
    };
    let _ = t;
    let (_, p) = page(&c, &app.url("/instellingen")).await;
    let res = c
        .post(app.url("/instellingen/totp/verwijderen"))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let acc = app
        .z
        .account_by_email("verplicht@ziekenhuis.example")
        .await
        .unwrap()
        .unwrap();
    assert!(acc.totp_enabled);
}

/// The TestApp's sender signed in (with a password) on `/instellingen`: (app, browser, page).
async fn on_settings_page(b: Backend) -> Option<(TestApp, Client, String)> {
    let app = TestApp::new(b).await?;
    app.z
        .admin_set_password(&app.sender.email, PASSWORD)
        .await
        .unwrap();
    let c = browser();
    sign_in(&app, &c, &app.sender.email, PASSWORD).await;
    let (_, p) = page(&c, &app.url("/instellingen")).await;
    Some((app, c, p))
}

async fn own_api_tokens_are_listed_created_once_and_revoked(b: Backend) {
    let Some((app, c, p)) = on_settings_page(b).await else {
        return;
    };
    assert!(
        p.contains("<td>test</td>"),
        "the TestApp's token is listed: {p}"
    );
    assert!(!p.contains(&app.token), "never the token itself");
    let res = c
        .post(app.url("/instellingen/tokens"))
        .form(&[("csrf", csrf_of(&p).as_str()), ("label", "koppeling")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let p = res.text().await.unwrap();
    let token = regex::Regex::new(r#"<code class="new-token">(zgl_[A-Za-z0-9_-]+)</code>"#)
        .unwrap()
        .captures(&p)
        .expect("the new token, once")[1]
        .to_string();
    let api = app
        .client
        .get(app.url("/api/v1/messages"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    let (_, p) = page(&c, &app.url("/instellingen")).await;
    assert!(!p.contains(&token), "shown once");
    let tokens = app.z.own_api_tokens(&app.sender.id).await.unwrap();
    let new = tokens.iter().find(|t| t.label == "koppeling").unwrap();
    // Another user's token: 404.
    let other = app.z.ensure_user("ander@ziekenhuis.example").await.unwrap();
    let other_token = app.z.create_api_token(&other, "ander").await.unwrap();
    let other_id = app.z.own_api_tokens(&other.id).await.unwrap()[0].id.clone();
    let res = c
        .post(app.url(&format!("/instellingen/tokens/{other_id}/intrekken")))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(app.z.authenticate_api_token(&other_token).await.is_ok());
    let res = c
        .post(app.url(&format!("/instellingen/tokens/{}/intrekken", new.id)))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let api = app
        .client
        .get(app.url("/api/v1/messages"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let kinds = event_kinds(&app, &app.sender.email).await;
    assert!(kinds.contains(&AccountEventKind::TokenCreated));
    assert!(kinds.contains(&AccountEventKind::TokenRevoked));
}

async fn own_smtp_credentials_are_created_once_and_revoked(b: Backend) {
    let Some((app, c, p)) = on_settings_page(b).await else {
        return;
    };
    assert!(p.contains("action=\"/instellingen/smtp\""), "the form: {p}");
    let res = c
        .post(app.url("/instellingen/smtp"))
        .form(&[("csrf", csrf_of(&p).as_str()), ("label", "Outlook")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let p = res.text().await.unwrap();
    let grab = |class: &str| {
        regex::Regex::new(&format!(r#"<code class="{class}">([^<]+)</code>"#))
            .unwrap()
            .captures(&p)
            .unwrap_or_else(|| panic!("{class} shown once: {p}"))[1]
            .to_string()
    };
    let (user, password) = (grab("smtp-user"), grab("smtp-password"));
    let ctx = zegel_core::ClientCtx::default();
    let signed = app.z.authenticate_smtp(&user, &password, &ctx).await;
    assert_eq!(
        signed.map(|p| p.user.id).ok(),
        Some(app.sender.id.clone()),
        "it works"
    );
    let (_, p) = page(&c, &app.url("/instellingen")).await;
    assert!(p.contains(&user), "listed by user name");
    assert!(!p.contains(&password), "the password is shown once");
    let own = app.z.own_smtp_credentials(&app.sender.id).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].label, "Outlook");
    // Another user's credential: 404, and it keeps working.
    let other = app.z.ensure_user("ander@ziekenhuis.example").await.unwrap();
    let theirs = app
        .z
        .create_smtp_credential(&other, "EPD", None)
        .await
        .unwrap();
    let their_id = app.z.own_smtp_credentials(&other.id).await.unwrap()[0]
        .id
        .clone();
    let res = c
        .post(app.url(&format!("/instellingen/smtp/{their_id}/intrekken")))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(app
        .z
        .authenticate_smtp(&theirs.username, &theirs.password, &ctx)
        .await
        .is_ok());
    let res = c
        .post(app.url(&format!("/instellingen/smtp/{}/intrekken", own[0].id)))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(app
        .z
        .authenticate_smtp(&user, &password, &ctx)
        .await
        .is_err());
    assert!(app
        .z
        .own_smtp_credentials(&app.sender.id)
        .await
        .unwrap()
        .is_empty());
    let kinds = event_kinds(&app, &app.sender.email).await;
    assert!(kinds.contains(&AccountEventKind::SmtpCredentialCreated));
    assert!(kinds.contains(&AccountEventKind::SmtpCredentialRevoked));
}

backend_tests!(
    wrong_password_and_unknown_email_get_one_answer,
    five_failures_lock_the_account_even_for_the_right_password,
    invite_set_up_with_totp_and_sign_in_with_a_code,
    set_up_links_unknown_404_used_or_expired_410,
    forms_without_csrf_are_403,
    sign_out_ends_the_session,
    password_change_asks_the_current_one_and_ends_other_sessions,
    reset_removes_factors_and_sessions,
    a_required_second_factor_is_insisted_on,
    own_api_tokens_are_listed_created_once_and_revoked,
    own_smtp_credentials_are_created_once_and_revoked,
);
