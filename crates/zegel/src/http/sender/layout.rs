//! The frame of every signed-in sender page: the organisation (name, logo) in the header,
//! the navigation with the current section marked, and the sign-out button (a POST form).
//!
//! A page template `{% extends "sender/base.html" %}`, has the fields `chrome: Chrome` and
//! `nav: SenderNav`, and fills `{% block content %}`; its handler builds both with
//! [`SignedIn::frame`].

use super::SignedIn;
use crate::http::pages::{Chrome, Org, View};

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/berichten` and a message's page.
    Sent,
    /// `/berichten/nieuw`.
    Compose,
    /// `/inbox` and a reply's page.
    Inbox,
    /// `/instellingen`.
    Settings,
}

/// What `sender/base.html` needs besides the chrome.
pub struct SenderNav {
    /// The session's CSRF token (for the sign-out form).
    pub csrf: String,
    /// The signed-in user's name.
    pub user: String,
    /// The section this page belongs to.
    pub current: Section,
}

impl SenderNav {
    /// `aria-current="page"` on the link of the current section (askama: `{{ nav.current_attr("sent")|safe }}`).
    pub fn current_attr(&self, section: &str) -> &'static str {
        let s = match self.current {
            Section::Sent => "sent",
            Section::Compose => "compose",
            Section::Inbox => "inbox",
            Section::Settings => "settings",
        };
        if s == section {
            r#" aria-current="page""#
        } else {
            ""
        }
    }
}

impl SignedIn {
    /// The frame of a page in `current`: the organisation's chrome and the navigation.
    pub fn frame<'a>(&'a self, v: &View, current: Section) -> (Chrome<'a>, SenderNav) {
        let org = Org::new(
            &self.principal.org.name,
            &self.principal.org.id,
            self.principal.policy.has_logo,
        );
        (
            v.chrome(org),
            SenderNav {
                csrf: self.csrf.clone(),
                user: self.principal.user.name.clone(),
                current,
            },
        )
    }
}
