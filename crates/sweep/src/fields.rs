//! Reading one table of block fields (`[defaults]` or a `[[block]]`) on its own.
//!
//! Each field is checked for what it can be checked alone: its type, grid objects, value ranges
//! (scale ≥ 0, lr/dt > 0, widths in 1..=4096), time grid rules, names of inits, methods, task
//! kinds and axes, and the syntax of `where`/`exclude`. Every value keeps its field path and byte
//! position so later cross-field checks can point at it.

use toml::de::{DeTable, DeValue};

use crate::axes::AxisName;
use crate::error::SpecError;
use crate::filter::{FILTER_AXES, Literal, Op, Test, parse_condition, unknown_axis};
use crate::grid::{self, Floats, Grid};
use crate::params::{InitKind, Method, Record};
use crate::task::{TaskSpec, parse_task};
use crate::value::{
    Ctx, Val, boolean, bounded, entries, join, list, number, pos, string, table, type_name,
    unknown_key, unsigned,
};

/// Most time points per block.
pub const MAX_TIMES: usize = 100_000;
/// Largest layer width.
pub const MAX_WIDTH: u64 = 4096;
/// Largest depth (number of weight matrices): `widths` has at most `MAX_DEPTH + 1` entries.
pub const MAX_DEPTH: usize = 64;

const BLOCK_FIELDS: &[&str] = &[
    "lambda",
    "lambdas",
    "scale",
    "lr",
    "dt",
    "widths",
    "task",
    "init",
    "method",
    "replicates",
    "time",
    "record",
    "zip",
    "where",
    "exclude",
    "tolerance",
];
const RECORD_FIELDS: &[&str] = &["per_time", "singular_values", "matrices_at"];
const GRID_HINT: &str = "a number, a list of numbers, or a grid such as { linspace = [0, 1, 11] }";

/// A parsed field value with the path and position it came from.
#[derive(Clone, Debug)]
pub(crate) struct Field<T> {
    pub value: T,
    pub path: String,
    pub pos: usize,
}

impl<T> Field<T> {
    fn new(value: T, path: &str, pos: usize) -> Field<T> {
        Field { value, path: path.to_owned(), pos }
    }
}

/// Values of an axis and where each came from (for later errors). Values written one by one
/// keep their own path (`block[0].lambda[2]`) and position; grid values share the grid's.
#[derive(Clone, Debug)]
pub(crate) struct AxisValues<T> {
    pub values: Vec<T>,
    /// Path and position of each value; empty for a grid object.
    items: Vec<(String, usize)>,
    /// Path and position of the whole field value.
    whole: (String, usize),
}

impl<T> AxisValues<T> {
    fn new(path: &str, pos: usize) -> Self {
        AxisValues { values: Vec::new(), items: Vec::new(), whole: (path.to_owned(), pos) }
    }

    fn push(&mut self, value: T, path: String, pos: usize) {
        self.values.push(value);
        self.items.push((path, pos));
    }

    /// Path and position of value `idx`.
    pub(crate) fn source(&self, idx: usize) -> (&str, usize) {
        let (path, pos) = self.items.get(idx).unwrap_or(&self.whole);
        (path, *pos)
    }
}

/// Values of a float axis (λ, scale, lr, dt, time) and where each came from: like
/// [`AxisValues`], but a grid object stays a [`Grid`] (its values computed on demand).
#[derive(Clone, Debug, Default)]
pub(crate) struct FloatAxis {
    pub values: Floats,
    /// Path and position of each value written one by one; empty for a grid object.
    items: Vec<(String, usize)>,
    /// Path and position of the whole field value.
    whole: (String, usize),
}

impl FloatAxis {
    fn new(path: &str, pos: usize) -> Self {
        FloatAxis { values: Floats::default(), items: Vec::new(), whole: (path.to_owned(), pos) }
    }

    /// Path and position of value `idx`.
    pub(crate) fn source(&self, idx: usize) -> (&str, usize) {
        let (path, pos) = self.items.get(idx).unwrap_or(&self.whole);
        (path, *pos)
    }
}

/// `record` with the sources of its `matrices_at` entries.
#[derive(Clone, Debug)]
pub(crate) struct RecordField {
    pub record: Record,
    matrices_at: Vec<(String, usize)>,
    /// `matrices_at = "all"`: every time of the block's grid.
    pub matrices_at_all: bool,
}

impl RecordField {
    /// Path and position of `matrices_at[idx]`.
    pub(crate) fn matrices_at_source(&self, idx: usize) -> (&str, usize) {
        self.matrices_at.get(idx).map_or(("", 0), |(path, at)| (path.as_str(), *at))
    }
}

/// A zip group: axis names with their positions.
#[derive(Clone, Debug)]
pub(crate) struct ZipGroup {
    pub axes: Vec<(AxisName, usize)>,
    pub pos: usize,
}

/// The fields of one table (`[defaults]` or a `[[block]]`), each checked on its own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fields {
    pub lambda: Option<Field<FloatAxis>>,
    /// `lambdas`: the per-layer λ profiles (an axis of profiles; one profile is an axis of one).
    pub lambdas: Option<Field<AxisValues<Vec<f64>>>>,
    pub scale: Option<Field<FloatAxis>>,
    pub lr: Option<Field<FloatAxis>>,
    pub dt: Option<Field<FloatAxis>>,
    pub widths: Option<Field<AxisValues<Vec<usize>>>>,
    pub task: Option<Field<AxisValues<TaskSpec>>>,
    pub init: Option<Field<AxisValues<InitKind>>>,
    pub method: Option<Field<AxisValues<Method>>>,
    pub replicates: Option<Field<u32>>,
    pub time: Option<Field<FloatAxis>>,
    pub record: Option<Field<RecordField>>,
    pub zip: Option<Field<Vec<ZipGroup>>>,
    pub where_tests: Option<Field<Vec<Test>>>,
    pub exclude: Option<Field<Vec<Vec<Test>>>>,
    pub tolerance: Option<Field<f64>>,
}

impl Fields {
    /// Block fields replace default fields of the same name.
    pub(crate) fn over(self, defaults: &Fields) -> Fields {
        // `lambda` and `lambdas` are one setting: a table's own (either) replaces both defaults.
        let (lambda, lambdas) = if self.lambda.is_some() || self.lambdas.is_some() {
            (self.lambda, self.lambdas)
        } else {
            (defaults.lambda.clone(), defaults.lambdas.clone())
        };
        Fields {
            lambda,
            lambdas,
            scale: self.scale.or_else(|| defaults.scale.clone()),
            lr: self.lr.or_else(|| defaults.lr.clone()),
            dt: self.dt.or_else(|| defaults.dt.clone()),
            widths: self.widths.or_else(|| defaults.widths.clone()),
            task: self.task.or_else(|| defaults.task.clone()),
            init: self.init.or_else(|| defaults.init.clone()),
            method: self.method.or_else(|| defaults.method.clone()),
            replicates: self.replicates.or_else(|| defaults.replicates.clone()),
            time: self.time.or_else(|| defaults.time.clone()),
            record: self.record.or_else(|| defaults.record.clone()),
            zip: self.zip.or_else(|| defaults.zip.clone()),
            where_tests: self.where_tests.or_else(|| defaults.where_tests.clone()),
            exclude: self.exclude.or_else(|| defaults.exclude.clone()),
            tolerance: self.tolerance.or_else(|| defaults.tolerance.clone()),
        }
    }
}

/// Reads every field of one table on its own.
pub(crate) fn parse_fields(
    ctx: &Ctx<'_>,
    fields_table: &DeTable<'_>,
    prefix: &str,
) -> Result<Fields, SpecError> {
    let mut fields = Fields::default();
    for (key, key_pos, value) in entries(fields_table) {
        let path = join(prefix, key);
        let at = pos(value);
        match key {
            "lambda" => {
                fields.lambda =
                    Some(Field::new(float_axis(ctx, value, &path, FloatRule::Any)?, &path, at))
            }
            "lambdas" => {
                fields.lambdas = Some(Field::new(lambdas_axis(ctx, value, &path)?, &path, at))
            }
            "scale" => {
                fields.scale = Some(Field::new(
                    float_axis(ctx, value, &path, FloatRule::NonNegative)?,
                    &path,
                    at,
                ))
            }
            "lr" => {
                fields.lr =
                    Some(Field::new(float_axis(ctx, value, &path, FloatRule::Positive)?, &path, at))
            }
            "dt" => {
                fields.dt =
                    Some(Field::new(float_axis(ctx, value, &path, FloatRule::Positive)?, &path, at))
            }
            "widths" => {
                fields.widths = Some(Field::new(widths_axis(ctx, value, &path)?, &path, at))
            }
            "task" => fields.task = Some(Field::new(task_axis(ctx, value, &path)?, &path, at)),
            "init" => {
                fields.init = Some(Field::new(
                    name_axis(ctx, value, &path, "init", InitKind::from_name, &init_names())?,
                    &path,
                    at,
                ));
            }
            "method" => {
                fields.method = Some(Field::new(
                    name_axis(ctx, value, &path, "method", Method::from_name, &method_names())?,
                    &path,
                    at,
                ));
            }
            "replicates" => {
                let replicates = bounded(ctx, value, &path, 1, u64::from(u32::MAX))?;
                fields.replicates = Some(Field {
                    value: u32::try_from(replicates).unwrap_or(u32::MAX),
                    path: path.clone(),
                    pos: at,
                });
            }
            "time" => fields.time = Some(Field::new(time_grid(ctx, value, &path)?, &path, at)),
            "record" => fields.record = Some(Field::new(record(ctx, value, &path)?, &path, at)),
            "zip" => fields.zip = Some(Field::new(zip_groups(ctx, value, &path)?, &path, at)),
            "where" => {
                fields.where_tests = Some(Field::new(where_tests(ctx, value, &path)?, &path, at))
            }
            "exclude" => {
                fields.exclude = Some(Field::new(exclude_entries(ctx, value, &path)?, &path, at))
            }
            "tolerance" => {
                fields.tolerance = Some(Field::new(tolerance(ctx, value, &path)?, &path, at))
            }
            _ => return Err(unknown_key(ctx, key, key_pos, &path, BLOCK_FIELDS)),
        }
    }
    if let (Some(_), Some(lambdas)) = (&fields.lambda, &fields.lambdas) {
        return Err(ctx.err(
            lambdas.pos,
            &lambdas.path,
            "`lambda` and `lambdas` are both set in this table: give one (`lambda` for the same λ \
             at every hidden layer, `lambdas` for one λ per hidden layer)",
        ));
    }
    Ok(fields)
}

/// `lambdas`: one profile `[λ1, …, λ_{L−1}]` (numbers) or a list of profiles (an axis), each
/// non-empty, finite, and at most [`MAX_DEPTH`] − 1 long.
fn lambdas_axis(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    path: &str,
) -> Result<AxisValues<Vec<f64>>, SpecError> {
    let what = "a list of per-layer λ [λ1, …, λ_{L−1}] or a list of such lists";
    let items = list(ctx, value, path, what)?;
    let mut axis = AxisValues::new(path, pos(value));
    if matches!(items[0].get_ref(), DeValue::Array(_)) {
        for (idx, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{idx}]");
            axis.push(lambdas_profile(ctx, item, &item_path)?, item_path, pos(item));
        }
    } else {
        axis.push(lambdas_profile(ctx, value, path)?, path.to_owned(), pos(value));
    }
    Ok(axis)
}

fn lambdas_profile(ctx: &Ctx<'_>, value: &Val<'_>, path: &str) -> Result<Vec<f64>, SpecError> {
    let items = list(ctx, value, path, "a list of per-layer λ [λ1, …, λ_{L−1}] (numbers)")?;
    if items.len() > MAX_DEPTH - 1 {
        return Err(ctx.err(
            pos(value),
            path,
            format!(
                "{} values, more than the {} hidden layers of the deepest network (depth \
                 {MAX_DEPTH})",
                items.len(),
                MAX_DEPTH - 1
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(idx, item)| number(ctx, item, &format!("{path}[{idx}]")))
        .collect()
}

/// `tolerance`: one number in (0, 1) (integers accepted, though none is in range).
fn tolerance(ctx: &Ctx<'_>, value: &Val<'_>, path: &str) -> Result<f64, SpecError> {
    let x = number(ctx, value, path)?;
    if x > 0.0 && x < 1.0 {
        Ok(x)
    } else {
        Err(ctx.err(
            pos(value),
            path,
            format!("tolerance must be a number in (0, 1), e.g. tolerance = 1e-6; found {x}"),
        ))
    }
}

fn init_names() -> Vec<&'static str> {
    InitKind::ALL.iter().map(|kind| kind.as_str()).collect()
}

fn method_names() -> Vec<&'static str> {
    Method::ALL.iter().map(|method| method.as_str()).collect()
}

/// Constraint on the values of a float axis.
#[derive(Clone, Copy)]
enum FloatRule {
    Any,
    NonNegative,
    Positive,
}

/// A float axis: a number, a non-empty list of numbers, or a grid object.
fn float_axis(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    path: &str,
    rule: FloatRule,
) -> Result<FloatAxis, SpecError> {
    let axis = float_values(ctx, value, path, true)?;
    for (idx, x) in axis.values.iter().enumerate() {
        let problem = match rule {
            FloatRule::Any => None,
            FloatRule::NonNegative if x < 0.0 => Some(format!("must be ≥ 0, found {x}")),
            FloatRule::Positive if x <= 0.0 => Some(format!("must be > 0, found {x}")),
            FloatRule::NonNegative | FloatRule::Positive => None,
        };
        if let Some(problem) = problem {
            let (item_path, at) = axis.source(idx);
            return Err(ctx.err(at, item_path, problem));
        }
    }
    Ok(axis)
}

/// Numbers from a scalar (if `allow_scalar`), a list, or a grid object.
fn float_values(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    path: &str,
    allow_scalar: bool,
) -> Result<FloatAxis, SpecError> {
    match value.get_ref() {
        DeValue::Integer(_) | DeValue::Float(_) if allow_scalar => {
            let mut axis = FloatAxis::new(path, pos(value));
            axis.values = Floats::List(vec![number(ctx, value, path)?]);
            axis.items.push((path.to_owned(), pos(value)));
            Ok(axis)
        }
        DeValue::Array(_) => {
            let items = list(ctx, value, path, "at least one number")?;
            let mut axis = FloatAxis::new(path, pos(value));
            let mut values = Vec::with_capacity(items.len());
            for (idx, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{idx}]");
                values.push(number(ctx, item, &item_path)?);
                axis.items.push((item_path, pos(item)));
            }
            axis.values = Floats::List(values);
            Ok(axis)
        }
        DeValue::Table(grid_table) => {
            let mut axis = FloatAxis::new(path, pos(value));
            axis.values = Floats::Grid(grid_object(ctx, grid_table, pos(value), path)?);
            Ok(axis)
        }
        other => {
            let expected = if allow_scalar {
                GRID_HINT
            } else {
                "a list of numbers or a grid such as { logspace = [-2, 2, 50] }"
            };
            Err(ctx.err(
                pos(value),
                path,
                format!("expected {expected}, found {}", type_name(other)),
            ))
        }
    }
}

/// `{ linspace = [start, stop, num] }`, `{ logspace = [start_exp, stop_exp, num] }` or
/// `{ range = [start, stop, step] }`.
fn grid_object(
    ctx: &Ctx<'_>,
    grid_table: &DeTable<'_>,
    grid_pos: usize,
    path: &str,
) -> Result<Grid, SpecError> {
    let grid_entries = entries(grid_table);
    let [(kind, key_pos, args)] = grid_entries.as_slice() else {
        return Err(ctx.err(
            grid_pos,
            path,
            format!(
                "a grid object has exactly one key (linspace, logspace or range), found {}",
                grid_entries.len()
            ),
        ));
    };
    let grid_path = format!("{path}.{kind}");
    let params = match *kind {
        "linspace" | "logspace" => "[start, stop, num]",
        "range" => "[start, stop, step]",
        _ => {
            return Err(unknown_key(
                ctx,
                kind,
                *key_pos,
                &grid_path,
                &["linspace", "logspace", "range"],
            ));
        }
    };
    let items = match args.get_ref() {
        DeValue::Array(items) if items.len() == 3 => items,
        DeValue::Array(items) => {
            return Err(ctx.err(
                pos(args),
                &grid_path,
                format!("{kind} takes {params}, found {} values", items.len()),
            ));
        }
        other => {
            return Err(ctx.err(
                pos(args),
                &grid_path,
                format!("{kind} takes {params}, found {}", type_name(other)),
            ));
        }
    };
    let start = number(ctx, &items[0], &format!("{grid_path}[0]"))?;
    let stop = number(ctx, &items[1], &format!("{grid_path}[1]"))?;
    let result = match *kind {
        "range" => grid::range(start, stop, number(ctx, &items[2], &format!("{grid_path}[2]"))?),
        _ => {
            let num_path = format!("{grid_path}[2]");
            let num = match items[2].get_ref() {
                DeValue::Integer(_) => unsigned(ctx, &items[2], &num_path)?,
                other => {
                    return Err(ctx.err(
                        pos(&items[2]),
                        &num_path,
                        format!(
                            "num (the number of values) must be an integer, found {}",
                            type_name(other)
                        ),
                    ));
                }
            };
            if *kind == "linspace" {
                grid::linspace(start, stop, num)
            } else {
                grid::logspace(start, stop, num)
            }
        }
    };
    result.map_err(|reason| ctx.err(pos(args), &grid_path, reason))
}

/// `[4, 4, 4]` (one architecture) or `[[4, 4, 4], [8, 2, 2]]` (several).
fn widths_axis(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    path: &str,
) -> Result<AxisValues<Vec<usize>>, SpecError> {
    let what = "a list of layer widths [Ni, N1, …, No] or a list of such lists";
    let items = list(ctx, value, path, what)?;
    let mut axis = AxisValues::new(path, pos(value));
    if matches!(items[0].get_ref(), DeValue::Array(_)) {
        for (idx, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{idx}]");
            axis.push(widths_tuple(ctx, item, &item_path)?, item_path, pos(item));
        }
    } else {
        axis.push(widths_tuple(ctx, value, path)?, path.to_owned(), pos(value));
    }
    Ok(axis)
}

fn widths_tuple(ctx: &Ctx<'_>, value: &Val<'_>, path: &str) -> Result<Vec<usize>, SpecError> {
    let items = list(ctx, value, path, "a list of layer widths [Ni, N1, …, No]")?;
    if items.len() < 2 {
        return Err(ctx.err(
            pos(value),
            path,
            format!("widths need at least two entries [Ni, …, No], found {}", items.len()),
        ));
    }
    if items.len() > MAX_DEPTH + 1 {
        return Err(ctx.err(
            pos(value),
            path,
            format!(
                "widths have {} entries (depth {}), more than the limit of {} (depth {MAX_DEPTH})",
                items.len(),
                items.len() - 1,
                MAX_DEPTH + 1
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(idx, item)| {
            let item_path = format!("{path}[{idx}]");
            let width = match item.get_ref() {
                DeValue::Integer(_) => unsigned(ctx, item, &item_path)?,
                other => {
                    return Err(ctx.err(
                        pos(item),
                        &item_path,
                        format!("a width must be an integer, found {}", type_name(other)),
                    ));
                }
            };
            if width == 0 || width > MAX_WIDTH {
                return Err(ctx.err(
                    pos(item),
                    &item_path,
                    format!("a width must be in 1..={MAX_WIDTH}, found {width}"),
                ));
            }
            Ok(width as usize)
        })
        .collect()
}

/// One task table or a list of them.
fn task_axis(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    path: &str,
) -> Result<AxisValues<TaskSpec>, SpecError> {
    let mut axis = AxisValues::new(path, pos(value));
    match value.get_ref() {
        DeValue::Table(task_table) => {
            axis.push(parse_task(ctx, task_table, pos(value), path)?, path.to_owned(), pos(value))
        }
        DeValue::Array(_) => {
            let items =
                list(ctx, value, path, "a task table such as { kind = \"random\", samples = 64 }")?;
            for (idx, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{idx}]");
                let task_table =
                    table(ctx, item, &item_path, "a task table such as { kind = \"random\" }")?;
                axis.push(
                    parse_task(ctx, task_table, pos(item), &item_path)?,
                    item_path,
                    pos(item),
                );
            }
        }
        other => {
            return Err(ctx.err(
                pos(value),
                path,
                format!(
                    "expected a task table such as {{ kind = \"random\", samples = 64 }} or a list of them, found {}",
                    type_name(other)
                ),
            ));
        }
    }
    Ok(axis)
}

/// A name or a list of names (init, method).
fn name_axis<T>(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    path: &str,
    what: &str,
    from_name: fn(&str) -> Option<T>,
    known: &[&str],
) -> Result<AxisValues<T>, SpecError> {
    let one = |item: &Val<'_>, item_path: &str| -> Result<T, SpecError> {
        let name = match item.get_ref() {
            DeValue::String(name) => name.as_ref(),
            other => {
                return Err(ctx.err(
                    pos(item),
                    item_path,
                    format!(
                        "expected a {what} name such as \"{}\", found {}",
                        known[0],
                        type_name(other)
                    ),
                ));
            }
        };
        from_name(name).ok_or_else(|| {
            ctx.err(
                pos(item),
                item_path,
                format!("unknown {what} `{name}`; expected one of: {}", known.join(", ")),
            )
        })
    };
    let mut axis = AxisValues::new(path, pos(value));
    if let DeValue::Array(_) = value.get_ref() {
        let items = list(ctx, value, path, &format!("at least one {what}"))?;
        for (idx, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{idx}]");
            axis.push(one(item, &item_path)?, item_path, pos(item));
        }
    } else {
        axis.push(one(value, path)?, path.to_owned(), pos(value));
    }
    Ok(axis)
}

/// The time grid: finite, ≥ 0, strictly ascending, at most [`MAX_TIMES`] values.
fn time_grid(ctx: &Ctx<'_>, value: &Val<'_>, path: &str) -> Result<FloatAxis, SpecError> {
    let mut times = float_values(ctx, value, path, false)?;
    if times.values.len() > MAX_TIMES {
        return Err(ctx.err(
            pos(value),
            path,
            format!("{} time points are more than the limit of {MAX_TIMES}", times.values.len()),
        ));
    }
    // At most MAX_TIMES values: the block holds them as a list.
    let values: Vec<f64> = times.values.iter().collect();
    for (idx, window) in values.windows(2).enumerate() {
        if window[1] <= window[0] {
            let (item_path, at) = times.source(idx + 1);
            return Err(ctx.err(
                at,
                item_path,
                format!(
                    "times must be strictly ascending, but {} follows {}",
                    window[1], window[0]
                ),
            ));
        }
    }
    if let Some(idx) = values.iter().position(|&t| t < 0.0) {
        let (item_path, at) = times.source(idx);
        return Err(ctx.err(at, item_path, format!("times must be ≥ 0, found {}", values[idx])));
    }
    times.values = Floats::List(values);
    Ok(times)
}

fn record(ctx: &Ctx<'_>, value: &Val<'_>, path: &str) -> Result<RecordField, SpecError> {
    let record_table = table(
        ctx,
        value,
        path,
        "a table such as { per_time = true, singular_values = true, matrices_at = [] }",
    )?;
    let mut field =
        RecordField { record: Record::default(), matrices_at: Vec::new(), matrices_at_all: false };
    for (key, key_pos, item) in entries(record_table) {
        let item_path = format!("{path}.{key}");
        match key {
            "per_time" => field.record.per_time = boolean(ctx, item, &item_path)?,
            "singular_values" => field.record.singular_values = boolean(ctx, item, &item_path)?,
            "matrices_at" => {
                if let DeValue::String(word) = item.get_ref()
                    && word.as_ref() == "all"
                {
                    field.matrices_at_all = true;
                    continue;
                }
                let DeValue::Array(times) = item.get_ref() else {
                    return Err(ctx.err(
                        pos(item),
                        &item_path,
                        format!(
                            "expected a list of times (possibly empty) or \"all\", found {}",
                            type_name(item.get_ref())
                        ),
                    ));
                };
                for (idx, t) in times.iter().enumerate() {
                    let t_path = format!("{item_path}[{idx}]");
                    field.record.matrices_at.push(number(ctx, t, &t_path)?);
                    field.matrices_at.push((t_path, pos(t)));
                }
            }
            _ => return Err(unknown_key(ctx, key, key_pos, &item_path, RECORD_FIELDS)),
        }
    }
    Ok(field)
}

fn zip_groups(ctx: &Ctx<'_>, value: &Val<'_>, path: &str) -> Result<Vec<ZipGroup>, SpecError> {
    let what = "a list of axis groups such as [[\"lambda\", \"scale\"]]";
    let groups = list(ctx, value, path, what)?;
    let axis_names: Vec<&str> = AxisName::ALL.iter().map(|axis| axis.as_str()).collect();
    let mut out = Vec::with_capacity(groups.len());
    for (group_idx, group) in groups.iter().enumerate() {
        let group_path = format!("{path}[{group_idx}]");
        let names = list(ctx, group, &group_path, "a list of at least two axis names")?;
        if names.len() < 2 {
            return Err(ctx.err(pos(group), &group_path, "a zip group needs at least two axes"));
        }
        let mut axes = Vec::with_capacity(names.len());
        for (idx, name_value) in names.iter().enumerate() {
            let name_path = format!("{group_path}[{idx}]");
            let name = string(ctx, name_value, &name_path)?;
            // `lambdas` is the λ axis written as per-layer profiles: it zips as `lambda`.
            let axis_name = if name == "lambdas" { "lambda" } else { name };
            let Some(axis) = AxisName::from_name(axis_name) else {
                let hint =
                    if name == "replicates" { " (the axis is named `replicate`)" } else { "" };
                return Err(ctx.err(
                    pos(name_value),
                    &name_path,
                    format!("unknown axis `{name}`{hint}; axes: {}", axis_names.join(", ")),
                ));
            };
            axes.push((axis, pos(name_value)));
        }
        out.push(ZipGroup { axes, pos: pos(group) });
    }
    Ok(out)
}

fn where_tests(ctx: &Ctx<'_>, value: &Val<'_>, path: &str) -> Result<Vec<Test>, SpecError> {
    let one = |item: &Val<'_>, item_path: &str| {
        let text = string(ctx, item, item_path)?;
        parse_condition(text).map_err(|reason| ctx.err(pos(item), item_path, reason))
    };
    match value.get_ref() {
        DeValue::String(_) => Ok(vec![one(value, path)?]),
        _ => {
            let items = list(ctx, value, path, "a list of conditions such as [\"lambda != 0\"]")?;
            items
                .iter()
                .enumerate()
                .map(|(idx, item)| one(item, &format!("{path}[{idx}]")))
                .collect()
        }
    }
}

fn exclude_entries(
    ctx: &Ctx<'_>,
    value: &Val<'_>,
    path: &str,
) -> Result<Vec<Vec<Test>>, SpecError> {
    let what = "a list of tables such as [{ lambda = 0.0, method = \"closed-form\" }]";
    let one = |item: &Val<'_>, item_path: &str| -> Result<Vec<Test>, SpecError> {
        let entry = table(ctx, item, item_path, what)?;
        if entry.is_empty() {
            return Err(ctx.err(
                pos(item),
                item_path,
                "an exclude entry needs at least one axis = value",
            ));
        }
        let mut tests = Vec::new();
        for (key, key_pos, literal_value) in entries(entry) {
            let key_path = format!("{item_path}.{key}");
            if key != "widths" && !FILTER_AXES.contains(&key) {
                return Err(ctx.err(
                    key_pos,
                    &key_path,
                    unknown_axis(key).replace("filterable axes:", "filterable axes: widths,"),
                ));
            }
            let literal = match literal_value.get_ref() {
                DeValue::Integer(_) | DeValue::Float(_) => {
                    Literal::Num(number(ctx, literal_value, &key_path)?)
                }
                DeValue::String(text) => Literal::Str(text.as_ref().to_owned()),
                DeValue::Array(_) => Literal::Widths(widths_tuple(ctx, literal_value, &key_path)?),
                other => {
                    return Err(ctx.err(
                        pos(literal_value),
                        &key_path,
                        format!(
                            "expected a number, a string or a widths list, found {}",
                            type_name(other)
                        ),
                    ));
                }
            };
            tests.push(
                Test::new(key, Op::Eq, literal)
                    .map_err(|reason| ctx.err(pos(literal_value), &key_path, reason))?,
            );
        }
        Ok(tests)
    };
    match value.get_ref() {
        DeValue::Table(_) => Ok(vec![one(value, path)?]),
        _ => {
            let items = list(ctx, value, path, what)?;
            items
                .iter()
                .enumerate()
                .map(|(idx, item)| one(item, &format!("{path}[{idx}]")))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(text: &str) -> Result<Fields, SpecError> {
        let ctx = Ctx::new("f.toml", text);
        let document = DeTable::parse(text).unwrap();
        parse_fields(&ctx, document.get_ref(), "block[0]")
    }

    #[test]
    fn values_keep_their_sources() {
        let text = "lambda = [1, 2.5]\nscale = { linspace = [0, 1, 3] }\nwidths = [4, 2, 4]\n";
        let fields = fields_of(text).unwrap();
        let lambda = fields.lambda.unwrap();
        assert_eq!(lambda.value.values, Floats::List(vec![1.0, 2.5]));
        assert_eq!(lambda.value.source(1), ("block[0].lambda[1]", text.find("2.5").unwrap()));
        let scale = fields.scale.unwrap();
        assert_eq!(scale.value.values.iter().collect::<Vec<_>>(), vec![0.0, 0.5, 1.0]);
        assert_eq!(scale.value.source(2), ("block[0].scale", text.find('{').unwrap()));
        assert_eq!(fields.widths.unwrap().value.values, vec![vec![4, 2, 4]]);
    }

    #[test]
    fn block_fields_replace_defaults() {
        let defaults = fields_of("lambda = 1\nscale = 2\nrecord = { per_time = false }").unwrap();
        let block = fields_of("lambda = [3, 4]\nrecord = { singular_values = false }").unwrap();
        let merged = block.over(&defaults);
        assert_eq!(merged.lambda.unwrap().value.values, Floats::List(vec![3.0, 4.0]));
        assert_eq!(merged.scale.unwrap().value.values, Floats::List(vec![2.0]));
        let record = merged.record.unwrap().value.record;
        // Whole-field replacement: per_time is back to its default.
        assert!(record.per_time && !record.singular_values);
    }

    #[test]
    fn single_values_and_lists() {
        let fields = fields_of(
            "init = \"aligned\"\nmethod = [\"rk4\", \"gd\"]\ntask = { kind = \"random\" }\n\
             where = \"lambda > 0\"\nexclude = { method = \"gd\" }\n",
        )
        .unwrap();
        assert_eq!(fields.init.unwrap().value.values, vec![InitKind::Aligned]);
        assert_eq!(fields.method.unwrap().value.values, vec![Method::Rk4, Method::Gd]);
        assert_eq!(fields.task.unwrap().value.values, vec![TaskSpec::Random { samples: 64 }]);
        assert_eq!(fields.where_tests.unwrap().value.len(), 1);
        assert_eq!(fields.exclude.unwrap().value.len(), 1);
    }

    #[test]
    fn task_axis_of_fine_tunes() {
        let fields = fields_of(
            "task = [{ kind = \"fine-tune\", lambda_ft = -2, shared = 1 }, \
             { kind = \"fine-tune\", lambda_ft = 0.5, shared = 1 }, { kind = \"transfer\", shared = 1 }]",
        )
        .unwrap();
        let tasks = fields.task.unwrap().value;
        let texts: Vec<String> = tasks.values.iter().map(TaskSpec::canonical).collect();
        assert_eq!(
            texts,
            [
                "fine-tune(lambda_ft=-2,source=random,samples=64,shared=1)",
                "fine-tune(lambda_ft=0.5,source=random,samples=64,shared=1)",
                "transfer(source=random,samples=64,shared=1)",
            ]
        );
        assert_eq!(tasks.source(1).0, "block[0].task[1]");
        assert!(tasks.values.iter().all(|task| task.draw_key() == texts[2]));
    }

    #[test]
    fn rejects_per_field() {
        let reason = |text: &str| fields_of(text).unwrap_err().to_string();
        assert!(reason("time = 3").contains("expected a list of numbers or a grid"));
        assert!(reason("time = [0, 0]").contains("strictly ascending"));
        assert!(reason("widths = [[4, 4], 4]").contains("expected a list of layer widths"));
        assert!(reason("widths = [4, 4.0]").contains("must be an integer"));
        assert!(reason("zip = [[\"lambda\"]]").contains("at least two axes"));
        assert!(reason("zip = [[\"lambda\", \"replicates\"]]").contains("named `replicate`"));
        assert!(reason("lambda = { linspace = [0, 1] }").contains("takes [start, stop, num]"));
        assert!(
            reason("lambda = { linspace = [0, 1, 3], range = [0, 1, 1] }")
                .contains("exactly one key")
        );
        assert!(reason("task = { samples = 3 }").contains("needs `kind`"));
        assert!(reason("method = 3").contains("expected a method name"));
        assert!(reason("record = { matrices_at = 1 }").contains("expected a list of times"));
        assert!(reason("record = { matrices_at = \"some\" }").contains("or \"all\""));
        assert!(reason("exclude = [{ widths = 4 }]").contains("compared with a list"));
    }
}
