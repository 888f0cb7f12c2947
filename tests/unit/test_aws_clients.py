"""The one boto3 client factory: endpoints, dummy credentials only for loopback, the
timeouts and retry budgets Settings give."""

from __future__ import annotations

import pytest

from fraudit.aws_clients import aws_client, is_loopback, settings_client
from fraudit.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:4567", True),
        ("http://localhost:8080", True),
        ("http://[::1]:1", True),
        ("https://kinesis.eu-west-1.amazonaws.com", False),
        (None, False),
        ("", False),
    ],
)
def test_loopback_endpoints(url, loopback):
    assert is_loopback(url) is loopback


def test_a_loopback_endpoint_without_credentials_gets_dummy_ones(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    local = aws_client("kinesis", region="us-east-1", endpoint_url="http://127.0.0.1:4567")
    assert local._request_signer._credentials.access_key == "local"
    remote = aws_client("kinesis", region="us-east-1")
    assert remote._request_signer._credentials is None  # AWS never gets the dummy ones


def test_settings_give_each_runtime_client_its_endpoint_timeouts_and_retries():
    settings = Settings(
        _env_file=None,
        aws_region="eu-west-1",
        aws_endpoint_url_sagemaker_runtime="http://127.0.0.1:8080",
        sagemaker_connect_timeout=0.7,
        sagemaker_read_timeout=1.5,
        sagemaker_max_attempts=3,
        kinesis_read_timeout=2.5,
    )
    runtime = settings_client("sagemaker-runtime", settings)
    assert runtime.meta.endpoint_url == "http://127.0.0.1:8080"
    assert runtime.meta.region_name == "eu-west-1"
    assert runtime.meta.config.connect_timeout == 0.7
    assert runtime.meta.config.read_timeout == 1.5
    assert runtime.meta.config.retries["total_max_attempts"] == 3
    kinesis = settings_client("kinesis", settings)
    assert kinesis.meta.config.read_timeout == 2.5
    assert kinesis.meta.config.retries["total_max_attempts"] == 1  # the publisher retries
    assert kinesis.meta.config.max_pool_connections == 32


def _sent_headers(client, calls: int = 2) -> list[dict[str, str]]:
    """The headers of `calls` PutRecord requests, answered without a network."""
    from botocore.awsrequest import AWSResponse

    class Raw:
        def __init__(self) -> None:
            self.body = b'{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}'

        def stream(self, **_):
            yield self.body

    seen: list[dict[str, str]] = []

    def answer(request, **_):
        seen.append(
            {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        )
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, Raw())

    client.meta.events.register("before-send", answer)
    for _ in range(calls):
        client.put_record(StreamName="s", Data=b"x", PartitionKey="p")
    return seen


def test_the_request_path_clients_build_their_user_agent_once_and_still_send_it():
    settings = Settings(_env_file=None, aws_endpoint_url_kinesis="http://127.0.0.1:9")
    fast = settings_client("kinesis", settings)
    plain = aws_client("kinesis", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    built = fast._user_agent_creator.to_string()
    fast_headers, plain_headers = _sent_headers(fast), _sent_headers(plain)
    assert [h["User-Agent"] for h in fast_headers] == [built, built]
    # botocore's own header, up to the per-call feature ids it appends (m/...).
    assert plain_headers[0]["User-Agent"].split(" m/")[0] == built.split(" m/")[0]
    assert all("Authorization" in h for h in fast_headers)  # still signed
