//! End-to-end tests of `run --extend` (issue 12): a sweep that grows computes only the points
//! it lacks, keeps every earlier row as it was, and ends with the rows a fresh run of the
//! grown spec writes; status counts against the current spec; without `--extend` the refusal
//! stays and names it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use lazyrich_store::{Dataset, PointRow};
use serde_json::Value;

mod common;
use common::{TempDir, lazyrich, ok, text, write_spec};

/// What the two specs share.
const DEFAULTS: &str = r#"
name = "grow"
seed = 5
[defaults]
task = { kind = "random", samples = 8 }
init = "balanced"
method = "closed-form"
widths = [3, 3, 3]
time = [0, 1, 10]
"#;

/// A block of 9 λ values…
const SMALL_BLOCK: &str =
    "[[block]]\nscale = [0.1, 1.0]\nlambda = { linspace = [-2, 2, 9] }\nreplicates = 2\n";

/// …grown to 17 (the 9 among them), after a new first block.
const GROWN_BLOCKS: &str = "[[block]]\nwidths = [2, 2, 2]\nlambda = [0.5, 1.5]\nscale = 0.5\n\
                            [[block]]\nscale = [0.1, 1.0]\nlambda = { linspace = [-2, 2, 17] }\nreplicates = 2\n";

/// Rows by point id, as comparable text: every column but those that say when, by which spec
/// and from which block a row was computed.
fn table(out: &Path) -> BTreeMap<u64, String> {
    let rows = Dataset::open(out).unwrap().read_rows().unwrap();
    let ids: HashSet<u64> = rows.iter().map(|r| r.point_id).collect();
    assert_eq!(ids.len(), rows.len(), "a point id twice in {}", out.display());
    rows.into_iter()
        .map(|row| {
            let PointRow { point_id, .. } = row;
            let mut row = row;
            row.wall_time_s = 0.0;
            row.spec_hash.clear();
            row.block = 0;
            (point_id, format!("{row:?}"))
        })
        .collect()
}

fn json_status(out: &Path) -> Value {
    serde_json::from_str(&ok(&["status", text(out), "--json"]).stdout).unwrap()
}

#[test]
fn a_grown_spec_computes_only_the_new_points() {
    let dir = TempDir::new("extend");
    let small = write_spec(&dir, "small.toml", &format!("{DEFAULTS}{SMALL_BLOCK}"));
    let grown = write_spec(&dir, "grown.toml", &format!("{DEFAULTS}{GROWN_BLOCKS}"));
    let out = dir.join("out");
    ok(&["run", text(&small), "--out", text(&out), "--quiet"]);
    let before = table(&out);
    assert_eq!(before.len(), 36);

    // Without --extend: refused, the message says how, nothing changes.
    let run = lazyrich(&["run", text(&grown), "--out", text(&out), "--quiet"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("or --extend to make this spec the dataset's"), "{run:?}");
    assert_eq!(table(&out), before);

    let run = ok(&["run", text(&grown), "--out", text(&out), "--extend"]);
    // 2 + 68 points, 36 of them already there.
    assert!(run.stderr.contains("70 points, 36 already done, 34 to compute"), "{}", run.stderr);
    assert!(run.stderr.contains("now holds this spec (--extend)"), "{}", run.stderr);
    let after = table(&out);
    assert_eq!(after.len(), 70);
    for (id, row) in &before {
        assert_eq!(after.get(id), Some(row), "an earlier row changed");
    }
    // The same rows as a fresh run of the grown spec.
    let fresh = dir.join("fresh");
    ok(&["run", text(&grown), "--out", text(&fresh), "--quiet"]);
    assert_eq!(after, table(&fresh));
    let rows = Dataset::open(&out).unwrap().read_rows().unwrap();
    let hashes: HashSet<&str> = rows.iter().map(|r| r.spec_hash.as_str()).collect();
    assert_eq!(hashes.len(), 2, "each row keeps the hash of the spec that computed it");

    let status = json_status(&out);
    assert_eq!((status["expected"].as_u64(), status["missing"].as_u64()), (Some(70), Some(0)));
    assert_eq!(status["specs"].as_array().unwrap().len(), 2);
    assert_eq!(status["unexpected"], 0);
    // Resuming the grown spec has nothing to do; merging keeps every row.
    let run = ok(&["run", text(&grown), "--out", text(&out)]);
    assert!(run.stderr.contains("0 to compute"), "{}", run.stderr);
    ok(&["merge", text(&out)]);
    assert_eq!(table(&out), after);

    // Back to the small spec: nothing to compute, the 34 points it lacks are reported as
    // points of earlier specs, and kept.
    let run = ok(&["run", text(&small), "--out", text(&out), "--extend", "--quiet"]);
    assert_eq!(run.stderr, "");
    let status = json_status(&out);
    assert_eq!((status["expected"].as_u64(), status["done"].as_u64()), (Some(36), Some(36)));
    assert_eq!(status["unexpected"], 34);
    let text_status = ok(&["status", text(&out)]).stdout;
    assert!(
        text_status.contains("earlier    34 points of earlier specs that the current spec"),
        "{text_status}"
    );
    assert_eq!(table(&out), after);
}
