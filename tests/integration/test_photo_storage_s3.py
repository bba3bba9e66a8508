"""Problem photos in an S3-compatible bucket: a real S3 server (moto's, run as its own
process and spoken to over HTTP by boto3) takes a buyer's photo from the report page,
and the ops lead reads it back through the API; without a bucket, photos stay files
under the data directory."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_problem_reports import JPEG, delivered, link_token

from backends import free_port
from dropline.bootstrap import Container, make_blobs
from dropline.config import Settings
from dropline.domain.errors import NotFound
from dropline.store.blobs import LocalBlobs, S3Blobs

pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
BUCKET = "dropline-photos"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the S3 server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_store(url: str, prefix: str = "") -> S3Blobs:
    store = S3Blobs(
        BUCKET,
        endpoint_url=url,
        access_key_id="test",
        secret_access_key="test",
        prefix=prefix,
    )
    with contextlib.suppress(store.client.exceptions.BucketAlreadyOwnedByYou):
        store.client.create_bucket(Bucket=BUCKET)
    return store


async def test_a_buyer_photo_lands_in_the_bucket_and_reads_back(
    container: Container, api: httpx.AsyncClient, s3_url: str, tmp_path: Path
) -> None:
    c = container
    store = s3_store(s3_url, prefix="shop-1")
    c.problems.data_dir = tmp_path / "data"
    c.problems.blobs = store
    _, order = await delivered(c, "ann")
    [msg] = await c.messages.list(order_id=order.id, kind="delivered")
    ops = api.headers.pop("Authorization")
    resp = await api.post(
        "/ui/report-problem",
        data={"token": link_token(msg["text_body"]), "qty_1": "1", "reason": "stitching"},
        files=[("photos", ("seam.jpg", JPEG, "image/jpeg"))],
    )
    assert resp.status_code == 200, resp.text
    [p] = await c.problems.list()
    photo = p["photos"][0]
    key = f"shop-1/problems/{p['id']}/{photo['id']}.jpg"
    got = store.client.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].read() == JPEG and got["ContentType"] == "image/jpeg"
    assert not (tmp_path / "data").exists()  # nothing written locally
    api.headers["Authorization"] = ops
    served = await api.get(f"/v1/problems/{p['id']}/photos/{photo['id']}")
    assert served.status_code == 200 and served.content == JPEG
    assert served.headers["content-type"] == "image/jpeg"
    # An object gone from the bucket is a 404, not a 500; deleting twice is no error.
    await store.delete(f"problems/{p['id']}/{photo['id']}.jpg")
    await store.delete(f"problems/{p['id']}/{photo['id']}.jpg")
    gone = await api.get(f"/v1/problems/{p['id']}/photos/{photo['id']}")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


def test_settings_pick_the_store(tmp_path: Path, s3_url: str) -> None:
    local = make_blobs(Settings(data_dir=str(tmp_path)))
    assert isinstance(local, LocalBlobs) and local.root == tmp_path
    s3 = make_blobs(
        Settings(
            data_dir=str(tmp_path),
            photo_bucket=BUCKET,
            s3_endpoint_url=s3_url,
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
    )
    assert isinstance(s3, S3Blobs) and s3.bucket == BUCKET


async def test_a_local_key_never_leaves_the_data_directory(tmp_path: Path) -> None:
    store = LocalBlobs(tmp_path / "data")
    await store.put("problems/p/a.jpg", JPEG, "image/jpeg")
    assert await store.get("problems/p/a.jpg") == JPEG
    (tmp_path / "secret").write_text("x")
    with pytest.raises(NotFound):
        await store.get("../secret")
    with pytest.raises(NotFound):
        await store.get("problems/p/missing.jpg")
    await store.delete("problems/p/a.jpg")
    await store.delete("problems/p/a.jpg")  # already gone: no error
    with pytest.raises(NotFound):
        await store.get("problems/p/a.jpg")
    with pytest.raises(NotFound):
        await store.delete("../secret")
    assert (tmp_path / "secret").exists()
