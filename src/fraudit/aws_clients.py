"""Every boto3 client fraudit makes comes from here: the region, the endpoint override
(a local emulator or model server), timeouts and retries.

On the laptop the same calls go to servers that speak the AWS wire contracts: an endpoint
on loopback with no AWS credentials configured gets dummy ones, since a local emulator
checks no signature (AWS itself never receives them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from botocore.config import Config

if TYPE_CHECKING:
    from fraudit.settings import Settings

# Connections kept per client: the API serves many requests at once from one client.
API_POOL_SIZE = 32
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def client_config(
    *, connect_timeout: float, read_timeout: float, max_attempts: int, pool_size: int = 10
) -> Config:
    """max_attempts counts the first call: 1 turns botocore's own retries off, for callers
    whose loop decides (the Kinesis publisher)."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=pool_size,
        tcp_keepalive=True,
        # Our code builds every parameter of the request path's calls; the service still
        # refuses what is wrong.
        parameter_validation=False,
    )


def user_agent_once(client: Any) -> Any:
    """Build the client's User-Agent header once instead of twice per call: botocore
    rebuilds it per call to carry per-call feature ids (AWS's own telemetry), which costs
    about 0.16 ms of CPU each time, about half of botocore's time on the request path
    (docs/BENCHMARKS.md). The header keeps botocore's text as built at creation. If a
    botocore release moves these internals, the client is left as botocore made it."""
    creator = getattr(client, "_user_agent_creator", None)
    rebuild = getattr(creator, "rebuild_and_replace_user_agent_handler", None)
    if creator is None or rebuild is None:
        return client
    text = creator.to_string()
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.unregister(f"request-created.{service}", rebuild)
    creator.to_string = lambda: text
    return client


def is_loopback_host(host: str) -> bool:
    return host in _LOOPBACK or host.startswith("127.")


def is_loopback(endpoint_url: str | None) -> bool:
    return is_loopback_host(urlparse(endpoint_url or "").hostname or "")


def aws_client(
    service: str,
    *,
    region: str | None,
    endpoint_url: str | None = None,
    config: Config | None = None,
    session: Any = None,
) -> Any:
    """A boto3 client. Without `endpoint_url`, boto3's own AWS_ENDPOINT_URL_* variables
    still apply; `region` None leaves the region to boto3 (AWS_DEFAULT_REGION)."""
    import boto3

    session = session or boto3.session.Session()
    credentials: dict[str, str] = {}
    if is_loopback(endpoint_url) and session.get_credentials() is None:
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    return session.client(
        service, region_name=region, endpoint_url=endpoint_url, config=config, **credentials
    )


def settings_client(service: str, settings: Settings, *, pool_size: int = API_POOL_SIZE) -> Any:
    """A client configured from Settings: the SageMaker runtime and Kinesis with their
    timeouts and retry budgets (the Kinesis publisher retries itself, so botocore does
    not), the other services with botocore's defaults."""
    endpoint: str | None = None
    config: Config | None = None
    if service == "sagemaker-runtime":
        endpoint = settings.aws_endpoint_url_sagemaker_runtime
        config = client_config(
            connect_timeout=settings.sagemaker_connect_timeout,
            read_timeout=settings.sagemaker_read_timeout,
            max_attempts=settings.sagemaker_max_attempts,
            pool_size=pool_size,
        )
    elif service == "kinesis":
        endpoint = settings.aws_endpoint_url_kinesis
        config = client_config(
            connect_timeout=settings.kinesis_connect_timeout,
            read_timeout=settings.kinesis_read_timeout,
            max_attempts=1,
            pool_size=pool_size,
        )
    client = aws_client(service, region=settings.aws_region, endpoint_url=endpoint, config=config)
    return user_agent_once(client) if config is not None else client
