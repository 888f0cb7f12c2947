"""IAM authentication to ElastiCache: the token is a SigV4-presigned `connect` for the
ElastiCache user on the serverless cache, signed by botocore, valid 15 minutes, reused for
10 (no password exists anywhere; the local test with an ACL user is in the integration
layer)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import botocore.session
import pytest

from fraudit.online.iam_auth import REUSE_SECONDS, TOKEN_SECONDS, IamCredentials
from fraudit.online.iam_auth import presigned_connect_token as sign

pytestmark = pytest.mark.unit


@pytest.fixture
def session(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return botocore.session.get_session()


def test_the_token_is_a_presigned_connect_for_the_user_on_the_serverless_cache(session):
    token = sign("fraudit-prod-api", "fraudit-prod-online", "eu-west-3", session)
    assert not token.startswith("https://")
    parts = urlsplit(f"https://{token}")
    assert parts.hostname == "fraudit-prod-online"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["Action"] == "connect"
    assert query["User"] == "fraudit-prod-api"
    assert query["ResourceType"] == "ServerlessCache"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == str(TOKEN_SECONDS)
    assert query["X-Amz-Credential"].startswith("AKIDEXAMPLE/")
    assert query["X-Amz-Credential"].endswith("/eu-west-3/elasticache/aws4_request")
    assert len(query["X-Amz-Signature"]) == 64
    assert "wJalrXUtnFEMI" not in token  # the secret signs; it is never sent


def test_without_credentials_no_token_is_signed(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(RuntimeError, match="no AWS credentials"):
        sign("u", "c", "us-east-1", botocore.session.get_session())


def test_a_token_is_reused_for_ten_minutes_then_signed_again():
    now, signed = [0.0], []

    def fresh() -> str:
        signed.append(f"token-{len(signed)}")
        return signed[-1]

    provider = IamCredentials("fraudit-api", fresh, clock=lambda: now[0])
    assert provider.get_credentials() == ("fraudit-api", "token-0")
    now[0] = REUSE_SECONDS - 1
    assert provider.get_credentials() == ("fraudit-api", "token-0")
    now[0] = REUSE_SECONDS
    assert provider.get_credentials() == ("fraudit-api", "token-1")
    assert REUSE_SECONDS < TOKEN_SECONDS
