//! SMS gateways: a generic HTTP provider (any gateway: URL, method, headers, JSON or form body
//! template, success statuses) and adapters for the request formats of common Dutch gateways
//! (CM.com-style JSON, MessageBird-style and Spryng-style REST). The dev outbox lives in
//! `outbound`.

use crate::outbound::{OutSms, SendError, SmsSender};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Which request format to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsProvider {
    /// CM.com-style: `POST {url}` JSON `{"messages":{"authentication":{"producttoken"},"msg":[...]}}`.
    Cm,
    /// MessageBird-style: `POST {url}` with `Authorization: AccessKey {token}`, JSON
    /// `{"originator","recipients":[digits],"body","reference"}`.
    MessageBird,
    /// Spryng-style: `POST {url}` with `Authorization: Bearer {token}`, JSON
    /// `{"body","encoding":"auto","originator","recipients":[digits],"route":"business","reference"}`.
    Spryng,
    /// Anything else: the template decides.
    Generic(GenericTemplate),
}

/// Body format of the generic provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: the template is JSON; placeholders inside string values are filled
    /// with JSON-escaped values.
    Json,
    /// `application/x-www-form-urlencoded`: the template is a JSON object of field -> value.
    Form,
}

/// The generic provider's request shape. Placeholders: `{{to}}` (E.164), `{{to_digits}}`
/// (E.164 without `+`), `{{body}}`, `{{sender}}`, `{{reference}}`, `{{token}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericTemplate {
    /// HTTP method (`POST`, `PUT`, `GET`).
    pub method: String,
    /// Extra headers (values may use placeholders, e.g. `Bearer {{token}}`).
    pub headers: BTreeMap<String, String>,
    /// Body template (JSON text).
    pub body: String,
    /// Body format.
    pub format: BodyFormat,
    /// Statuses meaning "accepted"; empty = any 2xx.
    pub success: Vec<u16>,
}

/// Settings of an HTTP gateway.
#[derive(Clone)]
pub struct HttpSmsSettings {
    /// Request format.
    pub provider: SmsProvider,
    /// Endpoint URL.
    pub url: String,
    /// API token / product token / access key.
    pub token: String,
    /// Originator shown on the phone (max 11 characters alphanumeric).
    pub sender: String,
    /// Timeout per request.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpSmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSmsSettings")
            .field("provider", &self.provider)
            .field("url", &self.url)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

/// Sends SMS through an HTTP gateway.
#[derive(Debug, Clone)]
pub struct HttpSms {
    s: HttpSmsSettings,
    client: reqwest::Client,
}

impl HttpSms {
    /// Checks the settings and builds the client.
    pub fn new(s: HttpSmsSettings) -> Result<Self, String> {
        url::Url::parse(&s.url).map_err(|e| format!("ZEGEL_SMS_URL: {e}"))?;
        if let SmsProvider::Generic(t) = &s.provider {
            serde_json::from_str::<Value>(&t.body)
                .map_err(|e| format!("ZEGEL_SMS_BODY_TEMPLATE is not JSON: {e}"))?;
            reqwest::Method::from_bytes(t.method.as_bytes())
                .map_err(|_| format!("ZEGEL_SMS_METHOD {} is not an HTTP method", t.method))?;
        }
        let client = reqwest::Client::builder()
            .timeout(s.timeout)
            .connect_timeout(s.timeout)
            .build()
            .map_err(|e| format!("SMS client: {e}"))?;
        Ok(HttpSms { s, client })
    }

    fn request(&self, sms: &OutSms) -> Result<reqwest::RequestBuilder, SendError> {
        let digits = sms.to.trim_start_matches('+').to_string();
        let s = &self.s;
        let rb = match &s.provider {
            SmsProvider::Cm => self.client.post(&s.url).json(&json!({
                "messages": {
                    "authentication": {"producttoken": s.token},
                    "msg": [{
                        "from": s.sender,
                        "to": [{"number": sms.to}],
                        "body": {"type": "auto", "content": sms.body},
                        "reference": sms.id,
                    }]
                }
            })),
            SmsProvider::MessageBird => self
                .client
                .post(&s.url)
                .header("Authorization", format!("AccessKey {}", s.token))
                .json(&json!({
                    "originator": s.sender,
                    "recipients": [digits],
                    "body": sms.body,
                    "reference": sms.id,
                })),
            SmsProvider::Spryng => self.client.post(&s.url).bearer_auth(&s.token).json(&json!({
                "body": sms.body,
                "encoding": "auto",
                "originator": s.sender,
                "recipients": [digits],
                "route": "business",
                "reference": sms.id,
            })),
            SmsProvider::Generic(t) => {
                let vars = [
                    ("{{to}}", sms.to.as_str()),
                    ("{{to_digits}}", digits.as_str()),
                    ("{{body}}", sms.body.as_str()),
                    ("{{sender}}", s.sender.as_str()),
                    ("{{reference}}", sms.id.as_str()),
                    ("{{token}}", s.token.as_str()),
                ];
                let method = reqwest::Method::from_bytes(t.method.as_bytes())
                    .map_err(|_| SendError::Permanent("bad SMS method".into()))?;
                let mut rb = self.client.request(method, &s.url);
                for (k, v) in &t.headers {
                    rb = rb.header(k, fill(v, &vars));
                }
                let template: Value = serde_json::from_str(&t.body)
                    .map_err(|e| SendError::Permanent(format!("SMS template: {e}")))?;
                let body = fill_json(template, &vars);
                match t.format {
                    BodyFormat::Json => rb.json(&body),
                    BodyFormat::Form => {
                        let fields: Vec<(String, String)> = body
                            .as_object()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| {
                                        let v = match v {
                                            Value::String(s) => s.clone(),
                                            other => other.to_string(),
                                        };
                                        (k.clone(), v)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        rb.form(&fields)
                    }
                }
            }
        };
        Ok(rb)
    }

    fn accepted(&self, status: u16) -> bool {
        match &self.s.provider {
            SmsProvider::Generic(t) if !t.success.is_empty() => t.success.contains(&status),
            _ => (200..300).contains(&status),
        }
    }
}

fn fill(s: &str, vars: &[(&str, &str)]) -> String {
    vars.iter()
        .fold(s.to_string(), |acc, (k, v)| acc.replace(k, v))
}

/// Fills placeholders inside string values only, so values are always escaped correctly.
fn fill_json(v: Value, vars: &[(&str, &str)]) -> Value {
    match v {
        Value::String(s) => Value::String(fill(&s, vars)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| fill_json(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, fill_json(x, vars)))
                .collect(),
        ),
        other => other,
    }
}

#[async_trait]
impl SmsSender for HttpSms {
    async fn send(&self, sms: &OutSms) -> Result<(), SendError> {
        let res = self
            .request(sms)?
            .send()
            .await
            .map_err(|e| SendError::Temporary(unreachable(&e)))?;
        let status = res.status().as_u16();
        if self.accepted(status) {
            return Ok(());
        }
        // The body is never read: gateways echo the message (the code) and the number in
        // their error texts, and this text goes to logs, the job and the sender's events.
        let msg = refusal(status);
        if status == 429 || status == 408 || status >= 500 {
            Err(SendError::Temporary(msg))
        } else {
            Err(SendError::Permanent(msg))
        }
    }
}

/// A refused request as logs, the job's `last_error` and the sender's events show it: the
/// HTTP status and a fixed word for its class, nothing the gateway wrote.
fn refusal(status: u16) -> String {
    let class = match status {
        400 | 422 => "rejected",
        401 | 403 => "not authorised",
        402 => "payment required",
        404 | 405 => "wrong endpoint",
        408 => "timeout",
        413 => "too large",
        429 => "rate limited",
        500..=599 => "gateway error",
        _ => "refused",
    };
    format!("SMS gateway answered {status} ({class})")
}

/// A request that got no answer, as a fixed classification: reqwest's own text names the
/// URL (which may carry a token in its query) and the causes below it.
fn unreachable(e: &reqwest::Error) -> String {
    let class = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("SMS gateway unreachable ({class})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_a_status_and_a_fixed_class() {
        assert_eq!(refusal(400), "SMS gateway answered 400 (rejected)");
        assert_eq!(refusal(503), "SMS gateway answered 503 (gateway error)");
        assert_eq!(refusal(299), "SMS gateway answered 299 (refused)");
        for status in 100..1000 {
            let text = refusal(status);
            let digits: Vec<&str> = text
                .split(|c: char| !c.is_ascii_digit())
                .filter(|d| !d.is_empty())
                .collect();
            assert_eq!(digits, [status.to_string()], "{text}");
        }
    }
}
