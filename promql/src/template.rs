//! Alert label and annotation templates: the strict subset of Prometheus's Go templates that
//! alert rules use, parsed once when a rule is saved and rendered for every alert.
//!
//! Supported, with Go's syntax and Prometheus's output:
//!
//! - text, and actions `{{ ... }}` (with the trim markers `{{- ` and ` -}}`);
//! - the alert's data: `$value` / `.Value` (a number), `$labels.NAME` / `.Labels.NAME` and
//!   `$externalLabels.NAME` / `.ExternalLabels.NAME` (text; a missing label is empty, as
//!   Prometheus's `missingkey=zero`);
//! - string literals (`"..."`, `` `...` ``);
//! - the functions `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage` (a
//!   number, or text read as one), `toUpper`, `toLower` (text) and `printf` (a format literal
//!   with the verbs `%v %s` for text, `%v %f %F %e %E %g %G` for numbers, flags `- + 0 space`,
//!   width and precision, and `%%`), called as `f x` or in a pipeline `x | f`.
//!
//! Anything else (`if`, `range`, variables of one's own, `query`, parentheses, numbers, ...) is
//! refused when parsed, with its `line:column` and what is not supported, rather than failing
//! later for every alert. Type errors that Go would only find when executing (`toUpper` of a
//! number, `%d` of a float, a wrong count of `printf` arguments) are refused when parsed too.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Why a template was refused: where (1-based line and column, in characters) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct TemplateError {
    /// Line of the offending text, from 1.
    pub line: usize,
    /// Column of the offending text, from 1, in characters.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Vec<Command>),
}

/// What a value is known to be when the template is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Number,
    Text,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Value,
    Label(String),
    External(String),
    Literal(String),
}

impl Operand {
    fn ty(&self) -> Type {
        match self {
            Operand::Value => Type::Number,
            _ => Type::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Humanize,
    Humanize1024,
    HumanizeDuration,
    HumanizePercentage,
    ToUpper,
    ToLower,
    Printf,
}

const FUNCS: [(&str, Func); 7] = [
    ("humanize", Func::Humanize),
    ("humanize1024", Func::Humanize1024),
    ("humanizeDuration", Func::HumanizeDuration),
    ("humanizePercentage", Func::HumanizePercentage),
    ("toUpper", Func::ToUpper),
    ("toLower", Func::ToLower),
    ("printf", Func::Printf),
];

impl Func {
    fn name(self) -> &'static str {
        FUNCS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }
}

/// One stage of a pipeline: an operand, or a function with its arguments (the previous
/// stage's value, if any, comes last, as in Go).
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Operand(Operand),
    Call {
        func: Func,
        args: Vec<Operand>,
        /// `printf`'s parsed format.
        format: Option<Vec<Piece>>,
    },
}

/// A piece of a `printf` format.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Verb(Spec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
    verb: char,
}

/// A value while rendering.
enum Val {
    Number(f64),
    Text(String),
}

/// What an alert's templates see.
struct Data<'a> {
    labels: &'a BTreeMap<String, String>,
    external: &'a BTreeMap<String, String>,
    value: f64,
}

impl Template {
    /// Parses `text`, refusing anything outside the supported subset with its position.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Parser { text, pos: 0 }.template()
    }

    /// The text for an alert with `labels` and `value` (no external labels).
    pub fn render(&self, labels: &BTreeMap<String, String>, value: f64) -> String {
        self.render_with_external(labels, &BTreeMap::new(), value)
    }

    /// The text for an alert with `labels`, `value` and the evaluator's `external` labels. A
    /// text that is not a number given to a `humanize` function makes the whole result
    /// `<error expanding template: ...>`, as Prometheus writes it.
    pub fn render_with_external(
        &self,
        labels: &BTreeMap<String, String>,
        external: &BTreeMap<String, String>,
        value: f64,
    ) -> String {
        let data = Data {
            labels,
            external,
            value,
        };
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(cmds) => match run(cmds, &data) {
                    Ok(Val::Text(t)) => out.push_str(&t),
                    Ok(Val::Number(v)) => out.push_str(&go_float(v, 'g', None, &Spec::default())),
                    Err(e) => return format!("<error expanding template: {e}>"),
                },
            }
        }
        out
    }

    /// Whether the template is plain text (renders to itself).
    pub fn is_static(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, Node::Text(_)))
    }
}

fn operand(o: &Operand, d: &Data) -> Val {
    match o {
        Operand::Value => Val::Number(d.value),
        Operand::Label(n) => Val::Text(d.labels.get(n).cloned().unwrap_or_default()),
        Operand::External(n) => Val::Text(d.external.get(n).cloned().unwrap_or_default()),
        Operand::Literal(s) => Val::Text(s.clone()),
    }
}

fn run(cmds: &[Command], d: &Data) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for c in cmds {
        piped = Some(match c {
            Command::Operand(o) => operand(o, d),
            Command::Call { func, args, format } => {
                let mut vals: Vec<Val> = args.iter().map(|a| operand(a, d)).collect();
                vals.extend(piped.take());
                call(*func, vals, format.as_deref())?
            }
        });
    }
    Ok(piped.unwrap_or(Val::Text(String::new())))
}

fn number(func: Func, v: Val) -> Result<f64, String> {
    match v {
        Val::Number(x) => Ok(x),
        Val::Text(t) => t
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{}: cannot read {t:?} as a number", func.name())),
    }
}

fn call(func: Func, mut vals: Vec<Val>, format: Option<&[Piece]>) -> Result<Val, String> {
    let one = || -> Val { Val::Text(String::new()) };
    Ok(Val::Text(match func {
        Func::Humanize => humanize(number(func, vals.pop().unwrap_or_else(one))?),
        Func::Humanize1024 => humanize1024(number(func, vals.pop().unwrap_or_else(one))?),
        Func::HumanizeDuration => humanize_duration(number(func, vals.pop().unwrap_or_else(one))?),
        Func::HumanizePercentage => {
            let v = number(func, vals.pop().unwrap_or_else(one))?;
            format!("{}%", g4(v * 100.0))
        }
        Func::ToUpper | Func::ToLower => {
            let t = match vals.pop() {
                Some(Val::Text(t)) => t,
                // Refused when parsed.
                _ => String::new(),
            };
            if func == Func::ToUpper {
                t.to_uppercase()
            } else {
                t.to_lowercase()
            }
        }
        Func::Printf => printf(format.unwrap_or(&[]), &vals[1.min(vals.len())..]),
    }))
}

/// Go's `%.4g`.
fn g4(v: f64) -> String {
    go_float(v, 'g', Some(4), &Spec::default())
}

/// Prometheus's `humanize`: SI prefixes, 4 significant digits.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus's `humanize1024`: binary prefixes, 4 significant digits.
pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.5s`, `250ms`.
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        // Go's int64(v): truncation.
        let whole = v as i64;
        let (s, m, h, d) = (
            whole % 60,
            (whole / 60) % 60,
            (whole / 3600) % 24,
            whole / 86_400,
        );
        return if d != 0 {
            format!("{sign}{d}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// `fmt.Sprintf(format, args...)` for the verbs the parser let through (arguments checked).
fn printf(format: &[Piece], args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    for p in format {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Verb(s) => match args.next() {
                Some(Val::Number(v)) => {
                    let verb = if s.verb == 'v' { 'g' } else { s.verb };
                    out.push_str(&go_float(*v, verb, s.precision, s));
                }
                Some(Val::Text(t)) => {
                    let t: String = match s.precision {
                        Some(p) => t.chars().take(p).collect(),
                        None => t.clone(),
                    };
                    out.push_str(&pad(String::new(), t, s, false));
                }
                None => {}
            },
        }
    }
    out
}

/// `sign` + `body` padded to the spec's width: spaces on the left (right with `-`), or zeros
/// between sign and digits with `0`.
fn pad(sign: String, body: String, s: &Spec, zeros: bool) -> String {
    let len = sign.chars().count() + body.chars().count();
    let fill = s.width.unwrap_or(0).saturating_sub(len);
    if fill == 0 {
        return sign + &body;
    }
    if s.minus {
        format!("{sign}{body}{}", " ".repeat(fill))
    } else if s.zero && zeros {
        format!("{sign}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{sign}{body}", " ".repeat(fill))
    }
}

/// A float as Go's `fmt` writes it with `verb` (`e E f F g G`) and `precision` (`None`: `%v`'s
/// shortest digits for `g`, 6 for the others), honouring the spec's flags and width.
fn go_float(v: f64, verb: char, precision: Option<usize>, s: &Spec) -> String {
    if v.is_nan() {
        let sign = if s.plus {
            "+"
        } else if s.space {
            " "
        } else {
            ""
        };
        return pad(sign.into(), "NaN".into(), s, false);
    }
    let sign = if v.is_sign_negative() {
        "-"
    } else if s.plus || v.is_infinite() {
        "+"
    } else if s.space {
        " "
    } else {
        ""
    };
    if v.is_infinite() {
        return pad(sign.into(), "Inf".into(), s, false);
    }
    let a = v.abs();
    let body = match verb {
        'f' | 'F' => format!("{a:.*}", precision.unwrap_or(6)),
        'e' | 'E' => {
            let (digits, dp) = decimal_digits(a, Some(precision.unwrap_or(6) + 1));
            fmt_e(&digits, dp, precision.unwrap_or(6), verb == 'E')
        }
        _ => {
            let upper = verb == 'G';
            let shortest = precision.is_none();
            let (digits, dp) = decimal_digits(a, precision.map(|p| p.max(1)));
            let nd = digits.len() as i64;
            let mut prec = precision.map_or(nd, |p| p.max(1) as i64);
            let eprec = if shortest {
                6
            } else if prec > nd && nd >= dp {
                nd
            } else {
                prec
            };
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                prec = prec.min(nd);
                fmt_e(&digits, dp, (prec - 1).max(0) as usize, upper)
            } else {
                if prec > dp {
                    prec = nd;
                }
                fmt_f(&digits, dp, (prec - dp).max(0) as usize)
            }
        }
    };
    pad(sign.into(), body, s, true)
}

/// The significant decimal digits of `a >= 0` without trailing zeros, and the position of
/// the decimal point (`0.0123` is `"123"`, -1): the shortest that reads back as `a` when
/// `significant` is `None`, else rounded to that many digits. Zero is `""`, 0.
fn decimal_digits(a: f64, significant: Option<usize>) -> (Vec<u8>, i64) {
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let sci = match significant {
        None => format!("{a:e}"),
        Some(n) => format!("{a:.*e}", n.saturating_sub(1)),
    };
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("scientific notation has an exponent");
    let exp: i64 = exp.parse().expect("an integer exponent");
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

fn digit(digits: &[u8], i: i64) -> char {
    if i >= 0 && (i as usize) < digits.len() {
        digits[i as usize] as char
    } else {
        '0'
    }
}

/// Go's `%e` layout: `d.ddde+XX` with `decimals` digits after the point.
fn fmt_e(digits: &[u8], dp: i64, decimals: usize, upper: bool) -> String {
    let mut out = String::new();
    out.push(digit(digits, 0));
    if decimals > 0 {
        out.push('.');
        for i in 1..=decimals as i64 {
            out.push(digit(digits, i));
        }
    }
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
    out
}

/// Go's `%f` layout of the digits with `decimals` digits after the point.
fn fmt_f(digits: &[u8], dp: i64, decimals: usize) -> String {
    let mut out = String::new();
    if dp > 0 {
        for i in 0..dp {
            out.push(digit(digits, i));
        }
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        for i in 0..decimals as i64 {
            out.push(digit(digits, dp + i));
        }
    }
    out
}

/// A token inside an action, with its byte offset.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `$name` with its field chain (`$labels.instance` is `["$labels", "instance"]`).
    Var(Vec<String>),
    /// `.A.B`: a field chain on the data.
    Field(Vec<String>),
    Ident(String),
    Str(String),
    Pipe,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

const SUPPORTED: &str = "supported: $value, .Value, $labels.NAME, .Labels.NAME, \
    $externalLabels.NAME, .ExternalLabels.NAME, \"strings\" and the functions humanize, \
    humanize1024, humanizeDuration, humanizePercentage, toUpper, toLower and printf";

impl<'a> Parser<'a> {
    fn err(&self, at: usize, message: impl Into<String>) -> TemplateError {
        let before = &self.text[..at.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count()
            + 1;
        TemplateError {
            line,
            col,
            message: message.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn template(mut self) -> Result<Template, TemplateError> {
        let mut nodes = Vec::new();
        let mut trim_next = false;
        loop {
            let rest = self.rest();
            let Some(open) = rest.find("{{") else {
                let mut t = rest;
                if trim_next {
                    t = t.trim_start_matches(is_space);
                }
                if !t.is_empty() {
                    nodes.push(Node::Text(t.to_string()));
                }
                break;
            };
            let mut t = &rest[..open];
            if trim_next {
                t = t.trim_start_matches(is_space);
            }
            let start = self.pos + open;
            self.pos = start + 2;
            // `{{- ` trims the text before; `{{-3` would be a number.
            let after = self.rest();
            if let Some(r) = after.strip_prefix('-') {
                if r.starts_with(is_space) {
                    t = t.trim_end_matches(is_space);
                    self.pos += 1;
                } else {
                    return Err(self.err(
                        self.pos,
                        "numbers are not supported; ".to_string() + SUPPORTED,
                    ));
                }
            }
            if !t.is_empty() {
                nodes.push(Node::Text(t.to_string()));
            }
            if self.rest().trim_start_matches(is_space).starts_with("/*") {
                return Err(self.err(start, "comments {{/* */}} are not supported"));
            }
            let (toks, trim) = self.action(start)?;
            trim_next = trim;
            nodes.push(Node::Action(self.pipeline(start, toks)?));
        }
        Ok(Template { nodes })
    }

    /// Reads the tokens of an action up to its `}}` (or ` -}}`, which says to trim what
    /// follows).
    fn action(&mut self, start: usize) -> Result<(Vec<(usize, Tok)>, bool), TemplateError> {
        let mut toks = Vec::new();
        loop {
            let rest = self.rest();
            let skipped = rest.len() - rest.trim_start_matches(is_space).len();
            self.pos += skipped;
            let at = self.pos;
            let rest = self.rest();
            let Some(c) = rest.chars().next() else {
                return Err(self.err(start, "unclosed action: no }} after this {{"));
            };
            if rest.starts_with("}}") {
                self.pos += 2;
                return Ok((toks, false));
            }
            if rest.starts_with("-}}") && skipped > 0 {
                self.pos += 3;
                return Ok((toks, true));
            }
            match c {
                '|' => {
                    self.pos += 1;
                    toks.push((at, Tok::Pipe));
                }
                '"' => {
                    let s = self.quoted(at)?;
                    toks.push((at, Tok::Str(s)));
                }
                '`' => {
                    let Some(end) = rest[1..].find('`') else {
                        return Err(self.err(at, "unterminated raw string"));
                    };
                    toks.push((at, Tok::Str(rest[1..1 + end].to_string())));
                    self.pos += end + 2;
                }
                '$' => {
                    self.pos += 1;
                    let name = self.ident();
                    if name.is_empty() {
                        return Err(self.err(
                            at,
                            "a variable needs a name: $value, $labels or $externalLabels",
                        ));
                    }
                    let mut chain = vec![format!("${name}")];
                    chain.extend(self.fields(at)?);
                    toks.push((at, Tok::Var(chain)));
                }
                '.' => {
                    let chain = self.fields(at)?;
                    if chain.is_empty() {
                        return Err(self.err(
                            at,
                            "{{ . }} (the whole data) is not supported; use .Value or .Labels.NAME",
                        ));
                    }
                    toks.push((at, Tok::Field(chain)));
                }
                c if is_ident_start(c) => {
                    let name = self.ident();
                    toks.push((at, Tok::Ident(name)));
                }
                c if c.is_ascii_digit() || c == '-' || c == '+' => {
                    return Err(self.err(at, format!("numbers are not supported; {SUPPORTED}")));
                }
                '(' | ')' => {
                    return Err(self.err(at, "parentheses are not supported"));
                }
                ':' | '=' => {
                    return Err(self.err(at, "declaring or assigning variables is not supported"));
                }
                other => {
                    return Err(self.err(at, format!("unexpected {other:?} in action")));
                }
            }
        }
    }

    fn ident(&mut self) -> String {
        let rest = self.rest();
        let n = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        self.pos += n;
        rest[..n].to_string()
    }

    /// `.a.b` right here (no spaces), as names.
    fn fields(&mut self, at: usize) -> Result<Vec<String>, TemplateError> {
        let mut out = Vec::new();
        while self.rest().starts_with('.') {
            self.pos += 1;
            let name = self.ident();
            if name.is_empty() {
                if out.is_empty() && self.rest().starts_with(|c: char| is_space(c) || c == '}') {
                    return Ok(out);
                }
                return Err(self.err(at, "a field name must follow '.' (letters, digits, _)"));
            }
            out.push(name);
        }
        if self
            .rest()
            .starts_with(|c: char| !(is_space(c) || c == '}' || c == '|'))
        {
            return Err(self.err(
                self.pos,
                "label names must be letters, digits and _ (use no other character after a field)",
            ));
        }
        Ok(out)
    }

    /// A Go interpreted string literal starting at `at` (its opening quote).
    fn quoted(&mut self, at: usize) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\n' => break,
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    let simple = match e {
                        'n' => Some('\n'),
                        't' => Some('\t'),
                        'r' => Some('\r'),
                        '\\' => Some('\\'),
                        '"' => Some('"'),
                        'a' => Some('\x07'),
                        'b' => Some('\x08'),
                        'f' => Some('\x0c'),
                        'v' => Some('\x0b'),
                        _ => None,
                    };
                    match (simple, e) {
                        (Some(c), _) => out.push(c),
                        (None, 'x' | 'u' | 'U') => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String =
                                (0..n).filter_map(|_| chars.next().map(|x| x.1)).collect();
                            let c = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == n)
                                .and_then(char::from_u32)
                                .ok_or_else(|| {
                                    self.err(at, format!("bad escape \\{e}{hex} in string"))
                                })?;
                            out.push(c);
                        }
                        _ => return Err(self.err(at, format!("unknown escape \\{e} in string"))),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.err(at, "unterminated string"))
    }

    fn operand(&self, at: usize, t: &Tok) -> Result<Operand, TemplateError> {
        let label = |kind: &str, chain: &[String], make: fn(String) -> Operand| match chain {
            [name] => Ok(make(name.clone())),
            [] => Err(self.err(at, format!("{kind} needs a label name: {kind}.NAME"))),
            _ => Err(self.err(
                at,
                format!(
                    "{kind}.{} has too many fields: a label is {kind}.NAME",
                    chain.join(".")
                ),
            )),
        };
        match t {
            Tok::Var(chain) => match (chain[0].as_str(), &chain[1..]) {
                ("$value", []) => Ok(Operand::Value),
                ("$value", _) => Err(self.err(at, "$value is a number: it has no fields")),
                ("$labels", rest) => label("$labels", rest, Operand::Label),
                ("$externalLabels", rest) => label("$externalLabels", rest, Operand::External),
                (v, _) => Err(self.err(at, format!("unknown variable {v}: only $value, $labels and $externalLabels are defined"))),
            },
            Tok::Field(chain) => match (chain[0].as_str(), &chain[1..]) {
                ("Value", []) => Ok(Operand::Value),
                ("Value", _) => Err(self.err(at, ".Value is a number: it has no fields")),
                ("Labels", rest) => label(".Labels", rest, Operand::Label),
                ("ExternalLabels", rest) => label(".ExternalLabels", rest, Operand::External),
                (f, _) => Err(self.err(at, format!("unknown field .{f}: only .Value, .Labels and .ExternalLabels are defined"))),
            },
            Tok::Str(s) => Ok(Operand::Literal(s.clone())),
            Tok::Ident(name) => Err(self.err(at, format!("{name} cannot be an argument here"))),
            Tok::Pipe => Err(self.err(at, "unexpected |")),
        }
    }

    fn pipeline(
        &self,
        start: usize,
        toks: Vec<(usize, Tok)>,
    ) -> Result<Vec<Command>, TemplateError> {
        if toks.is_empty() {
            return Err(self.err(start, "empty action {{ }}"));
        }
        let mut cmds = Vec::new();
        // The type of the previous stage's value.
        let mut piped: Option<Type> = None;
        for stage in toks.split(|(_, t)| *t == Tok::Pipe) {
            let Some((at, head)) = stage.first() else {
                let at = toks
                    .iter()
                    .find(|(_, t)| *t == Tok::Pipe)
                    .map_or(start, |(a, _)| *a);
                return Err(self.err(at, "missing command around |"));
            };
            let (at, head) = (*at, head);
            let func = match head {
                Tok::Ident(name) => match FUNCS.iter().find(|(n, _)| n == name) {
                    Some((_, f)) => *f,
                    None => {
                        let what = match name.as_str() {
                            "if" | "else" | "end" | "range" | "with" | "define" | "template"
                            | "block" | "break" | "continue" => format!("{name} is not supported"),
                            "true" | "false" | "nil" => format!("{name} is not supported"),
                            _ => format!("unsupported function {name:?}"),
                        };
                        return Err(self.err(at, format!("{what}; {SUPPORTED}")));
                    }
                },
                other => {
                    let o = self.operand(at, other)?;
                    if piped.is_some() {
                        return Err(self.err(at, "after | comes a function, not a value"));
                    }
                    if let Some((a, _)) = stage.get(1) {
                        return Err(self.err(*a, "a value takes no arguments (only functions do)"));
                    }
                    piped = Some(o.ty());
                    cmds.push(Command::Operand(o));
                    continue;
                }
            };
            let args = stage[1..]
                .iter()
                .map(|(a, t)| self.operand(*a, t).map(|o| (*a, o)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut types: Vec<(usize, Type)> = args.iter().map(|(a, o)| (*a, o.ty())).collect();
            if let Some(t) = piped {
                types.push((at, t));
            }
            let name = func.name();
            let mut format = None;
            match func {
                Func::Printf => {
                    let Some((fa, Operand::Literal(f))) = args.first() else {
                        return Err(self.err(
                            at,
                            "printf needs a format string literal first: printf \"%.2f\" $value",
                        ));
                    };
                    let pieces = self.format(*fa, f)?;
                    let verbs: Vec<&Spec> = pieces
                        .iter()
                        .filter_map(|p| match p {
                            Piece::Verb(s) => Some(s),
                            Piece::Text(_) => None,
                        })
                        .collect();
                    let given = &types[1..];
                    if verbs.len() != given.len() {
                        return Err(self.err(
                            at,
                            format!(
                                "printf format {f:?} has {} verb(s) but {} argument(s) follow",
                                verbs.len(),
                                given.len()
                            ),
                        ));
                    }
                    for (s, (a, t)) in verbs.iter().zip(given) {
                        let ok = match t {
                            Type::Number => "vfFeEgG".contains(s.verb),
                            Type::Text => "vs".contains(s.verb),
                        };
                        if !ok {
                            let what = match t {
                                Type::Number => {
                                    "a number (use %v, %f, %e or %g; %.0f for no decimals)"
                                }
                                Type::Text => "text (use %s or %v)",
                            };
                            return Err(self.err(
                                *a,
                                format!(
                                    "printf verb %{} does not fit this argument: it is {what}",
                                    s.verb
                                ),
                            ));
                        }
                    }
                    format = Some(pieces);
                }
                _ => {
                    if types.len() != 1 {
                        return Err(self.err(
                            at,
                            format!("{name} takes exactly one argument, got {}", types.len()),
                        ));
                    }
                    if matches!(func, Func::ToUpper | Func::ToLower) && types[0].1 == Type::Number {
                        return Err(self.err(
                            types[0].0,
                            format!("{name} takes text, and this is a number"),
                        ));
                    }
                }
            }
            piped = Some(Type::Text);
            cmds.push(Command::Call {
                func,
                args: args.into_iter().map(|(_, o)| o).collect(),
                format,
            });
        }
        Ok(cmds)
    }

    /// A `printf` format: text and verbs (`%[flags][width][.precision]verb`).
    fn format(&self, at: usize, f: &str) -> Result<Vec<Piece>, TemplateError> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut chars = f.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let mut s = Spec::default();
            while let Some(&c) = chars.peek() {
                match c {
                    '-' => s.minus = true,
                    '+' => s.plus = true,
                    ' ' => s.space = true,
                    '0' => s.zero = true,
                    _ => break,
                }
                chars.next();
            }
            let number = |chars: &mut std::iter::Peekable<std::str::Chars>| {
                let mut n: Option<usize> = None;
                while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                    n = Some(
                        n.unwrap_or(0)
                            .saturating_mul(10)
                            .saturating_add(d as usize)
                            .min(1000),
                    );
                    chars.next();
                }
                n
            };
            s.width = number(&mut chars);
            if chars.peek() == Some(&'.') {
                chars.next();
                s.precision = Some(number(&mut chars).unwrap_or(0));
            }
            match chars.next() {
                Some('%') if s == Spec::default() => text.push('%'),
                Some(v) if "vsfFeEgG".contains(v) => {
                    s.verb = v;
                    if !text.is_empty() {
                        out.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    out.push(Piece::Verb(s));
                }
                Some('d') => {
                    return Err(self.err(at, format!(
                        "printf verb %d in {f:?} needs an integer, and values are floats: use %.0f"
                    )))
                }
                Some(v) => {
                    return Err(self.err(at, format!(
                        "printf verb %{v} in {f:?} is not supported: use %v, %s, %f, %e or %g (and %%)"
                    )))
                }
                None => return Err(self.err(at, format!("printf format {f:?} ends inside a verb"))),
            }
        }
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        [("instance", "web-1:9100"), ("job", "node"), ("le", "0.25")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn render(t: &str, v: f64) -> String {
        Template::parse(t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .render(&labels(), v)
    }

    fn refused(t: &str) -> TemplateError {
        match Template::parse(t) {
            Ok(_) => panic!("{t:?} was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn labels_values_and_text() {
        assert_eq!(
            render("{{ $labels.instance }} is down", 1.0),
            "web-1:9100 is down"
        );
        assert_eq!(
            render("{{.Labels.job}}/{{$labels.instance}}", 1.0),
            "node/web-1:9100"
        );
        assert_eq!(render("value {{ $value }}", 0.5), "value 0.5");
        assert_eq!(render("{{ .Value }}", 42.0), "42");
        // Go's %v of a float: exponent from 1e21 on, and below 1e-4.
        assert_eq!(render("{{ $value }}", 1234567.0), "1.234567e+06");
        assert_eq!(render("{{ $value }}", 123456.0), "123456");
        assert_eq!(render("{{ $value }}", 0.0001), "0.0001");
        assert_eq!(render("{{ $value }}", 0.00001), "1e-05");
        assert_eq!(render("{{ $value }}", f64::NAN), "NaN");
        assert_eq!(render("{{ $value }}", f64::INFINITY), "+Inf");
        assert_eq!(render("{{ $value }}", f64::NEG_INFINITY), "-Inf");
        assert_eq!(render("{{ $value }}", -2.5), "-2.5");
        // A missing label is empty (missingkey=zero).
        assert_eq!(render("[{{ $labels.nope }}]", 1.0), "[]");
        assert_eq!(render("no actions at all", 1.0), "no actions at all");
        assert_eq!(render("", 1.0), "");
        assert!(Template::parse("plain").unwrap().is_static());
        assert!(!Template::parse("{{ $value }}").unwrap().is_static());
    }

    #[test]
    fn external_labels() {
        let ext: BTreeMap<String, String> = [("region".to_string(), "eu".to_string())].into();
        let t =
            Template::parse("{{ $externalLabels.region }}-{{ .ExternalLabels.region }}").unwrap();
        assert_eq!(t.render_with_external(&labels(), &ext, 1.0), "eu-eu");
        assert_eq!(t.render(&labels(), 1.0), "-");
    }

    #[test]
    fn functions_and_pipelines() {
        assert_eq!(render("{{ $labels.job | toUpper }}", 1.0), "NODE");
        assert_eq!(render("{{ toLower \"AbC\" }}", 1.0), "abc");
        assert_eq!(render("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(render("{{ humanize $value }}", 1234567.0), "1.235M");
        assert_eq!(render("{{ $value | humanize1024 }}", 1048576.0), "1Mi");
        assert_eq!(
            render("{{ $value | humanizePercentage }}", 0.1234567),
            "12.35%"
        );
        assert_eq!(render("{{ $value | humanizeDuration }}", 899.99), "14m 59s");
        assert_eq!(render("{{ printf \"%.2f\" $value }}", 1.23456), "1.23");
        assert_eq!(render("{{ $value | printf \"%.1f\" }}", 2.26), "2.3");
        assert_eq!(
            render("{{ printf \"%s=%v\" $labels.job $value }}", 7.0),
            "node=7"
        );
        assert_eq!(
            render(
                "{{ printf \"%5.1f|%-6s|%05.1f%%\" $value \"ab\" $value }}",
                2.5
            ),
            "  2.5|ab    |002.5%"
        );
        assert_eq!(
            render("{{ printf \"%e\" $value }}", 123456.0),
            "1.234560e+05"
        );
        assert_eq!(render("{{ printf \"%g\" $value }}", 1e21), "1e+21");
        assert_eq!(
            render("{{ printf \"%.3g\" $value }}", 0.000012345),
            "1.23e-05"
        );
        assert_eq!(render("{{ printf \"%+.1f\" $value }}", 1.0), "+1.0");
        assert_eq!(render("{{ printf \"%.2s\" $labels.job }}", 1.0), "no");
        // A label read as a number.
        assert_eq!(render("{{ $labels.le | humanize }}", 1.0), "250m");
        // Several stages.
        assert_eq!(render("{{ $value | humanize | toUpper }}", 1500.0), "1.5K");
        // Raw strings and escapes.
        assert_eq!(
            render("{{ `a\\n` }}{{ \"\\t\\\"x\\u00e9\" }}", 1.0),
            "a\\n\t\"xé"
        );
        // A `}}` inside a string does not end the action.
        assert_eq!(render("{{ printf \"}}%s\" $labels.job }}", 1.0), "}}node");
    }

    #[test]
    fn trim_markers() {
        assert_eq!(render("a  \n {{- $labels.job -}} \n  b", 1.0), "anodeb");
        assert_eq!(render("a {{- $labels.job }} b", 1.0), "anode b");
    }

    #[test]
    fn humanize_as_prometheus() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (999.0, "999"),
            (1000.0, "1k"),
            (1234.0, "1.234k"),
            (12346.0, "12.35k"),
            (1e6, "1M"),
            (1e27, "1000Y"),
            (-1234.0, "-1.234k"),
            (0.5, "500m"),
            (0.001234, "1.234m"),
            (1e-7, "100n"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize(v), want, "humanize({v})");
        }
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (1023.0, "1023"),
            (1024.0, "1ki"),
            (1536.0, "1.5ki"),
            (1073741824.0, "1Gi"),
            (-2048.0, "-2ki"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize1024(v), want, "humanize1024({v})");
        }
        let cases = [
            (0.0, "0s"),
            (1.0, "1s"),
            (1.5, "1.5s"),
            (59.999, "60s"),
            (60.0, "1m 0s"),
            (3661.0, "1h 1m 1s"),
            (86400.0, "1d 0h 0m 0s"),
            (90061.7, "1d 1h 1m 1s"),
            (-3661.0, "-1h 1m 1s"),
            (0.5, "500ms"),
            (0.0012, "1.2ms"),
            (0.25, "250ms"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize_duration(v), want, "humanizeDuration({v})");
        }
        for (v, want) in [
            (0.0, "0%"),
            (1.0, "100%"),
            (0.5, "50%"),
            (0.0001234, "0.01234%"),
        ] {
            assert_eq!(render("{{ humanizePercentage $value }}", v), want);
        }
    }

    #[test]
    fn text_that_is_not_a_number_is_an_expansion_error() {
        let t = Template::parse("x {{ $labels.job | humanize }} y").unwrap();
        let out = t.render(&labels(), 1.0);
        assert!(
            out.starts_with("<error expanding template: humanize: "),
            "{out}"
        );
        assert!(out.contains("\"node\""), "{out}");
    }

    #[test]
    fn refusals_name_position_and_reason() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            ("{{ if $value }}x{{ end }}", (1, 4), "if is not supported"),
            (
                "ok\n  {{ range $labels }}",
                (2, 6),
                "range is not supported",
            ),
            (
                "{{ query \"up\" }}",
                (1, 4),
                "unsupported function \"query\"",
            ),
            ("{{ $x }}", (1, 4), "unknown variable $x"),
            ("{{ $labels }}", (1, 4), "$labels needs a label name"),
            ("{{ $labels.a.b }}", (1, 4), "too many fields"),
            ("{{ .Foo }}", (1, 4), "unknown field .Foo"),
            ("{{ . }}", (1, 4), "the whole data"),
            ("{{ $value.x }}", (1, 4), "has no fields"),
            ("{{ $value", (1, 1), "unclosed action"),
            ("{{ }}", (1, 1), "empty action"),
            ("{{ 3 }}", (1, 4), "numbers are not supported"),
            ("{{ (humanize $value) }}", (1, 4), "parentheses"),
            ("{{ $v := 1 }}", (1, 7), "declaring or assigning"),
            ("{{ $value | toUpper }}", (1, 13), "toUpper takes text"),
            (
                "{{ humanize $value $value }}",
                (1, 4),
                "exactly one argument",
            ),
            ("{{ printf \"%d\" $value }}", (1, 11), "use %.0f"),
            ("{{ printf \"%s\" $value }}", (1, 16), "does not fit"),
            ("{{ printf \"%f\" $labels.job }}", (1, 16), "does not fit"),
            (
                "{{ printf \"%f %f\" $value }}",
                (1, 4),
                "2 verb(s) but 1 argument(s)",
            ),
            ("{{ printf $labels.job }}", (1, 4), "format string literal"),
            ("{{ printf \"%q\" $labels.job }}", (1, 11), "%q"),
            ("{{ $value | $value }}", (1, 13), "after | comes a function"),
            ("{{ $value \"x\" }}", (1, 11), "takes no arguments"),
            ("{{ \"abc }}", (1, 4), "unterminated string"),
            ("{{ \"\\q\" }}", (1, 4), "unknown escape"),
            ("{{/* note */}}", (1, 1), "comments"),
            ("{{ | humanize }}", (1, 4), "missing command"),
            ("{{ true }}", (1, 4), "true is not supported"),
            ("{{ $labels.a-b }}", (1, 13), "label names must be"),
            ("é {{ nope }}", (1, 6), "unsupported function"),
        ];
        for (text, (line, col), what) in cases {
            let e = refused(text);
            assert!(e.message.contains(what), "{text:?}: {e}");
            assert_eq!((e.line, e.col), (*line, *col), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("{line}:{col}: ")), "{e}");
        }
    }

    #[test]
    fn go_float_layouts() {
        let s = Spec::default();
        assert_eq!(go_float(100.0, 'g', Some(4), &s), "100");
        assert_eq!(go_float(12345.0, 'g', Some(4), &s), "1.234e+04");
        assert_eq!(go_float(0.0001234, 'g', Some(4), &s), "0.0001234");
        assert_eq!(go_float(0.00001234, 'g', Some(4), &s), "1.234e-05");
        assert_eq!(go_float(1.5, 'g', Some(4), &s), "1.5");
        assert_eq!(go_float(0.0, 'g', None, &s), "0");
        assert_eq!(go_float(0.0, 'e', None, &s), "0.000000e+00");
        assert_eq!(go_float(1e100, 'g', None, &s), "1e+100");
        assert_eq!(go_float(1.0, 'E', Some(2), &s), "1.00E+00");
        assert_eq!(go_float(2.0, 'f', Some(0), &s), "2");
        let w = Spec {
            width: Some(6),
            zero: true,
            ..Spec::default()
        };
        assert_eq!(go_float(-1.5, 'f', Some(1), &w), "-001.5");
        assert_eq!(go_float(f64::INFINITY, 'f', Some(1), &w), "  +Inf");
    }
}
