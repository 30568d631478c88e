//! Figures a document states about a suite, made by the suite: the text between a pair of
//! markers in the document must be what the test computed, or the test fails showing the right
//! text; `ARGUS_BLESS=1` writes it in instead.

/// Checks that `doc` (relative to the repository) holds `body` between the markers of `name`:
/// `<!-- figures of NAME: begin ... -->` and `<!-- figures of NAME: end -->`.
pub(crate) fn check(doc: &str, name: &str, body: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
    let text = std::fs::read_to_string(&path).unwrap();
    let begin = format!("<!-- figures of {name}: begin");
    let end = format!("<!-- figures of {name}: end -->");
    let want = format!(
        "{begin} (made by the suite; ARGUS_BLESS=1 rewrites it) -->\n{}\n{end}",
        body.trim_end()
    );
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{doc} lacks the figures of {name}; they are:\n{want}"));
    let stop = text[start..]
        .find(&end)
        .map(|i| start + i + end.len())
        .unwrap_or_else(|| panic!("{doc}: the figures of {name} have no end marker"));
    if text[start..stop] == want {
        return;
    }
    if std::env::var("ARGUS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[stop..])).unwrap();
        return;
    }
    panic!(
        "{doc}: the figures of {name} are not this suite's (ARGUS_BLESS=1 writes them in); \
         they are:\n{want}\n\nThe doc says:\n{}",
        &text[start..stop]
    );
}

/// `8047` as `8 047`, as the docs write figures.
pub(crate) fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
