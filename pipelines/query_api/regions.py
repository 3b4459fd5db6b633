"""Which Logfire host a read token belongs to.

Read tokens look like `pylf_v1_us_<secret>`: the third `_`-separated part names the region.
Tokens made before regions existed have no such prefix and belong to the US.
"""

import logging
import re

logger = logging.getLogger(__name__)

REGION_BASE_URLS = {
    "us": "https://logfire-us.pydantic.dev",
    "eu": "https://logfire-eu.pydantic.dev",
    "stagingus": "https://logfire-us.pydantic.info",
    "stagingeu": "https://logfire-eu.pydantic.info",
}
DEFAULT_REGION = "us"

_TOKEN_REGION = re.compile(r"^pylf_v[0-9]+_(?P<region>[a-z]+)_")


def has_region_prefix(token: str) -> bool:
    """Whether the token names its region at all (tokens older than regions do not)."""
    return _TOKEN_REGION.match(token) is not None


def token_region(token: str) -> str:
    """The region named by a token's prefix; `us` when it has none or names an unknown one."""
    match = _TOKEN_REGION.match(token)
    if match is None:
        return DEFAULT_REGION
    region = match.group("region")
    if region not in REGION_BASE_URLS:
        logger.warning(
            "Unknown region %r in the Logfire read token; using the %s region. "
            "Set the base URL explicitly if that is wrong.",
            region,
            DEFAULT_REGION,
        )
        return DEFAULT_REGION
    return region


def base_url_for_token(token: str) -> str:
    """The API base URL for the token's region."""
    return REGION_BASE_URLS[token_region(token)]
