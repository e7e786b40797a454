//! Property tests of `Accept-Language` negotiation: arbitrary headers never panic, and a header
//! built from a list of (tag, q) items picks what a model of RFC 9110 §12.5.4 picks: of `nl`
//! and `en`, the one with the highest q above 0 (the earlier one on a tie), else none.

use super::from_accept_language;
use crate::model::Lang;
use proptest::prelude::*;

/// One `Accept-Language` item: a language range, maybe a region, maybe a q-value.
#[derive(Debug, Clone)]
struct Item {
    primary: String,
    region: Option<String>,
    q: Option<u16>, // thousandths: q=0.xyz
    upper: bool,
    space: bool,
}

fn item() -> impl Strategy<Value = Item> {
    let primary = prop_oneof![
        3 => Just("nl".to_string()),
        3 => Just("en".to_string()),
        1 => Just("de".to_string()),
        1 => Just("fr".to_string()),
        1 => Just("*".to_string()),
        1 => "[a-z]{2,3}",
    ];
    let region = prop::option::of(prop_oneof![
        Just("NL".to_string()),
        Just("BE".to_string()),
        Just("GB".to_string()),
        "[A-Z]{2}",
    ]);
    let q = prop::option::of(0u16..=1000);
    (primary, region, q, any::<bool>(), any::<bool>()).prop_map(
        |(primary, region, q, upper, space)| Item {
            primary,
            region,
            q,
            upper,
            space,
        },
    )
}

fn render(items: &[Item]) -> String {
    items
        .iter()
        .map(|i| {
            let mut tag = i.primary.clone();
            if let Some(r) = &i.region {
                tag = format!("{tag}-{r}");
            }
            if i.upper {
                tag = tag.to_ascii_uppercase();
            }
            let sep = if i.space { " " } else { "" };
            match i.q {
                None => format!("{sep}{tag}"),
                Some(1000) => format!("{sep}{tag};q=1"),
                Some(q) => format!("{sep}{tag}{sep};{sep}q=0.{q:03}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn model(items: &[Item]) -> Option<Lang> {
    let mut best: Option<(Lang, u16)> = None;
    for i in items {
        let lang = match i.primary.as_str() {
            "nl" => Lang::Nl,
            "en" => Lang::En,
            _ => continue,
        };
        let q = i.q.unwrap_or(1000);
        if q == 0 {
            continue;
        }
        if best.is_none_or(|(_, bq)| q > bq) {
            best = Some((lang, q));
        }
    }
    best.map(|(l, _)| l)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_header_text_is_negotiated_without_panicking(header in prop_oneof![
        any::<String>(),
        "[a-zA-Z;=,.0-9 _*-]{0,40}",
        prop::collection::vec(prop_oneof![Just("nl"), Just("en"), Just(";q="), Just(","), Just("-"), Just("q=1e9"), Just("NaN"), Just("inf"), Just("0.5"), Just(" ")], 0..12).prop_map(|v| v.concat()),
    ]) {
        // Only the two languages Zegel has, or nothing (the caller falls back to Dutch).
        let got = from_accept_language(&header);
        prop_assert!(matches!(got, None | Some(Lang::Nl) | Some(Lang::En)));
        if let Some(lang) = got {
            // It was named in the header (case-insensitively).
            prop_assert!(header.to_ascii_lowercase().contains(lang.as_str()), "{header:?} -> {lang:?}");
        }
    }

    #[test]
    fn the_highest_q_of_nl_and_en_wins(items in prop::collection::vec(item(), 0..6)) {
        let header = render(&items);
        prop_assert_eq!(from_accept_language(&header), model(&items), "{}", header);
    }
}
