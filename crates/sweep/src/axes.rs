//! The axes of a block ([`AxisName`]) and a point's effective parameters on them ([`Choice`]),
//! shared by blocks (which build them) and filters (which evaluate them).

use crate::params::{InitKind, Method};
use crate::task::TaskSpec;

/// The axes of a block, in mixed-radix order (first = slowest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AxisName {
    Task,
    Widths,
    Replicate,
    Init,
    Method,
    Scale,
    Lambda,
    Lr,
    Dt,
}

/// Number of axes.
pub(crate) const N_AXES: usize = 9;

/// One value index per axis; `None` for an axis the block does not set (or not enumerated).
pub(crate) type Indices = [Option<usize>; N_AXES];

impl AxisName {
    /// Every axis, slowest first.
    pub(crate) const ALL: [AxisName; N_AXES] = [
        AxisName::Task,
        AxisName::Widths,
        AxisName::Replicate,
        AxisName::Init,
        AxisName::Method,
        AxisName::Scale,
        AxisName::Lambda,
        AxisName::Lr,
        AxisName::Dt,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AxisName::Task => "task",
            AxisName::Widths => "widths",
            AxisName::Replicate => "replicate",
            AxisName::Init => "init",
            AxisName::Method => "method",
            AxisName::Scale => "scale",
            AxisName::Lambda => "lambda",
            AxisName::Lr => "lr",
            AxisName::Dt => "dt",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<AxisName> {
        AxisName::ALL.into_iter().find(|axis| axis.as_str() == name)
    }

    pub(crate) fn idx(self) -> usize {
        self as usize
    }
}

/// A point's effective parameters, as seen by filters (values a point ignores are `None`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Choice<'a> {
    pub task: Option<&'a TaskSpec>,
    pub widths: Option<&'a [usize]>,
    pub replicate: Option<u32>,
    pub init: Option<InitKind>,
    pub method: Option<Method>,
    pub scale: Option<f64>,
    /// λ of a balanced init, the common value when a `lambdas` profile's values are all equal.
    pub lambda: Option<f64>,
    /// The per-layer λ of a `lambdas` profile whose values differ (`lambda` is then `None`).
    pub lambdas: Option<&'a [f64]>,
    pub lr: Option<f64>,
    pub dt: Option<f64>,
}
