"""What the Glue jobs download from S3: the library wheel and the job scripts.

The wheel is built with `pip wheel --no-deps` from a clean copy of the sources (so no `build/`
lands in the working tree), then rewritten for Glue:

- `Requires-Dist: pyspark` is dropped: Glue 5.1 provides Spark 3.5.6, and pip would otherwise
  download and shadow it. Every other requirement stays, so pip on Glue installs exactly the
  library's dependencies (pyiceberg, pyarrow, boto3, pyyaml, ...) from
  `--additional-python-modules <wheel>`.
- `ddl/*.sql` and `mappings/**` are bundled at the wheel's root. pip installs them into
  site-packages next to `schemahub_lib/`, which is where `Settings.ddl_dir`, `mappings_dir` and
  `seed_path` point by default (`REPO_ROOT` is the parent of `schemahub_lib/`), so the jobs find
  them with no S3 paths and no settings change.
- Entries are sorted and time-stamped 1980-01-01, so the same sources give the same bytes and a
  second deploy uploads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from schemahub_lib.deploy.config import Deployment
from schemahub_lib.errors import SetupError

PROVIDED_BY_GLUE = frozenset({"pyspark"})
BUNDLED_DIRS = ("ddl", "mappings")
_SOURCE_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Artifact:
    """One object to upload: its S3 key, its local file and the SHA-256 of its bytes."""

    key: str
    path: Path
    sha256: str


def build_artifacts(deployment: Deployment, root: Path, workdir: Path) -> list[Artifact]:
    """The Glue wheel and every job script, ready to upload under `<prefix>/artifacts/`."""
    wheel = build_glue_wheel(root, workdir)
    artifacts = [_artifact(deployment.key("artifacts", "python", wheel.name), wheel)]
    for script in sorted({job.script for job in deployment.jobs}):
        path = root / script
        if not path.is_file():
            raise SetupError(
                f"{deployment.source}: job script {script} not found under {root}; "
                "the deployment names scripts relative to the repository root"
            )
        artifacts.append(_artifact(deployment.key("artifacts", script), path))
    return artifacts


def wheel_artifact(artifacts: list[Artifact]) -> Artifact:
    return next(a for a in artifacts if a.key.endswith(".whl"))


def build_glue_wheel(root: Path, out_dir: Path) -> Path:
    """Build the library wheel from `root` and rewrite it for Glue (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="schemahub-wheel-") as tmp:
        src, dist = Path(tmp) / "src", Path(tmp) / "dist"
        src.mkdir()
        for name in _SOURCE_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        shutil.copytree(
            root / "schemahub_lib",
            src / "schemahub_lib",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        done = subprocess.run([*command, "-q", "-w", str(dist), str(src)], capture_output=True, text=True)
        wheels = sorted(dist.glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            raise SetupError(
                f"`pip wheel` failed for {root} (exit {done.returncode}): {done.stderr.strip()[-500:]}. "
                "Run `make setup` so setuptools and wheel are installed in the virtualenv."
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / wheels[0].name
        rewrite_for_glue(wheels[0], target, {d: root / d for d in BUNDLED_DIRS})
    return target


def rewrite_for_glue(wheel: Path, target: Path, bundle: dict[str, Path]) -> None:
    """Copy `wheel` to `target` without Glue-provided requirements, with `bundle` dirs added."""
    with zipfile.ZipFile(wheel) as zin:
        files = {n: zin.read(n) for n in zin.namelist() if not n.endswith("/")}
    dist_info = next(n.split("/")[0] for n in files if n.endswith(".dist-info/METADATA"))
    metadata = files[f"{dist_info}/METADATA"].decode()
    kept = [line for line in metadata.split("\n") if _requirement_name(line) not in PROVIDED_BY_GLUE]
    files[f"{dist_info}/METADATA"] = "\n".join(kept).encode()
    for name, folder in bundle.items():
        if not folder.is_dir():
            raise SetupError(f"cannot bundle {folder}: not a folder (the jobs need {name}/ in Glue)")
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"{name}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    record = f"{dist_info}/RECORD"
    files.pop(record, None)
    lines = [f"{n},sha256={_urlsafe_digest(data)},{len(data)}" for n, data in sorted(files.items())]
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, files[name])


def wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's unconditional `Requires-Dist` lines (what pip installs on Glue)."""
    with zipfile.ZipFile(wheel) as zin:
        name = next(n for n in zin.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = zin.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in metadata.split("\n")
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _artifact(key: str, path: Path) -> Artifact:
    return Artifact(key=key, path=path, sha256=sha256_file(path))


def _requirement_name(line: str) -> str | None:
    if not line.startswith("Requires-Dist:"):
        return None
    spec = line.split(":", 1)[1].strip()
    name = ""
    for ch in spec:
        if not (ch.isalnum() or ch in "-_."):
            break
        name += ch
    return name.lower().replace("_", "-")


def _urlsafe_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
