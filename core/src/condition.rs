//! The condition language of strategies, parsed once and evaluated against a series' windows.
//!
//! Web validates what a user types with [`parse`] (live, with the position of the first error);
//! the judge compiles every strategy with the same function and evaluates the result. Nothing
//! else ever interprets user input.
//!
//! ```text
//! condition  := "nodata(" S ")" | or
//! or         := and ( "||" and )*
//! and        := not ( "&&" not )*
//! not        := "!" not | comparison
//! comparison := sum ( op sum )?          -- a check (all, diff, pdiff, lookup) needs `op number`
//! sum        := product ( ("+" | "-") product )*
//! product    := unary ( ("*" | "/" | "%") unary )*
//! unary      := "-" unary | number | "(" or ")" | call
//! call       := func "(" [ metric "," ] window [ "," arg ] ")"
//! window     := "#" N | N ("s" | "m" | "h" | "d")          -- lookup: "#" M "," N
//! func       := all | diff | pdiff | lookup                 -- checks, compared point by point
//!             | max | min | avg | sum | count | rate | stddev
//!             | percentile(.., P) | forecast(.., AHEAD) | timeleft(.., VALUE)
//! op         := > | >= | < | <= | == | !=
//! ```
//! `nodata(S)` (no point for S seconds) stands alone: it is decided by the judge's timer, not by
//! a point, so it cannot be combined with other terms. A call without a metric reads the
//! strategy's own metric; with one, the series of that metric with the same endpoint and tags.
//!
//! A condition made only of `func(#N) op number` terms joined by `&&`/`||` is *classic*
//! ([`Condition::Expr`]), with these semantics (values oldest to newest; a term without enough
//! points does not hold):
//! - `all(#N) op T`: each of the last N values satisfies `op T`;
//! - `max|min|avg|sum(#N) op T`: the aggregate of the last N values satisfies it;
//! - `diff(#N) op T`: the latest value minus any one of the N values before it satisfies it;
//! - `pdiff(#N) op T`: the same difference as a percentage of the earlier value (zeros skipped);
//! - `lookup(#M,N) op T`: at least M of the last N values satisfy it.
//!
//! Anything else is an expression ([`Condition::Program`]), compiled once into an `evalexpr`
//! tree (see [`program`]); it is undecided while any of its functions lacks data.

pub mod program;

pub use program::{Agg, Call, Need, Program, Test, Window, Windows};
use std::fmt;

/// The largest window a function may ask for: bounds the memory a strategy can cost per series.
pub const MAX_WINDOW: usize = 1000;
/// The longest nodata period, in seconds (a week).
pub const MAX_NODATA_SECS: u64 = 7 * 24 * 3600;
/// The longest condition text accepted, in bytes.
pub const MAX_LEN: usize = 2048;
/// The deepest parenthesis nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// The longest time window, in seconds (a day); a time window also sees at most the latest
/// [`MAX_WINDOW`] points.
pub const MAX_WINDOW_SECS: u64 = 86_400;
/// How far ahead `forecast` may look, in seconds (a year).
pub const MAX_AHEAD_SECS: u64 = 365 * 86_400;

/// Why a condition was refused: a message and the 1-based character position it points at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct ConditionError {
    /// 1-based character position in the condition text.
    pub position: usize,
    /// What is wrong there.
    pub message: String,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// Whether `v op t` holds.
    #[inline]
    pub fn holds(self, v: f64, t: f64) -> bool {
        match self {
            CmpOp::Gt => v > t,
            CmpOp::Ge => v >= t,
            CmpOp::Lt => v < t,
            CmpOp::Le => v <= t,
            CmpOp::Eq => v == t,
            CmpOp::Ne => v != t,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

/// A window function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `all(#N)`
    All(usize),
    /// `max(#N)`
    Max(usize),
    /// `min(#N)`
    Min(usize),
    /// `avg(#N)`
    Avg(usize),
    /// `sum(#N)`
    Sum(usize),
    /// `diff(#N)`
    Diff(usize),
    /// `pdiff(#N)`
    PDiff(usize),
    /// `lookup(#M,N)`: M of the last N.
    Lookup {
        /// How many must match.
        m: usize,
        /// Out of how many.
        n: usize,
    },
}

impl Func {
    /// How many of the latest points the function reads.
    pub fn window(self) -> usize {
        match self {
            Func::All(n) | Func::Max(n) | Func::Min(n) | Func::Avg(n) | Func::Sum(n) => n,
            Func::Diff(n) | Func::PDiff(n) => n + 1,
            Func::Lookup { n, .. } => n,
        }
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Func::All(n) => write!(f, "all(#{n})"),
            Func::Max(n) => write!(f, "max(#{n})"),
            Func::Min(n) => write!(f, "min(#{n})"),
            Func::Avg(n) => write!(f, "avg(#{n})"),
            Func::Sum(n) => write!(f, "sum(#{n})"),
            Func::Diff(n) => write!(f, "diff(#{n})"),
            Func::PDiff(n) => write!(f, "pdiff(#{n})"),
            Func::Lookup { m, n } => write!(f, "lookup(#{m},{n})"),
        }
    }
}

/// One comparison: `func op threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Term {
    /// The window function.
    pub func: Func,
    /// The comparison.
    pub op: CmpOp,
    /// The threshold.
    pub threshold: f64,
}

/// The parsed expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// One comparison.
    Term(Term),
    /// Every operand holds.
    And(Vec<Expr>),
    /// Some operand holds.
    Or(Vec<Expr>),
}

/// The outcome of evaluating a condition on a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Whether the condition holds.
    pub holds: bool,
    /// The value that decided it (the aggregate, difference or latest value of the deciding
    /// term), for the event.
    pub value: f64,
}

/// A parsed condition, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A boolean expression over window functions, decided when a point arrives.
    Expr(Expr),
    /// `nodata(S)`: no point for S seconds, decided by a timer.
    NoData(u64),
    /// An expression over window functions of one or several metrics, decided when a point of
    /// the strategy's metric arrives.
    Program(Box<Program>),
}

impl Condition {
    /// How many of a series' latest points evaluation needs (0 for nodata; for an expression,
    /// of the strategy's own metric by count).
    pub fn window(&self) -> usize {
        fn walk(e: &Expr) -> usize {
            match e {
                Expr::Term(t) => t.func.window(),
                Expr::And(v) | Expr::Or(v) => v.iter().map(walk).max().unwrap_or(0),
            }
        }
        match self {
            Condition::Expr(e) => walk(e),
            Condition::NoData(_) => 0,
            Condition::Program(p) => p
                .needs()
                .iter()
                .filter(|(m, _)| m.is_none())
                .map(|(_, n)| n.points)
                .max()
                .unwrap_or(0),
        }
    }

    /// What evaluation needs kept of each metric (`None`: the strategy's own metric).
    pub fn needs(&self) -> Vec<(Option<&str>, Need)> {
        match self {
            Condition::Program(p) => p.needs(),
            _ => vec![(
                None,
                Need {
                    points: self.window(),
                    secs: 0,
                },
            )],
        }
    }

    /// The nodata period in seconds, when this is a nodata condition.
    pub fn nodata_secs(&self) -> Option<u64> {
        match self {
            Condition::NoData(s) => Some(*s),
            Condition::Expr(_) | Condition::Program(_) => None,
        }
    }

    /// Evaluates a classic condition on `values` (oldest first, newest last). A nodata
    /// condition never holds here: a point has just arrived; an expression needs its windows
    /// ([`Program::eval`]) and does not hold here.
    pub fn eval(&self, values: &[f64]) -> Verdict {
        match self {
            Condition::Expr(e) => eval_expr(e, values),
            Condition::NoData(_) | Condition::Program(_) => Verdict {
                holds: false,
                value: values.last().copied().unwrap_or(0.0),
            },
        }
    }
}

fn eval_expr(e: &Expr, values: &[f64]) -> Verdict {
    match e {
        Expr::Term(t) => eval_term(t, values),
        Expr::And(v) => {
            let mut first = None;
            for x in v {
                let r = eval_expr(x, values);
                if !r.holds {
                    return r;
                }
                first.get_or_insert(r);
            }
            first.unwrap_or(Verdict {
                holds: false,
                value: 0.0,
            })
        }
        Expr::Or(v) => {
            let mut first = None;
            for x in v {
                let r = eval_expr(x, values);
                if r.holds {
                    return r;
                }
                first.get_or_insert(r);
            }
            first.unwrap_or(Verdict {
                holds: false,
                value: 0.0,
            })
        }
    }
}

/// Evaluates one term on `values` (oldest first).
pub fn eval_term(t: &Term, values: &[f64]) -> Verdict {
    let need = t.func.window();
    let latest = values.last().copied().unwrap_or(0.0);
    if values.len() < need || need == 0 {
        return Verdict {
            holds: false,
            value: latest,
        };
    }
    let w = &values[values.len() - need..];
    let cmp = |v: f64| Verdict {
        holds: t.op.holds(v, t.threshold),
        value: v,
    };
    match t.func {
        Func::All(_) => Verdict {
            holds: w.iter().all(|&v| t.op.holds(v, t.threshold)),
            value: latest,
        },
        Func::Max(_) => cmp(w.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        Func::Min(_) => cmp(w.iter().copied().fold(f64::INFINITY, f64::min)),
        Func::Sum(_) => cmp(w.iter().sum()),
        Func::Avg(n) => cmp(w.iter().sum::<f64>() / n as f64),
        Func::Diff(_) | Func::PDiff(_) => {
            let pct = matches!(t.func, Func::PDiff(_));
            let mut last = Verdict {
                holds: false,
                value: 0.0,
            };
            // Newest earlier point first, so the reported difference is the most recent one.
            for &old in w[..w.len() - 1].iter().rev() {
                let d = if pct {
                    if old == 0.0 {
                        continue;
                    }
                    (latest - old) / old.abs() * 100.0
                } else {
                    latest - old
                };
                last = cmp(d);
                if last.holds {
                    break;
                }
            }
            last
        }
        Func::Lookup { m, .. } => Verdict {
            holds: w.iter().filter(|&&v| t.op.holds(v, t.threshold)).count() >= m,
            value: latest,
        },
    }
}

/// Parses a condition, or says what is wrong and where.
///
/// A condition made only of `func(#N) op number` comparisons joined by `&&` and `||` is a
/// classic one ([`Condition::Expr`], evaluated without allocation); anything more (other
/// metrics, time windows, arithmetic, `!`, the newer functions) is compiled into a
/// [`Program`].
pub fn parse(text: &str) -> Result<Condition, ConditionError> {
    if text.len() > MAX_LEN {
        return Err(ConditionError {
            position: 1,
            message: format!("condition is longer than {MAX_LEN} bytes"),
        });
    }
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
        nodes: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.err("condition is empty"));
    }
    // nodata(S) alone.
    let save = p.pos;
    if p.ident().as_deref() == Some("nodata") {
        let start = save;
        p.expect('(', "`(` after `nodata`")?;
        let s = p.integer("a number of seconds")?;
        if s == 0 || s > MAX_NODATA_SECS {
            return Err(p.err_at(
                start,
                format!("nodata period must be 1 to {MAX_NODATA_SECS} seconds, got {s}"),
            ));
        }
        p.expect(')', "`)`")?;
        p.skip_ws();
        if !p.at_end() {
            return Err(p.err("nodata(S) must be the whole condition; it cannot be combined"));
        }
        return Ok(Condition::NoData(s));
    }
    p.pos = save;
    let ast = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.err(format!(
            "unexpected {}; expected `&&`, `||`, a comparison, an operator or the end",
            p.describe()
        )));
    }
    if !ast.is_bool() {
        return Err(p.err_at(
            ast.pos(),
            "the condition computes a number: compare it, as in avg(#3) > 90",
        ));
    }
    if let Some(e) = ast.classic() {
        return Ok(Condition::Expr(e));
    }
    let mut calls = Vec::new();
    let mut out = String::new();
    ast.emit(&mut calls, &mut out);
    let value = ast.first_value().map(|v| {
        let mut s = String::new();
        v.emit(&mut calls, &mut s);
        s
    });
    Ok(Condition::Program(Box::new(Program::build(
        calls, out, value,
    ))))
}

/// The parsed form before it is compiled: positions for errors, types checked as it is built.
#[derive(Debug, Clone)]
enum Ast {
    Num(f64, usize),
    Call(Call, usize),
    /// A point-by-point check folded with its comparison: a boolean.
    Check(Call, usize),
    Neg(Box<Ast>, usize),
    Not(Box<Ast>, usize),
    Arith(char, Box<Ast>, Box<Ast>),
    Cmp(CmpOp, Box<Ast>, Box<Ast>),
    And(Vec<Ast>),
    Or(Vec<Ast>),
}

impl Ast {
    fn pos(&self) -> usize {
        match self {
            Ast::Num(_, p)
            | Ast::Call(_, p)
            | Ast::Check(_, p)
            | Ast::Neg(_, p)
            | Ast::Not(_, p) => *p,
            Ast::Arith(_, a, _) | Ast::Cmp(_, a, _) => a.pos(),
            Ast::And(v) | Ast::Or(v) => v[0].pos(),
        }
    }

    fn is_bool(&self) -> bool {
        match self {
            Ast::Num(..) | Ast::Call(..) | Ast::Neg(..) | Ast::Arith(..) => false,
            Ast::Check(..) | Ast::Not(..) | Ast::Cmp(..) | Ast::And(..) | Ast::Or(..) => true,
        }
    }

    /// The classic form, when the condition has one.
    fn classic(&self) -> Option<Expr> {
        let points = |c: &Call| match (c.metric.as_ref(), c.window) {
            (None, Window::Points(n)) => Some(n),
            _ => None,
        };
        match self {
            Ast::Check(c, _) => {
                let n = points(c)?;
                let Agg::Test(t, op, threshold) = c.agg else {
                    return None;
                };
                let func = match t {
                    Test::All => Func::All(n),
                    Test::Diff => Func::Diff(n),
                    Test::PDiff => Func::PDiff(n),
                    Test::Lookup(m) => Func::Lookup { m, n },
                };
                Some(Expr::Term(Term {
                    func,
                    op,
                    threshold,
                }))
            }
            Ast::Cmp(op, a, b) => {
                let (Ast::Call(c, _), Ast::Num(threshold, _)) = (&**a, &**b) else {
                    return None;
                };
                let n = points(c)?;
                let func = match c.agg {
                    Agg::Avg => Func::Avg(n),
                    Agg::Sum => Func::Sum(n),
                    Agg::Max => Func::Max(n),
                    Agg::Min => Func::Min(n),
                    _ => return None,
                };
                Some(Expr::Term(Term {
                    func,
                    op: *op,
                    threshold: *threshold,
                }))
            }
            Ast::And(v) => Some(Expr::And(
                v.iter().map(Ast::classic).collect::<Option<_>>()?,
            )),
            Ast::Or(v) => Some(Expr::Or(v.iter().map(Ast::classic).collect::<Option<_>>()?)),
            _ => None,
        }
    }

    /// The left side of the first comparison, whose value an event reports.
    fn first_value(&self) -> Option<&Ast> {
        match self {
            Ast::Cmp(_, a, _) => Some(a),
            Ast::Not(a, _) => a.first_value(),
            Ast::And(v) | Ast::Or(v) => v[0].first_value(),
            _ => None,
        }
    }

    /// Writes the canonical evalexpr text: every operand in parentheses (the precedence is the
    /// parser's), numbers as floats (evalexpr divides integers as integers), calls by index.
    fn emit(&self, calls: &mut Vec<Call>, out: &mut String) {
        use std::fmt::Write;
        match self {
            Ast::Num(v, _) => {
                let s = format!("{v}");
                out.push_str(&s);
                if !s.contains('.') && v.is_finite() {
                    out.push_str(".0");
                }
            }
            Ast::Call(c, _) | Ast::Check(c, _) => {
                let i = match calls.iter().position(|x| x == c) {
                    Some(i) => i,
                    None => {
                        calls.push(c.clone());
                        calls.len() - 1
                    }
                };
                let _ = write!(out, "{}({i})", c.agg.name());
            }
            Ast::Neg(a, _) | Ast::Not(a, _) => {
                out.push_str(if matches!(self, Ast::Neg(..)) {
                    "(-("
                } else {
                    "(!("
                });
                a.emit(calls, out);
                out.push_str("))");
            }
            Ast::Arith(op, a, b) => {
                out.push_str("((");
                a.emit(calls, out);
                let _ = write!(out, ") {op} (");
                b.emit(calls, out);
                out.push_str("))");
            }
            Ast::Cmp(op, a, b) => {
                out.push_str("((");
                a.emit(calls, out);
                let _ = write!(out, ") {} (", op.as_str());
                b.emit(calls, out);
                out.push_str("))");
            }
            Ast::And(v) | Ast::Or(v) => {
                let sep = if matches!(self, Ast::And(_)) {
                    " && "
                } else {
                    " || "
                };
                out.push('(');
                for (i, a) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    out.push('(');
                    a.emit(calls, out);
                    out.push(')');
                }
                out.push(')');
            }
        }
    }
}

/// The most operators, numbers and calls one condition may have: bounds the compiled tree.
pub const MAX_NODES: usize = 200;

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    nodes: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek2(&self) -> Option<char> {
        self.chars.get(self.pos + 1).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn err(&self, m: impl Into<String>) -> ConditionError {
        self.err_at(self.pos, m)
    }
    fn err_at(&self, pos: usize, m: impl Into<String>) -> ConditionError {
        ConditionError {
            position: pos + 1,
            message: m.into(),
        }
    }
    fn describe(&self) -> String {
        match self.peek() {
            None => "end of condition".into(),
            Some(c) => format!("`{c}`"),
        }
    }
    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        if self.pos + n <= self.chars.len()
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(s.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char, what: &str) -> Result<(), ConditionError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected {what}, found {}", self.describe())))
        }
    }
    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }
    fn digits(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }
    fn integer(&mut self, what: &str) -> Result<u64, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        let s = self.digits();
        if s.is_empty() {
            return Err(self.err(format!("expected {what}, found {}", self.describe())));
        }
        s.parse::<u64>()
            .map_err(|_| self.err_at(start, format!("{s} is too large")))
    }
    fn count(&mut self, what: &str) -> Result<usize, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        let n = self.integer(what)?;
        if n == 0 || n > MAX_WINDOW as u64 {
            return Err(self.err_at(start, format!("{what} must be 1 to {MAX_WINDOW}, got {n}")));
        }
        Ok(n as usize)
    }
    /// A non-negative number (a sign is the unary operator's).
    fn number(&mut self) -> Result<f64, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E')
        {
            // A sign right after an exponent marker belongs to the number.
            let was_exp = matches!(self.peek(), Some('e') | Some('E'));
            self.pos += 1;
            if was_exp && matches!(self.peek(), Some('-') | Some('+')) {
                self.pos += 1;
            }
        }
        let s: String = self.chars[start..self.pos].iter().collect();
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.err_at(start, format!("{s:?} is not a finite number"))),
        }
    }
    /// A signed number argument, such as a percentile or a threshold.
    fn signed(&mut self, what: &str) -> Result<f64, ConditionError> {
        self.skip_ws();
        let neg = match self.peek() {
            Some('-') => true,
            Some('+') => false,
            Some(c) if c.is_ascii_digit() || c == '.' => return self.number(),
            _ => return Err(self.err(format!("expected {what}, found {}", self.describe()))),
        };
        self.pos += 1;
        let v = self.number()?;
        Ok(if neg { -v } else { v })
    }
    /// A duration with its unit: 30s, 5m, 1h, 1d.
    fn duration(&mut self, what: &str) -> Result<u64, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        let n = self.integer(what)?;
        let unit = match self.peek() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ if what == "the window" => {
                return Err(self.err_at(
                    start,
                    "expected `#` before the number of points (as in max(#3)) or a unit after it (30s, 5m, 1h, 1d) for the window",
                ))
            }
            _ => {
                return Err(self.err_at(
                    start,
                    format!("expected a unit after the number (30s, 5m, 1h, 1d) for {what}"),
                ))
            }
        };
        self.pos += 1;
        Ok(n.saturating_mul(unit))
    }
    fn node(&mut self, at: usize) -> Result<(), ConditionError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.err_at(
                at,
                format!("the condition has more than {MAX_NODES} numbers, functions and operators"),
            ));
        }
        Ok(())
    }
    fn nest(&mut self, at: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(at, format!("parentheses nest deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }
    fn want_bool(&self, a: &Ast, op: &str) -> Result<(), ConditionError> {
        if a.is_bool() {
            Ok(())
        } else {
            Err(self.err_at(
                a.pos(),
                format!(
                    "`{op}` joins conditions, but this is a number: compare it, as in avg(#3) > 90"
                ),
            ))
        }
    }
    fn want_num(&self, a: &Ast, op: &str) -> Result<(), ConditionError> {
        match a {
            Ast::Call(c, p) if matches!(c.agg, Agg::Test(..)) => Err(self.err_at(
                *p,
                format!(
                    "{}() checks point by point: compare it with a number, as in {}(#3) > 90, and use it only so",
                    c.agg.name(),
                    c.agg.name()
                ),
            )),
            a if a.is_bool() => Err(self.err_at(
                a.pos(),
                format!("`{op}` needs a number, but this is a condition"),
            )),
            _ => Ok(()),
        }
    }

    fn or(&mut self) -> Result<Ast, ConditionError> {
        let mut v = vec![self.and()?];
        while self.eat("||") {
            self.node(self.pos)?;
            v.push(self.and()?);
        }
        if v.len() == 1 {
            return Ok(v.pop().unwrap());
        }
        for a in &v {
            self.want_bool(a, "||")?;
        }
        Ok(Ast::Or(v))
    }
    fn and(&mut self) -> Result<Ast, ConditionError> {
        let mut v = vec![self.not()?];
        while self.eat("&&") {
            self.node(self.pos)?;
            v.push(self.not()?);
        }
        if v.len() == 1 {
            return Ok(v.pop().unwrap());
        }
        for a in &v {
            self.want_bool(a, "&&")?;
        }
        Ok(Ast::And(v))
    }
    fn not(&mut self) -> Result<Ast, ConditionError> {
        self.skip_ws();
        let at = self.pos;
        if self.peek() == Some('!') && self.peek2() != Some('=') {
            self.pos += 1;
            self.node(at)?;
            self.nest(at)?;
            let a = self.not()?;
            self.depth -= 1;
            self.want_bool(&a, "!")?;
            return Ok(Ast::Not(Box::new(a), at));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Ast, ConditionError> {
        let a = self.sum()?;
        let Some(op) = self.op() else {
            if let Ast::Call(c, at) = &a {
                if matches!(c.agg, Agg::Test(..)) {
                    return Err(self.err_at(
                        *at,
                        format!(
                            "{}() compares each point: follow it with a comparison and a number, as in {}(#3) > 90",
                            c.agg.name(),
                            c.agg.name()
                        ),
                    ));
                }
            }
            return Ok(a);
        };
        self.node(self.pos)?;
        self.skip_ws();
        let b = self.sum()?;
        if let Ast::Call(c, at) = &a {
            if let Agg::Test(t, ..) = c.agg {
                let threshold = match b {
                    Ast::Num(v, _) => v,
                    _ => {
                        return Err(self.err_at(
                            b.pos(),
                            format!(
                                "{}() compares each point with a number: write a number here",
                                c.agg.name()
                            ),
                        ))
                    }
                };
                let mut c = c.clone();
                c.agg = Agg::Test(t, op, threshold);
                return Ok(Ast::Check(c, *at));
            }
        }
        self.want_num(&a, op.as_str())?;
        self.want_num(&b, op.as_str())?;
        if self.op_peek().is_some() {
            return Err(self.err("comparisons do not chain: join them with `&&`"));
        }
        Ok(Ast::Cmp(op, Box::new(a), Box::new(b)))
    }
    fn op_peek(&mut self) -> Option<CmpOp> {
        let save = self.pos;
        let op = self.op();
        self.pos = save;
        op
    }
    fn op(&mut self) -> Option<CmpOp> {
        for (s, op) in [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
        ] {
            if self.eat(s) {
                return Some(op);
            }
        }
        None
    }
    fn sum(&mut self) -> Result<Ast, ConditionError> {
        let mut a = self.product()?;
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(c @ ('+' | '-')) => c,
                _ => return Ok(a),
            };
            let at = self.pos;
            self.pos += 1;
            self.node(at)?;
            let b = self.product()?;
            self.want_num(&a, &op.to_string())?;
            self.want_num(&b, &op.to_string())?;
            a = Ast::Arith(op, Box::new(a), Box::new(b));
        }
    }
    fn product(&mut self) -> Result<Ast, ConditionError> {
        let mut a = self.unary()?;
        loop {
            self.skip_ws();
            let op = match self.peek() {
                Some(c @ ('*' | '/' | '%')) => c,
                _ => return Ok(a),
            };
            let at = self.pos;
            self.pos += 1;
            self.node(at)?;
            let b = self.unary()?;
            self.want_num(&a, &op.to_string())?;
            self.want_num(&b, &op.to_string())?;
            a = Ast::Arith(op, Box::new(a), Box::new(b));
        }
    }
    fn unary(&mut self) -> Result<Ast, ConditionError> {
        self.skip_ws();
        let at = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
            self.node(at)?;
            self.nest(at)?;
            let a = self.unary()?;
            self.depth -= 1;
            self.want_num(&a, "-")?;
            // A negative number stays a number (a classic threshold).
            return Ok(match a {
                Ast::Num(v, _) => Ast::Num(-v, at),
                a => Ast::Neg(Box::new(a), at),
            });
        }
        if self.peek() == Some('+') {
            self.pos += 1;
            let a = self.unary()?;
            self.want_num(&a, "+")?;
            return Ok(a);
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Ast, ConditionError> {
        self.skip_ws();
        let at = self.pos;
        self.node(at)?;
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                self.nest(at)?;
                let e = self.or()?;
                self.expect(')', &format!("`)` to close the `(` at position {}", at + 1))?;
                self.depth -= 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => Ok(Ast::Num(self.number()?, at)),
            Some(c) if c.is_ascii_alphabetic() => Ok(Ast::Call(self.call()?, at)),
            _ => Err(self.err(format!(
                "expected a threshold number, a function such as max(#3) or `(`, found {}",
                self.describe()
            ))),
        }
    }
    fn call(&mut self) -> Result<Call, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        let name = self.ident().unwrap_or_default();
        const KNOWN: &str = "all, max, min, avg, sum, diff, pdiff, lookup, count, rate, stddev, percentile, forecast, timeleft, nodata";
        let agg = match name.as_str() {
            "all" => Agg::Test(Test::All, CmpOp::Gt, 0.0),
            "diff" => Agg::Test(Test::Diff, CmpOp::Gt, 0.0),
            "pdiff" => Agg::Test(Test::PDiff, CmpOp::Gt, 0.0),
            "lookup" => Agg::Test(Test::Lookup(0), CmpOp::Gt, 0.0),
            "max" => Agg::Max,
            "min" => Agg::Min,
            "avg" => Agg::Avg,
            "sum" => Agg::Sum,
            "count" => Agg::Count,
            "rate" => Agg::Rate,
            "stddev" => Agg::Stddev,
            "percentile" => Agg::Percentile(0.0),
            "forecast" => Agg::Forecast(0.0),
            "timeleft" => Agg::TimeLeft(0.0),
            "nodata" => {
                return Err(self.err_at(
                    start,
                    "nodata(S) must be the whole condition; it cannot be combined",
                ))
            }
            _ => {
                return Err(
                    self.err_at(start, format!("unknown function `{name}` (known: {KNOWN})"))
                )
            }
        };
        self.expect('(', &format!("`(` after `{name}`"))?;
        self.skip_ws();
        // An optional metric first: it starts with a letter or `_`, a window never does.
        let metric = if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            let m_at = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || "_.-:/".contains(c))
            {
                self.pos += 1;
            }
            let m: String = self.chars[m_at..self.pos].iter().collect();
            self.expect(
                ',',
                &format!(
                    "`,` and a window after the metric, as in {name}({m},#3) or {name}({m},5m)"
                ),
            )?;
            Some(m)
        } else {
            None
        };
        self.skip_ws();
        let mut agg = agg;
        let window = if self.peek() == Some('#') {
            self.pos += 1;
            let n = self.count("the number of points")?;
            if let Agg::Test(Test::Lookup(_), ..) = agg {
                self.expect(',', "`,` as in lookup(#M,N)")?;
                self.skip_ws();
                let at = self.pos;
                let total = self.count("the number of points")?;
                if n > total {
                    return Err(self.err_at(
                        at,
                        format!("lookup(#M,N) needs M <= N, got M={n} and N={total}"),
                    ));
                }
                agg = Agg::Test(Test::Lookup(n), CmpOp::Gt, 0.0);
                Window::Points(total)
            } else {
                Window::Points(n)
            }
        } else if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            let at = self.pos;
            if let Agg::Test(Test::Lookup(_), ..) = agg {
                return Err(self.err(format!(
                    "expected `#` before the number of points, as in lookup(#2,3), found {}",
                    self.describe()
                )));
            }
            let s = self.duration("the window")?;
            if s == 0 || s > MAX_WINDOW_SECS {
                return Err(self.err_at(
                    at,
                    format!("a time window must be 1 to {MAX_WINDOW_SECS} seconds, got {s}"),
                ));
            }
            Window::Secs(s)
        } else {
            return Err(self.err(format!(
                "expected a window: `#` and a number of points as in {name}(#3), or a duration as in {name}(5m), found {}",
                self.describe()
            )));
        };
        agg = match agg {
            Agg::Percentile(_) => {
                self.expect(',', "`,` and the percentile, as in percentile(#10,95)")?;
                self.skip_ws();
                let at = self.pos;
                let p = self.signed("the percentile (0 to 100)")?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(
                        self.err_at(at, format!("the percentile must be 0 to 100, got {p}"))
                    );
                }
                Agg::Percentile(p)
            }
            Agg::Forecast(_) => {
                self.expect(',', "`,` and how far ahead, as in forecast(#10,1h)")?;
                self.skip_ws();
                let at = self.pos;
                let s = self.duration("how far ahead")?;
                if s > MAX_AHEAD_SECS {
                    return Err(self.err_at(
                        at,
                        format!("forecast looks at most {MAX_AHEAD_SECS} seconds ahead, got {s}"),
                    ));
                }
                Agg::Forecast(s as f64)
            }
            Agg::TimeLeft(_) => {
                self.expect(',', "`,` and the value to reach, as in timeleft(#10,100)")?;
                Agg::TimeLeft(self.signed("the value to reach")?)
            }
            a => a,
        };
        self.expect(')', "`)`")?;
        Ok(Call {
            agg,
            metric,
            window,
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn holds(c: &str, v: &[f64]) -> bool {
        parse(c).unwrap().eval(v).holds
    }

    #[test]
    fn functions() {
        assert!(holds("all(#3) > 90", &[1.0, 91.0, 92.0, 93.0]));
        assert!(!holds("all(#3) > 90", &[91.0, 89.0, 93.0]));
        assert!(!holds("all(#3) > 90", &[91.0, 93.0]), "too few points");
        assert!(holds("max(#2) >= 5", &[1.0, 5.0, 2.0]));
        assert!(holds("min(#2) < 2", &[1.0, 5.0, 1.5]));
        assert!(holds("avg(#4) == 2.5", &[1.0, 2.0, 3.0, 4.0]));
        assert!(holds("sum(#2) != 7", &[3.0, 3.0]));
        assert!(holds("diff(#2) > 5", &[0.0, 9.0, 10.0]), "10 - 0 > 5");
        assert!(!holds("diff(#1) > 5", &[0.0, 9.0, 10.0]));
        assert!(holds("pdiff(#1) > 50", &[10.0, 16.0]));
        assert!(!holds("pdiff(#1) > 50", &[0.0, 16.0]), "zero skipped");
        assert!(holds("lookup(#2,3) > 5", &[6.0, 1.0, 7.0]));
        assert!(!holds("lookup(#2,3) > 5", &[6.0, 1.0, 7.0, 1.0]));
        let v = parse("max(#3) > 1").unwrap().eval(&[5.0, 2.0, 1.0]);
        assert_eq!(v.value, 5.0);
    }

    #[test]
    fn combinations_and_precedence() {
        let c = "max(#3) > 90 && avg(#10) > 70";
        assert_eq!(parse(c).unwrap().window(), 10);
        assert!(!holds(c, &[95.0; 3]));
        assert!(holds(c, &[95.0; 10]));
        // && binds tighter than ||.
        assert!(holds(
            "min(#1) > 100 && max(#1) > 0 || sum(#1) == 1",
            &[1.0]
        ));
        assert!(!holds(
            "min(#1) > 100 && (max(#1) > 0 || sum(#1) == 1)",
            &[1.0]
        ));
        assert_eq!(parse("diff(#4) > 1").unwrap().window(), 5);
        assert_eq!(parse("  nodata( 300 ) ").unwrap(), Condition::NoData(300));
        assert!(holds("all(#1) > -1.5e1", &[-10.0]));
    }

    #[test]
    fn errors_name_the_position() {
        let cases = [
            ("", 1, "empty"),
            ("max(#3 > 1", 8, "`)`"),
            ("foo(#3) > 1", 1, "unknown function `foo`"),
            ("max(3) > 1", 5, "`#`"),
            ("max(#0) > 1", 6, "1 to 1000"),
            ("max(#3) 1", 9, "comparison"),
            ("max(#3) > ", 11, "threshold"),
            ("max(#3) > 1 &&", 15, "function"),
            ("max(#3) > 1 extra", 13, "expected `&&`"),
            ("lookup(#4,3) > 1", 11, "M <= N"),
            ("(max(#1) > 1", 13, "position 1"),
            ("nodata(60) && max(#1) > 1", 12, "whole condition"),
            ("max(#1) > 1 || nodata(60)", 16, "whole condition"),
            ("nodata(0)", 1, "1 to"),
            ("max(#1) > 1e999", 11, "finite"),
        ];
        for (c, pos, msg) in cases {
            let e = parse(c).unwrap_err();
            assert_eq!(e.position, pos, "{c:?}: {e}");
            assert!(e.to_string().contains(msg), "{c:?}: {e}");
        }
        let deep = format!("{}max(#1) > 1{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().message.contains("deeper"));
    }

    /// Windows of a few metrics for expression tests: metric → (timestamps, values).
    struct W(Vec<(Option<&'static str>, Vec<i64>, Vec<f64>)>);
    impl Windows for W {
        fn points(&self, metric: Option<&str>) -> Option<(&[i64], &[f64])> {
            self.0
                .iter()
                .find(|(m, _, _)| *m == metric)
                .map(|(_, t, v)| (&t[..], &v[..]))
        }
    }

    fn program(c: &str) -> Program {
        match parse(c).unwrap() {
            Condition::Program(p) => *p,
            other => panic!("{c:?} is not an expression: {other:?}"),
        }
    }

    #[test]
    fn classic_stays_classic_and_expressions_compile() {
        assert!(matches!(
            parse("max(#3) > 90 && all(#2) < 1").unwrap(),
            Condition::Expr(_)
        ));
        assert!(matches!(parse("all(#1) > -3").unwrap(), Condition::Expr(_)));
        let p = program("avg(mem.used,#3) / avg(mem.total,#3) * 100 > 90");
        assert_eq!(p.text(), "((((((avg(0)) / (avg(1)))) * (100.0))) > (90.0))");
        assert_eq!(p.calls()[0].metric.as_deref(), Some("mem.used"));
        let needs = p.needs();
        assert_eq!(needs.len(), 2);
        assert_eq!(needs[0].1, Need { points: 3, secs: 0 });
        // The same call twice is computed from one slot.
        let p = program("avg(5m) > 1 && avg(5m) < 9");
        assert_eq!(p.calls().len(), 1);
        assert_eq!(
            p.needs(),
            vec![(
                None,
                Need {
                    points: 0,
                    secs: 300
                }
            )]
        );
        // A check keeps its comparison inside the call.
        let p = program("all(cpu,#3) > 90 || !(rate(#2) >= 1)");
        assert_eq!(p.calls()[0].agg, Agg::Test(Test::All, CmpOp::Gt, 90.0));
    }

    #[test]
    fn cross_metric_arithmetic() {
        let p = program("avg(mem.used,#2) / avg(mem.total,#2) * 100 > 90");
        let w = W(vec![
            (Some("mem.used"), vec![10, 20], vec![95.0, 93.0]),
            (Some("mem.total"), vec![10, 20], vec![100.0, 100.0]),
        ]);
        assert_eq!(p.eval(20, &w), Some(true));
        assert_eq!(p.value(20, &w), 94.0);
        // `#N` reads the latest points received, whatever the time evaluated.
        assert_eq!(p.eval(10, &w), Some(true));
        // A metric that never arrived leaves the condition undecided, even under `!`.
        let w = W(vec![(Some("mem.used"), vec![10, 20], vec![95.0, 93.0])]);
        assert_eq!(p.eval(20, &w), None);
        assert_eq!(program("!(avg(x,#1) > 1)").eval(20, &w), None);
        // Integers divide as floats.
        let w = W(vec![(None, vec![1], vec![3.0])]);
        assert_eq!(program("avg(#1) / 2 == 1.5").eval(1, &w), Some(true));
        assert_eq!(program("-avg(#1) % 2 == -1").eval(1, &w), Some(true));
    }

    #[test]
    fn time_windows_and_functions() {
        let ts = vec![0, 60, 120, 180, 240];
        let w = W(vec![(None, ts.clone(), vec![10.0, 20.0, 30.0, 40.0, 50.0])]);
        let num = |c: &str, now| program(&format!("{c} + 0 > -1e300")).value(now, &w);
        assert_eq!(num("avg(2m)", 240), 45.0, "(120, 240] holds 180 and 240");
        assert_eq!(num("count(5m)", 240), 5.0);
        assert_eq!(
            program("count(1m) > -1").eval(300, &w),
            None,
            "empty window: undecided"
        );
        assert_eq!(num("sum(#2)", 240), 90.0);
        assert_eq!(num("max(1h)", 130), 30.0, "points after now are not seen");
        assert!((num("stddev(#2)", 240) - 5.0).abs() < 1e-12);
        assert_eq!(num("percentile(#5,50)", 240), 30.0);
        assert_eq!(num("percentile(#4,90)", 240), 47.0);
        assert!((num("rate(5m)", 240) - 40.0 / 240.0).abs() < 1e-12);
        // A counter reset counts from zero: 10 → 20, reset, 5 → 15.
        let c = W(vec![(
            None,
            vec![0, 10, 20, 30],
            vec![10.0, 20.0, 5.0, 15.0],
        )]);
        let r = program("rate(#4) > 0").value(30, &c);
        assert!((r - 25.0 / 30.0).abs() < 1e-12, "{r}");
        // Linear growth of 10 per minute: 50 now, 100 in 5 minutes.
        assert!((num("forecast(#5,5m)", 240) - 100.0).abs() < 1e-9);
        assert!((num("timeleft(#5,100)", 240) - 300.0).abs() < 1e-9);
        assert_eq!(num("timeleft(#5,0)", 240), f64::INFINITY, "moving away");
        assert_eq!(num("timeleft(#5,45)", 240), 0.0, "already past");
        assert!(program("timeleft(df.used.percent,1h,100) < 4 * 3600")
            .eval(240, &w)
            .is_none());
        let flat = W(vec![(None, vec![0, 60], vec![5.0, 5.0])]);
        assert_eq!(
            program("timeleft(#2,9) > 0").value(60, &flat),
            f64::INFINITY
        );
        assert_eq!(
            program("rate(#1) > 0").eval(60, &flat),
            None,
            "rate needs two points"
        );
        assert_eq!(program("all(4m) > 15").eval(240, &w), Some(true));
        assert_eq!(program("all(4m) > 15").eval(180, &w), Some(false));
        assert_eq!(program("diff(3m) >= 20").eval(240, &w), Some(true));
        assert_eq!(
            program("lookup(x,#2,3) > 25 || avg(#1) > 1").eval(240, &w),
            None
        );
    }

    #[test]
    fn expression_errors_name_the_position() {
        let cases = [
            ("avg(#3) + 1", 1, "computes a number"),
            ("avg(#3) > 1 && 5", 16, "joins conditions"),
            ("all(#3) + 1 > 2", 1, "point by point"),
            ("all(#3)", 1, "follow it with a comparison"),
            ("all(#3) > avg(#2)", 11, "write a number"),
            ("1 < all(#3) ", 5, "point by point"),
            ("avg(mem.used #3) > 1", 14, "`,` and a window"),
            ("avg(mem.used,) > 1", 14, "expected a window"),
            ("avg(5x) > 1", 5, "unit"),
            ("avg(2d) > 1", 5, "1 to 86400"),
            ("percentile(#3) > 1", 14, "percentile"),
            ("percentile(#3,101) > 1", 15, "0 to 100"),
            ("forecast(#3,1) > 1", 13, "unit after the number"),
            ("timeleft(#3) > 1", 12, "value to reach"),
            ("avg(#3,4) > 1", 7, "`)`"),
            ("lookup(5m) > 1", 8, "`#`"),
            ("(avg(#1) > 1) * 2 > 1", 2, "needs a number"),
            ("avg(#1) > 1 > 0", 13, "do not chain"),
            ("!avg(#1)", 2, "joins conditions"),
            ("avg(#1) > 1 || max(#1) > 2 || -", 32, "threshold number"),
        ];
        for (c, pos, msg) in cases {
            let e = parse(c).unwrap_err();
            assert_eq!(e.position, pos, "{c:?}: {e}");
            assert!(e.to_string().contains(msg), "{c:?}: {e}");
        }
        let long = vec!["1"; 300].join("+") + " > 1";
        assert!(parse(&long).unwrap_err().message.contains("more than"));
        let neg = format!("{}1 > 0", "-".repeat(40));
        assert!(parse(&neg).unwrap_err().message.contains("deeper"));
    }

    #[test]
    fn documented_examples_parse() {
        // docs/API.md "Strategy conditions".
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md"))
            .unwrap();
        let start = doc.find("## Strategy conditions").unwrap();
        let block = &doc[start..];
        let block = &block[block.find("```text").unwrap() + 7..];
        let block = &block[..block.find("```").unwrap()];
        let mut n = 0;
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            // The example, then two or more spaces and a comment.
            let c = line.split("   ").next().unwrap().trim();
            parse(c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
            n += 1;
        }
        assert!(n >= 10, "{n} examples");
        // A deep but bounded chain compiles and evaluates.
        let long = vec!["avg(#1)"; 90].join(" + ") + " > 1";
        let w = W(vec![(None, vec![1], vec![1.0])]);
        assert_eq!(program(&long).eval(1, &w), Some(true));
    }
}
