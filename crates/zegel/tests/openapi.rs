//! `openapi.json` and the router agree: every route of the JSON API is documented, every
//! documented path and method is routed, on a running server too.

mod common;

use common::{default_http, Backend, TestApp};
use std::collections::BTreeSet;

/// `(METHOD, path)` of every operation in `openapi.json`.
fn documented() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is JSON");
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            out.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

/// A concrete path for a template: `{token}` a well-formed but unknown link token, any other
/// parameter an unknown id.
fn concrete(template: &str) -> String {
    template
        .replace("{token}", &zegel_crypto::random_token())
        .replace("{id}", "00000000-0000-7000-8000-000000000000")
        .replace("{aid}", "00000000-0000-7000-8000-000000000001")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_path_is_routed() {
    let app = TestApp::new(Backend::Sqlite).await.expect("sqlite app");
    let routed: BTreeSet<(String, String)> = zegel::http::api_routes(app.z.clone(), default_http())
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let documented = documented();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not in openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "in openapi.json but not routed: {unrouted:?}"
    );
    assert!(routed.len() >= 20, "{} routes", routed.len());

    // On the running server: a documented method is never 405 and never the fallback's
    // not-found page for an unknown path; a method nobody documents is 405 on the same path
    // (so the path itself is routed).
    for (method, template) in &documented {
        let url = app.url(&concrete(template));
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let res = app.client.request(m, &url).send().await.expect("request");
        assert_ne!(res.status(), 405, "{method} {template}");
        let res = app
            .client
            .request(reqwest::Method::PATCH, &url)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 405, "PATCH {template} (is the path routed?)");
    }
    // An undocumented path under /api/ is the fallback's 404.
    let res = app
        .client
        .patch(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);
}

#[test]
fn the_documented_event_types_are_the_stored_event_kinds() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is JSON");
    let documented: Vec<&str> = doc["components"]["schemas"]["EventType"]["enum"]
        .as_array()
        .expect("EventType enum")
        .iter()
        .map(|v| v.as_str().expect("a string"))
        .collect();
    let stored: Vec<&str> = zegel_core::model::EventKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(documented, stored);
}
