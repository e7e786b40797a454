//! The sender web app's session (cookie `zegel_sender`): `/` sends a stranger to sign in
//! and a signed-in sender to the sent list; sign-out is a POST with the session's CSRF
//! token and ends the session on the server, so the old cookie is worth nothing after.

mod common;

use common::{Backend, TestApp};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn home_sends_strangers_to_sign_in(backend: Backend) {
    let Some(app) = TestApp::new(backend).await else {
        return;
    };
    let res = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/inloggen");

    // A made-up or malformed cookie is no session (and the browser is told to drop it).
    for bogus in [
        format!("zegel_sender={}", "A".repeat(43)),
        "zegel_sender=short".to_string(),
    ] {
        let res = app
            .client
            .get(app.url("/"))
            .header(COOKIE, bogus)
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/inloggen");
    }

    let cookie = app.sender_cookie(&app.sender.email).await;
    let res = app
        .client
        .get(app.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/berichten");
    // Security headers on the redirect too.
    assert!(res.headers().get("content-security-policy").is_some());
}

async fn sign_out_needs_the_csrf_token_and_ends_the_session(backend: Backend) {
    let Some(app) = TestApp::new(backend).await else {
        return;
    };
    let (cookie, csrf) = app.sender_session(&app.sender.email).await;
    let (other_cookie, _) = app.sender_session(&app.sender.email).await;
    let post = |cookie: String, form: Vec<(&'static str, String)>, origin: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/uitloggen"))
            .header(COOKIE, cookie)
            .form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };

    // Without the token, with a wrong one, or from another site: refused, session kept.
    let res = post(cookie.clone(), vec![], None).await.unwrap();
    assert_eq!(res.status(), 403);
    let res = post(cookie.clone(), vec![("csrf", "x".repeat(43))], None)
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = post(
        cookie.clone(),
        vec![("csrf", csrf.clone())],
        Some("https://evil.example"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 403);
    // The other session's token is not this one's.
    let (_, other_csrf) = app.sender_session(&app.sender.email).await;
    let res = post(cookie.clone(), vec![("csrf", other_csrf)], None)
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let token = cookie.trim_start_matches("zegel_sender=");
    assert!(app.z.sender_session(token).await.unwrap().is_some());

    // Signed out: 303 to sign-in, the cookie removed, the session gone on the server.
    let res = post(cookie.clone(), vec![("csrf", csrf.clone())], Some("null"))
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/inloggen");
    let set: Vec<String> = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("zegel_sender=;") && c.contains("Max-Age=0")),
        "{set:?}"
    );
    assert!(app.z.sender_session(token).await.unwrap().is_none());
    // Replaying the old cookie gets nowhere.
    let res = app
        .client
        .get(app.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/inloggen");
    let res = post(cookie.clone(), vec![("csrf", csrf)], None)
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/inloggen");
    // Only that session ended.
    let other = other_cookie.trim_start_matches("zegel_sender=");
    assert!(app.z.sender_session(other).await.unwrap().is_some());
}

backend_tests!(
    home_sends_strangers_to_sign_in,
    sign_out_needs_the_csrf_token_and_ends_the_session,
);
