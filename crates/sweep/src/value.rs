//! Reading typed values out of the spanned TOML tree, with errors that point at the value.
//!
//! The spec is parsed into `toml::de::DeTable` (every key and value keeps its byte span), then
//! walked by hand: that way every error names the field path (`block[2].lambda[3]`) and the exact
//! line and column, which a derived deserializer cannot do.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Location, SpecError};

/// A TOML value with its byte span.
pub(crate) type Val<'i> = Spanned<DeValue<'i>>;

/// The source being parsed: origin name, text, and line starts for offset → line/column.
pub(crate) struct Ctx<'a> {
    pub origin: &'a str,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(origin: &'a str, text: &'a str) -> Ctx<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(idx, _)| idx + 1));
        Ctx { origin, text, line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line_idx = self.line_starts.partition_point(|&start| start <= offset).saturating_sub(1);
        let line_start = self.line_starts[line_idx];
        let col = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |prefix| prefix.chars().count());
        Location { line: line_idx + 1, col: col + 1 }
    }

    /// An [`SpecError::Invalid`] at byte offset `offset`.
    pub(crate) fn err(&self, offset: usize, field: &str, reason: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            origin: self.origin.to_owned(),
            location: Some(self.location(offset)),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// "a string", "an integer", … for error messages.
pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// Byte offset where a value starts.
pub(crate) fn pos(value: &Val<'_>) -> usize {
    value.span().start
}

/// A number (integer or float), finite.
pub(crate) fn number(ctx: &Ctx<'_>, value: &Val<'_>, field: &str) -> Result<f64, SpecError> {
    let parsed = match value.get_ref() {
        DeValue::Integer(int) => {
            i128::from_str_radix(&int.as_str().replace('_', ""), int.radix()).ok().map(|x| x as f64)
        }
        DeValue::Float(float) => float.as_str().replace('_', "").parse::<f64>().ok(),
        other => {
            return Err(ctx.err(
                pos(value),
                field,
                format!("expected a number, found {}", type_name(other)),
            ));
        }
    };
    match parsed {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(ctx.err(pos(value), field, "the number must be finite")),
    }
}

/// A non-negative integer.
pub(crate) fn unsigned(ctx: &Ctx<'_>, value: &Val<'_>, field: &str) -> Result<u64, SpecError> {
    match value.get_ref() {
        DeValue::Integer(int) => {
            let digits = int.as_str().replace('_', "");
            match i128::from_str_radix(&digits, int.radix()) {
                Ok(x) if x < 0 => Err(ctx.err(
                    pos(value),
                    field,
                    format!("expected a non-negative integer, found {x}"),
                )),
                Ok(x) => u64::try_from(x).map_err(|_| {
                    ctx.err(
                        pos(value),
                        field,
                        format!("the integer {x} is larger than {}", u64::MAX),
                    )
                }),
                Err(_) => Err(ctx.err(pos(value), field, "invalid integer")),
            }
        }
        other => Err(ctx.err(
            pos(value),
            field,
            format!("expected a non-negative integer, found {}", type_name(other)),
        )),
    }
}

/// An integer in `min..=max`.
pub(crate) fn bounded(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    field: &str,
    min: u64,
    max: u64,
) -> Result<u64, SpecError> {
    let x = unsigned(ctx, value, field)?;
    if x < min {
        return Err(ctx.err(pos(value), field, format!("must be at least {min}, found {x}")));
    }
    if x > max {
        return Err(ctx.err(pos(value), field, format!("must be at most {max}, found {x}")));
    }
    Ok(x)
}

/// A string.
pub(crate) fn string<'v>(
    ctx: &Ctx<'_>,
    value: &'v Val<'_>,
    field: &str,
) -> Result<&'v str, SpecError> {
    match value.get_ref() {
        DeValue::String(text) => Ok(text.as_ref()),
        other => Err(ctx.err(
            pos(value),
            field,
            format!("expected a string, found {}", type_name(other)),
        )),
    }
}

/// A boolean.
pub(crate) fn boolean(ctx: &Ctx<'_>, value: &Val<'_>, field: &str) -> Result<bool, SpecError> {
    match value.get_ref() {
        DeValue::Boolean(flag) => Ok(*flag),
        other => Err(ctx.err(
            pos(value),
            field,
            format!("expected true or false, found {}", type_name(other)),
        )),
    }
}

/// A table.
pub(crate) fn table<'v, 'i>(
    ctx: &Ctx<'_>,
    value: &'v Val<'i>,
    field: &str,
    what: &str,
) -> Result<&'v DeTable<'i>, SpecError> {
    match value.get_ref() {
        DeValue::Table(table) => Ok(table),
        other => {
            Err(ctx.err(pos(value), field, format!("expected {what}, found {}", type_name(other))))
        }
    }
}

/// A non-empty list.
pub(crate) fn list<'v, 'i>(
    ctx: &Ctx<'_>,
    value: &'v Val<'i>,
    field: &str,
    what: &str,
) -> Result<&'v [Val<'i>], SpecError> {
    match value.get_ref() {
        DeValue::Array(items) if items.is_empty() => {
            Err(ctx.err(pos(value), field, format!("the list is empty; expected {what}")))
        }
        DeValue::Array(items) => Ok(items),
        other => {
            Err(ctx.err(pos(value), field, format!("expected {what}, found {}", type_name(other))))
        }
    }
}

/// The entries of a table in source order (the map itself is sorted by key).
pub(crate) fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t str, usize, &'t Val<'i>)> {
    let mut out: Vec<_> = table
        .iter()
        .map(|(key, value)| (key.get_ref().as_ref(), key.span().start, value))
        .collect();
    out.sort_by_key(|&(_, key_pos, value)| (key_pos, pos(value)));
    out
}

/// The error for an unknown key, with a suggestion when a known key is close.
pub(crate) fn unknown_key(
    ctx: &Ctx<'_>,
    key: &str,
    key_pos: usize,
    field: &str,
    known: &[&str],
) -> SpecError {
    let suggestion = known
        .iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|&(distance, _)| distance <= 2)
        .min()
        .map(|(_, candidate)| format!("did you mean `{candidate}`? "))
        .unwrap_or_default();
    ctx.err(
        key_pos,
        field,
        format!("unknown field `{key}`; {suggestion}expected one of: {}", known.join(", ")),
    )
}

/// Levenshtein distance (small inputs only: field names).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Joins a field path: `join("block[0]", "lambda") == "block[0].lambda"`.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_characters() {
        let ctx = Ctx::new("f.toml", "a = 1\nλ = 2\n");
        assert_eq!(ctx.location(0), Location { line: 1, col: 1 });
        assert_eq!(ctx.location(4), Location { line: 1, col: 5 });
        assert_eq!(ctx.location(6), Location { line: 2, col: 1 });
        // 'λ' is two bytes: the '=' after it is column 3.
        assert_eq!(ctx.location(9), Location { line: 2, col: 3 });
        assert_eq!(ctx.location(1000), Location { line: 3, col: 1 });
    }

    #[test]
    fn numbers_and_integers() {
        let doc =
            DeTable::parse("a = 1_000\nb = 2.5e3\nc = -3\nd = 'x'\ne = 0x10\nf = nan\n").unwrap();
        let ctx = Ctx::new("f.toml", "");
        let get = |key: &str| doc.get_ref().get(key).unwrap();
        assert_eq!(number(&ctx, get("a"), "a").unwrap(), 1000.0);
        assert_eq!(number(&ctx, get("b"), "b").unwrap(), 2500.0);
        assert_eq!(number(&ctx, get("c"), "c").unwrap(), -3.0);
        assert!(number(&ctx, get("d"), "d").unwrap_err().to_string().contains("found a string"));
        assert!(number(&ctx, get("f"), "f").unwrap_err().to_string().contains("finite"));
        assert_eq!(unsigned(&ctx, get("a"), "a").unwrap(), 1000);
        assert_eq!(unsigned(&ctx, get("e"), "e").unwrap(), 16);
        assert!(unsigned(&ctx, get("c"), "c").unwrap_err().to_string().contains("non-negative"));
        assert!(unsigned(&ctx, get("b"), "b").unwrap_err().to_string().contains("found a float"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("lamda", "lambda"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let ctx = Ctx::new("f.toml", "lamda = 1");
        let err = unknown_key(&ctx, "lamda", 0, "block[0].lamda", &["lambda", "scale"]);
        assert!(err.to_string().contains("did you mean `lambda`?"), "{err}");
    }
}
