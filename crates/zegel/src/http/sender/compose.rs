//! Composing a message in the browser (issue 13): `/berichten/nieuw`.
//!
//! - `GET /berichten/nieuw`: the form (one recipient row).
//! - `POST /berichten/nieuw` (multipart; `csrf` first, then the text fields, the files last):
//!   "Ontvanger toevoegen" (`add`) re-renders the form with one more row, keeping what was
//!   typed and storing nothing; otherwise every field is checked first (per-field errors,
//!   nothing stored for anybody), then the files stream into encrypted blobs exactly as the
//!   API's do (413 beyond the limit, nothing kept), then the checks before sending: without
//!   warnings the message goes out (303 to `/berichten/{id}`), with warnings it is held and
//!   the sender sees the confirmation page.
//! - `GET /berichten/nieuw/{id}/controle`: the warnings, "Toch versturen" and "Annuleren".
//! - `POST /berichten/nieuw/{id}/versturen` / `.../annuleren`: release or destroy the held
//!   message (another sender's: 404).
//! - `GET /berichten/nieuw/adres?email=`: what the organisation remembers of an address (JSON,
//!   for `compose.js`).
//! - `GET /static/compose.js`: upload progress, cancel, adding rows, remembered methods.

use super::{Section, SenderNav, SignedIn};
use crate::http::multipart::{Field, Parts};
use crate::http::pages::{csrf_failed, error_page, render, see_other, Chrome, PageLang, View};
use crate::http::upload::{stream_attachment, text_part};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use zegel_core::i18n::{self, tr, tr_args, Lang};
use zegel_core::model::{ReplyPolicy, Verification};
use zegel_core::service::{
    mask_phone, recipient_problems, FieldProblem, NewMessageReq, NewRecipientReq, RecipientField,
    SendWarning,
};
use zegel_core::{Error, Invalid, NotAllowed, TooLarge};

/// The compose routes (signed-in).
pub fn routes(s: &AppState) -> Router<AppState> {
    // The attachments, the text fields and room for the multipart framing.
    let limit = s.z.settings.max_upload_bytes as usize + s.z.settings.max_body_bytes + (1 << 20);
    Router::new()
        .route(
            "/berichten/nieuw",
            get(compose_page)
                .post(compose_post)
                .layer(DefaultBodyLimit::max(limit)),
        )
        .route("/berichten/nieuw/adres", get(remembered))
        .route("/berichten/nieuw/{id}/controle", get(check_page))
        .route("/berichten/nieuw/{id}/versturen", post(release))
        .route("/berichten/nieuw/{id}/annuleren", post(cancel))
        .route("/static/compose.js", get(script))
}

const HERE: &str = "/berichten/nieuw";

/// Text fields at most this long (the body has its own limit).
const MAX_FIELD: usize = 4096;

// ---- the form ----

/// One `<option>`.
struct Opt {
    value: &'static str,
    label: String,
    selected: bool,
}

/// A link in the error summary to the field it is about.
struct ErrorLink {
    field: String,
    text: String,
}

/// One recipient row as typed.
#[derive(Debug, Clone, Default)]
struct Row {
    email: String,
    method: String,
    phone: String,
    code: String,
    hint: String,
}

/// One recipient row as shown.
struct RowView {
    n: usize,
    legend: String,
    email: String,
    phone: String,
    code: String,
    hint: String,
    methods: Vec<Opt>,
    known: Option<String>,
    email_error: Option<String>,
    phone_error: Option<String>,
    code_error: Option<String>,
    hint_error: Option<String>,
}

#[derive(Template)]
#[template(path = "sender/compose.html")]
struct ComposePage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    csrf: String,
    errors: Vec<ErrorLink>,
    rows: Vec<RowView>,
    subject: String,
    subject_error: Option<String>,
    body: String,
    body_error: Option<String>,
    reply_options: Vec<Opt>,
    reply_error: Option<String>,
    days: String,
    days_help: String,
    days_error: Option<String>,
    max_days: i64,
    read_receipt: bool,
    files_help: String,
    files_error: Option<String>,
}

/// The compose form as typed (the text fields of the multipart body).
#[derive(Debug, Clone, Default)]
struct ComposeForm {
    rows: Vec<Row>,
    add: bool,
    subject: String,
    body: String,
    reply: String,
    days: String,
    read_receipt: bool,
}

impl ComposeForm {
    /// An empty form; "Beschikbaar (dagen)" holds the organisation's default.
    fn fresh(s: &AppState, who: &SignedIn) -> Self {
        ComposeForm {
            rows: vec![Row::default()],
            days: s
                .z
                .settings
                .availability(&who.principal.policy)
                .default_days
                .to_string(),
            ..ComposeForm::default()
        }
    }

    /// One text field; `email_3` and the like grow the rows (up to `max_rows`).
    fn set(&mut self, name: &str, value: String, max_rows: usize) {
        match name {
            "add" => self.add = true,
            "subject" => self.subject = value,
            "body" => self.body = value,
            "reply" => self.reply = value,
            "days" => self.days = value,
            "read_receipt" => self.read_receipt = !value.is_empty(),
            _ => {
                let Some((field, n)) = name.rsplit_once('_') else {
                    return;
                };
                let Ok(n) = n.parse::<usize>() else {
                    return;
                };
                if n >= max_rows {
                    return;
                }
                if self.rows.len() <= n {
                    self.rows.resize(n + 1, Row::default());
                }
                let row = &mut self.rows[n];
                match field {
                    "email" => row.email = value,
                    "method" => row.method = value,
                    "phone" => row.phone = value,
                    "code" => row.code = value,
                    "hint" => row.hint = value,
                    _ => {}
                }
            }
        }
    }

    fn method(row: &Row) -> Verification {
        Verification::parse(&row.method).unwrap_or(Verification::Email)
    }

    /// The send request: for each row only the fields its method uses.
    fn request(&self) -> NewMessageReq {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        NewMessageReq {
            subject: Some(self.subject.clone()),
            body: self.body.clone(),
            recipients: Some(
                self.rows
                    .iter()
                    .map(|r| {
                        let method = Self::method(r);
                        NewRecipientReq {
                            email: some(&r.email),
                            phone: (method == Verification::Sms)
                                .then(|| some(&r.phone))
                                .flatten(),
                            verification: Some(method),
                            code: (method == Verification::Code)
                                .then(|| some(&r.code))
                                .flatten(),
                            code_hint: (method == Verification::Code)
                                .then(|| some(&r.hint))
                                .flatten(),
                            language: None,
                        }
                    })
                    .collect(),
            ),
            reply: ReplyPolicy::parse(&self.reply),
            expires_in_days: self.days.trim().parse().ok(),
            in_reply_to: None,
            read_receipt: self.read_receipt,
        }
    }
}

/// What is wrong with the form, field by field.
#[derive(Default)]
struct FormErrors {
    /// (row, field, text)
    rows: Vec<(usize, RecipientField, String)>,
    subject: Option<String>,
    body: Option<String>,
    reply: Option<String>,
    days: Option<String>,
    files: Option<String>,
    /// Not about one field.
    general: Option<String>,
}

impl FormErrors {
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
            && self.subject.is_none()
            && self.body.is_none()
            && self.reply.is_none()
            && self.days.is_none()
            && self.files.is_none()
            && self.general.is_none()
    }
}

fn problem_text(l: Lang, n: usize, p: FieldProblem) -> String {
    let id = match p {
        FieldProblem::EmailMissing => "compose-error-email-missing",
        FieldProblem::EmailInvalid => "compose-error-email-invalid",
        FieldProblem::EmailTwice => "compose-error-email-twice",
        FieldProblem::PhoneMissing => "compose-error-phone-missing",
        FieldProblem::PhoneInvalid => "compose-error-phone-invalid",
        FieldProblem::PhoneNotMobile => "compose-error-phone-mobile",
        FieldProblem::PhoneCountry => "compose-error-phone-country",
        FieldProblem::CodeMissing => "compose-error-code-missing",
        FieldProblem::CodeInvalid => "compose-error-code-invalid",
        FieldProblem::HintInvalid => "compose-error-hint-invalid",
    };
    tr_args(l, id, &[("n", &(n + 1).to_string())])
}

/// Every per-field problem of the form, before anything is stored.
fn check_fields(s: &AppState, who: &SignedIn, l: Lang, f: &ComposeForm) -> FormErrors {
    let mut e = FormErrors::default();
    let req = f.request();
    let policy = &who.principal.policy;
    for p in recipient_problems(req.recipients.as_deref().unwrap_or_default(), policy) {
        e.rows.push((
            p.recipient,
            p.field,
            problem_text(l, p.recipient, p.problem),
        ));
    }
    if f.subject.trim().is_empty() {
        e.subject = Some(tr(l, "compose-error-subject"));
    }
    if f.body.len() > s.z.settings.max_body_bytes {
        e.body = Some(tr(l, "compose-error-body"));
    }
    let max = s.z.settings.availability(policy).max_days;
    match f.days.trim().parse::<i64>() {
        Ok(d) if (1..=max).contains(&d) => {}
        _ => {
            e.days = Some(tr_args(
                l,
                "compose-error-days",
                &[("max", &max.to_string())],
            ))
        }
    }
    if let Some(p) = ReplyPolicy::parse(&f.reply) {
        if policy.reply_locked && p != policy.reply_default {
            e.reply = Some(tr(l, "compose-error-reply"));
        }
    }
    if f.rows.len() > s.z.settings.max_recipients {
        e.general = Some(tr_args(
            l,
            "compose-error-recipients",
            &[("max", &s.z.settings.max_recipients.to_string())],
        ));
    }
    e
}

/// An error of the service after the field checks, on the form.
fn service_error(s: &AppState, l: Lang, err: &Error) -> Option<(StatusCode, FormErrors)> {
    let mut e = FormErrors::default();
    let size = i18n::file_size(l, s.z.settings.max_upload_bytes as i64);
    let status = match err {
        Error::TooLarge(TooLarge::Attachments { .. } | TooLarge::Request) => {
            e.files = Some(tr_args(l, "compose-error-files-large", &[("size", &size)]));
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Error::TooLarge(TooLarge::Body { .. }) => {
            e.body = Some(tr(l, "compose-error-body"));
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Error::Invalid(Invalid::TooManyAttachments { max }) => {
            e.files = Some(tr_args(
                l,
                "compose-error-files-many",
                &[("max", &max.to_string())],
            ));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Error::Invalid(Invalid::SubjectTooLong { .. }) => {
            e.subject = Some(tr(l, "compose-error-subject-long"));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Error::NotAllowed(NotAllowed::ReplyPolicyLocked { .. }) => {
            e.reply = Some(tr(l, "compose-error-reply"));
            StatusCode::FORBIDDEN
        }
        Error::Invalid(_) => {
            e.general = Some(tr(l, "compose-error-other"));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        _ => return None,
    };
    Some((status, e))
}

fn method_label(l: Lang, v: Verification) -> String {
    tr(
        l,
        match v {
            Verification::Sms => "compose-method-sms",
            Verification::Email => "compose-method-email",
            Verification::Code => "compose-method-code",
        },
    )
}

/// Renders the form: what was typed, the errors, and what the organisation remembers of the
/// typed addresses (proposed: an empty phone of an `sms` row is filled in).
async fn render_form(
    s: &AppState,
    who: &SignedIn,
    v: &View,
    mut f: ComposeForm,
    e: FormErrors,
    status: StatusCode,
) -> Response {
    let l = v.lang;
    let typed: Vec<String> = f.rows.iter().map(|r| r.email.clone()).collect();
    let remembered =
        s.z.remembered(&who.principal, &typed)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "address book lookup failed");
                Vec::new()
            });
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    for (n, r) in f.rows.iter_mut().enumerate() {
        let known = remembered
            .iter()
            .find(|k| k.email == r.email.trim().to_lowercase());
        let method = ComposeForm::method(r);
        if let Some(k) = known {
            if r.phone.trim().is_empty() && method == Verification::Sms {
                if let Some(p) = &k.phone {
                    r.phone = p.clone();
                }
            }
        }
        let err_of = |field: RecipientField| {
            e.rows
                .iter()
                .find(|(i, f, _)| *i == n && *f == field)
                .map(|(_, _, t)| t.clone())
        };
        let (email_error, phone_error, code_error, hint_error) = (
            err_of(RecipientField::Email),
            err_of(RecipientField::Phone),
            err_of(RecipientField::Code),
            err_of(RecipientField::Hint),
        );
        for (id, err) in [
            ("email", &email_error),
            ("phone", &phone_error),
            ("code", &code_error),
            ("hint", &hint_error),
        ] {
            if let Some(t) = err {
                errors.push(ErrorLink {
                    field: format!("{id}_{n}"),
                    text: t.clone(),
                });
            }
        }
        rows.push(RowView {
            n,
            legend: tr_args(
                l,
                "compose-recipient-legend",
                &[("n", &(n + 1).to_string())],
            ),
            email: r.email.clone(),
            phone: r.phone.clone(),
            code: r.code.clone(),
            hint: r.hint.clone(),
            methods: [Verification::Email, Verification::Sms, Verification::Code]
                .into_iter()
                .map(|m| Opt {
                    value: m.as_str(),
                    label: method_label(l, m),
                    selected: m == method,
                })
                .collect(),
            known: known.map(|k| {
                let m = method_label(l, k.verification);
                match &k.phone {
                    Some(p) if k.verification == Verification::Sms => tr_args(
                        l,
                        "compose-known-phone",
                        &[("method", &m), ("phone", &mask_phone(p))],
                    ),
                    _ => tr_args(l, "compose-known", &[("method", &m)]),
                }
            }),
            email_error,
            phone_error,
            code_error,
            hint_error,
        });
    }
    for (field, err) in [
        ("subject", &e.subject),
        ("body", &e.body),
        ("reply", &e.reply),
        ("days", &e.days),
        ("attachment", &e.files),
    ] {
        if let Some(t) = err {
            errors.push(ErrorLink {
                field: field.into(),
                text: t.clone(),
            });
        }
    }
    if let Some(t) = &e.general {
        errors.insert(
            0,
            ErrorLink {
                field: "email_0".into(),
                text: t.clone(),
            },
        );
    }
    let policy = &who.principal.policy;
    let chosen = ReplyPolicy::parse(&f.reply).unwrap_or(policy.reply_default);
    let reply_options = [ReplyPolicy::Once, ReplyPolicy::Unlimited, ReplyPolicy::Off]
        .into_iter()
        .filter(|p| !policy.reply_locked || *p == policy.reply_default)
        .map(|p| Opt {
            value: p.as_str(),
            label: tr(
                l,
                match p {
                    ReplyPolicy::Once => "compose-reply-once",
                    ReplyPolicy::Unlimited => "compose-reply-unlimited",
                    ReplyPolicy::Off => "compose-reply-off",
                },
            ),
            selected: p == chosen,
        })
        .collect();
    let st = &s.z.settings;
    let availability = st.availability(&who.principal.policy);
    let (chrome, nav) = who.frame(v, Section::Compose);
    render(
        l,
        status,
        &ComposePage {
            chrome,
            nav,
            csrf: who.csrf.clone(),
            errors,
            rows,
            subject: f.subject,
            subject_error: e.subject,
            body: f.body,
            body_error: e.body,
            reply_options,
            reply_error: e.reply,
            days: f.days,
            days_help: tr_args(
                l,
                "compose-days-help",
                &[
                    ("default", &availability.default_days.to_string()),
                    ("max", &availability.max_days.to_string()),
                ],
            ),
            days_error: e.days,
            max_days: availability.max_days,
            read_receipt: f.read_receipt,
            files_help: tr_args(
                l,
                "compose-files-help",
                &[
                    ("max", &st.max_attachments.to_string()),
                    ("size", &i18n::file_size(l, st.max_upload_bytes as i64)),
                ],
            ),
            files_error: e.files,
        },
    )
}

/// `GET /berichten/nieuw`.
async fn compose_page(State(s): State<AppState>, who: SignedIn, pl: PageLang) -> Response {
    let v = pl.view(HERE.to_string());
    let page = render_form(
        &s,
        &who,
        &v,
        ComposeForm::fresh(&s, &who),
        FormErrors::default(),
        StatusCode::OK,
    )
    .await;
    pl.finish(page)
}

/// Reads the text fields up to the first file; returns them and that file part.
async fn read_fields(s: &AppState, mp: &mut Parts) -> Result<(ComposeForm, Option<Field>), Error> {
    let mut f = ComposeForm::default();
    // Room for "Ontvanger toevoegen" beyond the limit: the check then says "too many".
    let max_rows = s.z.settings.max_recipients + 1;
    while let Some(mut field) = mp.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "attachment" {
            return Ok((f, Some(field)));
        }
        let max = if name == "body" {
            s.z.settings.max_body_bytes
        } else {
            MAX_FIELD
        };
        let value = text_part(&mut field, max).await?;
        f.set(&name, value, max_rows);
    }
    Ok((f, None))
}

/// `POST /berichten/nieuw`.
async fn compose_post(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    headers: HeaderMap,
    Client(ctx): Client,
    req: Request,
) -> Response {
    let v = pl.view(HERE.to_string());
    let mut mp = match Parts::from_request(req) {
        Ok(mp) => mp,
        Err(e) => return error_page(&v, &e),
    };
    // CSRF first: nothing is read further, nothing stored, without it.
    let csrf = match mp.next_field().await {
        Ok(Some(mut f)) if f.name() == Some("csrf") => {
            text_part(&mut f, 100).await.unwrap_or_default()
        }
        _ => String::new(),
    };
    if !who.csrf_ok(&headers, &csrf) {
        mp.drain(None).await;
        return csrf_failed(&v, HERE.to_string());
    }
    let response = compose_send(&s, &who, &v, &ctx, mp).await;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        // Refused (the form's errors, a file too large, the store failing): an audit entry,
        // as a refused send through the API is.
        let user_id = &who.principal.user.id;
        let reply = format!("HTTP {}", status.as_u16());
        s.z.record_refused_send(user_id, &ctx, &reply).await;
    }
    response
}

/// The compose form after its CSRF token: a message sent or held (a redirect), the same form
/// with what was wrong ("Ontvanger toevoegen" gives it with one more row, 200), or an error page.
async fn compose_send(
    s: &AppState,
    who: &SignedIn,
    v: &View,
    ctx: &zegel_core::ClientCtx,
    mut mp: Parts,
) -> Response {
    let l = v.lang;
    let (mut form, first_file) = match read_fields(s, &mut mp).await {
        Ok(x) => x,
        Err(e) => {
            return match service_error(s, l, &e) {
                Some((status, errs)) => {
                    render_form(s, who, v, ComposeForm::fresh(s, who), errs, status).await
                }
                None => error_page(v, &e),
            }
        }
    };
    if form.rows.is_empty() {
        form.rows.push(Row::default());
    }
    if form.add {
        // "Ontvanger toevoegen" without JavaScript: the same form with one more row. Files
        // chosen are read and thrown away (a file input cannot be filled in again).
        form.add = false;
        if form.rows.len() < s.z.settings.max_recipients {
            form.rows.push(Row::default());
        }
        mp.drain(first_file).await;
        return render_form(s, who, v, form, FormErrors::default(), StatusCode::OK).await;
    }
    let errors = check_fields(s, who, l, &form);
    if !errors.is_empty() {
        mp.drain(first_file).await;
        return render_form(s, who, v, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let mut draft = match s.z.begin_message(&who.principal, form.request()).await {
        Ok(d) => d,
        Err(e) => {
            mp.drain(first_file).await;
            return form_or_error(s, who, v, form, &e).await;
        }
    };
    let streamed = async {
        if let Some(f) = first_file {
            stream_attachment(f, draft.uploads()).await?;
        }
        while let Some(f) = mp.next_field().await? {
            stream_attachment(f, draft.uploads()).await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    if let Err(e) = streamed {
        draft.abort().await;
        return form_or_error(s, who, v, form, &e).await;
    }
    let warnings = match draft.warnings().await {
        Ok(w) => w,
        Err(e) => {
            draft.abort().await;
            return error_page(v, &e);
        }
    };
    if warnings.is_empty() {
        match draft.commit(ctx).await {
            Ok(m) => see_other(format!("/berichten/{}", m.id)),
            Err(e) => form_or_error(s, who, v, form, &e).await,
        }
    } else {
        match draft.hold(ctx).await {
            Ok(m) => see_other(format!("/berichten/nieuw/{}/controle", m.id)),
            Err(e) => form_or_error(s, who, v, form, &e).await,
        }
    }
}

async fn form_or_error(
    s: &AppState,
    who: &SignedIn,
    v: &View,
    form: ComposeForm,
    e: &Error,
) -> Response {
    match service_error(s, v.lang, e) {
        Some((status, errs)) => render_form(s, who, v, form, errs, status).await,
        None => error_page(v, e),
    }
}

// ---- the confirmation step ----

struct WarningLine {
    heading: Option<String>,
    text: String,
}

#[derive(Template)]
#[template(path = "sender/compose_check.html")]
struct CheckPage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    csrf: String,
    id: String,
    warnings: Vec<WarningLine>,
    addresses: Vec<String>,
}

fn warning_line(l: Lang, w: &SendWarning) -> WarningLine {
    match w {
        SendWarning::FirstMessage { email } => WarningLine {
            heading: Some(tr(l, "compose-warning-first")),
            text: email.clone(),
        },
        SendWarning::DidYouMean { email, suggestion } => WarningLine {
            heading: Some(tr_args(
                l,
                "compose-warning-did-you-mean",
                &[("suggestion", suggestion)],
            )),
            text: tr_args(
                l,
                "compose-warning-did-you-mean-detail",
                &[("email", email)],
            ),
        },
        SendWarning::ManyRecipients { count } => WarningLine {
            heading: None,
            text: tr_args(l, "compose-warning-many", &[("count", &count.to_string())]),
        },
    }
}

/// `GET /berichten/nieuw/{id}/controle`.
async fn check_page(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    Path(id): Path<String>,
) -> Response {
    let here = format!(
        "/berichten/nieuw/{}/controle",
        crate::http::pages::chrome::segment(&id)
    );
    let v = pl.view(here);
    let page = match s.z.held_view(&who.principal, &id).await {
        Ok(h) => {
            let (chrome, nav) = who.frame(&v, Section::Compose);
            render(
                v.lang,
                StatusCode::OK,
                &CheckPage {
                    chrome,
                    nav,
                    csrf: who.csrf.clone(),
                    warnings: h.warnings.iter().map(|w| warning_line(v.lang, w)).collect(),
                    addresses: h.addresses,
                    id: h.id,
                },
            )
        }
        Err(e) => error_page(&v, &e),
    };
    pl.finish(page)
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /berichten/nieuw/{id}/versturen`: "Toch versturen".
async fn release(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    headers: HeaderMap,
    Client(ctx): Client,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let back = format!(
        "/berichten/nieuw/{}/controle",
        crate::http::pages::chrome::segment(&id)
    );
    let v = pl.view(back.clone());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, back);
    }
    match s.z.release_message(&who.principal, &id, &ctx).await {
        Ok(()) => see_other(format!(
            "/berichten/{}",
            crate::http::pages::chrome::segment(&id)
        )),
        Err(e) => error_page(&v, &e),
    }
}

/// `POST /berichten/nieuw/{id}/annuleren`: "Annuleren" destroys the held message at once.
async fn cancel(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let back = format!(
        "/berichten/nieuw/{}/controle",
        crate::http::pages::chrome::segment(&id)
    );
    let v = pl.view(back.clone());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, back);
    }
    match s.z.cancel_message(&who.principal, &id).await {
        Ok(()) => {
            // The blobs go now rather than at the next sweep.
            if let Err(e) = s.z.sweep_blobs().await {
                tracing::warn!(error = %e, "blob sweep after a cancel failed");
            }
            see_other(HERE.to_string())
        }
        Err(e) => error_page(&v, &e),
    }
}

// ---- for compose.js ----

#[derive(Deserialize)]
struct AddressQuery {
    #[serde(default)]
    email: String,
}

/// `GET /berichten/nieuw/adres?email=`: what the organisation remembers of one address
/// (`{}` when nothing).
async fn remembered(
    State(s): State<AppState>,
    who: SignedIn,
    Query(q): Query<AddressQuery>,
) -> Response {
    match s.z.remembered(&who.principal, &[q.email]).await {
        Ok(found) => {
            let body = match found.into_iter().next() {
                Some(r) => serde_json::json!({
                    "verification": r.verification,
                    "phone": r.phone,
                    "masked_phone": r.phone.as_deref().map(mask_phone),
                }),
                None => serde_json::json!({}),
            };
            ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "address book lookup failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `/static/compose.js` (cached for an hour, like the stylesheet).
async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../static/compose.js"),
    )
        .into_response()
}
