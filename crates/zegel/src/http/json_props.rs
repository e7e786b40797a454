//! Property tests of the one JSON body reader: arbitrary bytes never panic and always end as
//! a value, 400 or 422; the 400/422 line (DESIGN "Statuses": malformed 400, invalid values 422)
//! follows a model of the input.

use super::{parse_json, Required};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use zegel_core::service::{ForwardReq, NewMessageReq, PolicyDoc};
use zegel_core::Error;

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Ok,
    Malformed,
    Invalid,
}

fn class_of<T>(r: Result<T, Error>) -> Result<Class, String> {
    match r {
        Ok(_) => Ok(Class::Ok),
        Err(Error::BadRequest(_)) => Ok(Class::Malformed),
        Err(Error::Invalid(_)) => Ok(Class::Invalid),
        Err(e) => Err(format!("neither 400 nor 422: {e:?}")),
    }
}

/// A request type like the API's: a serde-required field, one checked by `Required`, no unknown
/// fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    #[expect(dead_code, reason = "only parsed")]
    n: u8,
    need: Option<String>,
}

impl Required for Probe {
    fn missing_field(&self) -> Option<&'static str> {
        self.need.is_none().then_some("need")
    }
}

/// What the reader must answer for a JSON value given as a `Probe` body.
fn expected(v: &Value) -> Class {
    let Some(o) = v.as_object() else {
        return Class::Malformed;
    };
    let n_ok = matches!(o.get("n"), Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 255));
    let need_type_ok = matches!(o.get("need"), None | Some(Value::Null | Value::String(_)));
    let unknown = o.keys().any(|k| k != "n" && k != "need");
    if unknown || !n_ok || !need_type_ok {
        Class::Invalid
    } else if matches!(o.get("need"), None | Some(Value::Null)) {
        Class::Malformed
    } else {
        Class::Ok
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0u64..300).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("n".to_string()),
                        Just("need".to_string()),
                        "[a-z]{1,4}"
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects close to a valid `Probe`, so that every branch of the model is reached.
fn probe_like() -> impl Strategy<Value = Value> {
    let n = prop_oneof![
        Just(None),
        (0u64..400).prop_map(|n| Some(Value::from(n))),
        any_json().prop_map(Some),
    ];
    let need = prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        ".{0,6}".prop_map(|s| Some(Value::String(s))),
        any_json().prop_map(Some),
    ];
    let extra = prop::option::weighted(0.2, ("[a-z]{1,5}", any_json()));
    (n, need, extra).prop_map(|(n, need, extra)| {
        let mut o = Map::new();
        if let Some(n) = n {
            o.insert("n".into(), n);
        }
        if let Some(need) = need {
            o.insert("need".into(), need);
        }
        if let Some((k, v)) = extra {
            o.insert(k, v);
        }
        Value::Object(o)
    })
}

/// Bytes that are often almost JSON: a valid document cut, spliced or with a byte changed.
fn near_json_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (probe_like(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, at, b)| {
            let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            bytes
        }),
        (probe_like(), any::<prop::sample::Index>()).prop_map(|(v, at)| {
            let bytes = serde_json::to_vec(&v).unwrap_or_default();
            let cut = at.index(bytes.len() + 1);
            bytes[..cut].to_vec()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_a_value_or_400_or_422_and_never_a_panic(bytes in near_json_bytes()) {
        let is_json = serde_json::from_slice::<Value>(&bytes).is_ok();
        let probe = class_of(parse_json::<Probe>(&bytes, "body"));
        prop_assert!(probe.is_ok(), "{probe:?}");
        if !is_json {
            // Not JSON at all: malformed, never "invalid value".
            prop_assert_eq!(probe, Ok(Class::Malformed), "{:?}", String::from_utf8_lossy(&bytes));
        }
        // The API's own request types: the same three outcomes, no panic.
        for class in [
            class_of(parse_json::<NewMessageReq>(&bytes, "body")),
            class_of(parse_json::<ForwardReq>(&bytes, "body")),
            class_of(parse_json::<PolicyDoc>(&bytes, "body")),
        ] {
            prop_assert!(class.is_ok(), "{class:?}");
            if !is_json {
                prop_assert_eq!(class, Ok(Class::Malformed));
            }
        }
    }

    #[test]
    fn well_formed_json_is_400_only_when_malformed_and_422_for_wrong_values(
        v in prop_oneof![3 => probe_like(), 1 => any_json()],
        pretty in any::<bool>(),
    ) {
        let bytes = if pretty {
            serde_json::to_vec_pretty(&v)
        } else {
            serde_json::to_vec(&v)
        };
        let bytes = bytes.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(class_of(parse_json::<Probe>(&bytes, "body")), Ok(expected(&v)), "{}", v);
    }

    #[test]
    fn every_request_type_answers_a_json_value_with_ok_400_or_422(v in any_json()) {
        let bytes = serde_json::to_vec(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let not_object = !v.is_object();
        for class in [
            class_of(parse_json::<NewMessageReq>(&bytes, "body")),
            class_of(parse_json::<ForwardReq>(&bytes, "body")),
            class_of(parse_json::<PolicyDoc>(&bytes, "body")),
        ] {
            prop_assert!(class.is_ok(), "{class:?}");
            if not_object {
                prop_assert_eq!(class, Ok(Class::Malformed), "{}", v);
            }
        }
    }
}
