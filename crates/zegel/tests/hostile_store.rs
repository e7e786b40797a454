//! Issue 12, hostile clients: the defences that live in the database, through the real router
//! on SQLite and PostgreSQL. Concurrent wrong codes, growing lockouts and the sender's unblock,
//! code bombing, the SMS budget and countries, forwards that tell nothing, replies destroyed
//! with their message.

mod common;

use common::{browser, csrf_of, event_types, Backend, TestApp};
use serde_json::{json, Value};
use zegel_core::service::PolicyDoc;

const CODE: &str = "246810";

/// Sends one message to `recipients`; returns its id.
async fn send(app: &TestApp, recipients: Value) -> String {
    let res = app
        .send_json(json!({"subject": "Uitslag", "body": "Alles goed.", "recipients": recipients}))
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    app.run_jobs().await;
    v["id"].as_str().unwrap().to_string()
}

/// A message to one recipient who verifies with the sender's code [`CODE`]; returns (message
/// id, link token).
async fn send_with_code(app: &TestApp, email: &str) -> (String, String) {
    let id = send(
        app,
        json!([{"email": email, "verification": "code", "code": CODE}]),
    )
    .await;
    (id, app.link_token(email))
}

async fn verify(app: &TestApp, link: &str, code: &str) -> (u16, Value, Option<u64>) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    answer(res).await
}

async fn challenge(app: &TestApp, link: &str, method: &str) -> (u16, Value, Option<u64>) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({ "method": method }))
        .send()
        .await
        .unwrap();
    answer(res).await
}

/// Status, JSON body and `Retry-After` of a response.
async fn answer(res: reqwest::Response) -> (u16, Value, Option<u64>) {
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, res.json().await.unwrap_or(Value::Null), retry)
}

/// All `codes` verified at once; the answers in any order.
async fn verify_at_once(
    app: &TestApp,
    link: &str,
    codes: Vec<String>,
) -> Vec<(u16, Value, Option<u64>)> {
    let url = app.url(&format!("/api/v1/access/{link}/verify"));
    let tasks: Vec<_> = codes
        .into_iter()
        .map(|code| {
            let (c, url) = (app.client.clone(), url.clone());
            tokio::spawn(async move {
                answer(
                    c.post(url)
                        .json(&json!({ "code": code }))
                        .send()
                        .await
                        .unwrap(),
                )
                .await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn status_of(app: &TestApp, id: &str) -> Value {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn set_policy(app: &TestApp, f: impl FnOnce(&mut PolicyDoc)) {
    let mut doc = PolicyDoc::from(app.z.org_policy(&app.sender.org_id).await.unwrap());
    f(&mut doc);
    app.z
        .set_org_policy_of(&app.sender.org_id, doc)
        .await
        .unwrap();
}

/// `n` wrong codes at once: exactly five answers 401 (remaining 4..0), the rest 429 with
/// `Retry-After`. Before issue 12, 20 at once gave 16-20 answers of 401 and 50 gave 49-50.
async fn concurrent_wrong_codes(b: Backend, n: usize) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let (_, link) = send_with_code(&app, "guess@example.nl").await;
    let answers = verify_at_once(&app, &link, vec!["111111".to_string(); n]).await;
    let c401 = answers.iter().filter(|a| a.0 == 401).count();
    let c429 = answers.iter().filter(|a| a.0 == 429).count();
    eprintln!("MEASURE {b:?} n={n}: 401={c401} 429={c429}");
    let mut remaining: Vec<i64> = answers
        .iter()
        .filter(|a| a.0 == 401)
        .map(|a| a.1["remaining_attempts"].as_i64().unwrap())
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, vec![0, 1, 2, 3, 4], "five 401s, counting down");
    assert_eq!(c429, n - 5);
    for a in answers.iter().filter(|a| a.0 == 429) {
        assert_eq!(a.1["error"], "locked");
        assert!(a.2.is_some_and(|s| s > 800 && s <= 900), "{:?}", a.2);
    }
}

async fn twenty_concurrent_wrong_codes_get_five_401s(b: Backend) {
    concurrent_wrong_codes(b, 20).await;
}

async fn fifty_concurrent_wrong_codes_get_five_401s(b: Backend) {
    concurrent_wrong_codes(b, 50).await;
}

/// The right code that loses the race against the fifth wrong one gets what every other try
/// gets: 429 `locked`, the same body, and it opens nothing.
async fn the_right_code_that_lost_the_race_looks_like_any_other(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let (_, link) = send_with_code(&app, "race@example.nl").await;
    for _ in 0..5 {
        assert_eq!(verify(&app, &link, "111111").await.0, 401);
    }
    let mut codes = vec!["111111".to_string(); 9];
    codes.insert(4, CODE.to_string());
    let answers = verify_at_once(&app, &link, codes).await;
    let first = &answers[0];
    assert_eq!(first.0, 429);
    for a in &answers {
        assert_eq!((a.0, &a.1), (first.0, &first.1), "indistinguishable");
        assert!(a.2.is_some());
    }
}

/// With short lockouts (1 s, then 2 s) and a block after 3 wrong codes: the lockout grows,
/// the count goes on across lockouts, the third wrong code blocks even the right code; the
/// sender sees `locked_until` and `blocked`, the viewer says whom to contact (both
/// languages); only the sender of the message can unblock, and then the code works again.
async fn lockouts_grow_then_a_block_that_only_the_sender_lifts(b: Backend) {
    let Some(app) = TestApp::builder(b)
        .settings(|s| {
            s.max_code_attempts = 1;
            s.lockout_steps_secs = vec![1, 2];
            s.max_wrong_total = 3;
        })
        .build()
        .await
    else {
        return;
    };
    let (id, link) = send_with_code(&app, "block@example.nl").await;
    let (status, v, _) = verify(&app, &link, "111111").await;
    assert_eq!((status, v["remaining_attempts"].as_i64()), (401, Some(0)));
    let (status, v, retry) = verify(&app, &link, CODE).await;
    assert_eq!(
        (status, v["error"].as_str(), retry),
        (429, Some("locked"), Some(1))
    );
    let st = status_of(&app, &id).await;
    assert!(st["recipients"][0]["locked_until"].is_string(), "{st}");
    assert_eq!(st["recipients"][0]["blocked"], false);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(verify(&app, &link, "111111").await.0, 401);
    let (status, _, retry) = verify(&app, &link, "111111").await;
    assert_eq!(
        (status, retry),
        (429, Some(2)),
        "the second lockout is longer"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, v, _) = verify(&app, &link, "111111").await;
    assert_eq!((status, v["remaining_attempts"].as_i64()), (401, Some(0)));
    // Blocked: even the right code is 429 `blocked`, for a day at a time.
    let (status, v, retry) = verify(&app, &link, CODE).await;
    assert_eq!((status, v["error"].as_str()), (429, Some("blocked")));
    assert_eq!(retry, Some(86_400));
    let st = status_of(&app, &id).await;
    assert_eq!(st["recipients"][0]["blocked"], true);
    assert!(st["recipients"][0].get("locked_until").is_none());
    let kinds = event_types(&st, 0);
    assert_eq!(kinds.iter().filter(|k| *k == "code_wrong").count(), 3);
    assert_eq!(kinds.iter().filter(|k| *k == "locked").count(), 2);
    assert!(kinds.contains(&"blocked".to_string()));
    // The viewer says so, and whom to contact.
    for (lang, text) in [("nl", "Toegang geblokkeerd"), ("en", "Access blocked")] {
        let res = app
            .client
            .get(app.url(&format!("/m/{link}/code?lang={lang}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        let page = res.text().await.unwrap();
        assert!(page.contains(text) && page.contains("Dr. Test"), "{lang}");
    }
    // Another sender cannot unblock (404), nor can anyone for a recipient of another message.
    let other = app
        .z
        .create_user(zegel_core::service::NewUserReq {
            email: "ander@ziekenhuis.example".into(),
            name: "Dr. Ander".into(),
            org_slug: None,
            password: None,
            role: zegel_core::model::Role::Sender,
        })
        .await
        .unwrap();
    let other_token = app.z.create_api_token(&other, "t").await.unwrap();
    let rid = st["recipients"][0]["id"].as_str().unwrap();
    let unblock = |token: String, id: String, rid: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/api/v1/messages/{id}/recipients/{rid}/unblock")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let res = unblock(other_token, id.clone(), rid.to_string()).await;
    assert_eq!(res.status(), 404);
    let (other_msg, _) = send_with_code(&app, "ander@example.nl").await;
    let res = unblock(app.token.clone(), other_msg, rid.to_string()).await;
    assert_eq!(res.status(), 404);
    assert_eq!(verify(&app, &link, CODE).await.1["error"], "blocked");
    // The sender unblocks: 200 with the recipient's state, an `unblocked` event; the code works.
    let res = unblock(app.token.clone(), id.clone(), rid.to_string()).await;
    assert_eq!(res.status(), 200);
    let st: Value = res.json().await.unwrap();
    assert_eq!(st["recipients"][0]["blocked"], false);
    assert!(event_types(&st, 0).contains(&"unblocked".to_string()));
    assert_eq!(verify(&app, &link, CODE).await.0, 200);
}

/// Twelve code requests in a row send five codes; the rest are 429 with `Retry-After` (API)
/// or a page saying when (viewer), and nothing is queued for them.
async fn twelve_code_requests_send_five_codes(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let email = "bomb@example.nl";
    send(&app, json!([{"email": email, "verification": "email"}])).await;
    let link = app.link_token(email);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, v, retry) = challenge(&app, &link, "email").await;
        if status == 429 {
            assert_eq!(v["error"], "too_many_codes");
            assert!(retry.is_some_and(|s| s > 800 && s <= 900), "{retry:?}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [[202; 5].as_slice(), &[429; 7]].concat());
    app.run_jobs().await;
    let codes = app
        .outbox("mail")
        .iter()
        .filter(|m| m.contains("toegangscode"))
        .count();
    assert_eq!(codes, 5, "five codes sent");
    // The viewer's send page says when.
    let c = browser();
    let page = c
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = c
        .post(app.url(&format!("/m/{link}/send")))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let page = res.text().await.unwrap();
    assert!(page.contains("Te vaak een nieuwe code gevraagd"), "{page}");
    assert!(page.contains(" uur"), "says from when");
}

/// The organisation's SMS budget: past it a challenge by SMS is 503 `sms_unavailable` with
/// `Retry-After` (the next UTC day), nothing is sent, and `/metrics` shows the day's numbers.
async fn the_daily_sms_budget_refuses_sms_codes_past_it(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    set_policy(&app, |p| p.sms_per_day = Some(2)).await;
    let phones = ["06 12345601", "06 12345602", "06 12345603"];
    let recipients: Vec<Value> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"email": format!("sms{i}@example.nl"), "phone": p, "verification": "sms"}))
        .collect();
    send(&app, Value::Array(recipients)).await;
    let mut answers = Vec::new();
    for i in 0..3 {
        let link = app.link_token(&format!("sms{i}@example.nl"));
        answers.push(challenge(&app, &link, "sms").await);
    }
    assert_eq!(answers[0].0, 202);
    assert_eq!(answers[1].0, 202);
    let (status, v, retry) = &answers[2];
    assert_eq!(*status, 503);
    assert_eq!(v["error"], "sms_unavailable");
    assert!(
        retry.is_some_and(|s| (1..=86_400).contains(&s)),
        "{retry:?}"
    );
    app.run_jobs().await;
    assert_eq!(app.outbox("sms").len(), 2, "two SMS sent");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "zegel_sms_sent_today{org=\"default\"} 2",
        "zegel_sms_refused_today{org=\"default\"} 1",
        "zegel_sms_budget_per_day{org=\"default\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

/// SMS codes go only to numbers of the organisation's countries (default NL, BE, DE): a send
/// with SMS verification and a forward with a phone number are 422 otherwise.
async fn sms_goes_only_to_the_organisations_countries(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let policy = app
        .client
        .get(app.url("/api/v1/organisation/policy"))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(policy["sms_countries"], json!(["NL", "BE", "DE"]));
    assert_eq!(policy["sms_per_day"], 1000);
    let try_send = |phone: &'static str, verification: &'static str| {
        let app = &app;
        async move {
            app.send_json(json!({"subject": "s", "recipients": [
                {"email": "land@example.nl", "phone": phone, "verification": verification}]}))
                .await
        }
    };
    let res = try_send("+44 7400 123456", "sms").await;
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "invalid");
    assert!(v["detail"].as_str().unwrap().contains("NL, BE, DE"), "{v}");
    // A phone number with e-mail verification gets no SMS: not checked.
    assert_eq!(try_send("+44 7400 123456", "email").await.status(), 201);
    assert_eq!(try_send("+32 470 12 34 56", "sms").await.status(), 201);
    set_policy(&app, |p| p.sms_countries = Some(vec!["nl".into()])).await;
    assert_eq!(try_send("+32 470 12 34 56", "sms").await.status(), 422);
    assert_eq!(try_send("06 12345678", "sms").await.status(), 201);
    app.run_jobs().await;
    // A forward with a phone number verifies by SMS: the same rule.
    let (_, link) = send_with_code(&app, "fwd@example.nl").await;
    let at = verify(&app, &link, CODE).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/forwards")))
        .bearer_auth(&at)
        .json(&json!({"email": "huisarts@praktijk.example", "phone": "+32 470 12 34 56"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // A bad list is refused with a clear reason.
    let doc: PolicyDoc = serde_json::from_value(json!({"reply_default": "once",
        "reply_locked": false, "forward_allowed": true, "device_days": 0,
        "sms_countries": ["Nederland"]}))
    .unwrap();
    let err = app
        .z
        .set_org_policy_of(&app.sender.org_id, doc)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Nederland"), "{err}");
}

/// A forward to an address that has the message already and a forward past the cap get one
/// and the same answer (API and viewer), so a recipient learns nothing about who else has it.
async fn a_refused_forward_never_tells_who_has_the_message(b: Backend) {
    let Some(app) = TestApp::builder(b)
        .settings(|s| s.max_recipients = 2)
        .build()
        .await
    else {
        return;
    };
    let id = send(
        &app,
        json!([{"email": "a@example.nl", "verification": "code", "code": CODE},
               {"email": "b@example.nl", "verification": "email"}]),
    )
    .await;
    let link = app.link_token("a@example.nl");
    let at = verify(&app, &link, CODE).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let forward = |email: &'static str| {
        let (app, link, at) = (&app, &link, &at);
        async move {
            let res = app
                .client
                .post(app.url(&format!("/api/v1/access/{link}/forwards")))
                .bearer_auth(at)
                .json(&json!({ "email": email }))
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let duplicate = forward("b@example.nl").await;
    assert_eq!(duplicate.0, 403);
    assert_eq!(forward("c@example.nl").await.0, 201);
    assert_eq!(forward("d@example.nl").await.0, 201);
    let over_cap = forward("e@example.nl").await;
    assert_eq!(over_cap, duplicate, "one answer for both");
    assert_eq!(forward("a@example.nl").await, duplicate);
    app.run_jobs().await;
    assert_eq!(
        status_of(&app, &id).await["recipients"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // The viewer's form shows one message for both.
    let c = browser();
    let page = c
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&[("csrf", csrf.as_str()), ("code", CODE)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let mut texts = Vec::new();
    let re = regex::Regex::new(r#"role="alert"[^>]*>([^<]+)<"#).unwrap();
    for email in ["b@example.nl", "f@example.nl"] {
        let res = c
            .post(app.url(&format!("/m/{link}/doorsturen")))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("phone", ""),
                ("note", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let page = res.text().await.unwrap();
        texts.push(re.captures(&page).expect("an error on the form")[1].to_string());
    }
    assert_eq!(texts[0], texts[1]);
    assert!(
        texts[0].contains("kan niet naar dit e-mailadres"),
        "{}",
        texts[0]
    );
}

/// Revoking a message destroys its replies with it: the reply's "Re: subject", body and
/// attachment can no longer be read by anyone, its blob goes, and the sender sees the event.
async fn revoking_a_message_destroys_its_replies(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let id = send_with_code(&app, "reply@example.nl").await.0;
    let link = app.link_token("reply@example.nl");
    let at = verify(&app, &link, CODE).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let blobs_before = app.blob_keys().await;
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(json!({"body": "Dank, zie bijlage"}).to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"uitslag".to_vec())
                .file_name("foto.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/replies")))
        .bearer_auth(&at)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let reply: Value = res.json().await.unwrap();
    let reply_id = reply["id"].as_str().unwrap().to_string();
    app.run_jobs().await;
    assert_eq!(app.blob_keys().await.len(), blobs_before.len() + 1);
    let get = |path: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .get(app.url(&path))
                .header("authorization", app.auth())
                .send()
                .await
                .unwrap();
            (
                res.status(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, read) = get(format!("/api/v1/inbox/{reply_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(read["subject"], "Re: Uitslag");

    let res = app
        .client
        .post(app.url(&format!("/api/v1/messages/{id}/revoke")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let st: Value = res.json().await.unwrap();
    let revoked: Vec<&Value> = st["recipients"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "revoked")
        .collect();
    assert!(
        revoked.iter().any(|e| e["detail"] == reply_id.as_str()),
        "the sender sees the reply destroyed: {st}"
    );
    let (status, _) = get(format!("/api/v1/inbox/{reply_id}")).await;
    assert_eq!(status, 410);
    let (_, inbox) = get("/api/v1/inbox".into()).await;
    let item = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == reply_id.as_str())
        .expect("the reply is listed");
    assert_eq!(item["subject"], Value::Null, "no subject once destroyed");
    let stored = app.z.store.message_by_id(&reply_id).await.unwrap().unwrap();
    assert_eq!((stored.subject_ct, stored.body_ct), (None, None));
    assert!(app.z.store.message_key(&reply_id).await.unwrap().is_none());
    let atts = app.z.store.attachments_of(&reply_id).await.unwrap();
    assert!(atts.iter().all(|a| a.meta_ct.is_none()));
    assert_eq!(
        app.blob_keys().await.len(),
        0,
        "the message's and the reply's blobs are deleted"
    );
}

backend_tests!(
    twenty_concurrent_wrong_codes_get_five_401s,
    fifty_concurrent_wrong_codes_get_five_401s,
    the_right_code_that_lost_the_race_looks_like_any_other,
    lockouts_grow_then_a_block_that_only_the_sender_lifts,
    twelve_code_requests_send_five_codes,
    the_daily_sms_budget_refuses_sms_codes_past_it,
    sms_goes_only_to_the_organisations_countries,
    a_refused_forward_never_tells_who_has_the_message,
    revoking_a_message_destroys_its_replies,
);
