"""The Standard Webhooks signature: HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>"
with the endpoint's secret. During a rotation's overlap the message carries a signature by each
secret, space-separated, so the receiver may verify with either."""

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP_HOURS = 24


def new_secret() -> str:
    """`whsec_` and the base64 of 32 random bytes: what standardwebhooks.Webhook takes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers_for(
    message_id: str, at: datetime, body: str, signing_secrets: list[str]
) -> dict[str, str]:
    """The webhook-* headers of one attempt, signed by each of `signing_secrets`."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(message_id, at, body) for secret in signing_secrets
        ),
    }
