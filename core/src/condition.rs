//! The condition language of strategies, parsed once and evaluated against a series' window.
//!
//! Web validates what a user types with [`parse`] (live, with the position of the first error);
//! the judge compiles every strategy with the same function and evaluates the result with
//! [`Condition::eval`]. Nothing else ever interprets user input.
//!
//! ```text
//! condition := or
//! or        := and ( "||" and )*
//! and       := atom ( "&&" atom )*
//! atom      := "(" or ")" | func op number
//! func      := all(#N) | max(#N) | min(#N) | avg(#N) | sum(#N) | diff(#N) | pdiff(#N)
//!            | lookup(#M,N)
//! op        := > | >= | < | <= | == | !=
//! ```
//! `nodata(S)` (no point for S seconds) stands alone: it is decided by the judge's timer, not by
//! a point, so it cannot be combined with other terms.
//!
//! Semantics (values oldest to newest; a term without enough points does not hold):
//! - `all(#N) op T`: each of the last N values satisfies `op T`;
//! - `max|min|avg|sum(#N) op T`: the aggregate of the last N values satisfies it;
//! - `diff(#N) op T`: the latest value minus any one of the N values before it satisfies it;
//! - `pdiff(#N) op T`: the same difference as a percentage of the earlier value (zeros skipped);
//! - `lookup(#M,N) op T`: at least M of the last N values satisfy it.

use std::fmt;

/// The largest window a function may ask for: bounds the memory a strategy can cost per series.
pub const MAX_WINDOW: usize = 1000;
/// The longest nodata period, in seconds (a week).
pub const MAX_NODATA_SECS: u64 = 7 * 24 * 3600;
/// The longest condition text accepted, in bytes.
pub const MAX_LEN: usize = 2048;
/// The deepest parenthesis nesting accepted.
pub const MAX_DEPTH: usize = 16;

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
}

impl Condition {
    /// How many of a series' latest points evaluation needs (0 for nodata).
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
        }
    }

    /// The nodata period in seconds, when this is a nodata condition.
    pub fn nodata_secs(&self) -> Option<u64> {
        match self {
            Condition::NoData(s) => Some(*s),
            Condition::Expr(_) => None,
        }
    }

    /// Evaluates on `values` (oldest first, newest last). A nodata condition never holds here:
    /// a point has just arrived.
    pub fn eval(&self, values: &[f64]) -> Verdict {
        match self {
            Condition::Expr(e) => eval_expr(e, values),
            Condition::NoData(_) => Verdict {
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
    let e = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.err(format!(
            "unexpected {}; expected `&&`, `||` or the end",
            p.describe()
        )));
    }
    Ok(Condition::Expr(e))
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
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
    fn integer(&mut self, what: &str) -> Result<u64, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err(format!("expected {what}, found {}", self.describe())));
        }
        let s: String = self.chars[start..self.pos].iter().collect();
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
    fn number(&mut self) -> Result<f64, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        if matches!(self.peek(), Some('-') | Some('+')) {
            self.pos += 1;
        }
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
            _ if s.is_empty() => Err(self.err(format!(
                "expected a threshold number, found {}",
                self.describe()
            ))),
            _ => Err(self.err_at(start, format!("{s:?} is not a finite number"))),
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut v = vec![self.and()?];
        while self.eat("||") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::Or(v)
        })
    }
    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut v = vec![self.atom()?];
        while self.eat("&&") {
            v.push(self.atom()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::And(v)
        })
    }
    fn atom(&mut self) -> Result<Expr, ConditionError> {
        self.skip_ws();
        if self.peek() == Some('(') {
            let open = self.pos;
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err_at(open, format!("parentheses nest deeper than {MAX_DEPTH}")));
            }
            let e = self.or()?;
            self.expect(
                ')',
                &format!("`)` to close the `(` at position {}", open + 1),
            )?;
            self.depth -= 1;
            return Ok(e);
        }
        let func = self.func()?;
        let op = self.op(&func)?;
        let threshold = self.number()?;
        Ok(Expr::Term(Term {
            func,
            op,
            threshold,
        }))
    }
    fn func(&mut self) -> Result<Func, ConditionError> {
        self.skip_ws();
        let start = self.pos;
        let Some(name) = self.ident() else {
            return Err(self.err(format!(
                "expected a function such as max(#3), found {}",
                self.describe()
            )));
        };
        let known = ["all", "max", "min", "avg", "sum", "diff", "pdiff", "lookup"];
        if name == "nodata" {
            return Err(self.err_at(
                start,
                "nodata(S) must be the whole condition; it cannot be combined",
            ));
        }
        if !known.contains(&name.as_str()) {
            return Err(self.err_at(
                start,
                format!(
                    "unknown function `{name}` (known: all, max, min, avg, sum, diff, pdiff, lookup, nodata)"
                ),
            ));
        }
        self.expect('(', &format!("`(` after `{name}`"))?;
        self.expect('#', "`#` before the number of points, as in max(#3)")?;
        let n = self.count("the number of points")?;
        let f = if name == "lookup" {
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
            Func::Lookup { m: n, n: total }
        } else {
            match name.as_str() {
                "all" => Func::All(n),
                "max" => Func::Max(n),
                "min" => Func::Min(n),
                "avg" => Func::Avg(n),
                "sum" => Func::Sum(n),
                "diff" => Func::Diff(n),
                _ => Func::PDiff(n),
            }
        };
        self.expect(')', "`)`")?;
        Ok(f)
    }
    fn op(&mut self, f: &Func) -> Result<CmpOp, ConditionError> {
        for (s, op) in [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
        ] {
            if self.eat(s) {
                return Ok(op);
            }
        }
        Err(self.err(format!(
            "expected a comparison (>, >=, <, <=, ==, !=) after {f}, found {}",
            self.describe()
        )))
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
}
