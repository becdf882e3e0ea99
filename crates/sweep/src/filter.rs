//! Point filters: `where` conditions (`"lambda != 0"`) and `exclude` entries (`{ lambda = 0 }`).
//!
//! Both compile to [`Test`]s evaluated on a [`Choice`] (a point's effective parameters). A test
//! on a value the point does not have (λ of a gaussian init, `lr` of a closed-form point) is
//! *undecided*: a `where` condition then holds, and an `exclude` entry does not match, so both
//! err on the side of keeping the point. Float `==` compares with a relative tolerance of 1e-9.

use crate::axes::Choice;
use crate::params::{InitKind, Method, f64_bits};
use crate::task::TaskSpec;

/// Relative tolerance of float equality in filters.
const FLOAT_TOLERANCE: f64 = 1e-9;

/// Every axis a filter may name, in documentation order.
pub(crate) const FILTER_AXES: &[&str] = &[
    "lambda",
    "scale",
    "lr",
    "dt",
    "replicate",
    "depth",
    "n_in",
    "n_hidden",
    "n_out",
    "task",
    "init",
    "method",
];

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Operators in the order they are tried by the parser (two-character ones first).
    const PARSE_ORDER: [(&'static str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn compare(self, a: f64, b: f64) -> bool {
        let equal = a == b || (a - b).abs() <= FLOAT_TOLERANCE * a.abs().max(b.abs());
        match self {
            Op::Eq => equal,
            Op::Ne => !equal,
            Op::Lt => a < b && !equal,
            Op::Le => a < b || equal,
            Op::Gt => a > b && !equal,
            Op::Ge => a > b || equal,
        }
    }

    /// `==`/`!=` on an equality already decided (the parser allows nothing else there).
    fn of_equality(self, equal: bool) -> bool {
        if self == Op::Ne { !equal } else { equal }
    }
}

/// A numeric quantity of a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumAxis {
    Lambda,
    Scale,
    Lr,
    Dt,
    Replicate,
    Depth,
    NIn,
    NHidden,
    NOut,
}

impl NumAxis {
    fn from_name(name: &str) -> Option<NumAxis> {
        Some(match name {
            "lambda" => NumAxis::Lambda,
            "scale" => NumAxis::Scale,
            "lr" => NumAxis::Lr,
            "dt" => NumAxis::Dt,
            "replicate" => NumAxis::Replicate,
            "depth" => NumAxis::Depth,
            "n_in" => NumAxis::NIn,
            "n_hidden" => NumAxis::NHidden,
            "n_out" => NumAxis::NOut,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            NumAxis::Lambda => "lambda",
            NumAxis::Scale => "scale",
            NumAxis::Lr => "lr",
            NumAxis::Dt => "dt",
            NumAxis::Replicate => "replicate",
            NumAxis::Depth => "depth",
            NumAxis::NIn => "n_in",
            NumAxis::NHidden => "n_hidden",
            NumAxis::NOut => "n_out",
        }
    }

    fn value(self, choice: &Choice<'_>) -> Option<f64> {
        let widths = choice.widths;
        let shape = |f: fn(&[usize]) -> usize| widths.map(|w| f(w) as f64);
        match self {
            NumAxis::Lambda => choice.lambda,
            NumAxis::Scale => choice.scale,
            NumAxis::Lr => choice.lr,
            NumAxis::Dt => choice.dt,
            NumAxis::Replicate => choice.replicate.map(f64::from),
            NumAxis::Depth => shape(|w| w.len().saturating_sub(1)),
            NumAxis::NIn => shape(|w| w.first().copied().unwrap_or(0)),
            NumAxis::NHidden => shape(|w| if w.len() > 2 { w[1] } else { 0 }),
            NumAxis::NOut => shape(|w| w.last().copied().unwrap_or(0)),
        }
    }
}

/// A literal on the right of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Num(f64),
    Str(String),
    Widths(Vec<usize>),
}

/// One compiled comparison.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Test {
    Num { axis: NumAxis, op: Op, value: f64 },
    Task { op: Op, kind: &'static str },
    Init { op: Op, value: InitKind },
    Method { op: Op, value: Method },
    Widths { op: Op, value: Vec<usize> },
}

impl Test {
    /// Compiles `axis op literal`, checking the axis, the operator and the literal's type.
    pub(crate) fn new(axis: &str, op: Op, literal: Literal) -> Result<Test, String> {
        if let Some(num_axis) = NumAxis::from_name(axis) {
            return match literal {
                Literal::Num(value) => Ok(Test::Num { axis: num_axis, op, value }),
                _ => Err(format!(
                    "`{axis}` is numeric: compare it with a number, e.g. `{axis} != 0`"
                )),
            };
        }
        let equality_only = |what: &str| {
            if matches!(op, Op::Eq | Op::Ne) {
                Ok(())
            } else {
                Err(format!("`{what}` can only be compared with == or !=, not {}", op.as_str()))
            }
        };
        match (axis, literal) {
            ("task", Literal::Str(kind)) => {
                equality_only("task")?;
                let known =
                    TaskSpec::KINDS.iter().find(|known| **known == kind).ok_or_else(|| {
                        format!(
                            "unknown task kind `{kind}`; expected one of: {}",
                            TaskSpec::KINDS.join(", ")
                        )
                    })?;
                Ok(Test::Task { op, kind: known })
            }
            ("init", Literal::Str(name)) => {
                equality_only("init")?;
                let value = InitKind::from_name(&name).ok_or_else(|| {
                    let known: Vec<_> = InitKind::ALL.iter().map(|k| k.as_str()).collect();
                    format!("unknown init `{name}`; expected one of: {}", known.join(", "))
                })?;
                Ok(Test::Init { op, value })
            }
            ("method", Literal::Str(name)) => {
                equality_only("method")?;
                let value = Method::from_name(&name).ok_or_else(|| {
                    let known: Vec<_> = Method::ALL.iter().map(|m| m.as_str()).collect();
                    format!("unknown method `{name}`; expected one of: {}", known.join(", "))
                })?;
                Ok(Test::Method { op, value })
            }
            ("widths", Literal::Widths(value)) => {
                equality_only("widths")?;
                Ok(Test::Widths { op, value })
            }
            ("task" | "init" | "method", _) => Err(format!(
                "`{axis}` is a name: compare it with a quoted string, e.g. `{axis} == '…'`"
            )),
            ("widths", _) => {
                Err("`widths` must be compared with a list such as [4, 4, 4]".to_owned())
            }
            _ => Err(unknown_axis(axis)),
        }
    }

    /// Whether the test holds; `None` when the point lacks the value (undecided).
    pub(crate) fn eval(&self, choice: &Choice<'_>) -> Option<bool> {
        match self {
            Test::Num { axis, op, value } => Some(op.compare(axis.value(choice)?, *value)),
            Test::Task { op, kind } => Some(op.of_equality(choice.task?.kind() == *kind)),
            Test::Init { op, value } => Some(op.of_equality(choice.init? == *value)),
            Test::Method { op, value } => Some(op.of_equality(choice.method? == *value)),
            Test::Widths { op, value } => Some(op.of_equality(choice.widths? == value.as_slice())),
        }
    }

    /// Normalised text (floats as bits) for the spec hash.
    pub(crate) fn canonical(&self) -> String {
        match self {
            Test::Num { axis, op, value } => {
                format!("{}{}{:016x}", axis.as_str(), op.as_str(), f64_bits(*value))
            }
            Test::Task { op, kind } => format!("task{}{kind}", op.as_str()),
            Test::Init { op, value } => format!("init{}{}", op.as_str(), value.as_str()),
            Test::Method { op, value } => format!("method{}{}", op.as_str(), value.as_str()),
            Test::Widths { op, value } => format!("widths{}{value:?}", op.as_str()),
        }
    }
}

/// The message for an axis no filter knows.
pub(crate) fn unknown_axis(axis: &str) -> String {
    let hint = match axis {
        "replicates" => " (the axis is named `replicate`)",
        "widths" => " (`where` cannot compare lists: use depth, n_in, n_hidden, n_out, or exclude)",
        "time" | "record" => " (time and record are not axes)",
        _ => "",
    };
    format!("unknown axis `{axis}`{hint}; filterable axes: {}", FILTER_AXES.join(", "))
}

/// Parses a `where` condition: `<axis> <op> <literal>`, with a number or a (quoted) string.
pub(crate) fn parse_condition(text: &str) -> Result<Test, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(
            "empty condition; expected `<axis> <op> <value>`, e.g. `lambda != 0`".to_owned()
        );
    }
    let axis_end =
        trimmed.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(trimmed.len());
    let axis = &trimmed[..axis_end];
    if axis.is_empty() {
        return Err(format!(
            "cannot read condition `{trimmed}`: expected `<axis> <op> <value>`, e.g. `lambda != 0`"
        ));
    }
    if NumAxis::from_name(axis).is_none() && !matches!(axis, "task" | "init" | "method") {
        return Err(unknown_axis(axis));
    }
    let rest = trimmed[axis_end..].trim_start();
    let Some((op_text, op)) =
        Op::PARSE_ORDER.into_iter().find(|(op_text, _)| rest.starts_with(op_text))
    else {
        let hint = if rest.starts_with('=') { " (use `==` for equality)" } else { "" };
        return Err(format!(
            "cannot read condition `{trimmed}`: expected a comparison operator (==, !=, <, <=, >, >=) after `{axis}`{hint}"
        ));
    };
    let literal_text = rest[op_text.len()..].trim();
    let literal = parse_literal(literal_text)
        .map_err(|reason| format!("cannot read condition `{trimmed}`: {reason}"))?;
    Test::new(axis, op, literal)
}

fn parse_literal(text: &str) -> Result<Literal, String> {
    if text.is_empty() {
        return Err("missing value after the operator".to_owned());
    }
    for quote in ['\'', '"'] {
        if let Some(inner) = text.strip_prefix(quote) {
            return match inner.strip_suffix(quote) {
                Some(inner) if !inner.contains(quote) => Ok(Literal::Str(inner.to_owned())),
                _ => Err(format!("unterminated or malformed string {text}")),
            };
        }
    }
    if let Ok(number) = text.parse::<f64>() {
        return if number.is_finite() {
            Ok(Literal::Num(number))
        } else {
            Err(format!("the value {text} must be a finite number"))
        };
    }
    if text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.')) {
        return Ok(Literal::Str(text.to_owned()));
    }
    Err(format!("cannot read the value `{text}`: expected a number or a quoted string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice_with<'a>(widths: &'a [usize], task: &'a TaskSpec) -> Choice<'a> {
        Choice {
            lambdas: None,
            task: Some(task),
            widths: Some(widths),
            replicate: Some(2),
            init: Some(InitKind::Balanced),
            method: Some(Method::Rk4),
            scale: Some(0.5),
            lambda: Some(0.0),
            lr: None,
            dt: Some(0.01),
        }
    }

    #[test]
    fn parses_and_evaluates() {
        let task = TaskSpec::Random { samples: 8 };
        let widths = [4, 3, 2];
        let choice = choice_with(&widths, &task);
        let check = |text: &str| parse_condition(text).unwrap().eval(&choice);
        assert_eq!(check("lambda != 0"), Some(false));
        assert_eq!(check("lambda==0"), Some(true));
        assert_eq!(check("  scale <= 0.5 "), Some(true));
        assert_eq!(check("scale < 0.5"), Some(false));
        assert_eq!(check("scale >= 0.5000000000001"), Some(true));
        assert_eq!(check("scale > 0.4"), Some(true));
        assert_eq!(check("replicate >= 2"), Some(true));
        assert_eq!(check("depth == 2"), Some(true));
        assert_eq!(check("n_in == 4"), Some(true));
        assert_eq!(check("n_hidden == 3"), Some(true));
        assert_eq!(check("n_out < 3"), Some(true));
        assert_eq!(check("method == 'rk4'"), Some(true));
        assert_eq!(check("method != \"rk4\""), Some(false));
        assert_eq!(check("method == closed-form"), Some(false));
        assert_eq!(check("init == 'balanced'"), Some(true));
        assert_eq!(check("task == 'random'"), Some(true));
        // Undecided: the point has no lr.
        assert_eq!(check("lr < 0.1"), None);
    }

    #[test]
    fn rejects_bad_conditions() {
        let reason = |text: &str| parse_condition(text).unwrap_err();
        assert!(reason("").contains("empty condition"));
        assert!(reason("lamda != 0").contains("unknown axis `lamda`"));
        assert!(reason("replicates == 1").contains("named `replicate`"));
        assert!(reason("widths == 4").contains("cannot compare lists"));
        assert!(reason("lambda = 0").contains("use `==`"));
        assert!(reason("lambda 0").contains("comparison operator"));
        assert!(reason("lambda !=").contains("missing value"));
        assert!(reason("lambda != 'a'").contains("is numeric"));
        assert!(reason("method < 'rk4'").contains("only be compared with == or !="));
        assert!(reason("method == 'rk5'").contains("unknown method `rk5`"));
        assert!(reason("init == 'xavier'").contains("unknown init"));
        assert!(reason("task == 'teacher'").contains("unknown task kind"));
        assert!(reason("method == 3").contains("quoted string"));
        assert!(reason("lambda != inf").contains("finite"));
        assert!(reason("method == 'rk4").contains("unterminated"));
        assert!(reason("!= 3").contains("expected `<axis> <op> <value>`"));
        assert!(reason("lambda != (1)").contains("cannot read the value"));
    }

    #[test]
    fn float_tolerance_is_relative() {
        assert!(Op::Eq.compare(0.1 + 0.2, 0.3));
        assert!(!Op::Eq.compare(1e-12, 2e-12));
        assert!(Op::Le.compare(0.30000000000000004, 0.3));
        assert!(!Op::Lt.compare(0.3, 0.30000000000000004));
    }

    #[test]
    fn exclude_style_tests() {
        let task = TaskSpec::Random { samples: 8 };
        let widths = [4, 3, 2];
        let choice = choice_with(&widths, &task);
        let test = Test::new("widths", Op::Eq, Literal::Widths(vec![4, 3, 2])).unwrap();
        assert_eq!(test.eval(&choice), Some(true));
        assert!(Test::new("widths", Op::Eq, Literal::Num(4.0)).is_err());
        assert!(
            Test::new("speed", Op::Eq, Literal::Num(4.0)).unwrap_err().contains("unknown axis")
        );
        assert_eq!(test.canonical(), "widths==[4, 3, 2]");
    }
}
