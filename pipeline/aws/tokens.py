"""The continuation token's signer: an HMAC KMS key (KeySpec HMAC_256), so the key material never leaves KMS
and only the principals its key policy names (the sync Lambda's role) can make or check a MAC.

GenerateMac: https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html (message up to
4,096 bytes; a continuation token is at most 2,048 characters).
VerifyMac: https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html (a MAC that does not
verify fails with KMSInvalidMacException).
"""

from __future__ import annotations

from typing import Any

ALGORITHM = "HMAC_SHA_256"


class KmsSigner:
    """pipeline.core.tokens.Signer by kms:GenerateMac and kms:VerifyMac on one HMAC key."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self.kms = kms
        self.key_id = key_id

    def mac(self, message: bytes) -> bytes:
        response = self.kms.generate_mac(Message=message, KeyId=self.key_id, MacAlgorithm=ALGORITHM)
        return bytes(response["Mac"])

    def verify(self, message: bytes, mac: bytes) -> bool:
        try:
            response = self.kms.verify_mac(
                Message=message, KeyId=self.key_id, MacAlgorithm=ALGORITHM, Mac=mac
            )
        except self.kms.exceptions.KMSInvalidMacException:
            return False
        return bool(response["MacValid"])
