"""`fraudit explain EVENT_ID`: a stored decision's reasons, recomputed from its event's
feature snapshot by the model version that scored it (loaded here), beside the rules that
fired as the event recorded them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fraudit.contracts import Reasons, ScoredEvent
from fraudit.db.connection import connect, database_url
from fraudit.errors import ArtifactError
from fraudit.families import ModelFamily, families
from fraudit.models.layout import family_root
from fraudit.scoring.reasons import reasons
from fraudit.settings import Settings


@dataclass(frozen=True)
class Explained:
    event: ScoredEvent
    family: ModelFamily
    reasons: Reasons | None  # None: its family's events keep no row to recompute from
    stored: Reasons | None


def _family_of(event: ScoredEvent, model_dir: Path) -> ModelFamily:
    """The family whose versions hold the model that scored the event."""
    for declared in families():
        if (family_root(model_dir, declared) / event.model_version).is_dir():
            return declared
    raise LookupError(
        f"model {event.model_version} is not under {model_dir}: fetch that version there "
        "(FRAUDIT_MODEL_DIR) to recompute its reasons"
    )


def explain_event(settings: Settings, event_id: str) -> Explained:
    url = database_url(settings)
    if not url:
        raise LookupError("no database: set DATABASE_URL (or FRAUDIT_DATABASE_SECRET_ID)")
    with connect(url) as conn:
        row = conn.execute(
            "SELECT payload FROM fraud_predictions WHERE event_id = %s", (event_id,)
        ).fetchone()
    if row is None:
        raise LookupError(f"no stored event {event_id!r}")
    event = ScoredEvent.model_validate(row[0])
    declared = _family_of(event, Path(settings.model_dir))
    scored = declared.row_of_event(event)
    if scored is None:
        return Explained(event, declared, None, event.reasons)
    try:
        scorer = declared.serving().in_process_scorer(Path(settings.model_dir), event.model_version)
    except ArtifactError as exc:
        raise LookupError(str(exc)) from None
    (explanation,) = scorer.explain([scored])
    return Explained(
        event,
        declared,
        reasons(declared, explanation, scored, event.feature_set_version),
        event.reasons,
    )


def explanation_lines(explained: Explained) -> list[str]:
    event = explained.event
    lines = [
        f"event {event.event_id}: {event.decision} ({explained.family.noun} model "
        f"{event.model_version}, P(fraud) {event.fraud_proba:.4f}, "
        f"anomaly {event.anomaly_score:.2f})"
    ]
    applied = event.rules
    if applied is not None:
        cause = applied.decided_by or "the model"
        lines.append(
            f"ruleset {applied.ruleset_version}: decided by {cause} (the model alone: "
            f"{applied.model_decision})"
        )
        for hit in applied.fired:
            lines.append(
                f"  rule {hit.rule_id} v{hit.version} ({hit.action}): {hit.reason}; "
                f"saw {hit.values}"
            )
        for hit in applied.shadow_fired:
            lines.append(f"  shadow rule {hit.rule_id} v{hit.version} ({hit.action}): {hit.reason}")
    given = explained.reasons or explained.stored
    if given is None:
        lines.append("no reasons: this family's events keep no feature snapshot to recompute from")
        return lines
    source = "recomputed" if explained.reasons is not None else "as stored"
    lines.append(f"the classifier's reasons ({source}; log-odds toward fraud):")
    lines += [f"  +{r.contribution:.3f}  {r.text}" for r in given.model] or ["  none toward fraud"]
    lines.append("the anomaly detector's largest terms:")
    lines += [f"  {r.contribution:.2f}  {r.text}" for r in given.anomaly]
    return lines
