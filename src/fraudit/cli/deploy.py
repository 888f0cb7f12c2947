"""`fraudit deploy ...`: the argument parsing of the deploy commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fraudit.families import families, family

DEFAULT_IMAGE_TAG = "3.0-5"  # devops/infra variable xgboost_image_tag's default


def _family(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--family",
        choices=[f.name for f in families()],
        default=families()[0].name,
        help=f"{help_text} (default {families()[0].name})",
    )


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "deploy", help="put artifacts on AWS and drive the stack (see docs/deploy.md)"
    )
    p.add_argument("--repo", type=Path, default=Path("."), help="fraudit checkout")
    p.add_argument(
        "--infra",
        type=Path,
        default=Path("devops/infra"),
        help="Terraform root module (its outputs describe the stack)",
    )
    p.add_argument(
        "--outputs", type=Path, help="saved `terraform output -json` instead of running terraform"
    )
    p.add_argument("--build-dir", type=Path, default=Path("build/deploy"))
    p.add_argument("--model-dir", type=Path, help="default FRAUDIT_MODEL_DIR")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    steps = p.add_subparsers(dest="deploy_command", required=True)

    s = steps.add_parser("build", help="the wheel, the Glue and dashboard wheelhouses, the API zip")
    s.add_argument(
        "--only",
        choices=["glue", "dashboard"],
        action="append",
        help="build only these wheelhouses (repeatable; default both)",
    )
    s.add_argument("--api", action="store_true", help="also `chalice package` the API")
    s.add_argument("--ops", action="store_true", help="also the operations task's Lambda zip")
    s.add_argument("--region", default="us-east-1", help="region the API zip is built for")

    s = steps.add_parser(
        "upload",
        help="job script, wheelhouses, API zip, model artifacts, "
        "policy; writes fraudit.auto.tfvars.json",
    )
    s.add_argument("--model-version", help="default: the family's newest (its LATEST)")
    _family(s, "whose model to upload (cards: models/cards/, card_model_version)")
    s.add_argument(
        "--shadow",
        action="store_true",
        help="upload a candidate to score in shadow (default --model-dir: the family's "
        "FRAUDIT_<FAMILY>_SHADOW_MODEL_DIR, else FRAUDIT_MODEL_DIR/candidates); sets its "
        "shadow_model_version variable",
    )

    s = steps.add_parser(
        "check-model",
        help="prove a family's artifacts load as the SageMaker containers load them (the "
        "classifier with the xgboost of the image Terraform pins) and score as fraudit does",
    )
    s.add_argument("--model-version", help="default: the family's newest (its LATEST)")
    _family(s, "whose artifacts")
    s.add_argument(
        "--image-tag",
        help=f"built-in XGBoost image tag (default: the stack's output, else {DEFAULT_IMAGE_TAG})",
    )

    s = steps.add_parser(
        "endpoints",
        help="create or update the SageMaker endpoints "
        '(stacks with endpoints_managed_by = "deploy")',
    )
    s.add_argument("--model-version", help="default: the family's newest (its LATEST)")
    _family(s, "whose endpoints (cards: FRAUDIT_CARD_*_ENDPOINT of the stack)")
    s.add_argument("--instance-type", default="ml.m5.large")
    s.add_argument("--instance-count", type=int, default=1)
    s.add_argument(
        "--serverless-memory-mb",
        type=int,
        help="serve with Serverless Inference at this memory size",
    )

    s = steps.add_parser("glue", help="start, stop or show the Glue streaming job")
    s.add_argument("action", choices=["start", "stop", "status"])

    s = steps.add_parser(
        "api-key",
        help="put the API key in the stack's secret (if it has none) and on the usage plan",
    )
    s.add_argument("--rotate", action="store_true", help="replace the key with a new one")

    s = steps.add_parser(
        "ops",
        help="run a task of the operations function inside the VPC: check (reaches the "
        "cache and the database), features-rebuild (the online store from PostgreSQL) or "
        "features-reap (undo counts of requests that died unanswered; also scheduled)",
    )
    s.add_argument("task", choices=["check", "features-rebuild", "features-reap"])

    s = steps.add_parser("env", help="write the stack's .env from the Terraform outputs")
    s.add_argument("--out", type=Path, default=Path(".env.aws"))
    p.set_defaults(func=run_deploy)


def run_deploy(args: argparse.Namespace, settings: Any) -> int:
    from fraudit.deploy import build
    from fraudit.deploy.aws import DeployAws
    from fraudit.deploy.commands import Deployer
    from fraudit.deploy.outputs import read_outputs

    say = print
    repo = args.repo.resolve()
    model_dir = args.model_dir or settings.model_dir
    if args.deploy_command == "build":
        if args.dry_run:
            say(
                "dry run: would build the wheel, the "
                f"{', '.join(args.only or build.TARGETS)} wheelhouse(s)"
                + (" and the API zip" if args.api else "")
                + (" and the operations task's zip" if args.ops else "")
            )
            return 0
        wheel = build.build_wheel(repo, args.build_dir)
        for name in args.only or build.TARGETS:
            build.build_wheelhouse(
                build.TARGETS[name], wheel, repo / "constraints.txt", args.build_dir, say
            )
        if args.api:
            build.build_api_package(repo, args.build_dir, args.region, say)
        if args.ops:
            build.build_ops_package(wheel, repo / "constraints.txt", args.build_dir, say)
        return 0

    outputs = None
    if (
        args.outputs
        or (args.infra / "terraform.tfstate").exists()
        or (args.infra / ".terraform").exists()
    ):
        outputs = read_outputs(infra_dir=args.infra, outputs_file=args.outputs)
    if args.deploy_command == "check-model":
        return _check_model(args, model_dir, outputs, say)
    if outputs is None:
        say(
            f"error: no stack outputs: run `terraform apply` in {args.infra}, or pass "
            "--outputs with a saved `terraform output -json`"
        )
        return 2
    chosen = family(getattr(args, "family", families()[0].name))
    shadow = bool(getattr(args, "shadow", False))
    if shadow and args.model_dir is None:
        from fraudit.models.layout import shadow_model_dir

        model_dir = shadow_model_dir(settings.model_dir, settings.family(chosen))
    deployer = Deployer(
        repo=repo,
        build_dir=args.build_dir,
        infra_dir=args.infra,
        model_dir=model_dir,
        outputs=outputs,
        aws=DeployAws(outputs.AWS_REGION),
        dry_run=args.dry_run,
        say=say,
        family=chosen,
        shadow=shadow,
    )
    return _run_step(deployer, args)


def _run_step(deployer: Any, args: argparse.Namespace) -> int:
    """The steps that act on a stack."""
    if args.deploy_command == "upload":
        deployer.upload(args.model_version)
    elif args.deploy_command == "endpoints":
        deployer.endpoints(
            args.model_version,
            instance_type=args.instance_type,
            instance_count=args.instance_count,
            serverless_memory_mb=args.serverless_memory_mb,
        )
    elif args.deploy_command == "glue":
        deployer.glue(args.action)
    elif args.deploy_command == "api-key":
        return 2 if deployer.api_key(rotate=args.rotate) < 0 else 0
    elif args.deploy_command == "ops":
        return int(deployer.ops(args.task))
    else:
        deployer.env(args.out)
    return 0


def _check_model(args: argparse.Namespace, model_dir: Path, outputs: Any, say: Any) -> int:
    from fraudit.deploy.model_check import check_version

    tag = args.image_tag or (outputs.xgboost_image_tag if outputs else DEFAULT_IMAGE_TAG)
    checked = family(args.family)
    say(f"checking the {checked.name} family's artifacts against SageMaker XGBoost {tag} and "
        "the anomaly artifact's own inference.py")  # fmt: skip
    version, checks = check_version(
        model_dir, checked, args.model_version, tag, cache=args.repo.resolve() / ".fraudit"
    )
    for artifact, result in checks.items():
        loader = (
            f"xgboost {result.xgboost_version}"
            if result.xgboost_version != "-"
            else "its inference.py hooks"
        )
        say(
            f"{version}/{artifact}: {loader} loaded it; {result.rows} rows scored, largest "
            f"difference from fraudit's own scores {result.max_abs_difference:.2e}"
        )
    if not all(result.ok for result in checks.values()):
        say("error: a container would score differently")
        return 1
    return 0
