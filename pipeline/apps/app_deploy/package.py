"""Build the ECS deploy Lambda's code zip reproducibly: same source, same bytes, same sha256.

The function is pipeline/apps/ecs_deploy.py (standard library and the runtime's boto3), stored at the zip
root so the handler is `ecs_deploy.handler`, plus the product's one client factory (pipeline/aws/clients.py)
it builds its ECS client with and the product's errors (pipeline/common/errors.py) for its messages.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pipeline
import pipeline.apps.ecs_deploy
import pipeline.aws.clients
import pipeline.common.errors

HANDLER = "ecs_deploy.handler"
# Zip timestamps cannot predate 1980; a fixed one keeps the archive independent of checkout times.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda needs the module world-readable


@dataclass(frozen=True)
class Package:
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def suggested_key(self) -> str:
        """A content-addressed S3 key: a new key per change, so a stack update always picks it up."""
        return f"ecs-deploy/{self.sha256}.zip"


def lambda_source() -> Path:
    return Path(pipeline.apps.ecs_deploy.__file__)


def build(source: Path | None = None) -> Package:
    path = source or lambda_source()
    package_root = Path(pipeline.__file__).parent.parent
    factory = Path(pipeline.aws.clients.__file__)
    errors = Path(pipeline.common.errors.__file__)  # excerpt(): messages quote values the one way
    entries = [(f"{HANDLER.split('.', maxsplit=1)[0]}.py", path)] + [
        (f.relative_to(package_root).as_posix(), f)
        for f in (
            package_root / "pipeline" / "__init__.py",
            factory.parent / "__init__.py",
            factory,
            errors.parent / "__init__.py",
            errors,
        )
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, file in entries:
            entry = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            entry.external_attr = FILE_MODE << 16
            entry.create_system = 3  # Unix, so the mode above is honoured
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, file.read_bytes(), compresslevel=9)
    return Package(buffer.getvalue())
