"""Where uploaded files are kept (``services.ports.BlobStore``): a directory under the
data directory (the embedded default), or an S3-compatible bucket (AWS S3, MinIO,
Cloudflare R2 ...) when ``DROPLINE_PHOTO_BUCKET`` is set.

The S3 store uses boto3, whose calls block: each runs in a worker thread so the event
loop keeps serving. Keys are the same in both (``problems/<report>/<photo>.jpg``), so a
deployment can move its files from one to the other by copying them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropline.domain.errors import NotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class LocalBlobs:
    """Files under ``root``; a key's ``/`` are directories."""

    name = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise NotFound(f"no file {key}")  # a key never leaves the root
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"no file {key}") from None

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)


class S3Blobs:
    """Objects in ``bucket`` (under ``prefix``) of an S3-compatible service."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        prefix: str = "",
    ) -> None:
        import boto3  # only a deployment with a bucket needs it loaded

        kwargs: dict[str, Any] = {"region_name": region}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        if access_key_id:
            kwargs["aws_access_key_id"] = access_key_id
            kwargs["aws_secret_access_key"] = secret_access_key
        self.client: S3Client = boto3.client("s3", **kwargs)
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        def read() -> bytes:
            try:
                got = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except self.client.exceptions.NoSuchKey:
                raise NotFound(f"no file {key}") from None
            body: bytes = got["Body"].read()
            return body

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        # S3 answers 204 for a key that is not there too.
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))
