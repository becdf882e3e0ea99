"""The command line of the read-back test: ``python3 -m readback DIR ...`` (see the package doc)."""

from __future__ import annotations

import argparse
import pathlib
import sys

from . import __doc__ as PACKAGE_DOC
from .common import DATASET_DOC, DatasetState, Runner, check_doc_columns, check_layout
from .duckdb_reader import duckdb_checks
from .pandas_reader import pandas_checks
from .polars_reader import polars_checks
from .pyarrow_reader import pyarrow_checks
from .same_as import same_as_check
from .spec import UnsupportedSpec, expected_from_spec


def parse_args(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser (for its usage errors, exit code 2) and the parsed arguments."""
    parser = argparse.ArgumentParser(prog="python3 -m readback",
                                     description=(PACKAGE_DOC or "").splitlines()[0])
    parser.add_argument("dir", type=pathlib.Path,
                        help="dataset directory (holds points/ and _lazyrich/)")
    parser.add_argument("--expected", type=int, help="expected number of rows")
    parser.add_argument("--spec", type=pathlib.Path,
                        help="compute the expected rows and time grid from this spec file")
    parser.add_argument("--same-as", type=pathlib.Path, metavar="OTHER",
                        help="also require the same table as dataset OTHER "
                        "(but wall_time_s, shard)")
    parser.add_argument("--multi-phase", action="store_true",
                        help="the spec has multi-phase protocols: skip the single-phase checks")
    parser.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    args = parser.parse_args(argv)
    if args.expected is None and args.spec is None:
        parser.error("give --expected N or --spec FILE")
    return parser, args


def main(argv: list[str] | None = None) -> int:
    """Runs every check on the dataset; 0 if all passed, 1 if any failed (2: bad usage)."""
    parser, args = parse_args(argv)
    if not (args.dir / "points").is_dir():
        print(f"readback: {args.dir}/points is not a directory", file=sys.stderr)
        print("readback: 0 passed, 1 failed")
        return 1

    times = None
    expected = args.expected
    if args.spec is not None:
        try:
            from_spec, times = expected_from_spec(args.spec)
        except UnsupportedSpec as err:
            parser.error(str(err))
        if expected is not None and expected != from_spec:
            parser.error(f"--expected {expected} but the spec expands to {from_spec} points")
        expected = from_spec

    root = args.dir.resolve()
    run = Runner(args.quiet)
    state = DatasetState()
    if DATASET_DOC.is_file():
        run.check("docs/dataset.md column tables match this test's column list", check_doc_columns)
    run.check("layout: manifest, spec.toml, part file names", check_layout, root, state)
    if state.manifest is not None:
        pyarrow_checks(run, root, state, expected)
    polars_checks(run, root, expected, times, args.multi_phase, state.manifest)
    pandas_checks(run, root, expected)
    duckdb_checks(run, root, expected, args.multi_phase)
    if args.same_as is not None:
        same_as_check(run, root, args.same_as.resolve())
    print(f"readback: {run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
