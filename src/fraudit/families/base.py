"""What declares a model family: the one place a family's facts are written. Everything
that serves, deploys or configures models (settings, the API's wiring and service, the model
server, `fraudit deploy`, the CLI) loops over the declared families and reads these facts;
none of them names a family. Light on purpose: the Lambda imports it.

A family's code (training, its loaded bundle, in-process scoring, its endpoints on the local
model server, its `train` and `evaluate` commands) lives in its own folder,
`fraudit.models.<name>`, whose `serving` and `commands` modules (`FamilyServing`,
`FamilyCommands`) are imported only where models are loaded or trained."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from argparse import Namespace
    from pathlib import Path


class FamilySettings(BaseModel):
    """A family's deployment, from the environment (`fraudit.settings`): its two endpoints,
    the version it serves, where its decision policy is published; and the candidate that
    scores the same rows in shadow, when one is set (docs/MODELS.md "A candidate in
    shadow")."""

    classifier_endpoint: str = Field(min_length=1)
    anomaly_endpoint: str = Field(min_length=1)
    model_version: str | None = None
    policy_s3_uri: str | None = None
    policy_ssm_parameter: str | None = None
    # The candidate in shadow: on when its version is set. Locally its bundle is read from
    # `shadow_model_dir` (default: <model dir>/candidates, where `fraudit train --from-store`
    # writes); on AWS from its endpoints and its published policy.
    shadow_model_version: str | None = None
    shadow_model_dir: str | None = None
    shadow_classifier_endpoint: str | None = None
    shadow_anomaly_endpoint: str | None = None
    shadow_policy_s3_uri: str | None = None

    @property
    def shadow_endpoints(self) -> tuple[str, str]:
        """The candidate's (classifier, anomaly) endpoint names: set, or the live ones'
        with a `-shadow` suffix."""
        return (
            self.shadow_classifier_endpoint or f"{self.classifier_endpoint}{SHADOW_SUFFIX}",
            self.shadow_anomaly_endpoint or f"{self.anomaly_endpoint}{SHADOW_SUFFIX}",
        )


SHADOW_SUFFIX = "-shadow"


class FamilyServing(Protocol):
    """The module `fraudit.models.<family>.serving`: the family's models loaded for scoring."""

    def in_process_scorer(self, model_dir: Path, version: str | None) -> Any:
        """Its two models loaded into this process (a `fraudit.scoring.base.Scorer`)."""
        ...

    def endpoints(
        self, model_dir: Path, version: str | None, classifier: str, anomaly: str
    ) -> list[Any]:
        """The family's two endpoints for the local model server
        (`fraudit.models.server.Endpoint`)."""
        ...

    def check_inputs(self, model_dir: Path, version: str) -> tuple[list[list[float]], Any]:
        """Rows shaped like its requests and its anomaly detector's (scores, terms) of an
        array: what `fraudit deploy check-model` compares each container against."""
        ...


class FamilyCommands(Protocol):
    """The module `fraudit.models.<family>.commands`: `fraudit train` and `fraudit evaluate`
    for the family (`--dataset <name>`), and a model from nothing for the demo and the soak;
    each returns the exit status."""

    def train(self, args: Namespace, settings: Any, say: Callable[[str], None]) -> int: ...

    def evaluate(self, args: Namespace, settings: Any, say: Callable[[str], None]) -> int: ...

    def from_scratch(
        self, folder: Path, settings: Any, say: Callable[[str], None], data: Path | None
    ) -> int:
        """A model trained without the user's data (or on `data` where the family can)."""
        ...


@dataclass(frozen=True)
class DemoTraffic:
    """The demo's simulator process for a family's traffic: its `fraudit` arguments, its
    environment, and whether it starts before the models are trained (it needs only Redis)."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    early: bool = False


class FamilyTraffic(Protocol):
    """The module `fraudit.models.<family>.traffic`: what `fraudit simulate`, the demo and the
    soak send for the family (`--dataset <name>`)."""

    def simulate(self, args: Namespace, settings: Any, say: Callable[[str], None]) -> Any:
        """A `fraudit.simulator.source.Traffic`: the source and where it starts."""
        ...

    def soak_source(
        self, args: Namespace, settings: Any, requests: int, out: Path, say: Callable[[str], None]
    ) -> Any:
        """A replay `Source` of about `requests` transactions for the soak."""
        ...

    def demo_simulator(
        self, common: list[str], *, home: Path, seed: int, rate: float | None, redis: dict[str, str]
    ) -> DemoTraffic:
        """`common` are the demo's `simulate` arguments (URL, connections, no progress);
        `redis` the environment naming the demo's Redis and key prefix."""
        ...


@dataclass(frozen=True)
class ModelFamily:
    """One model family: its own features, request contract, versions, endpoints and policy."""

    name: str  # `--dataset` / `--family` value, the key of its settings and models
    description: str  # one line for help texts
    noun: str  # how messages name it: "the {noun} model"
    # The key of a request body that marks a request of this family ("data", "transaction").
    request_key: str
    request: type[BaseModel]  # its contract (fraudit.contracts)
    request_summary: str  # what its request is, for the OpenAPI document
    # What its models score of a request: (request, its store features, None unless it
    # counts history) -> a row; and a row as the SageMaker endpoints read it, one `text/csv`
    # line.
    row: Callable[[Any, Any], Any]
    csv_row: Callable[[Any], str]
    # Where its versions and LATEST live, under the model folder ("" = the folder itself).
    artifact_dir: str
    # On AWS: the S3 prefix of its versions, the key of its current policy, and the
    # Terraform variable that pins the version its endpoints serve.
    deploy_prefix: str
    policy_key: str
    version_variable: str
    # Its settings are read from FRAUDIT_<settings_prefix><FIELD> (e.g. FRAUDIT_CARD_MODEL_VERSION).
    settings_prefix: str
    default_classifier_endpoint: str
    default_anomaly_endpoint: str
    train_command: str  # what makes a model of it
    # Reasons (fraudit.scoring.reasons): a row's values by feature name, a feature's value
    # in words, and one of its anomaly detector's terms in words.
    named_values: Callable[[Any], Mapping[str, float | None]]
    describe: Callable[[str, float | None], str]
    describe_anomaly: Callable[[str, float], str]
    # The row its models scored, from a stored event (`fraudit explain`); None where its
    # events do not keep the row.
    row_of_event: Callable[[Any], Any]
    # Its code: `<package>.serving` (FamilyServing) and `<package>.commands` (FamilyCommands).
    package: str
    # The API refuses to start without its policy (else its requests are answered 503).
    required: bool = False
    # Its requests are counted in the online store's entity histories (card features).
    counts_history: bool = False

    def variable(self, field: str) -> str:
        """The environment variable of one of its settings."""
        return f"FRAUDIT_{self.settings_prefix}{field}".upper()

    def default_settings(self) -> FamilySettings:
        return FamilySettings(
            classifier_endpoint=self.default_classifier_endpoint,
            anomaly_endpoint=self.default_anomaly_endpoint,
        )

    @property
    def shadow_policy_key(self) -> str:
        """On AWS: the key of the policy of the candidate its shadow endpoints serve."""
        folder, _, name = self.policy_key.rpartition("/")
        return f"{folder}/shadow-{name}" if folder else f"shadow-{name}"

    @property
    def shadow_version_variable(self) -> str:
        """The Terraform variable that pins the candidate its shadow endpoints serve."""
        return f"{self.settings_prefix}shadow_model_version"

    @property
    def health_key(self) -> str:
        """The key naming its served version in GET /health."""
        return f"{self.settings_prefix}model_version"

    @property
    def shadow_health_key(self) -> str:
        """The key naming its candidate in shadow in GET /health."""
        return f"{self.settings_prefix}shadow_model_version"

    def serving(self) -> FamilyServing:
        return cast(FamilyServing, importlib.import_module(f"{self.package}.serving"))

    def commands(self) -> FamilyCommands:
        return cast(FamilyCommands, importlib.import_module(f"{self.package}.commands"))

    def traffic(self) -> FamilyTraffic:
        return cast(FamilyTraffic, importlib.import_module(f"{self.package}.traffic"))
