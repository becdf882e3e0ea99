"""Opening a dataset directory: the checks every reader runs first, `scan`, `spec` and
`provenance`."""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any, TypedDict, Union

import polars as pl

from ._schema import POINTS_SCHEMA, SCHEMA_VERSION

#: A dataset directory, as a string or a path.
PathLike = Union[str, "os.PathLike[str]"]

CONTROL_DIR = "_lazyrich"
POINTS_DIR = "points"


class DatasetError(Exception):
    """A directory that cannot be read as a lazyrich dataset now.

    ``path`` is the directory (or the file in it that is at fault) and ``reason`` says why and
    what to do; ``str(err)`` is ``"PATH: REASON"``.

    >>> import lazyrich
    >>> try:
    ...     lazyrich.scan("/nonexistent")
    ... except lazyrich.DatasetError as err:
    ...     print(err.reason)
    no such directory
    """

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = pathlib.Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Provenance(TypedDict):
    """What `provenance` returns: where a dataset's rows come from."""

    #: The spec's `name` (manifest).
    spec_name: str
    #: The spec hash, 16 hex digits (manifest).
    spec_hash: str
    #: The schema version of the dataset's files (manifest).
    schema_version: int
    #: When the dataset was created, UTC RFC 3339 (manifest).
    created: str
    #: The shard layouts ("k/N") that have written into the dataset (manifest).
    layouts: list[str]
    #: Number of rows (points) in the dataset now.
    rows: int
    #: The distinct lazyrich versions that computed the rows, sorted.
    lazyrich_versions: list[str]
    #: The distinct git commits of the builds that computed the rows, sorted.
    git_commits: list[str]
    #: The hashes of every spec the dataset holds, oldest first, the current one (`spec_hash`)
    #: last: more than one after `lazyrich run --extend` (manifest `specs`).
    specs: list[str]


def _merge_lock_held(lock: pathlib.Path) -> bool:
    """Whether a `lazyrich merge` holds `_lazyrich/merge.lock` now (an advisory `flock`, the
    lock lazyrich takes). Never creates the file; `False` where `fcntl` does not exist."""
    if sys.platform == "win32":  # pragma: no cover - lazyrich locks with flock on Unix
        return False
    import fcntl

    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        # A shared probe conflicts with the merge's exclusive lock only; released at once.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def open_manifest(path: PathLike) -> tuple[pathlib.Path, dict[str, Any]]:
    """The dataset root and its manifest, after the checks every reader runs.

    Raises `DatasetError` for a directory that is not a dataset (no
    `_lazyrich/manifest.json`), a manifest that cannot be read, a dataset of a newer schema
    version than this package knows, and a dataset that is being merged (or whose merge was
    interrupted): between publishing a merged file and removing its sources, rows appear twice.
    """
    root = pathlib.Path(path)
    if not root.is_dir():
        raise DatasetError(root, "no such directory" if not root.exists() else "not a directory")
    manifest_path = root / CONTROL_DIR / "manifest.json"
    if not manifest_path.is_file():
        if root.name == POINTS_DIR and (root.parent / CONTROL_DIR / "manifest.json").is_file():
            hint = f": this is the points/ directory of the dataset {root.parent}; pass that"
        elif any((root / POINTS_DIR).glob("*/*.parquet")):
            hint = (": points/ holds part files but the manifest is missing, so they cannot be "
                    "attributed to a spec (restore _lazyrich/ from the copy it came from)")
        else:
            hint = " (a directory written by `lazyrich run SPEC --out DIR`)"
        raise DatasetError(root, f"not a lazyrich dataset: no {CONTROL_DIR}/manifest.json{hint}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(manifest_path, f"unreadable manifest: {err}") from err
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise DatasetError(manifest_path, f"manifest has no integer schema_version: {version!r}")
    if version > SCHEMA_VERSION:
        raise DatasetError(
            root,
            f"schema version {version} is newer than this lazyrich Python package knows "
            f"({SCHEMA_VERSION}): upgrade it (pip install ./python from the lazyrich that "
            "wrote the dataset)",
        )
    journal = root / CONTROL_DIR / "merge.journal"
    if journal.exists():
        raise DatasetError(
            root,
            f"a merge is in progress or was interrupted ({CONTROL_DIR}/merge.journal is "
            "present; while it is, some rows may appear twice): wait until `lazyrich merge` "
            "has finished; if none is running, `lazyrich status DIR` completes or rolls back "
            "the interrupted merge",
        )
    if _merge_lock_held(root / CONTROL_DIR / "merge.lock"):
        raise DatasetError(
            root,
            f"`lazyrich merge` is running ({CONTROL_DIR}/merge.lock is held; part files are "
            "being replaced): read the dataset once it has finished",
        )
    return root, manifest


def part_files(root: pathlib.Path) -> list[pathlib.Path]:
    """The published part files of the dataset at `root` (`points/task=*/*.parquet`), sorted."""
    return sorted((root / POINTS_DIR).glob("*/*.parquet"))


def _with_arch(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Adds `arch`, the widths joined by "-" ("8-4-4" for widths [8, 4, 4])."""
    return lf.with_columns(arch=pl.col("widths").cast(pl.List(pl.String)).list.join("-"))


def scan(path: PathLike) -> pl.LazyFrame:
    """The points table of a dataset: one row per point, every column of docs/dataset.md, plus
    `arch`, the architecture as a string (`"8-4-4"` for `widths = [8, 4, 4]`).

    Reads `DIR/points/task=*/*.parquet` (never the `_lazyrich/` control files) as one Hive-
    partitioned table: `task` is a single column (stored in the files and named by the
    partition directory; a filter on it skips whole directories). Nothing is read until the
    frame is collected; the dataset checks run now. A dataset with no part file yet (a run that
    has not flushed) gives an empty frame with the full schema.

    Raises `DatasetError` for a directory that is not a dataset (no `_lazyrich/manifest.json`),
    a dataset of a newer schema version than this package knows, and a dataset that is being
    merged or whose merge was interrupted (`_lazyrich/merge.journal` present, or
    `_lazyrich/merge.lock` held). A merge that starts after `scan` returns is not seen.

    >>> import lazyrich, polars as pl
    >>> lf = lazyrich.scan("results/quickstart")
    >>> ok = lf.filter(pl.col("status") == "ok").select("arch", "lambda", "scale", "t90")
    >>> ok.collect().height
    750
    >>> sorted(lf.select(pl.col("arch").unique()).collect()["arch"])
    ['2-2-8', '4-4-4', '8-2-2']
    """
    root, _ = open_manifest(path)
    if not part_files(root):
        return _with_arch(pl.LazyFrame(schema=POINTS_SCHEMA))
    pattern = str(root / POINTS_DIR / "**" / "*.parquet")
    return _with_arch(pl.scan_parquet(pattern, hive_partitioning=True))


def spec(path: PathLike, spec_hash: str | None = None) -> str:
    """The spec text the dataset was computed from, as given to `lazyrich run`
    (`_lazyrich/spec.toml`). After `lazyrich run --extend` that is the current spec; an earlier
    one is `spec(path, spec_hash=...)` with a hash of `provenance(path)["specs"]` (each row's
    `spec_hash` names the spec that computed it).

    >>> import lazyrich, tomllib
    >>> tomllib.loads(lazyrich.spec("results/quickstart"))["name"]
    'quickstart'
    """
    root, manifest = open_manifest(path)
    spec_path = root / CONTROL_DIR / "spec.toml"
    if spec_hash is not None and spec_hash != manifest.get("spec_hash"):
        known = [str(entry.get("hash")) for entry in manifest.get("specs", [])]
        if spec_hash not in known:
            raise DatasetError(root, f"holds no spec of hash {spec_hash!r} (its specs: "
                                     f"{', '.join(known) or manifest.get('spec_hash')})")
        spec_path = root / CONTROL_DIR / "specs" / f"{spec_hash}.toml"
    try:
        return spec_path.read_text(encoding="utf-8")
    except OSError as err:
        raise DatasetError(spec_path, f"cannot read the spec: {err}") from err


def provenance(path: PathLike) -> Provenance:
    """Where the rows of a dataset come from: the manifest's spec name, spec hash, schema
    version, creation time and shard layouts, the number of rows, and the distinct lazyrich
    versions and git commits recorded in the rows.

    >>> import lazyrich
    >>> p = lazyrich.provenance("results/quickstart")
    >>> p["spec_name"], p["schema_version"], p["rows"]
    ('quickstart', 4, 756)
    """
    _, manifest = open_manifest(path)
    lf = scan(path)
    distinct = (
        lf.select(
            pl.col("lazyrich_version").cast(pl.String).unique().sort().implode(),
            pl.col("git_commit").cast(pl.String).unique().sort().implode(),
            pl.len().alias("rows"),
        )
        .collect()
        .row(0, named=True)
    )
    return Provenance(
        spec_name=str(manifest.get("spec_name", "")),
        spec_hash=str(manifest.get("spec_hash", "")),
        schema_version=int(manifest["schema_version"]),
        created=str(manifest.get("created", "")),
        layouts=[str(x) for x in manifest.get("layouts", [])],
        rows=int(distinct["rows"]),
        lazyrich_versions=list(distinct["lazyrich_version"]),
        git_commits=list(distinct["git_commit"]),
        specs=[str(entry["hash"]) for entry in manifest.get("specs", [])]
        or [str(manifest.get("spec_hash", ""))],
    )
