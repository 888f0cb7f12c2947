"""`fraudit train` and `fraudit evaluate` for the ULB family (`--dataset ulb`)."""

from __future__ import annotations

import json
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from fraudit.settings import Settings


def train(args: Namespace, settings: Settings, say: Callable[[str], None]) -> int:
    if args.features or getattr(args, "from_store", False):
        say("error: --features and --from-store are for --dataset cards")
        return 2
    from fraudit.models.ulb.train import run_training

    result = run_training(settings, data_path=args.data, out_dir=args.out, progress=say)
    print(result.version)
    return 0


def evaluate(args: Namespace, settings: Settings, say: Callable[[str], None]) -> int:
    """The stored model on the test slice; with --baseline the reference recipe beside it
    (and with --folds on forward-chained folds), --candidates, --reliability-plot."""
    from fraudit.data.datasets import resolve_dataset
    from fraudit.files import sha256_file
    from fraudit.models.layout import EVALUATION_FILE, METRICS_FILE
    from fraudit.models.ulb.bundle import load_bundle
    from fraudit.models.ulb.evaluate import (
        compare_with_reference,
        evaluate_bundle,
        format_comparison,
        format_folds,
        format_stored,
        recipe_of,
        rolling_origin,
    )

    bundle = load_bundle(args.model_dir or settings.model_dir, args.version)
    data = resolve_dataset(
        args.data,
        settings.dataset_path,
        synthetic_rows=settings.synthetic_rows,
        seed=settings.seed,
        say=say,
    )
    expected = bundle.manifest.get("data", {}).get("sha256")
    rate = settings.production_fraud_rate
    trained_on_it = (
        bool(expected)
        and Path(data.source).is_file()
        and sha256_file(Path(data.source)) == expected
    )
    stored = evaluate_bundle(bundle, data, rate, trained_on_it=trained_on_it)
    say(stored["figures"])
    say(format_stored(stored))
    report: dict[str, object] = {"stored_model": stored}
    if args.baseline:
        say(f"training both recipes with {args.seeds} seeds on the same split")
        comparison = compare_with_reference(
            bundle,
            data,
            rate=rate,
            decline_precision=settings.policy_decline_precision,
            seeds=args.seeds,
            n_boot=args.bootstrap,
            progress=say,
        )
        report["comparison"] = comparison
        print(format_comparison(comparison))
        if args.folds:
            say(f"both recipes on {args.folds} forward-chained folds")
            folds = rolling_origin(
                data,
                recipe_of(bundle),
                folds=args.folds,
                rate=rate,
                seed=settings.seed,
                progress=say,
            )
            report["rolling_origin"] = folds
            print(format_folds(folds))
    if args.candidates:
        from fraudit.models.ulb.candidates import compare_candidates, format_candidates

        folds_n = args.folds or 4
        say(f"candidate recipes on {folds_n} forward-chained folds")
        candidates = compare_candidates(
            data, recipe_of(bundle), folds=folds_n, rate=rate, seed=settings.seed, progress=say
        )
        report["candidates"] = candidates
        print(format_candidates(candidates))
    if args.reliability_plot:
        from fraudit.models.calibrate import reliability_plot

        metrics = json.loads((bundle.path / METRICS_FILE).read_text(encoding="utf-8"))
        reliability_plot(
            metrics["test"]["calibration"],
            args.reliability_plot,
            f"model {bundle.version}: level (b) test slice, production-weighted",
        )
        say(f"reliability plot written to {args.reliability_plot}")
    out = args.json or bundle.path / EVALUATION_FILE
    Path(out).write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    say(f"report written to {out}")
    return 0


def from_scratch(
    folder: Path, settings: Settings, say: Callable[[str], None], data: Path | None
) -> int:
    """A ULB model on `data`, else on FRAUDIT_DATASET_PATH or the calibrated synthetic
    stand-in, as `fraudit train` trains it (the demo and the soak)."""
    from fraudit.models.ulb.train import run_training

    result = run_training(settings, data_path=data, progress=say)
    say(f"ULB model {result.version}")
    return 0
