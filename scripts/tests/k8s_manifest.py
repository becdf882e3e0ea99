"""Parse the Kubernetes manifest of `lazyrich submit k8s` with PyYAML and check its structure.

`lazyrich submit k8s` writes its YAML by hand; this reads it back as Kubernetes would (a YAML
mapping) and checks that it is an Indexed Job of one completion per shard whose pods run
`lazyrich run ... --shards N` on the claimed volume mounted at the dataset's path.

Usage: ``python3 scripts/tests/k8s_manifest.py [--bin PATH]``; exits 1 on any failed check.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=pathlib.Path, default=REPO_ROOT / "target/debug/lazyrich")
    args = parser.parse_args()
    failures = []

    def check(what: str, ok: bool) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "data set"  # a space: the YAML must quote the path
        text = subprocess.run(
            [str(args.bin), "submit", "k8s", str(REPO_ROOT / "sweeps/quickstart.toml"),
             "--out", str(out), "--shards", "6", "--threads", "3", "--parallelism", "2",
             "--image", "registry.example/lazyrich:0.1", "--claim", "sweeps", "--dry-run"],
            check=True, capture_output=True, text=True).stdout
        job = yaml.safe_load(text)
        spec = job["spec"]
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        check("apiVersion batch/v1, kind Job", (job["apiVersion"], job["kind"]) == ("batch/v1", "Job"))
        check("Indexed, 6 completions, parallelism 2",
              (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 6, 2))
        check("backoffLimitPerIndex is a positive integer",
              isinstance(spec["backoffLimitPerIndex"], int) and spec["backoffLimitPerIndex"] > 0)
        check("restartPolicy Never (required by podFailurePolicy)", pod["restartPolicy"] == "Never")
        check("the container runs lazyrich run ... --shards 6",
              container["command"] == ["lazyrich", "run", f"{out}/_lazyrich/spec.toml", "--out",
                                       str(out), "--threads", "3", "--shards", "6"])
        check("cpu = threads", container["resources"]["requests"]["cpu"] == "3"
              and container["resources"]["limits"]["cpu"] == "3")
        mount = container["volumeMounts"][0]
        volume = pod["volumes"][0]
        check("the claim is mounted at the dataset's path",
              mount["mountPath"] == str(out) and mount["name"] == volume["name"]
              and volume["persistentVolumeClaim"]["claimName"] == "sweeps")
        check("the job name is a DNS label", job["metadata"]["name"] == "lazyrich-quickstart")
    print(f"k8s manifest: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
