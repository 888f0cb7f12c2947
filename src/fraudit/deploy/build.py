"""Build what the stack runs: the fraudit wheel, the Glue job's zip of wheels (x86_64),
the dashboard's wheelhouse (arm64, for its Graviton instance) and the API's Lambda zip.
Versions come from constraints.txt, so AWS runs what CI tested."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fraudit.wheels import PYDANTIC_PACKAGES, pinned, pip_platform, run_pip

# Glue 5 brings pyspark, pandas, pyarrow and boto3; the jobs need fraudit and these on top
# (CEL for the backtest's rules: its manylinux_2_28 wheel runs on Glue 5's Amazon Linux 2023).
GLUE_PACKAGES = (
    *PYDANTIC_PACKAGES,
    "psycopg",
    "psycopg-binary",
    "cel-expr-python",
)


@dataclass(frozen=True)
class Target:
    name: str
    arch: str  # x86_64 or aarch64
    output: str  # file name under the build directory
    requirement: str  # what to install on top of the wheel ("" = the wheel alone)
    resolve: bool  # True: resolve dependencies; False: exactly the pinned list


GLUE = Target("glue", "x86_64", "fraudit-glue.gluewheels.zip", "", False)
DASHBOARD = Target("dashboard", "aarch64", "fraudit-dashboard-wheelhouse.zip", "dashboard", True)

TARGETS = {t.name: t for t in (GLUE, DASHBOARD)}


def build_wheel(repo: Path, out_dir: Path, say: Callable[[str], None] = print) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("fraudit-*.whl"):
        old.unlink()
    say(f"building the fraudit wheel from {repo}")
    run_pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(out_dir), str(repo)], say)
    (wheel,) = out_dir.glob("fraudit-*.whl")
    return wheel


def build_wheelhouse(
    target: Target,
    wheel: Path,
    constraints: Path,
    out_dir: Path,
    say: Callable[[str], None] = print,
) -> Path:
    """Download the target's wheels for its platform (CPython 3.11) and zip them with the
    fraudit wheel, flat, as Glue's zip of wheels and `pip --find-links` expect."""
    say(f"building the {target.name} wheelhouse (CPython 3.11, Linux {target.arch})")
    with tempfile.TemporaryDirectory(prefix=f"fraudit-{target.name}-") as tmp:
        folder = Path(tmp)
        platform = pip_platform(target.arch)
        download = ["download", "--quiet", "--dest", str(folder), *platform]
        if target.resolve:
            run_pip(
                [
                    *download,
                    "--constraint",
                    str(constraints),
                    f"fraudit[{target.requirement}] @ {wheel.resolve().as_uri()}",
                ],
                say,
            )
            # Prove the wheelhouse installs offline, as the instance will install it.
            run_pip(
                [
                    "install",
                    "--quiet",
                    "--dry-run",
                    "--no-index",
                    "--find-links",
                    str(folder),
                    "--target",
                    str(folder / "check"),
                    *platform,
                    f"fraudit[{target.requirement}]",
                ],
                say,
            )
        else:
            run_pip([*download, "--no-deps", *pinned(constraints, GLUE_PACKAGES)], say)
            shutil.copy2(wheel, folder / wheel.name)
        out = out_dir / target.output
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # wheels are zips
            for path in sorted(folder.glob("*.whl")):
                archive.write(path, path.name)
    say(f"  {out.name}: {out.stat().st_size / 1e6:.1f} MB")
    return out


# The operations task's Lambda (fraudit.ops.handler) needs the store's and the
# database's clients on top of fraudit (boto3 comes with the Lambda runtime).
OPS_PACKAGES = (
    *GLUE_PACKAGES,
    "redis",
    "hiredis",
)


def build_ops_package(
    wheel: Path, constraints: Path, out_dir: Path, say: Callable[[str], None] = print
) -> Path:
    """The operations task's Lambda zip (CPython 3.11, Linux x86_64): fraudit and the
    pinned OPS_PACKAGES installed at the zip's root, as Lambda imports them."""
    say("building the operations task's Lambda zip (CPython 3.11, Linux x86_64)")
    folder = out_dir / "ops"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fraudit-ops-") as tmp:
        target = Path(tmp) / "package"
        platform = pip_platform("x86_64")
        install = ["install", "--quiet", "--no-deps", "--target", str(target), *platform]
        run_pip([*install, *pinned(constraints, OPS_PACKAGES), str(wheel)], say)
        out = folder / "deployment.zip"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(target.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(target).as_posix())
    say(f"  {out.name}: {out.stat().st_size / 1e6:.1f} MB")
    return out


def build_api_package(
    repo: Path, out_dir: Path, region: str, say: Callable[[str], None] = print
) -> Path:
    """`chalice package` of app/chalice (fraudit vendored): the Lambda zip."""
    from fraudit.api.bundle import package

    say("building the API's Lambda zip with `chalice package`")
    zip_path = package(repo / "app" / "chalice", out_dir / "api", region=region)
    say(f"  {zip_path.name}: {zip_path.stat().st_size / 1e6:.1f} MB")
    return zip_path
