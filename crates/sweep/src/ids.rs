//! Point ids and seeds: canonical texts hashed with xxh3-64, keyed by the spec seed.
//!
//! The texts are a stable, versioned format (`v1|…`), documented in `docs/spec.md`. Changing any
//! of them changes every id and seed, so they are pinned by tests. Floats are written as the hex
//! of their IEEE-754 bits (after turning −0.0 into 0.0), so ids never depend on float printing.

use std::fmt::Write as _;

use xxhash_rust::xxh3::{Xxh3Default, xxh3_64_with_seed};

use crate::params::{InitKind, Method, Record, f64_bits};
#[cfg(test)]
use crate::task::TaskSpec;

/// Version tag at the start of every canonical text.
pub(crate) const VERSION: &str = "v1";

/// `x` as 16 hex digits of its bits, or `-` when absent.
#[cfg(test)]
pub(crate) fn opt_f64_hex(x: Option<f64>) -> String {
    match x {
        Some(x) => format!("{:016x}", f64_bits(x)),
        None => "-".to_owned(),
    }
}

/// xxh3-64 of the little-endian bits of `xs` (−0.0 normalised).
pub(crate) fn hash_f64s(xs: &[f64]) -> u64 {
    hash_f64_iter(xs.iter().copied())
}

/// [`hash_f64s`] of a sequence, streamed through a small buffer (a 10⁷-value grid is hashed
/// without being materialised; the streaming and one-shot xxh3 agree).
pub(crate) fn hash_f64_iter(xs: impl Iterator<Item = f64>) -> u64 {
    let mut hasher = Xxh3Default::new();
    let mut buffer = [0u8; 4096];
    let mut filled = 0;
    for x in xs {
        buffer[filled..filled + 8].copy_from_slice(&f64_bits(x).to_le_bytes());
        filled += 8;
        if filled == buffer.len() {
            hasher.update(&buffer);
            filled = 0;
        }
    }
    hasher.update(&buffer[..filled]);
    hasher.digest()
}

/// Comma-separated widths, e.g. `4,4,4`.
pub(crate) fn widths_text(widths: &[usize]) -> String {
    let mut out = String::with_capacity(widths.len() * 4);
    for (idx, width) in widths.iter().enumerate() {
        if idx > 0 {
            out.push(',');
        }
        let _ = write!(out, "{width}");
    }
    out
}

/// The record part of the canonical text:
/// `per_time:true,singular_values:true,matrices_at:<hex of hash, or ->`.
pub(crate) fn record_text(record: &Record) -> String {
    let matrices = if record.matrices_at.is_empty() {
        "-".to_owned()
    } else {
        format!("{:016x}", hash_f64s(&record.matrices_at))
    };
    format!(
        "per_time:{},singular_values:{},matrices_at:{matrices}",
        record.per_time, record.singular_values
    )
}

/// Everything the canonical text of a point is made of.
pub(crate) struct CanonicalParts<'a> {
    pub lambda: Option<f64>,
    /// The per-layer λ of a profile whose values differ (`lambda` is then `None`).
    pub lambdas: Option<&'a [f64]>,
    pub scale: Option<f64>,
    pub lr: Option<f64>,
    pub dt: Option<f64>,
    /// [`widths_text`] of the widths.
    pub widths: &'a str,
    /// [`TaskSpec::canonical`] of the task.
    pub task: &'a str,
    pub init: InitKind,
    pub method: Method,
    pub replicate: u32,
    /// [`hash_f64s`] of the time grid.
    pub time_hash: u64,
    /// [`record_text`] of the record.
    pub record: &'a str,
    /// The tolerance, only when the spec sets it and the point uses it.
    pub tolerance: Option<f64>,
}

/// `v1|lambda=…|scale=…|lr=…|dt=…|widths=…|task=…|init=…|method=…|replicate=…|time=…|record=…`,
/// followed by `|tolerance=…` only when the point has a tolerance (so the text, and the id, of
/// every point without one is what it was before `tolerance` existed), then
/// `|lambdas=<hex>,<hex>,…` only when the point's per-layer λ differ (equal ones are `lambda`).
pub(crate) fn canonical(parts: &CanonicalParts<'_>) -> String {
    let mut out = Vec::with_capacity(256);
    canonical_into(&mut out, parts);
    // Every piece is UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

/// [`canonical`] written into `out` (cleared first) as bytes, so that a caller hashing many
/// points reuses one buffer.
pub(crate) fn canonical_into(out: &mut Vec<u8>, parts: &CanonicalParts<'_>) {
    out.clear();
    out.extend_from_slice(VERSION.as_bytes());
    for (key, value) in [
        ("|lambda=", parts.lambda),
        ("|scale=", parts.scale),
        ("|lr=", parts.lr),
        ("|dt=", parts.dt),
    ] {
        out.extend_from_slice(key.as_bytes());
        match value {
            Some(x) => push_hex(out, f64_bits(x)),
            None => out.push(b'-'),
        }
    }
    out.extend_from_slice("|widths=".as_bytes());
    out.extend_from_slice(parts.widths.as_bytes());
    out.extend_from_slice("|task=".as_bytes());
    out.extend_from_slice(parts.task.as_bytes());
    out.extend_from_slice("|init=".as_bytes());
    out.extend_from_slice(parts.init.as_str().as_bytes());
    out.extend_from_slice("|method=".as_bytes());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.extend_from_slice("|replicate=".as_bytes());
    // Writing to a Vec cannot fail.
    let _ = std::io::Write::write_fmt(out, format_args!("{}", parts.replicate));
    out.extend_from_slice("|time=".as_bytes());
    push_hex(out, parts.time_hash);
    out.extend_from_slice("|record=".as_bytes());
    out.extend_from_slice(parts.record.as_bytes());
    if let Some(tolerance) = parts.tolerance {
        out.extend_from_slice("|tolerance=".as_bytes());
        push_hex(out, f64_bits(tolerance));
    }
    if let Some(lambdas) = parts.lambdas {
        out.extend_from_slice("|lambdas=".as_bytes());
        for (idx, &lambda) in lambdas.iter().enumerate() {
            if idx > 0 {
                out.push(b',');
            }
            push_hex(out, f64_bits(lambda));
        }
    }
}

/// Appends `value` as 16 lowercase hex digits (what `{:016x}` writes, without the formatter:
/// ids of millions of points are hashed when counting them).
fn push_hex(out: &mut Vec<u8>, value: u64) {
    let mut text = [0u8; 16];
    write_hex(&mut text, value);
    out.extend_from_slice(&text);
}

/// `value` as 16 lowercase hex digits into `text` (16 bytes).
fn write_hex(text: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (idx, byte) in text.iter_mut().enumerate() {
        *byte = DIGITS[((value >> (60 - 4 * idx)) & 0xf) as usize];
    }
}

/// The point id: xxh3-64 of the canonical text, seeded with the spec seed.
pub(crate) fn point_id(canonical: &[u8], spec_seed: u64) -> u64 {
    xxh3_64_with_seed(canonical, spec_seed)
}

/// The point-specific seed: hash of `v1|seed|<point_id hex>` (the text on the stack: this runs
/// once per point).
pub(crate) fn point_seed(point_id: u64, spec_seed: u64) -> u64 {
    const PREFIX: &[u8] = b"v1|seed|";
    const { assert!(PREFIX.len() == VERSION.len() + 6) };
    let mut text = [0u8; PREFIX.len() + 16];
    text[..PREFIX.len()].copy_from_slice(PREFIX);
    write_hex(&mut text[PREFIX.len()..], point_id);
    xxh3_64_with_seed(&text, spec_seed)
}

/// [`task_seed_of_key`] of the task's draw key.
#[cfg(test)]
pub(crate) fn task_seed(
    spec_seed: u64,
    replicate: u32,
    task: &TaskSpec,
    n_in: usize,
    n_out: usize,
) -> u64 {
    task_seed_of_key(spec_seed, replicate, &task.draw_key(), n_in, n_out)
}

/// The task seed: hash of `v1|task|replicate=R|task=<draw key>|n_in=Ni|n_out=No`, where the draw
/// key is the task's canonical text except for `fine-tune`, which draws the tasks of its
/// `transfer` (`TaskSpec::draw_key`, precomputed per block: the seeds run once per point, so
/// the text is assembled without the formatter).
pub(crate) fn task_seed_of_key(
    spec_seed: u64,
    replicate: u32,
    draw_key: &str,
    n_in: usize,
    n_out: usize,
) -> u64 {
    let mut text = Vec::with_capacity(64 + draw_key.len());
    text.extend_from_slice(b"v1|task|replicate=");
    push_decimal(&mut text, u64::from(replicate));
    text.extend_from_slice(b"|task=");
    text.extend_from_slice(draw_key.as_bytes());
    text.extend_from_slice(b"|n_in=");
    push_decimal(&mut text, n_in as u64);
    text.extend_from_slice(b"|n_out=");
    push_decimal(&mut text, n_out as u64);
    xxh3_64_with_seed(&text, spec_seed)
}

/// [`init_seed_of_text`] of the widths' text.
#[cfg(test)]
pub(crate) fn init_seed(spec_seed: u64, replicate: u32, widths: &[usize], init: InitKind) -> u64 {
    init_seed_of_text(spec_seed, replicate, &widths_text(widths), init)
}

/// The init seed: hash of `v1|init|replicate=R|widths=W|init=<kind>` ([`InitKind::draw_name`], so
/// `balanced-signed` shares the draws of `balanced`), with `W` the widths' [`widths_text`]
/// (precomputed per block, as for [`task_seed_of_key`]).
pub(crate) fn init_seed_of_text(
    spec_seed: u64,
    replicate: u32,
    widths_text: &str,
    init: InitKind,
) -> u64 {
    let name = init.draw_name();
    let mut text = Vec::with_capacity(64 + widths_text.len() + name.len());
    text.extend_from_slice(b"v1|init|replicate=");
    push_decimal(&mut text, u64::from(replicate));
    text.extend_from_slice(b"|widths=");
    text.extend_from_slice(widths_text.as_bytes());
    text.extend_from_slice(b"|init=");
    text.extend_from_slice(name.as_bytes());
    xxh3_64_with_seed(&text, spec_seed)
}

/// Appends `value` in decimal, as `{value}` writes it.
fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_zero_is_zero() {
        assert_eq!(f64_bits(-0.0), 0);
        assert_eq!(opt_f64_hex(Some(-0.0)), opt_f64_hex(Some(0.0)));
        assert_eq!(opt_f64_hex(Some(1.0)), "3ff0000000000000");
        assert_eq!(opt_f64_hex(None), "-");
        assert_eq!(hash_f64s(&[-0.0, 1.0]), hash_f64s(&[0.0, 1.0]));
    }

    #[test]
    fn streamed_hash_is_the_one_shot_hash() {
        for n in [0usize, 1, 511, 512, 513, 5000] {
            let xs: Vec<f64> = (0..n).map(|i| i as f64 * 0.37 - 3.0).collect();
            let mut bytes = Vec::new();
            for &x in &xs {
                bytes.extend_from_slice(&f64_bits(x).to_le_bytes());
            }
            assert_eq!(hash_f64s(&xs), xxhash_rust::xxh3::xxh3_64(&bytes), "n = {n}");
        }
    }

    #[test]
    fn hex_is_the_formatter_s() {
        for value in [0, 1, 0xabc, u64::MAX, 0x3ff0_0000_0000_0000, 0x8000_0000_0000_0001] {
            let mut out = Vec::new();
            push_hex(&mut out, value);
            assert_eq!(out, format!("{value:016x}").into_bytes());
        }
    }

    #[test]
    fn canonical_text_layout() {
        let task = TaskSpec::Random { samples: 64 };
        let record = record_text(&Record::default());
        let text = canonical(&CanonicalParts {
            lambda: Some(1.0),
            lambdas: None,
            scale: Some(0.5),
            lr: None,
            dt: None,
            widths: &widths_text(&[4, 4, 4]),
            task: &task.canonical(),
            init: InitKind::Balanced,
            method: Method::ClosedForm,
            replicate: 3,
            time_hash: 0xabc,
            record: &record,
            tolerance: None,
        });
        assert_eq!(
            text,
            "v1|lambda=3ff0000000000000|scale=3fe0000000000000|lr=-|dt=-|widths=4,4,4|\
             task=random(samples=64)|init=balanced|method=closed-form|replicate=3|\
             time=0000000000000abc|record=per_time:true,singular_values:true,matrices_at:-"
        );
    }

    #[test]
    fn a_tolerance_is_appended_only_when_present() {
        let task = TaskSpec::Random { samples: 64 }.canonical();
        let widths = widths_text(&[4, 4, 4, 4]);
        let record = record_text(&Record::default());
        let parts = |tolerance| CanonicalParts {
            lambda: None,
            lambdas: None,
            scale: Some(0.5),
            lr: None,
            dt: Some(0.01),
            widths: &widths,
            task: &task,
            init: InitKind::Gaussian,
            method: Method::Rk4,
            replicate: 0,
            time_hash: 0xabc,
            record: &record,
            tolerance,
        };
        let without = canonical(&parts(None));
        assert!(!without.contains("tolerance"), "{without}");
        assert_eq!(canonical(&parts(Some(1e-6))), format!("{without}|tolerance=3eb0c6f7a0b5ed8d"));
    }

    #[test]
    fn seeds_separate_domains() {
        let task = TaskSpec::Random { samples: 8 };
        assert_ne!(task_seed(1, 0, &task, 4, 4), task_seed(1, 1, &task, 4, 4));
        assert_ne!(task_seed(1, 0, &task, 4, 4), task_seed(2, 0, &task, 4, 4));
        assert_ne!(
            init_seed(1, 0, &[4, 4, 4], InitKind::Balanced),
            init_seed(1, 0, &[4, 4, 4], InitKind::Aligned)
        );
        assert_eq!(
            init_seed(1, 0, &[4, 4, 4], InitKind::Balanced),
            init_seed(1, 0, &[4, 4, 4], InitKind::BalancedSigned)
        );
        assert_ne!(point_seed(5, 1), point_seed(6, 1));
    }

    /// The point seed hashes the documented text `v1|seed|<point_id hex>` (written on the stack,
    /// not by the formatter).
    #[test]
    fn point_seed_hashes_its_text() {
        for (id, spec_seed) in [(0, 0), (5, 1), (u64::MAX, 7), (0x0123_4567_89ab_cdef, u64::MAX)] {
            let text = format!("{VERSION}|seed|{id:016x}");
            assert_eq!(point_seed(id, spec_seed), xxh3_64_with_seed(text.as_bytes(), spec_seed));
        }
    }

    /// The task and init seeds hash their documented texts (assembled without the formatter):
    /// every task kind's draw key, replicates and sizes up to their largest values.
    #[test]
    fn task_and_init_seeds_hash_their_texts() {
        assert!(b"v1|task|".starts_with(VERSION.as_bytes()));
        let tasks = [
            TaskSpec::Random { samples: 8 },
            TaskSpec::Reversal { samples: 3, until: None },
            TaskSpec::Continual { tasks: 4, samples: 16, until: None },
        ];
        for (replicate, n_in, n_out) in
            [(0, 1, 1), (9, 10, 99), (123_456, 4096, 7), (u32::MAX, usize::MAX, 0)]
        {
            for task in &tasks {
                let text = format!(
                    "{VERSION}|task|replicate={replicate}|task={}|n_in={n_in}|n_out={n_out}",
                    task.draw_key()
                );
                let want = xxh3_64_with_seed(text.as_bytes(), 11);
                assert_eq!(task_seed(11, replicate, task, n_in, n_out), want, "{text}");
            }
            let widths = [n_in, 1, n_out];
            for init in [InitKind::Balanced, InitKind::BalancedSigned, InitKind::Aligned] {
                let text = format!(
                    "{VERSION}|init|replicate={replicate}|widths={}|init={}",
                    widths.map(|w| w.to_string()).join(","),
                    init.draw_name()
                );
                let want = xxh3_64_with_seed(text.as_bytes(), 3);
                assert_eq!(init_seed(3, replicate, &widths, init), want, "{text}");
            }
        }
    }

    #[test]
    fn fine_tune_seeds_its_transfer() {
        use crate::params::Real;
        use crate::task::TransferSource;
        let source = TransferSource::Random { samples: 16, shared: 2 };
        let transfer = TaskSpec::Transfer { source: source.clone(), until: None };
        let fine_tune = TaskSpec::FineTune { source, lambda_ft: Real::new(-2.0), until: None };
        assert_eq!(task_seed(1, 0, &fine_tune, 4, 4), task_seed(1, 0, &transfer, 4, 4));
        assert_ne!(task_seed(1, 0, &fine_tune, 4, 4), task_seed(1, 1, &transfer, 4, 4));
        // Random's draw key is its canonical text: its seeds are those of earlier versions.
        let random = TaskSpec::Random { samples: 8 };
        let text = format!("{VERSION}|task|replicate=0|task=random(samples=8)|n_in=4|n_out=4");
        assert_eq!(task_seed(1, 0, &random, 4, 4), xxh3_64_with_seed(text.as_bytes(), 1));
    }
}
