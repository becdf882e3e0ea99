//! `solve` from a description: `{"widths", "init": {"kind", "lambda" (or "lambdas", one λ per
//! hidden layer), "scale", "seed", "replicate"}, "task": {...}}` instead of hand-made weights, in
//! the vocabulary of a sweep spec.
//!
//! The description becomes a one-point spec (`seed`, one block with the task, init, λ, scale
//! and widths; `replicates = replicate + 1`), validated by the sweep crate and the runner exactly
//! as `lazyrich run` validates a spec, and its point's task and initial weights are drawn by the
//! runner as a sweep draws them: `solve` starts from the weights of the sweep point with the
//! same parameters, seed and replicate.
//!
//! A deep description (`widths` of depth L ≥ 3) is computed by the deep aligned closed form
//! (docs/math.md §3.6), as a sweep computes `closed-form` at that depth: it needs init
//! `aligned` and a single-phase task, and [`Described::deep`] then holds the init's factors.

use lazyrich_solver::Network;
use lazyrich_solver::init::BalancedFactors;
use lazyrich_sweep::{Shard, Spec, SpecError};
use nalgebra::DMatrix;
use serde_json::Value;

use crate::error::BadInput;

/// The keys of `init`.
const INIT_KEYS: [&str; 6] = ["kind", "lambda", "lambdas", "scale", "seed", "replicate"];
/// Largest `init.replicate`.
const MAX_REPLICATE: u64 = 1_000_000;

/// What a description builds: the weights and the task.
pub struct Described {
    /// The network at t = 0 (two layers, or deeper with [`Described::deep`]).
    pub net: Network,
    /// Σyx: the task's first (only) problem, or the one given.
    pub sigma_yx: DMatrix<f64>,
    /// Depth L ≥ 3: what the deep aligned closed form needs.
    pub deep: Option<DeepInit>,
    /// tr Σyy of the task (`None` when `sigma_yx` was given instead): without a
    /// `trace_sigma_yy` of its own the problem takes it, so the loss is the dataset's.
    pub trace_sigma_yy: Option<f64>,
}

/// A deep aligned description: the init's factors and balances, and the task's tr Σyy.
#[derive(Clone, Debug, PartialEq)]
pub struct DeepInit {
    /// The aligned init's factors (`init::balanced_factors_layers` with task-aligned bases).
    pub factors: BalancedFactors,
    /// One λ per hidden layer, as the point's (`init.lambda` repeated, or `init.lambdas`).
    pub lambdas: Vec<f64>,
    /// tr Σyy of the task (`None` when `sigma_yx` was given instead): the loss is then the
    /// dataset's.
    pub trace_sigma_yy: Option<f64>,
}

/// Builds the network (and, from `task`, Σyx) of a description. `sigma_yx` is the matrix the
/// problem gives instead of a `task`.
pub fn build(
    init: &Value,
    widths: &Value,
    task: Option<&Value>,
    sigma_yx: Option<DMatrix<f64>>,
) -> Result<Described, BadInput> {
    let Value::Object(init) = init else {
        return Err(BadInput::new(
            "init: expected an object such as {\"kind\": \"balanced\", \"lambda\": 1, \"scale\": 0.5, \"seed\": 7}",
        ));
    };
    if let Some(key) = init.keys().find(|key| !INIT_KEYS.contains(&key.as_str())) {
        return Err(BadInput::new(format!(
            "init.{key}: unknown key; the keys are {}",
            INIT_KEYS.join(", ")
        )));
    }
    let kind = match init.get("kind") {
        Some(Value::String(kind)) => kind.clone(),
        Some(other) => {
            return Err(BadInput::new(format!("init.kind: expected a string, got {other}")));
        }
        None => {
            return Err(BadInput::new(
                "init.kind: missing (balanced, balanced-signed, aligned, gaussian or lecun)",
            ));
        }
    };
    let count = |key: &str, max: u64| -> Result<u64, BadInput> {
        match init.get(key) {
            None => Ok(0),
            Some(value) => value.as_u64().filter(|&n| n <= max).ok_or_else(|| {
                BadInput::new(format!(
                    "init.{key}: expected an integer from 0 to {max}, got {value}"
                ))
            }),
        }
    };
    let seed = count("seed", u64::MAX)?;
    let replicate = count("replicate", MAX_REPLICATE)?;
    let Some(dims) = widths.as_array().filter(|w| w.len() >= 3) else {
        return Err(BadInput::new(format!(
            "widths: expected [Ni, Nh, No] (two layers) or [Ni, N1, ..., No] (deeper), got \
             {widths}"
        )));
    };
    let depth = dims.len() - 1;
    let dims: Vec<String> = dims.iter().map(Value::to_string).collect();
    let task_text = match (task, &sigma_yx) {
        (Some(_), Some(_)) => {
            return Err(BadInput::new(
                "task: give either task (drawn like a sweep's) or sigma_yx, not both",
            ));
        }
        (Some(task), None) => inline(task, "task")?,
        // The task of the spec is then only a placeholder: the init does not depend on it.
        (None, Some(_)) => "{ kind = \"random\" }".to_owned(),
        (None, None) => {
            return Err(BadInput::new(
                "task: missing; give a task as in a spec (e.g. {\"kind\": \"random\", \"samples\": 64}) or sigma_yx",
            ));
        }
    };
    let mut text = format!("name = \"solve\"\nseed = {seed}\n[[block]]\ntask = {task_text}\n");
    text.push_str(&format!("init = {}\n", Value::String(kind.clone())));
    for key in ["lambda", "lambdas", "scale"] {
        if let Some(value) = init.get(key) {
            text.push_str(&format!("{key} = {}\n", inline(value, &format!("init.{key}"))?));
        }
    }
    text.push_str(&format!("widths = [{}]\n", dims.join(", ")));
    // Seeds do not depend on the method or the times: any valid pair does.
    text.push_str("method = \"rk4\"\ndt = 0.001\ntime = [0, 1]\n");
    text.push_str(&format!("replicates = {}\n", replicate + 1));
    let spec = Spec::parse(&text, "<solve>").map_err(|err| BadInput::new(spec_error(&err)))?;
    lazyrich_runner::validate(&spec)
        .map_err(|err| BadInput::new(strip_origin(&err.to_string())))?;
    let point = spec
        .points(Shard::ALL)
        .find(|p| u64::from(p.replicate) == replicate)
        .ok_or_else(|| BadInput::new("init: the description has no point (a filter?)"))?;
    if depth >= 3 && kind != "aligned" {
        return Err(BadInput::new(format!(
            "init.kind: a deep description (depth {depth}) is computed by the deep aligned closed \
             form, which needs init \"aligned\", got {kind:?}; run other deep inits as a sweep \
             with a simulation method (docs/spec.md)"
        )));
    }
    let mut trace_sigma_yy = None;
    let sigma_yx = match sigma_yx {
        Some(sigma_yx) => sigma_yx,
        None => {
            let (problem, several) = lazyrich_runner::first_problem(&point)
                .map_err(|e| BadInput::new(format!("task: {e}")))?;
            if several {
                return Err(BadInput::new(format!(
                    "task: `{}` is a protocol of several phases; solve computes one trajectory \
                     on one task: run it as a sweep (docs/spec.md)",
                    point.task.kind()
                )));
            }
            trace_sigma_yy = problem.trace_sigma_yy;
            problem.sigma_yx
        }
    };
    if sigma_yx.shape() != (point.n_out(), point.n_in()) {
        return Err(BadInput::new(format!(
            "sigma_yx: expected {}x{} (No x Ni of widths), got {}x{}",
            point.n_out(),
            point.n_in(),
            sigma_yx.nrows(),
            sigma_yx.ncols()
        )));
    }
    let (net, factors) = lazyrich_runner::initial_network_and_factors(&point, &sigma_yx)
        .map_err(|e| BadInput::new(format!("init: {e}")))?;
    let deep = match (depth >= 3, factors, point.layer_lambdas()) {
        (false, _, _) => None,
        (true, Some(factors), Some(lambdas)) => Some(DeepInit { factors, lambdas, trace_sigma_yy }),
        // Validation requires λ for `aligned`, which always has factors: a safety net.
        (true, _, _) => {
            return Err(BadInput::new("init: a deep aligned description needs init.lambda"));
        }
    };
    Ok(Described { net, sigma_yx, deep, trace_sigma_yy })
}

/// A JSON value as TOML inline syntax (strings, numbers, booleans, arrays, inline tables).
fn inline(value: &Value, name: &str) -> Result<String, BadInput> {
    Ok(match value {
        // JSON's string escapes are TOML basic-string escapes.
        Value::String(_) | Value::Number(_) | Value::Bool(_) => value.to_string(),
        Value::Array(items) => {
            let items: Result<Vec<String>, BadInput> =
                items.iter().map(|item| inline(item, name)).collect();
            format!("[{}]", items?.join(", "))
        }
        Value::Object(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (key, item) in map {
                if key.is_empty()
                    || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(BadInput::new(format!("{name}: invalid key {key:?}")));
                }
                entries.push(format!("{key} = {}", inline(item, &format!("{name}.{key}"))?));
            }
            format!("{{ {} }}", entries.join(", "))
        }
        Value::Null => return Err(BadInput::new(format!("{name}: null is not a value"))),
    })
}

/// A spec error of the one-point spec, in the description's terms: `task.samples: reason`.
fn spec_error(err: &SpecError) -> String {
    match err {
        SpecError::Invalid { field, reason, .. } => {
            format!("{}: {}", rename(field), reason.replace("block[0].", ""))
        }
        SpecError::Syntax { message, .. } => format!("invalid description: {message}"),
        other => strip_origin(&other.to_string()),
    }
}

/// The description's name of a field of the one-point spec.
fn rename(field: &str) -> String {
    let field = field.strip_prefix("block[0].").unwrap_or(field);
    match field.split('.').next().unwrap_or(field) {
        "init" => "init.kind".to_owned(),
        "lambda" | "lambdas" | "scale" => format!("init.{field}"),
        "replicates" => "init.replicate".to_owned(),
        "seed" => "init.seed".to_owned(),
        _ => field.to_owned(),
    }
}

/// `<solve>:LINE:COL: ` and `<solve>: ` prefixes removed from a message, and `block[0].` names.
fn strip_origin(message: &str) -> String {
    let rest = message.strip_prefix("<solve>").unwrap_or(message);
    let rest = rest.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit()).trim_start();
    rest.replace("block[0].", "")
}
