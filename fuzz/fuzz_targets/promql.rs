//! Fuzzes PromQL: any text must parse or be refused with an error, and a parsed query must
//! plan its selections, split, and evaluate (instant and range, whole and split) over a small
//! data set without panicking; a runaway evaluation ends at its deadline.
#![no_main]

use argus_promql::value::{Labels, Series};
use argus_promql::{EvalRange, Fetched, Limits, Query};
use libfuzzer_sys::fuzz_target;
use std::cell::Cell;
use std::sync::Once;
use std::time::{Duration, Instant};

/// Two series per selection, their labels from the selection's equality matchers, a few points.
fn data(q: &Query, range: &EvalRange) -> Fetched {
    let mut f = Fetched::new();
    for sel in q.selections(range) {
        let mut series = Vec::new();
        for (i, host) in ["a", "b"].iter().enumerate() {
            let mut pairs: Vec<(String, String)> = sel
                .matchers
                .iter()
                .filter(|m| m.op == argus_core::query::MatchOp::Eq)
                .map(|m| (m.key.clone(), m.value.clone()))
                .collect();
            pairs.push(("host".into(), (*host).into()));
            pairs.push(("le".into(), format!("{}", i + 1)));
            let start = sel.start_ms.max(-1_000_000_000);
            let points = (0..8)
                .map(|k| (start + k * 15_000, (k as f64) * (i as f64 + 0.5) - 2.0))
                .filter(|p| p.0 <= sel.end_ms)
                .collect();
            series.push(Series {
                labels: Labels::new(pairs),
                points,
            });
        }
        f.insert(sel.key(), series);
    }
    f
}

fn run(q: &Query, range: EvalRange) {
    let limits = Limits {
        max_steps: 200,
        deadline: Some(Instant::now() + Duration::from_millis(500)),
        ..Limits::default()
    };
    let _ = q.eval(&range, &data(q, &range), &limits);
    if let Some(split) = q.split() {
        let mut parts = Fetched::new();
        for (i, p) in split.partials.iter().enumerate() {
            if let Ok(a) = p.eval(&range, &data(p, &range), &limits) {
                parts.insert(
                    argus_promql::split::Split::partial_key(i),
                    argus_promql::split::answer_series(a, range.start_ms),
                );
            }
            // What a region would send crosses the wire and back.
            let text = p.to_string();
            assert!(Query::parse(&text).is_ok(), "partial {text:?} does not parse");
        }
        let _ = split.outer.eval(&range, &parts, &limits);
    }
}

thread_local! {
    static IN_PARSER: Cell<bool> = const { Cell::new(false) };
}

/// promql-parser panics on some text (e.g. a subquery step too large for a `Duration`);
/// `Query::parse` catches that and refuses the query. libFuzzer's panic hook would abort on
/// it all the same, so the parser runs first under a hook that lets exactly its panics unwind:
/// a panic anywhere else still aborts and is reported.
fn parser_panics(text: &str) -> bool {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            if !IN_PARSER.with(Cell::get) {
                eprintln!("{info}");
                std::process::abort();
            }
        }))
    });
    IN_PARSER.with(|f| f.set(true));
    let r = std::panic::catch_unwind(|| promql_parser::parser::parse(text));
    IN_PARSER.with(|f| f.set(false));
    r.is_err()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if parser_panics(text) {
        // Refused, not crashed on (the parser's panic again, caught inside).
        IN_PARSER.with(|f| f.set(true));
        let refused = Query::parse(text).is_err();
        IN_PARSER.with(|f| f.set(false));
        assert!(refused);
        return;
    }
    match Query::parse(text) {
        Ok(q) => {
            run(&q, EvalRange::instant(1_700_000_000_000));
            run(&q, EvalRange::range(1_700_000_000_000, 1_700_000_300_000, 30_000));
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
});
