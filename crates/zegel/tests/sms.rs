//! SMS gateways against a local HTTP server that records each request and checks it exactly
//! as the gateway's format requires; what a gateway's refusal leaves behind, end to end.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zegel_core::outbound::{OutSms, SendError, SmsSender};
use zegel_core::sms::{BodyFormat, GenericTemplate, HttpSms, HttpSmsSettings, SmsProvider};

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Gateway {
    seen: Arc<Mutex<Vec<Seen>>>,
    status: Arc<Mutex<u16>>,
}

async fn record(
    State(g): State<Gateway>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    g.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    let status = *g.status.lock().unwrap();
    // Like real gateways, it quotes the request back (message text, so the code, and number).
    (
        StatusCode::from_u16(status).unwrap(),
        format!(
            "{{\"details\":\"gateway says hi\",\"request\":{:?}}}",
            String::from_utf8_lossy(&body)
        ),
    )
}

async fn gateway(status: u16) -> (Gateway, String) {
    let g = Gateway {
        seen: Arc::default(),
        status: Arc::new(Mutex::new(status)),
    };
    let app = axum::Router::new()
        .route("/{*path}", any(record))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (g, format!("http://{addr}"))
}

fn sms() -> OutSms {
    OutSms {
        to: "+31612345678".into(),
        body: "Uw code: 123456 \"quoted\" & more".into(),
        id: "code-42".into(),
    }
}

fn settings(provider: SmsProvider, url: String) -> HttpSmsSettings {
    HttpSmsSettings {
        provider,
        url,
        token: "tok-secret".into(),
        sender: "Ziekenhuis".into(),
        timeout: Duration::from_secs(2),
    }
}

fn json_of(seen: &Seen) -> serde_json::Value {
    assert_eq!(seen.headers["content-type"], "application/json");
    serde_json::from_slice(&seen.body).unwrap()
}

#[tokio::test]
async fn cm_style_request_is_exactly_the_documented_json() {
    let (g, base) = gateway(200).await;
    let s = HttpSms::new(settings(SmsProvider::Cm, format!("{base}/v1.0/message"))).unwrap();
    s.send(&sms()).await.unwrap();
    let seen = g.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1.0/message");
    assert_eq!(
        json_of(&seen),
        serde_json::json!({"messages": {"authentication": {"producttoken": "tok-secret"}, "msg": [{
            "from": "Ziekenhuis", "to": [{"number": "+31612345678"}],
            "body": {"type": "auto", "content": "Uw code: 123456 \"quoted\" & more"}, "reference": "code-42"}]}})
    );
}

#[tokio::test]
async fn messagebird_style_request_uses_an_access_key_and_digits() {
    let (g, base) = gateway(201).await;
    let s = HttpSms::new(settings(
        SmsProvider::MessageBird,
        format!("{base}/messages"),
    ))
    .unwrap();
    s.send(&sms()).await.unwrap();
    let seen = g.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/messages");
    assert_eq!(seen.headers["authorization"], "AccessKey tok-secret");
    assert_eq!(
        json_of(&seen),
        serde_json::json!({"originator": "Ziekenhuis", "recipients": ["31612345678"], "body": "Uw code: 123456 \"quoted\" & more", "reference": "code-42"})
    );
}

#[tokio::test]
async fn spryng_style_request_uses_a_bearer_token() {
    let (g, base) = gateway(200).await;
    let s = HttpSms::new(settings(SmsProvider::Spryng, format!("{base}/v1/messages"))).unwrap();
    s.send(&sms()).await.unwrap();
    let seen = g.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.headers["authorization"], "Bearer tok-secret");
    assert_eq!(
        json_of(&seen),
        serde_json::json!({"body": "Uw code: 123456 \"quoted\" & more", "encoding": "auto", "originator": "Ziekenhuis",
            "recipients": ["31612345678"], "route": "business", "reference": "code-42"})
    );
}

#[tokio::test]
async fn generic_provider_fills_json_and_form_templates_safely() {
    let (g, base) = gateway(202).await;
    let mut headers = BTreeMap::new();
    headers.insert("X-Api-Key".to_string(), "{{token}}".to_string());
    let t = GenericTemplate {
        method: "PUT".into(),
        headers,
        body: r#"{"dest":"{{to}}","text":"{{body}}","meta":{"ref":"{{reference}}","n":1}}"#.into(),
        format: BodyFormat::Json,
        success: vec![202],
    };
    let s = HttpSms::new(settings(SmsProvider::Generic(t), format!("{base}/send"))).unwrap();
    s.send(&sms()).await.unwrap();
    let seen = g.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(seen.headers["x-api-key"], "tok-secret");
    assert_eq!(
        json_of(&seen),
        serde_json::json!({"dest": "+31612345678", "text": "Uw code: 123456 \"quoted\" & more", "meta": {"ref": "code-42", "n": 1}})
    );

    let t = GenericTemplate {
        method: "POST".into(),
        headers: BTreeMap::new(),
        body: r#"{"to":"{{to_digits}}","message":"{{body}}","from":"{{sender}}"}"#.into(),
        format: BodyFormat::Form,
        success: vec![],
    };
    let s = HttpSms::new(settings(SmsProvider::Generic(t), format!("{base}/form"))).unwrap();
    s.send(&sms()).await.unwrap();
    let seen = g.seen.lock().unwrap()[1].clone();
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let fields: BTreeMap<String, String> = url::form_urlencoded::parse(&seen.body)
        .into_owned()
        .collect();
    assert_eq!(fields["to"], "31612345678");
    assert_eq!(fields["message"], "Uw code: 123456 \"quoted\" & more");
    assert_eq!(fields["from"], "Ziekenhuis");
    // A success status list is honoured: 202 expected, 200 is not success.
    let t = GenericTemplate {
        method: "POST".into(),
        headers: BTreeMap::new(),
        body: "{}".into(),
        format: BodyFormat::Json,
        success: vec![202],
    };
    *g.status.lock().unwrap() = 200;
    let s = HttpSms::new(settings(SmsProvider::Generic(t), format!("{base}/x"))).unwrap();
    assert!(matches!(s.send(&sms()).await, Err(SendError::Permanent(_))));
}

#[tokio::test]
async fn gateway_errors_are_temporary_or_permanent_and_never_leak_the_token() {
    let (g, base) = gateway(400).await;
    let s = HttpSms::new(settings(
        SmsProvider::Cm,
        format!("{base}/m?key=tok-secret"),
    ))
    .unwrap();
    // The status and a fixed class; never the body, which quotes the message and its code.
    match s.send(&sms()).await {
        Err(SendError::Permanent(m)) => {
            assert_eq!(m, "SMS gateway answered 400 (rejected)")
        }
        other => panic!("{other:?}"),
    }
    for (status, class) in [
        (429, "rate limited"),
        (500, "gateway error"),
        (503, "gateway error"),
    ] {
        *g.status.lock().unwrap() = status;
        match s.send(&sms()).await {
            Err(SendError::Temporary(m)) => {
                assert_eq!(m, format!("SMS gateway answered {status} ({class})"))
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    // Nothing listening: temporary, and the URL (with its token) is not in the error.
    let dead = HttpSms::new(settings(
        SmsProvider::Cm,
        "http://127.0.0.1:9/m?key=tok-secret".into(),
    ))
    .unwrap();
    match dead.send(&sms()).await {
        Err(SendError::Temporary(m)) => {
            assert_eq!(m, "SMS gateway unreachable (connection failed)")
        }
        other => panic!("{other:?}"),
    }
    // Bad settings are refused up front.
    let bad = GenericTemplate {
        method: "POST".into(),
        headers: BTreeMap::new(),
        body: "{not json".into(),
        format: BodyFormat::Json,
        success: vec![],
    };
    assert!(HttpSms::new(settings(SmsProvider::Generic(bad), base.clone())).is_err());
    assert!(HttpSms::new(settings(SmsProvider::Cm, "not a url".into())).is_err());
}

/// The codes in the SMS the gateway was asked to send (CM-style JSON).
fn codes_sent(g: &Gateway) -> Vec<String> {
    let six = regex::Regex::new(r"\b(\d{6})\b").unwrap();
    g.seen
        .lock()
        .unwrap()
        .iter()
        .map(|seen| {
            let v = json_of(seen);
            let text = v["messages"]["msg"][0]["body"]["content"].as_str().unwrap();
            six.captures(text).unwrap()[1].to_string()
        })
        .collect()
}

#[test]
fn a_code_is_found_alone_and_not_inside_a_longer_number() {
    for leak in [
        "code 123456",
        "\"123456\"",
        "code=123456.",
        "(123456)",
        "123456",
    ] {
        assert!(common::holds_code(leak, "123456"), "{leak}");
    }
    for other in [
        "T18:41:02.123456Z",
        "elapsed_secs=0.0123456",
        "01a24c5d-123456ab",
        "91234567",
    ] {
        assert!(!common::holds_code(other, "123456"), "{other}");
    }
}

async fn issue_12_a_gateways_error_body_reaches_no_log_job_or_event(b: common::Backend) {
    let logs = common::captured_logs();
    let (g, base) = gateway(503).await;
    let gw = HttpSms::new(settings(SmsProvider::Cm, format!("{base}/v1.0/message"))).unwrap();
    // Leftover jobs are the point: one waits for its retry, one is dead.
    let Some(app) = common::TestApp::builder(b)
        .sms(Arc::new(gw))
        .leave_jobs()
        .build()
        .await
    else {
        return;
    };
    let res = app
        .send_json(serde_json::json!({
            "subject": "Uitslag",
            "body": "Alles goed.",
            "recipients": [{"email": "patient@mail.example", "phone": "06 12345678", "verification": "sms"}],
        }))
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.run_jobs().await;
    let link = app.link_token("patient@mail.example");
    let challenge = || async {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{link}/challenge")))
            .json(&serde_json::json!({"method": "sms"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        app.run_jobs().await;
    };
    // 503: the job waits for a retry. Then 400: the job is dead and the sender sees a failure.
    challenge().await;
    *g.status.lock().unwrap() = 400;
    challenge().await;
    let codes = codes_sent(&g);
    assert_eq!(codes.len(), 2, "both codes reached the gateway");

    assert_eq!(
        app.job_errors().await,
        [
            "SMS gateway answered 503 (gateway error)",
            "SMS gateway answered 400 (rejected)"
        ]
    );
    let status = app
        .client
        .get(app.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let st: serde_json::Value = serde_json::from_str(&status).unwrap();
    let failed = st["recipients"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "code_failed")
        .expect("a code_failed event");
    assert_eq!(failed["detail"], "SMS gateway answered 400 (rejected)");
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("job deferred") && logs.contains("job failed permanently"),
        "the capture sees the worker's lines"
    );
    for code in &codes {
        assert!(
            !common::holds_code(&status, code),
            "the sender's events hold a code"
        );
        assert!(!common::holds_code(&logs, code), "the logs hold a code");
    }
    for quoted in ["gateway says hi", "31612345678"] {
        assert!(
            !status.contains(quoted) && !logs.contains(quoted),
            "{quoted}"
        );
    }
}

backend_tests!(issue_12_a_gateways_error_body_reaches_no_log_job_or_event);
