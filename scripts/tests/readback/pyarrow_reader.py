"""pyarrow, file by file: the Arrow schema and the footer key-value metadata of every part file."""

from __future__ import annotations

import pathlib
from typing import Any

from .common import (COLUMNS, FOOTER_KEYS, NAMES, PART_NAME, RFC3339_UTC, SCHEMA_VERSION,
                     DatasetState, Runner, part_files, require)


def arrow_type(spelling: str) -> Any:
    """The pyarrow type of a docs/dataset.md type spelling (`list<f64?>`: nullable items)."""
    import pyarrow as pa

    if spelling.startswith("list<") and spelling.endswith(">"):
        item = spelling[5:-1]
        nullable = item.endswith("?")
        return pa.list_(pa.field("item", arrow_type(item.removesuffix("?")), nullable=nullable))
    return {"u64": pa.uint64(), "u32": pa.uint32(), "f64": pa.float64(), "utf8": pa.string(),
            "dict<utf8>": pa.dictionary(pa.int32(), pa.string())}[spelling]


def same_arrow_type(found: Any, expected: Any) -> bool:
    """Type equality that ignores list item names, dictionary index width and the nullability
    of list items spelled without `?` (items spelled `f64?` must be nullable)."""
    import pyarrow as pa

    if pa.types.is_list(expected):
        return (pa.types.is_list(found)
                and (found.value_field.nullable or not expected.value_field.nullable)
                and same_arrow_type(found.value_type, expected.value_type))
    if pa.types.is_dictionary(expected):
        return (pa.types.is_dictionary(found) and pa.types.is_integer(found.index_type)
                and found.value_type == expected.value_type)
    return found == expected


def check_arrow_schema(root: pathlib.Path) -> str:
    """Every file has the documented columns: names, order, types and nullability."""
    import pyarrow.parquet as pq

    for f in part_files(root):
        schema = pq.read_schema(f)
        names = list(schema.names)
        require(names == NAMES, f"{f.name}: columns {names} differ from docs/dataset.md "
                f"(missing {sorted(set(NAMES) - set(names))}, extra {sorted(set(names) - set(NAMES))})")
        for name, spelling, nullable in COLUMNS:
            field = schema.field(name)
            require(same_arrow_type(field.type, arrow_type(spelling)),
                    f"{f.name}: column {name} is {field.type}, expected {spelling}")
            require(field.nullable == nullable,
                    f"{f.name}: column {name} nullable={field.nullable}, expected {nullable}")
    return "names, order, types and nullability of every file"


def check_footer(root: pathlib.Path, state: DatasetState) -> str:
    """Every file's footer holds the `lazyrich.*` keys, consistent with the manifest, the spec
    file and the file name; sets `state.footer_rows`."""
    import pyarrow.parquet as pq

    manifest = state.manifest
    assert manifest is not None, "check_footer runs after check_layout has read the manifest"
    rows = 0
    for f in part_files(root):
        meta = pq.read_metadata(f)
        rows += meta.num_rows
        kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
        missing = [k for k in FOOTER_KEYS if k not in kv]
        require(not missing, f"{f.name}: footer lacks {missing}")
        require(kv["lazyrich.spec_hash"] == manifest["spec_hash"],
                f"{f.name}: footer spec_hash {kv['lazyrich.spec_hash']} != manifest {manifest['spec_hash']}")
        require(kv["lazyrich.schema_version"] == str(SCHEMA_VERSION),
                f"{f.name}: footer schema_version {kv['lazyrich.schema_version']!r}")
        require(kv["lazyrich.spec_text"] == state.spec_text,
                f"{f.name}: footer spec_text differs from _lazyrich/spec.toml")
        require(RFC3339_UTC.match(kv["lazyrich.created"]),
                f"{f.name}: footer created {kv['lazyrich.created']!r} is not UTC RFC 3339")
        require(kv["lazyrich.lazyrich_version"] and kv["lazyrich.git_commit"],
                f"{f.name}: empty lazyrich_version or git_commit in the footer")
        m = PART_NAME.match(f.name)
        if m and m.group(1) is not None:
            shard = f"{int(m.group(1))}/{int(m.group(2))}"
            require(kv["lazyrich.shard"] == shard,
                    f"{f.name}: footer shard {kv['lazyrich.shard']!r}, file name says {shard}")
        require(meta.num_rows > 0, f"{f.name}: a published part file has no rows")
    state.footer_rows = rows
    return f"{len(FOOTER_KEYS)} keys in every file, {rows} rows in the footers"


def pyarrow_checks(run: Runner, root: pathlib.Path, state: DatasetState,
                   expected_rows: int | None) -> None:
    """The per-file checks; run only once the layout check has read the manifest."""
    run.check("pyarrow: Arrow schema of every file", check_arrow_schema, root)
    run.check("pyarrow: footer key-value metadata of every file", check_footer, root, state)
    if expected_rows is not None and state.footer_rows is not None:
        footer_rows = state.footer_rows
        run.check("pyarrow: footer row counts add up to the expected rows",
                  lambda: require(footer_rows == expected_rows,
                                  f"{footer_rows} rows, expected {expected_rows}"))
