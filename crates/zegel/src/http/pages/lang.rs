//! The page language: `?lang=nl|en` on a GET (remembered in the `zegel_lang` cookie), else
//! that cookie, else `Accept-Language`, else Dutch. Every page links to itself in the other
//! language (`View::switch_href`).
//!
//! A handler takes `PageLang` as an extractor, builds its `View` with `view(here)`, and passes
//! its answer (page, redirect or `PageError`) through `finish`, which sets the cookie after a
//! `?lang=` choice. A POST never switches the language, so `finish` changes nothing there.

use super::chrome::View;
use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use zegel_core::i18n::{self, Lang};

/// The visitor's language choice (a preference, not a session).
const LANG_COOKIE: &str = "zegel_lang";

/// The negotiated page language of a request.
pub struct PageLang {
    lang: Lang,
    /// Chosen with `?lang=` on this GET: remember it in the cookie.
    chosen: bool,
    secure: bool,
}

impl PageLang {
    /// Negotiates from the request: `?lang=` (GET and HEAD only), the cookie,
    /// `Accept-Language`, Dutch. `secure` marks the cookie `Secure` (https).
    pub fn negotiate(
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
        secure: bool,
    ) -> Self {
        let chosen = |lang| PageLang {
            lang,
            chosen: true,
            secure,
        };
        let kept = |lang| PageLang {
            lang,
            chosen: false,
            secure,
        };
        // A GET may switch the language (a preference cookie is no server-side change).
        if method == Method::GET || method == Method::HEAD {
            let from_query = query.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| k == "lang")
                    .find_map(|(_, v)| Lang::parse(&v))
            });
            if let Some(lang) = from_query {
                return chosen(lang);
            }
        }
        if let Some(lang) = CookieJar::from_headers(headers)
            .get(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()))
        {
            return kept(lang);
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(i18n::from_accept_language);
        kept(accept.unwrap_or_default())
    }

    /// The page context, with the language switch pointing at `here` (a GET-able path; an
    /// empty one is the same path, whatever it is).
    pub fn view(&self, here: String) -> View {
        View {
            lang: self.lang,
            switch_href: format!("{here}?lang={}", self.lang.other().as_str()),
        }
    }

    /// The answer, remembering a language chosen with `?lang=` (Path=/, one year).
    pub fn finish(&self, res: impl IntoResponse) -> Response {
        let mut res = res.into_response();
        if self.chosen {
            let cookie = Cookie::build((LANG_COOKIE, self.lang.as_str()))
                .path("/")
                .http_only(true)
                .secure(self.secure)
                .same_site(SameSite::Lax)
                .max_age(time::Duration::days(365))
                .build();
            if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        res
    }
}

impl FromRequestParts<AppState> for PageLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PageLang::negotiate(
            &parts.method,
            &parts.headers,
            parts.uri.query(),
            s.opts.secure_cookies,
        ))
    }
}

#[cfg(test)]
#[path = "lang_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(query: Option<&str>, headers: &[(&str, &str)]) -> (Lang, bool) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let pl = PageLang::negotiate(&Method::GET, &h, query, false);
        (pl.lang, pl.chosen)
    }

    #[test]
    fn the_query_beats_the_cookie_beats_accept_language() {
        let both = [
            ("cookie", "zegel_lang=nl"),
            ("accept-language", "en-GB,en;q=0.9"),
        ];
        assert_eq!(negotiate(Some("lang=en"), &both), (Lang::En, true));
        assert_eq!(negotiate(None, &both), (Lang::Nl, false));
        assert_eq!(negotiate(Some("lang=fr"), &both), (Lang::Nl, false));
        assert_eq!(
            negotiate(None, &[("accept-language", "en-GB,en;q=0.9")]),
            (Lang::En, false)
        );
        assert_eq!(
            negotiate(None, &[("accept-language", "fr-FR,de")]),
            (Lang::Nl, false)
        );
        assert_eq!(negotiate(None, &[]), (Lang::Nl, false));
        assert_eq!(
            negotiate(None, &[("cookie", "zegel_lang=xx")]),
            (Lang::Nl, false)
        );
    }

    #[test]
    fn a_post_never_switches_by_query() {
        let pl = PageLang::negotiate(&Method::POST, &HeaderMap::new(), Some("lang=en"), false);
        assert_eq!((pl.lang, pl.chosen), (Lang::Nl, false));
    }
}
