"""`moto_server`, plus AWS KMS's key-state rules for Encrypt and Decrypt.

moto (5.2.x) records DisableKey / ScheduleKeyDeletion but still encrypts and
decrypts with such a key, where AWS KMS refuses: a disabled key gives
`DisabledException` ("<arn> is disabled."), a key pending deletion gives
`KMSInvalidStateException` ("<arn> is pending deletion."), both HTTP 400.
The suite needs exactly that refusal, so this launcher adds it to moto's KMS
backend and then runs moto's own server entry point, unchanged otherwise.

    python moto_kms_server.py -H 127.0.0.1 -p <port>     (same arguments as moto_server)
"""

from __future__ import annotations

import sys
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms import models as kms_models
from moto.server import main


class DisabledException(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("DisabledException", message)


class KMSInvalidStateException(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("KMSInvalidStateException", message)


def _check_usable(backend: Any, key_id: str) -> None:
    key = backend.keys.get(key_id)
    if key is None:  # moto's own code reports unknown keys
        return
    if key.key_state == "Disabled":
        raise DisabledException(f"{key.arn} is disabled.")
    if key.key_state == "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")


_encrypt = kms_models.KmsBackend.encrypt
_decrypt = kms_models.KmsBackend.decrypt


def _guarded_encrypt(self: Any, key_id: str, plaintext: bytes, encryption_context: dict) -> Any:
    _check_usable(self, self.any_id_to_key_id(key_id))
    return _encrypt(self, key_id=key_id, plaintext=plaintext, encryption_context=encryption_context)


def _guarded_decrypt(self: Any, ciphertext_blob: bytes, encryption_context: dict, key_id: Any = None) -> Any:
    # The key that wrapped a ciphertext is only known once moto has parsed it;
    # refusing after the fact returns nothing to the caller, as KMS would.
    plaintext, arn = _decrypt(self, ciphertext_blob=ciphertext_blob, encryption_context=encryption_context, key_id=key_id)
    _check_usable(self, self.any_id_to_key_id(arn))
    return plaintext, arn


kms_models.KmsBackend.encrypt = _guarded_encrypt  # type: ignore[method-assign]
kms_models.KmsBackend.decrypt = _guarded_decrypt  # type: ignore[method-assign]


if __name__ == "__main__":
    main(sys.argv[1:])
