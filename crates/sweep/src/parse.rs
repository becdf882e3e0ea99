//! Spec text → validated blocks: field parsing, defaults, zip, filters and method requirements.
//!
//! Parsing is two-staged. Each table (`[defaults]` and every `[[block]]`) is first read on its own
//! into `Fields` (types, grids, lists, filter syntax). A block's fields then replace the
//! defaults of the same name, and the merged block is checked as a whole: required fields, zip
//! groups, `matrices_at` ⊂ time grid, and the requirements of each method/init/task combination
//! that can survive the filters. The first problem found is returned with its position.

use std::sync::Arc;

use toml::de::{DeTable, DeValue};

use crate::axes::{AxisName, N_AXES};
use crate::block::{Block, Dim};
use crate::error::{Location, SpecError};
use crate::fields::{Field, Fields, FloatAxis, parse_fields};
use crate::grid::Floats;
use crate::ids;
use crate::params::{InitKind, MIN_ADAPTIVE_TOLERANCE, Record, Sim, max_scale};
use crate::size::{MAX_POINT_BYTES, Shape, human_bytes};
use crate::task::{TaskSpec, TransferSource};
use crate::value::{
    Ctx, Val, bounded, entries, join, pos, string, table, type_name, unknown_key, unsigned,
};

/// Default cap on the number of raw points of a spec.
pub const DEFAULT_MAX_POINTS: u64 = 10_000_000;
/// The largest `max_points` a spec may set: 10⁹ raw points.
pub const MAX_POINTS_LIMIT: u64 = 1_000_000_000;
/// Most simulation steps one point may take: the phases times the last time over `dt` (RK4) or
/// `lr` (gradient descent, τ = 1). Also the limit of `lazyrich solve`.
pub const MAX_STEPS: f64 = 1e8;

const TOP_FIELDS: &[&str] = &["name", "seed", "max_points", "defaults", "block"];

/// The validated content of a spec.
#[derive(Clone, Debug)]
pub(crate) struct Parsed {
    pub name: String,
    pub seed: u64,
    pub max_points: u64,
    pub blocks: Vec<Block>,
}

/// Parses and validates a whole spec.
pub(crate) fn parse_spec(ctx: &Ctx<'_>, text: &str) -> Result<Parsed, SpecError> {
    let document = DeTable::parse(text).map_err(|error| syntax_error(ctx, text, &error))?;
    let root = document.get_ref();
    let mut name = None;
    let mut seed = None;
    let mut max_points = None;
    let mut defaults = Fields::default();
    let mut block_values: Option<&[Val<'_>]> = None;
    for (key, key_pos, value) in entries(root) {
        match key {
            "name" => name = Some(parse_name(ctx, value)?),
            "seed" => seed = Some(unsigned(ctx, value, "seed")?),
            "max_points" => {
                max_points = Some(bounded(ctx, value, "max_points", 1, MAX_POINTS_LIMIT)?);
            }
            "defaults" => {
                let defaults_table = table(ctx, value, "defaults", "a table of block fields")?;
                defaults = parse_fields(ctx, defaults_table, "defaults")?;
            }
            "block" => block_values = Some(parse_block_list(ctx, value)?),
            _ => return Err(unknown_key(ctx, key, key_pos, key, TOP_FIELDS)),
        }
    }
    let Some(name) = name else {
        return Err(ctx.err(0, "name", "missing required field `name` (e.g. name = \"my-sweep\")"));
    };
    let Some(seed) = seed else {
        return Err(ctx.err(0, "seed", "missing required field `seed` (a non-negative integer)"));
    };
    let Some(block_values) = block_values else {
        return Err(ctx.err(0, "block", "the spec has no [[block]]: add at least one"));
    };
    let max_points = max_points.unwrap_or(DEFAULT_MAX_POINTS);

    let mut blocks = Vec::with_capacity(block_values.len());
    let mut total: u64 = 0;
    for (block_idx, block_value) in block_values.iter().enumerate() {
        let prefix = format!("block[{block_idx}]");
        let block_table = table(ctx, block_value, &prefix, "a table of block fields")?;
        let fields = parse_fields(ctx, block_table, &prefix)?.over(&defaults);
        let block = build_block(ctx, &prefix, pos(block_value), fields)?;
        total = match total.checked_add(block.n_points) {
            Some(total) if total <= max_points => total,
            _ => {
                return Err(ctx.err(
                    pos(block_value),
                    &prefix,
                    format!(
                        "the sweep has more than max_points = {max_points} points up to this block \
                         (this block alone has {}, before filters): raise max_points or shrink the grid",
                        block.n_points
                    ),
                ));
            }
        };
        blocks.push(block);
    }
    Ok(Parsed { name, seed, max_points, blocks })
}

/// The error for a TOML syntax error, with a best-effort field path of the offending line.
fn syntax_error(ctx: &Ctx<'_>, text: &str, error: &toml::de::Error) -> SpecError {
    let offset = error.span().map(|span| span.start);
    let message: Vec<&str> =
        error.message().lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    SpecError::Syntax {
        origin: ctx.origin.to_owned(),
        location: offset.map(|offset| ctx.location(offset)),
        field: offset.map(|offset| field_at(text, offset)).unwrap_or_default(),
        message: message.join("; "),
    }
}

/// The table header in force at byte `offset` and the key of its line (e.g. `block[1].lambda`).
fn field_at(text: &str, offset: usize) -> String {
    let mut current_table = String::new();
    let mut n_blocks = 0;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let line_end = line_start + line.len();
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix("[[") {
            let header = header.split("]]").next().unwrap_or("").trim();
            current_table = if header == "block" {
                n_blocks += 1;
                format!("block[{}]", n_blocks - 1)
            } else {
                header.to_owned()
            };
        } else if let Some(header) = trimmed.strip_prefix('[') {
            current_table = header.split(']').next().unwrap_or("").trim().to_owned();
        }
        if offset < line_end {
            // The line's key, if the error lies in its value (after the `=`).
            let key = line
                .split_once('=')
                .filter(|(key, _)| line_start + key.len() < offset)
                .map(|(key, _)| key.trim())
                .filter(|key| {
                    !key.is_empty()
                        && !trimmed.starts_with('[')
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                })
                .unwrap_or("");
            return join(&current_table, key);
        }
        line_start = line_end;
    }
    current_table
}

fn parse_name(ctx: &Ctx<'_>, value: &Val<'_>) -> Result<String, SpecError> {
    let name = string(ctx, value, "name")?;
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(ctx.err(
            pos(value),
            "name",
            format!(
                "name `{name}` must be non-empty and use only letters, digits, `_`, `.` and `-`"
            ),
        ));
    }
    Ok(name.to_owned())
}

fn parse_block_list<'v, 'i>(ctx: &Ctx<'_>, value: &'v Val<'i>) -> Result<&'v [Val<'i>], SpecError> {
    match value.get_ref() {
        DeValue::Array(items) if items.is_empty() => {
            Err(ctx.err(pos(value), "block", "the spec has no [[block]]: add at least one"))
        }
        DeValue::Array(items) => Ok(items),
        DeValue::Table(_) => Err(ctx.err(
            pos(value),
            "block",
            "expected a list of blocks: write [[block]] (double brackets), not [block]",
        )),
        other => Err(ctx.err(
            pos(value),
            "block",
            format!("expected a list of blocks ([[block]] tables), found {}", type_name(other)),
        )),
    }
}

/// Checks a merged block as a whole and lays out its mixed-radix dims: required fields, zip
/// groups, dims, the record, field locations, then the method/init/task requirements.
fn build_block(
    ctx: &Ctx<'_>,
    prefix: &str,
    block_pos: usize,
    mut fields: Fields,
) -> Result<Block, SpecError> {
    check_required(ctx, prefix, block_pos, &fields)?;
    let group_of = zip_groups(ctx, prefix, &fields)?;
    let (dims, n_points) = layout_dims(ctx, prefix, block_pos, &fields, &group_of)?;
    // check_required guarantees these fields.
    let (Some(widths), Some(task), Some(init), Some(method), Some(time)) =
        (&fields.widths, &fields.task, &fields.init, &fields.method, &fields.time)
    else {
        unreachable!(
            "check_required lets no block without widths, task, init, method or time pass"
        );
    };
    let times: Arc<[f64]> = time.value.values.iter().collect();
    let record = resolve_record(ctx, &fields, &times)?;
    let record_text = ids::record_text(&record);
    let locations = field_locations(ctx, &fields);
    let where_tests = fields.where_tests.as_ref().map(|f| f.value.clone()).unwrap_or_default();
    let exclude = fields.exclude.as_ref().map(|f| f.value.clone()).unwrap_or_default();
    let tasks = task.value.values.clone();
    let task_texts = tasks.iter().map(TaskSpec::canonical).collect();
    let task_draw_keys = tasks.iter().map(TaskSpec::draw_key).collect();
    let widths_path = widths.path.clone();
    let widths = widths.value.values.clone();
    let inits = init.value.values.clone();
    let methods = method.value.values.clone();
    // Float axes can be long (grids): move them instead of copying.
    let take = |field: &mut Option<Field<FloatAxis>>| {
        field.as_mut().map(|f| std::mem::take(&mut f.value.values))
    };
    let widths_texts = widths.iter().map(|w| ids::widths_text(w)).collect();
    let block = Block {
        tasks,
        task_texts,
        task_draw_keys,
        widths,
        widths_texts,
        replicates: replicates(&fields),
        inits,
        methods,
        scale: take(&mut fields.scale),
        lambda: take(&mut fields.lambda),
        profiles: fields.lambdas.as_ref().map(|f| f.value.values.clone()),
        lr: take(&mut fields.lr),
        dt: take(&mut fields.dt),
        dims,
        n_points,
        time_hash: ids::hash_f64s(&times),
        times,
        record: Arc::new(record),
        record_text,
        where_tests,
        exclude,
        tolerance: fields.tolerance.as_ref().map(|f| f.value),
        locations,
        widths_path,
    };
    check_requirements(ctx, prefix, &block, &fields)?;
    check_profiles(ctx, prefix, &block, &fields)?;
    check_scales(ctx, prefix, &block, &fields)?;
    Ok(block)
}

/// `lambdas`: some init of the block uses λ, and every profile has one value per hidden layer of
/// every widths it is combined with (after zips, and filters decidable on widths and init).
fn check_profiles(
    ctx: &Ctx<'_>,
    prefix: &str,
    block: &Block,
    fields: &Fields,
) -> Result<(), SpecError> {
    let (Some(profiles), Some(field)) = (&block.profiles, &fields.lambdas) else {
        return Ok(());
    };
    let located = |(path, at): (&str, usize), reason: String| {
        if path.starts_with(prefix) {
            ctx.err(at, path, reason)
        } else {
            ctx.err(at, path, format!("{reason} (in {prefix})"))
        }
    };
    if !block.inits.iter().any(|init| init.uses_lambda()) {
        let inits: Vec<&str> = block.inits.iter().map(|init| init.as_str()).collect();
        return Err(located(
            (field.path.as_str(), field.pos),
            format!(
                "`lambdas` sets the per-layer λ of a balanced init (balanced, balanced-signed or \
                 aligned), but init is `{}`",
                inits.join("`, `")
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for indices in block.combos(&[AxisName::Widths, AxisName::Lambda, AxisName::Init]) {
        let choice = block.choice(&indices);
        if !block.keeps(&choice) || !choice.init.is_some_and(InitKind::uses_lambda) {
            continue;
        }
        let (Some(widths_idx), Some(profile_idx)) =
            (indices[AxisName::Widths.idx()], indices[AxisName::Lambda.idx()])
        else {
            continue;
        };
        if !seen.insert((widths_idx, profile_idx)) {
            continue;
        }
        let widths = &block.widths[widths_idx];
        let profile = &profiles[profile_idx];
        let depth = widths.len() - 1;
        if profile.len() != depth - 1 {
            let widths_path =
                fields.widths.as_ref().map_or("widths", |f| f.value.source(widths_idx).0);
            return Err(located(
                field.value.source(profile_idx),
                format!(
                    "{} λ given, but widths {widths:?} (`{widths_path}`) have depth {depth}, so {} \
                     hidden layer{}: give one λ per hidden layer",
                    profile.len(),
                    depth - 1,
                    if depth == 2 { "" } else { "s" }
                ),
            ));
        }
    }
    Ok(())
}

/// The fields every block needs, set in the block or in `[defaults]`.
fn check_required(
    ctx: &Ctx<'_>,
    prefix: &str,
    block_pos: usize,
    fields: &Fields,
) -> Result<(), SpecError> {
    let required = [
        ("widths", fields.widths.is_some(), "e.g. widths = [4, 4, 4]"),
        ("task", fields.task.is_some(), "e.g. task = { kind = \"random\" }"),
        ("init", fields.init.is_some(), "e.g. init = \"balanced\""),
        ("method", fields.method.is_some(), "e.g. method = \"closed-form\""),
        ("time", fields.time.is_some(), "e.g. time = { logspace = [-2, 2, 50] }"),
    ];
    match required.iter().find(|(_, set, _)| !set) {
        Some((name, _, hint)) => Err(ctx.err(
            block_pos,
            &join(prefix, name),
            format!(
                "missing required field `{name}` ({hint}; set it in this block or in [defaults])"
            ),
        )),
        None => Ok(()),
    }
}

/// The number of replicates (default 1).
fn replicates(fields: &Fields) -> u32 {
    fields.replicates.as_ref().map_or(1, |field| field.value)
}

/// The number of values of `axis`, if the block sets it.
fn axis_len(fields: &Fields, axis: AxisName) -> Option<usize> {
    match axis {
        AxisName::Task => fields.task.as_ref().map(|f| f.value.values.len()),
        AxisName::Widths => fields.widths.as_ref().map(|f| f.value.values.len()),
        AxisName::Replicate => Some(replicates(fields) as usize),
        AxisName::Init => fields.init.as_ref().map(|f| f.value.values.len()),
        AxisName::Method => fields.method.as_ref().map(|f| f.value.values.len()),
        AxisName::Scale => fields.scale.as_ref().map(|f| f.value.values.len()),
        AxisName::Lambda => fields
            .lambda
            .as_ref()
            .map(|f| f.value.values.len())
            .or_else(|| fields.lambdas.as_ref().map(|f| f.value.values.len())),
        AxisName::Lr => fields.lr.as_ref().map(|f| f.value.values.len()),
        AxisName::Dt => fields.dt.as_ref().map(|f| f.value.values.len()),
    }
}

/// The zip group of each axis, after checking the groups: every axis known and set in the
/// block, in at most one group, and the axes of a group of equal lengths.
fn zip_groups(
    ctx: &Ctx<'_>,
    prefix: &str,
    fields: &Fields,
) -> Result<[Option<usize>; N_AXES], SpecError> {
    let mut group_of: [Option<usize>; N_AXES] = [None; N_AXES];
    let Some(zip) = &fields.zip else {
        return Ok(group_of);
    };
    for (group_idx, group) in zip.value.iter().enumerate() {
        let group_path = format!("{}[{group_idx}]", zip.path);
        let mut lengths: Vec<(AxisName, usize)> = Vec::with_capacity(group.axes.len());
        for (idx, &(axis, axis_pos)) in group.axes.iter().enumerate() {
            let name_path = format!("{group_path}[{idx}]");
            let Some(len) = axis_len(fields, axis) else {
                return Err(ctx.err(
                    axis_pos,
                    &name_path,
                    format!("`{}` is not set in {prefix}, so it cannot be zipped", axis.as_str()),
                ));
            };
            if group_of[axis.idx()].is_some() {
                return Err(ctx.err(
                    axis_pos,
                    &name_path,
                    format!(
                        "`{}` appears in more than one zip group (or twice in one)",
                        axis.as_str()
                    ),
                ));
            }
            group_of[axis.idx()] = Some(group_idx);
            lengths.push((axis, len));
        }
        let (first_axis, first_len) = lengths[0];
        if let Some(&(axis, len)) = lengths.iter().find(|&&(_, len)| len != first_len) {
            return Err(ctx.err(
                group.pos,
                &group_path,
                format!(
                    "zipped axes must have equal lengths, but `{}` has {first_len} values and `{}` has {len}",
                    first_axis.as_str(),
                    axis.as_str()
                ),
            ));
        }
    }
    Ok(group_of)
}

/// The mixed-radix dims in canonical axis order (a zip group sits at its first axis) and
/// their product, the block's number of raw points.
fn layout_dims(
    ctx: &Ctx<'_>,
    prefix: &str,
    block_pos: usize,
    fields: &Fields,
    group_of: &[Option<usize>; N_AXES],
) -> Result<(Vec<Dim>, u64), SpecError> {
    let mut dims: Vec<Dim> = Vec::new();
    let mut emitted_groups: Vec<usize> = Vec::new();
    for axis in AxisName::ALL {
        let Some(len) = axis_len(fields, axis) else { continue };
        match group_of[axis.idx()] {
            Some(group_idx) if emitted_groups.contains(&group_idx) => {}
            Some(group_idx) => {
                emitted_groups.push(group_idx);
                let mut axes: Vec<AxisName> = AxisName::ALL
                    .into_iter()
                    .filter(|other| group_of[other.idx()] == Some(group_idx))
                    .collect();
                axes.sort();
                dims.push(Dim { axes, len: len as u64 });
            }
            None => {
                dims.push(Dim { axes: vec![axis], len: len as u64 });
            }
        }
    }
    let n_points =
        dims.iter().try_fold(1u64, |acc, dim| acc.checked_mul(dim.len)).ok_or_else(|| {
            ctx.err(block_pos, prefix, "the block's grid has more than 2^64 points: shrink it")
        })?;
    Ok((dims, n_points))
}

/// What to record: `matrices_at` times must be time points (snapped to the grid value),
/// strictly ascending.
fn resolve_record(ctx: &Ctx<'_>, fields: &Fields, times: &[f64]) -> Result<Record, SpecError> {
    let mut record = Record::default();
    let Some(record_field) = &fields.record else {
        return Ok(record);
    };
    record.per_time = record_field.value.record.per_time;
    record.singular_values = record_field.value.record.singular_values;
    if record_field.value.matrices_at_all {
        record.matrices_at = times.to_vec();
    }
    for (idx, &t) in record_field.value.record.matrices_at.iter().enumerate() {
        let (t_path, at) = record_field.value.matrices_at_source(idx);
        let Some(&grid_t) =
            times.iter().find(|&&grid_t| (grid_t - t).abs() <= 1e-9 * grid_t.abs().max(t.abs()))
        else {
            return Err(ctx.err(
                at,
                t_path,
                format!("matrices_at time {t} is not one of the block's time points (`time`)"),
            ));
        };
        if record.matrices_at.last().is_some_and(|&last| grid_t <= last) {
            return Err(ctx.err(at, t_path, "matrices_at must be strictly ascending"));
        }
        record.matrices_at.push(grid_t);
    }
    Ok(record)
}

/// Where each field set in the block was written, for errors found later (admissibility).
fn field_locations(ctx: &Ctx<'_>, fields: &Fields) -> Vec<(&'static str, Location)> {
    let positions = [
        ("lambda", fields.lambda.as_ref().map(|f| f.pos)),
        ("lambdas", fields.lambdas.as_ref().map(|f| f.pos)),
        ("scale", fields.scale.as_ref().map(|f| f.pos)),
        ("lr", fields.lr.as_ref().map(|f| f.pos)),
        ("dt", fields.dt.as_ref().map(|f| f.pos)),
        ("widths", fields.widths.as_ref().map(|f| f.pos)),
        ("task", fields.task.as_ref().map(|f| f.pos)),
        ("init", fields.init.as_ref().map(|f| f.pos)),
        ("method", fields.method.as_ref().map(|f| f.pos)),
        ("replicates", fields.replicates.as_ref().map(|f| f.pos)),
        ("time", fields.time.as_ref().map(|f| f.pos)),
        ("record", fields.record.as_ref().map(|f| f.pos)),
        ("zip", fields.zip.as_ref().map(|f| f.pos)),
        ("where", fields.where_tests.as_ref().map(|f| f.pos)),
        ("exclude", fields.exclude.as_ref().map(|f| f.pos)),
        ("tolerance", fields.tolerance.as_ref().map(|f| f.pos)),
    ];
    positions.into_iter().filter_map(|(name, at)| at.map(|at| (name, ctx.location(at)))).collect()
}

/// Method, init and task requirements, for every (task, widths, init, method) combination
/// that can survive the filters (filters on other axes are assumed to keep it).
fn check_requirements(
    ctx: &Ctx<'_>,
    prefix: &str,
    block: &Block,
    fields: &Fields,
) -> Result<(), SpecError> {
    let (Some(task), Some(init), Some(method)) = (&fields.task, &fields.init, &fields.method)
    else {
        return Ok(());
    };
    let axes = [AxisName::Task, AxisName::Widths, AxisName::Init, AxisName::Method];
    let smallest_lr = smallest(block.lr.as_ref());
    let smallest_dt = smallest(block.dt.as_ref());
    for indices in block.combos(&axes) {
        let choice = block.choice(&indices);
        if !block.keeps(&choice) {
            continue;
        }
        let (Some(task_idx), Some(widths_idx), Some(init_idx), Some(method_idx)) = (
            indices[AxisName::Task.idx()],
            indices[AxisName::Widths.idx()],
            indices[AxisName::Init.idx()],
            indices[AxisName::Method.idx()],
        ) else {
            continue;
        };
        let shape = &block.widths[widths_idx];
        let shape_text = format!("{shape:?}");
        let init_kind = block.inits[init_idx];
        let method_kind = block.methods[method_idx];
        // A value inherited from [defaults] is reported where it is written; say which block.
        let located = |(path, at): (&str, usize), reason: String| {
            if path.starts_with(prefix) {
                ctx.err(at, path, reason)
            } else {
                ctx.err(at, path, format!("{reason} (in {prefix})"))
            }
        };
        let at_task = |reason| located(task.value.source(task_idx), reason);
        let at_init = |reason| located(init.value.source(init_idx), reason);
        let at_method = |reason| located(method.value.source(method_idx), reason);

        check_task(&block.tasks[task_idx], shape, init_kind).map_err(at_task)?;
        let task = &block.tasks[task_idx];
        if task.n_phases() > 1 && block.times.last().is_none_or(|&t| t <= 0.0) {
            return Err(at_task(format!(
                "the {} task has {} phases, each running the block's `time` grid, so the grid \
                 must end after t = 0 (it ends at 0)",
                task.kind(),
                task.n_phases()
            )));
        }
        if init_kind.uses_lambda() && block.lambda.is_none() && block.profiles.is_none() {
            return Err(at_init(format!(
                "init `{}` needs `lambda` (set it in {prefix} or in [defaults])",
                init_kind.as_str()
            )));
        }
        if init_kind.uses_scale() && block.scale.is_none() {
            return Err(at_init(format!(
                "init `{}` needs `scale` (the σ of the init; set it in {prefix} or in [defaults])",
                init_kind.as_str()
            )));
        }
        if method_kind.uses_closed_form() {
            // Depth 2: the closed form of docs/math.md §3.4. Depth ≥ 3: the deep aligned closed
            // form (§3.6), for init `aligned` on a single-phase task.
            let deep_aligned =
                shape.len() >= 4 && matches!(init_kind, InitKind::Aligned) && task.n_phases() == 1;
            if shape.len() != 3 && !deep_aligned {
                let why = if shape.len() < 4 {
                    String::new()
                } else if !matches!(init_kind, InitKind::Aligned) {
                    format!(
                        " (at depth >= 3 it needs init `aligned`, not `{}`)",
                        init_kind.as_str()
                    )
                } else {
                    format!(
                        " (at depth >= 3 it needs a single-phase task, not the {}-phase {} task)",
                        task.n_phases(),
                        task.kind()
                    )
                };
                return Err(at_method(format!(
                    "`{}` needs depth 2 (widths [Ni, Nh, No]) or init `aligned`, but widths \
                     {shape_text} have depth {}{why}: use rk4, adaptive or gd, or exclude the \
                     combination",
                    method_kind.as_str(),
                    shape.len() - 1
                )));
            }
            if !init_kind.uses_lambda() {
                return Err(at_method(format!(
                    "`{}` needs a λ-balanced init (balanced, balanced-signed or aligned), but init is `{}`: \
                     use rk4, adaptive or gd, or exclude the combination",
                    method_kind.as_str(),
                    init_kind.as_str()
                )));
            }
        }
        match method_kind.simulation() {
            Some(Sim::Gd) if block.lr.is_none() => {
                return Err(at_method(format!(
                    "method `{}` needs `lr` (the learning rate, > 0) in {prefix} or in [defaults]",
                    method_kind.as_str()
                )));
            }
            Some(Sim::Rk4) if block.dt.is_none() => {
                return Err(at_method(format!(
                    "method `{}` needs `dt` (the RK4 step, > 0) in {prefix} or in [defaults]",
                    method_kind.as_str()
                )));
            }
            Some(Sim::Adaptive) => {
                if let (Some(tolerance), Some(field)) = (block.tolerance, fields.tolerance.as_ref())
                    && tolerance < MIN_ADAPTIVE_TOLERANCE
                {
                    return Err(located(
                        (field.path.as_str(), field.pos),
                        format!(
                            "method `{}` integrates to `tolerance`, which must be at least \
                             {MIN_ADAPTIVE_TOLERANCE:e} (rounding in the steps is of that order); \
                             found {tolerance:e}",
                            method_kind.as_str()
                        ),
                    ));
                }
            }
            _ => {}
        }
        let point = Shape {
            task: &block.tasks[task_idx],
            widths: shape,
            method: method_kind,
            times: &block.times,
            record: &block.record,
        };
        check_memory(&point).map_err(|(part, reason)| match part {
            Part::Task => at_task(reason),
            Part::Network => {
                let widths = fields.widths.as_ref().map_or(("", 0), |f| f.value.source(widths_idx));
                located(widths, reason)
            }
            Part::Row => {
                let field = match (&fields.record, &fields.time) {
                    (Some(record), _) => (record.path.as_str(), record.pos),
                    (None, Some(time)) => (time.path.as_str(), time.pos),
                    (None, None) => ("", 0),
                };
                located(field, reason)
            }
        })?;
        let n_phases = f64::from(task.n_phases());
        let t_max = block.times.last().copied().unwrap_or(0.0);
        let step = match method_kind.simulation() {
            Some(Sim::Gd) => smallest_lr.map(|(idx, lr)| ("lr", fields.lr.as_ref(), idx, lr)),
            Some(Sim::Rk4) => smallest_dt.map(|(idx, dt)| ("dt", fields.dt.as_ref(), idx, dt)),
            // The adaptive step count is not known before the run; its budget is the solver's.
            Some(Sim::Adaptive) | None => None,
        };
        if let Some((name, Some(field), idx, value)) = step {
            let steps = n_phases * (t_max / value).ceil();
            if steps > MAX_STEPS {
                let what = if name == "lr" { "gradient-descent" } else { "RK4" };
                let phases = if n_phases > 1.0 {
                    format!(" in each of the {n_phases} phases of the {} task", task.kind())
                } else {
                    String::new()
                };
                return Err(located(
                    field.value.source(idx),
                    format!(
                        "{name} = {value} needs about {steps:.3e} {what} steps to reach t = {t_max}\
                         {phases}, more than the limit of {MAX_STEPS:.0e} steps per point: use a \
                         larger {name} or shorter times"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The scale bound of docs/math.md P15 ([`max_scale`]) for every (widths, init, scale)
/// combination that can survive the filters (filters on other axes are assumed to keep it): a
/// larger scale would make the initial loss, and with it every value of the point, overflow.
fn check_scales(
    ctx: &Ctx<'_>,
    prefix: &str,
    block: &Block,
    fields: &Fields,
) -> Result<(), SpecError> {
    let (Some(scales), Some(scale_field)) = (&block.scale, &fields.scale) else {
        return Ok(());
    };
    let scale_axis = AxisName::Scale.idx();
    for indices in block.combos(&[AxisName::Widths, AxisName::Init]) {
        let (Some(widths_idx), Some(init_idx)) =
            (indices[AxisName::Widths.idx()], indices[AxisName::Init.idx()])
        else {
            continue;
        };
        let (shape, init) = (&block.widths[widths_idx], block.inits[init_idx]);
        if !init.uses_scale() {
            continue;
        }
        let bound = max_scale(shape);
        if scales.bounds().is_some_and(|(_, largest)| largest <= bound) {
            continue;
        }
        // A scale zipped with the widths or the init is fixed by them; otherwise every value.
        let candidates = match indices[scale_axis] {
            Some(idx) => idx..idx + 1,
            None => 0..scales.len(),
        };
        for scale_idx in candidates {
            let Some(scale) = scales.get(scale_idx) else { continue };
            if scale <= bound {
                continue;
            }
            let mut with_scale = indices;
            with_scale[scale_axis] = Some(scale_idx);
            if !block.keeps(&block.choice(&with_scale)) {
                continue;
            }
            let reason = format!(
                "scale {scale:e} is too large for widths {shape:?} (init `{}`): the initial loss \
                 grows like scale^{} · Π widths and would overflow f64; these widths allow \
                 scale ≤ {bound:.3e} (docs/math.md P15)",
                init.as_str(),
                2 * (shape.len() - 1),
            );
            let (path, at) = scale_field.value.source(scale_idx);
            return Err(if path.starts_with(prefix) {
                ctx.err(at, path, reason)
            } else {
                ctx.err(at, path, format!("{reason} (in {prefix})"))
            });
        }
    }
    Ok(())
}

/// The index and value of the smallest value of a float axis.
fn smallest(values: Option<&Floats>) -> Option<(usize, f64)> {
    values?.iter().enumerate().fold(None, |best, (idx, x)| match best {
        Some((_, b)) if b <= x => best,
        _ => Some((idx, x)),
    })
}

/// The part of a point's memory that is too large.
enum Part {
    Task,
    Network,
    Row,
}

/// A point's estimated memory against [`MAX_POINT_BYTES`]: the largest part and the reason when
/// it is above.
fn check_memory(point: &Shape<'_>) -> Result<(), (Part, String)> {
    let memory = point.memory();
    let total = memory.total();
    if total <= MAX_POINT_BYTES {
        return Ok(());
    }
    let widths = format!("{:?}", point.widths);
    let (part, what, hint) = if memory.task >= memory.network && memory.task >= memory.row {
        let data = match point.task {
            TaskSpec::Reversal { samples, .. } => format!(
                "the reversal task's data with samples = {samples} (a samples × samples \
                 rotation and its SVD)"
            ),
            task => format!(
                "the {} task's data with samples = {} and widths {widths}",
                task.kind(),
                task.samples().unwrap_or(0)
            ),
        };
        (Part::Task, data, "use fewer samples")
    } else if memory.network >= memory.row {
        (Part::Network, format!("the network with widths {widths}"), "use smaller widths")
    } else {
        (
            Part::Row,
            format!("its row: {} times with widths {widths}", point.n_times()),
            "record less (fewer times or matrices_at, record.singular_values = false or \
             record.per_time = false)",
        )
    };
    Err((
        part,
        format!(
            "a point needs about {} of memory, mostly {what} ({}), more than the limit of {} per \
             point: {hint}",
            human_bytes(total),
            human_bytes(memory.task.max(memory.network).max(memory.row)),
            human_bytes(MAX_POINT_BYTES)
        ),
    ))
}

/// The requirements of a task on the widths (and, for fine-tuning, on the init): the reason it
/// fails, if it does.
fn check_task(task: &TaskSpec, shape: &[usize], init: InitKind) -> Result<(), String> {
    let shape_text = format!("{shape:?}");
    let kind = task.kind();
    let n_in = shape.first().copied().unwrap_or(0);
    let n_out = shape.last().copied().unwrap_or(0);
    let min_dim = n_in.min(n_out);
    let samples_at_least = |samples: u32, needed: usize, what: &str| {
        if (samples as usize) < needed {
            Err(format!(
                "the {kind} task has samples = {samples}, fewer than {what} = {needed} of widths \
                 {shape_text}: it needs samples ≥ {what}"
            ))
        } else {
            Ok(())
        }
    };
    match task {
        TaskSpec::Hierarchy { levels, .. } => {
            let (items, _) = task.required_dims().unwrap_or_default();
            if n_in != items || n_out != items {
                return Err(format!(
                    "the hierarchy task with levels = {levels} has {items} items and {items} \
                     features: widths must be [{items}, …, {items}], found {shape_text}"
                ));
            }
        }
        TaskSpec::Reversal { samples, .. } => {
            samples_at_least(*samples, n_in.max(n_out), "max(Ni, No)")?
        }
        TaskSpec::Random { samples } | TaskSpec::Continual { samples, .. } => {
            samples_at_least(*samples, n_in, "Ni")?
        }
        TaskSpec::Transfer { source, .. } | TaskSpec::FineTune { source, .. } => match source {
            TransferSource::Random { samples, shared } => {
                samples_at_least(*samples, n_in, "Ni")?;
                if *shared as usize > min_dim {
                    return Err(format!(
                        "the {kind} task has shared = {shared} singular-vector pairs, more than \
                         min(Ni, No) = {min_dim} of widths {shape_text}: it needs \
                         shared ≤ min(Ni, No)"
                    ));
                }
            }
            TransferSource::Hierarchy { levels, .. } => {
                let (items, features) = task.required_dims().unwrap_or_default();
                if n_in != items || n_out != features {
                    return Err(format!(
                        "the {kind} task from the hierarchy with levels = {levels} has {items} \
                         items and {features} features (the {items} of the hierarchy and a new \
                         one): widths must be [{items}, …, {features}], found {shape_text}"
                    ));
                }
            }
        },
    }
    if let TaskSpec::FineTune { .. } = task {
        if shape.len() != 3 {
            return Err(format!(
                "the fine-tune task needs depth 2 (widths [Ni, Nh, No] with Nh = min(Ni, No): the \
                 re-balancing rebuilds a two-layer network from its function), but widths \
                 {shape_text} have depth {}: use widths [{n_in}, {min_dim}, {n_out}], or exclude \
                 the combination",
                shape.len() - 1
            ));
        }
        if shape[1] != min_dim {
            return Err(format!(
                "the fine-tune task needs Nh = min(Ni, No) = {min_dim} (the re-balancing rebuilds \
                 a two-layer network from its function), but widths {shape_text} have Nh = {}: use \
                 widths [{n_in}, {min_dim}, {n_out}], or exclude the combination",
                shape[1]
            ));
        }
        if !init.uses_lambda() {
            return Err(format!(
                "the fine-tune task needs a λ-balanced init (balanced, balanced-signed or aligned), but init is \
                 `{}`: use balanced, balanced-signed or aligned, or exclude the combination",
                init.as_str()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_at_finds_table_and_key() {
        let text =
            "name = \"x\"\n[defaults]\ninit = 1\n[[block]]\nlambda = 1\n[[block]]\nlambda = [1,\n";
        let offset_of = |needle: &str| text.find(needle).unwrap();
        assert_eq!(field_at(text, 0), "");
        assert_eq!(field_at(text, offset_of("\"x\"")), "name");
        assert_eq!(field_at(text, offset_of("init")), "defaults");
        assert_eq!(field_at(text, offset_of("1\n[[")), "defaults.init");
        assert_eq!(field_at(text, offset_of("1\n[[block]]\nlambda = [")), "block[0].lambda");
        assert_eq!(field_at(text, offset_of("[1,")), "block[1].lambda");
        assert_eq!(field_at(text, text.len()), "block[1]");
    }
}
