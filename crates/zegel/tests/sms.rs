//! SMS gateways against a local HTTP server that records each request and checks it exactly
//! as the gateway's format requires.

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
) -> (StatusCode, &'static str) {
    g.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    let status = *g.status.lock().unwrap();
    (
        StatusCode::from_u16(status).unwrap(),
        "{\"details\":\"gateway says hi\"}",
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
    match s.send(&sms()).await {
        Err(SendError::Permanent(m)) => {
            assert!(m.contains("400") && m.contains("gateway says hi"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    for status in [429, 500, 503] {
        *g.status.lock().unwrap() = status;
        assert!(
            matches!(s.send(&sms()).await, Err(SendError::Temporary(_))),
            "{status}"
        );
    }
    // Nothing listening: temporary, and the URL (with its token) is not in the error.
    let dead = HttpSms::new(settings(
        SmsProvider::Cm,
        "http://127.0.0.1:9/m?key=tok-secret".into(),
    ))
    .unwrap();
    match dead.send(&sms()).await {
        Err(SendError::Temporary(m)) => assert!(!m.contains("tok-secret"), "{m}"),
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
