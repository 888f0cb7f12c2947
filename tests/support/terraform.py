"""Facts the Terraform stack states that tests apply elsewhere (read from the .tf files)."""

from __future__ import annotations

import re

from tests.conftest import REPO

ONLINE_STORE_TF = REPO / "devops" / "infra" / "online_store.tf"


def online_store_access_string() -> str:
    """The API's ElastiCache user's ACL, with the key prefix filled in."""
    text = ONLINE_STORE_TF.read_text()
    prefix = re.search(r'online_store_key_prefix\s*=\s*"([^"]+)"', text)
    access = re.search(r'online_store_access_string\s*=\s*"([^"]+)"', text)
    assert prefix, "online_store.tf lost its key prefix"
    assert access, "online_store.tf lost its access string"
    return access.group(1).replace("${local.online_store_key_prefix}", prefix.group(1))
