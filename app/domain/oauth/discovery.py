"""What relying parties read first: the provider's metadata (OpenID Connect Discovery 1.0)."""

from app.core.config import get_settings
from app.domain.oauth.apps import SCOPES_SUPPORTED
from app.domain.oauth.keys import ALGORITHMS

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
USERINFO_PATH = "/oauth/userinfo"
REVOKE_PATH = "/oauth/revoke"
LOGOUT_PATH = "/oauth/logout"
JWKS_PATH = "/oauth/jwks"
DISCOVERY_PATH = "/.well-known/openid-configuration"
ACCOUNTS_CLAIM = "roster.accounts"

CLAIMS_SUPPORTED = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    ACCOUNTS_CLAIM,
)


def issuer() -> str:
    return get_settings().base_url


def configuration() -> dict:
    base = issuer()
    return {
        "issuer": base,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "userinfo_endpoint": base + USERINFO_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "end_session_endpoint": base + LOGOUT_PATH,
        "jwks_uri": base + JWKS_PATH,
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "subject_types_supported": ["public"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
