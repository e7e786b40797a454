//! Issue 12, "Hostile clients", on the router (both backends): the JSON API answers 415 to a
//! body that is not `application/json` before it does anything, and the rate limits count the
//! client behind a trusted proxy, never an address a client merely claims, and IPv6 by /64.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use zegel::http::{HttpOptions, TrustedProxies};

const PATIENT: &str = "patient@example.nl";
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// `METHOD path` with `body` as `content_type` (none when `None`) and a Bearer token.
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    content_type: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("authorization", format!("Bearer {bearer}"))
        .body(body.to_string());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `text/plain` (and no Content-Type at all) is 415, before anything happens; the same body as
/// `application/json; charset=utf-8` succeeds with `ok`.
async fn refused_then_accepted(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Value,
    ok: u16,
) -> Value {
    app.run_jobs().await;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (status, err) = call(app, method.clone(), path, bearer, ct, &body).await;
        assert_eq!(status, 415, "{method} {path} as {ct:?}: {err}");
        assert_eq!(err["error"], "unsupported_media_type", "{err}");
        assert_eq!(
            app.run_jobs().await,
            0,
            "{method} {path} as {ct:?} did something"
        );
    }
    let (status, res) = call(app, method.clone(), path, bearer, Some(JSON_UTF8), &body).await;
    assert_eq!(status.as_u16(), ok, "{method} {path}: {res}");
    res
}

async fn the_json_api_answers_415_to_anything_but_json(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let post = reqwest::Method::POST;
    let message = json!({"subject": "Uitslag", "body": "Alles goed.", "reply": "unlimited",
                         "recipients": [{"email": PATIENT, "verification": "email"}]});
    let token = app.token.clone();
    refused_then_accepted(&app, post.clone(), "/api/v1/messages", &token, message, 201).await;
    app.run_jobs().await;
    let link = app.link_token(PATIENT);
    let access = |what: &str| format!("/api/v1/access/{link}/{what}");
    let challenge = json!({"method": "email"});
    refused_then_accepted(&app, post.clone(), &access("challenge"), "", challenge, 202).await;
    app.run_jobs().await;
    let code = json!({"code": app.last_code(PATIENT)});
    let grant = refused_then_accepted(&app, post.clone(), &access("verify"), "", code, 200).await;
    let at = grant["access_token"].as_str().unwrap().to_string();
    let reply = json!({"body": "Dank u."});
    refused_then_accepted(&app, post.clone(), &access("replies"), &at, reply, 201).await;
    let fwd = json!({"email": "huisarts@example.nl"});
    refused_then_accepted(&app, post.clone(), &access("forwards"), &at, fwd, 201).await;
    assert_eq!(app.run_jobs().await, 1, "the forward's notification");
    // The organisation policy (admins only).
    let admin = app
        .z
        .create_user(zegel_core::service::NewUserReq {
            email: "beheer@ziekenhuis.example".into(),
            name: "Beheer".into(),
            org_slug: Some("default".into()),
            password: None,
            role: zegel_core::model::Role::Admin,
        })
        .await
        .unwrap();
    let admin_token = app.z.create_api_token(&admin, "test").await.unwrap();
    let (_, mut policy) = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/organisation/policy",
        &admin_token,
        None,
        &Value::Null,
    )
    .await;
    policy["device_days"] = json!(7);
    let put = reqwest::Method::PUT;
    let path = "/api/v1/organisation/policy";
    let saved = refused_then_accepted(&app, put, path, &admin_token, policy, 200).await;
    assert_eq!(saved["device_days"], 7);
}

/// Statuses of `n` verify calls with an unknown token, each with these `X-Forwarded-For`.
async fn verify_from(app: &TestApp, xff: &str, n: usize) -> Vec<u16> {
    let unknown = zegel_crypto::random_token();
    let mut out = Vec::new();
    for _ in 0..n {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{unknown}/verify")))
            .header("x-forwarded-for", xff)
            .json(&json!({"code": "123456"}))
            .send()
            .await
            .unwrap();
        out.push(res.status().as_u16());
    }
    out
}

fn limited(proxies: TrustedProxies) -> HttpOptions {
    HttpOptions {
        rate_limit_per_minute: 60,
        rate_limit_burst: 3,
        proxies,
        ..common::default_http()
    }
}

async fn rate_limits_count_the_client_behind_trusted_proxies_and_ipv6_by_64(b: Backend) {
    // The test client connects from 127.0.0.1: here that is the operator's proxy.
    let proxies = TrustedProxies::parse("127.0.0.0/8, 10.0.0.0/8").unwrap();
    let Some(app) = TestApp::builder(b).http(limited(proxies)).build().await else {
        return;
    };
    assert_eq!(
        verify_from(&app, "198.51.100.1", 4).await,
        [404, 404, 404, 429]
    );
    // Another client has its own allowance; claiming another address left of the real one
    // (or trusted proxy hops right of it) changes nothing.
    assert_eq!(verify_from(&app, "198.51.100.2", 1).await, [404]);
    assert_eq!(
        verify_from(&app, "203.0.113.9, 198.51.100.1", 1).await,
        [429]
    );
    assert_eq!(verify_from(&app, "198.51.100.1, 10.1.2.3", 1).await, [429]);
    // IPv6: one /64 is one client.
    let mut v6 = Vec::new();
    for ip in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff::3",
        "2001:db8:1:2::4",
    ] {
        v6.extend(verify_from(&app, ip, 1).await);
    }
    assert_eq!(v6, [404, 404, 404, 429]);
    assert_eq!(verify_from(&app, "2001:db8:1:3::1", 1).await, [404]);
    drop(app);

    // Without trusted proxies the header is ignored: every claimed address shares the peer's.
    let none = TrustedProxies::none();
    let Some(app) = TestApp::builder(b).http(limited(none)).build().await else {
        return;
    };
    let mut statuses = Vec::new();
    for i in 1..=4 {
        statuses.extend(verify_from(&app, &format!("198.51.100.{i}"), 1).await);
    }
    assert_eq!(statuses, [404, 404, 404, 429]);
}

#[test]
fn openapi_documents_415_and_413_wherever_a_body_is_read() {
    let doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let mut with_body = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            with_body += 1;
            for status in ["413", "415"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    assert_eq!(with_body, 8, "the eight operations with a body");
}

backend_tests!(
    the_json_api_answers_415_to_anything_but_json,
    rate_limits_count_the_client_behind_trusted_proxies_and_ipv6_by_64,
);
