"""A software WebAuthn authenticator for the tests, written with `cryptography` and `cbor2`: it
answers the options JSON that Roster hands the browser with the JSON that the browser's
PublicKeyCredential would send back (attestation "none", an ES256 key). Every part a test wants
to get wrong can be: the origin, the RP id, user verification, the signature counter."""

import hashlib
import json
import secrets
from base64 import urlsafe_b64encode

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "http://testserver.local"
RP_ID = "testserver.local"

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftAuthenticator:
    """One passkey (made at the first `create`). `counts`: whether it keeps a signature counter
    (else it always says 0); `user_verification`: whether it verifies the person."""

    def __init__(
        self,
        *,
        origin: str = ORIGIN,
        rp_id: str = RP_ID,
        counts: bool = True,
        user_verification: bool = True,
    ) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.counts = counts
        self.user_verification = user_verification
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.user_handle: bytes | None = None
        self.sign_count = 0

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def _client_data(self, kind: str, options: dict, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": options["challenge"],
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def _flags(self, extra: int = 0, user_verification: bool | None = None) -> bytes:
        verified = self.user_verification if user_verification is None else user_verification
        return bytes([UP | (UV if verified else 0) | extra])

    def create(self, options_json: str, *, origin: str | None = None, rp_id: str | None = None):
        """The answer to navigator.credentials.create(options), as JSON."""
        options = json.loads(options_json)
        self.user_handle = options["user"]["id"]
        client_data = self._client_data("webauthn.create", options, origin)
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + self._flags(AT)
            + self.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID: none
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                    "transports": ["internal", "hybrid"],
                },
                "clientExtensionResults": {},
            }
        )

    def get(
        self,
        options_json: str,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_verification: bool | None = None,
    ) -> str:
        """The answer to navigator.credentials.get(options), as JSON; `sign_count`: say that
        count instead of the next one."""
        options = json.loads(options_json)
        allowed = [c["id"] for c in options.get("allowCredentials") or []]
        assert not allowed or b64url(self.credential_id) in allowed, "not asked for"
        if self.counts:
            self.sign_count += 1
        count = self.sign_count if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", options, origin)
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + self._flags(user_verification=user_verification)
            + count.to_bytes(4, "big")
        )
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if self.user_handle:
            response["userHandle"] = self.user_handle
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": response,
                "clientExtensionResults": {},
            }
        )
