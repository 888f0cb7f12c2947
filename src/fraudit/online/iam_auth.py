"""IAM authentication to ElastiCache (Valkey/Redis): no password exists anywhere.

The Lambda authenticates as an ElastiCache user whose authentication mode is IAM, with a
token that is a SigV4-presigned `connect` request, valid 15 minutes, signed by botocore's
own request signer with the Lambda role's credentials (docs/deploy.md). redis-py asks the
credential provider for (user, token) on every new connection; a token is reused for 10
minutes, then signed again (signing is local: no network call).

botocore's signer rather than AWS's developer-toolkit-elasticache package: the toolkit
needs botocore 1.43+, which the Lambda runtime's boto3 may predate, and would then pull
botocore (tens of MB) into the bundle for twenty lines of signing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from redis.credentials import CredentialProvider

TOKEN_SECONDS = 900  # what ElastiCache accepts
REUSE_SECONDS = 600  # sign a new one well before it expires


def presigned_connect_token(user_id: str, cache_name: str, region: str, session: Any) -> str:
    """The auth token: the presigned URL of `connect` for `user_id` on the serverless
    cache `cache_name`, without its scheme."""
    from botocore.model import ServiceId
    from botocore.signers import RequestSigner

    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials to sign the online store's auth token")
    signer = RequestSigner(
        ServiceId("elasticache"),
        region,
        "elasticache",
        "v4",
        credentials,
        session.get_component("event_emitter"),
    )
    query = urlencode({"Action": "connect", "User": user_id, "ResourceType": "ServerlessCache"})
    request = {
        "method": "GET",
        "url": f"https://{cache_name}/?{query}",
        "body": {},
        "headers": {},
        "context": {},
    }
    url = signer.generate_presigned_url(
        request, operation_name="connect", expires_in=TOKEN_SECONDS, region_name=region
    )
    return str(url).removeprefix("https://")


class IamCredentials(CredentialProvider):
    """(user, token) for redis-py: a token reused for REUSE_SECONDS, then signed again
    with the session's current credentials (a Lambda role's rotate)."""

    def __init__(
        self,
        user_id: str,
        sign: Callable[[], str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_id = user_id
        self._sign = sign
        self._clock = clock
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None

    @classmethod
    def for_serverless_cache(cls, user_id: str, cache_name: str, region: str) -> IamCredentials:
        import botocore.session

        session = botocore.session.get_session()
        return cls(user_id, lambda: presigned_connect_token(user_id, cache_name, region, session))

    def get_credentials(self) -> tuple[str, str]:
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._token[1] >= REUSE_SECONDS:
                self._token = (self._sign(), now)
            return self.user_id, self._token[0]
