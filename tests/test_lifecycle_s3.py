"""purge and prune against a real SeaweedFS: the S3 store finds an original's renders with a
listing per shared prefix, deletes them with DeleteObjects (a thousand keys a call), and a
master whose listing fails prunes nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from support.config import s3_config
from support.lifecycle import cli, store_crop, summary
from support.waiting import wait_until
from support.warm import SIZES_TOML, make_originals

from phizer.base.s3client import Endpoint
from phizer.stores.s3 import S3Store

pytestmark = pytest.mark.slow


def keys(client: Any, bucket: str) -> set[str]:
    out: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.update(obj["Key"] for obj in page.get("Contents", []))
    return out


@pytest.fixture
def site(s3_credentials: Any, tmp_path: Path) -> dict[str, Any]:
    """Twelve originals in a master bucket, warmed with a webp variant into a store bucket
    (under a prefix), with a crop render of two of them."""
    s3 = s3_credentials
    master, store = s3.new_bucket(), s3.new_bucket()
    client = s3.client()
    made = make_originals(tmp_path / "made", 12)
    for path in made:
        client.put_object(Bucket=master, Key=path, Body=(tmp_path / "made" / path).read_bytes())
    extra = f'[output]\nformats = ["webp"]\n{SIZES_TOML}'
    config = s3_config(tmp_path, s3.endpoint_url, master, store, extra, store_prefix="r/")
    assert cli(config, "warm", "--workers", "1").exit_code == 0
    store_crop(config, "d/img0002.jpg")
    store_crop(config, "a/img0000.png")
    return {"s3": s3, "client": client, "master": master, "store": store, "config": config}


def of(path: str, listed: set[str]) -> set[str]:
    return {k for k in listed if k.endswith(f"/{path}") or k.endswith(f"/{path}.webp")}


def test_purge_on_s3_deletes_every_render_of_the_original(site: dict[str, Any]) -> None:
    client, store = site["client"], site["store"]
    before = keys(client, store)
    mine = of("d/img0002.jpg", before)
    assert len(mine) == 3 * 2 + 1

    result = cli(site["config"], "purge", "d/img0002.jpg", "--json")

    assert result.exit_code == 0, result.output
    assert {"r/" + k for k in summary(result)["keys"]} == mine
    after = keys(client, store)
    assert before - after == mine | {
        "r/.phizer/crops/d/img0002.jpg/48x48/0x0/60x60",
        "r/.phizer/originals/d/img0002.jpg.json",
    }


def test_prune_on_s3_deletes_only_the_renders_of_deleted_originals(site: dict[str, Any]) -> None:
    client, store = site["client"], site["store"]
    for path in ("d/img0002.jpg", "a/img0003.png"):
        client.delete_object(Bucket=site["master"], Key=path)
    before = keys(client, store)
    doomed = of("d/img0002.jpg", before) | of("a/img0003.png", before)

    result = cli(site["config"], "warm", "--prune", "--max-prune", "50%", "--json")

    assert result.exit_code == 0, result.output
    assert {"r/" + k for k in summary(result)["pruned_keys"]} == doomed
    after = keys(client, store)
    assert before - after == doomed | {
        "r/.phizer/crops/d/img0002.jpg/48x48/0x0/60x60",
        "r/.phizer/originals/d/img0002.jpg.json",
        "r/.phizer/originals/a/img0003.png.json",
    }
    assert "r/.phizer/crops/a/img0000.png/48x48/0x0/60x60" in after


def test_a_failing_master_listing_prunes_nothing(site: dict[str, Any]) -> None:
    config: Path = site["config"]
    config.write_text(config.read_text().replace(site["master"], "no-such-bucket", 1))
    before = keys(site["client"], site["store"])

    result = cli(config, "warm", "--prune", "--max-prune", "100%", "--json")

    assert result.exit_code == 1
    assert "did not finish" in summary(result)["prune_refused"]
    assert keys(site["client"], site["store"]) == before


def test_existing_lists_once_per_original_and_delete_batches_a_thousand_keys(
    s3_credentials: Any,
) -> None:
    s3 = s3_credentials
    bucket = s3.new_bucket()
    client = s3.client(connections=20)
    # 550 originals: each its own key and its webp variant, which share one listing.
    names = [f"220x220/p/{i:04d}.jpg{variant}" for i in range(550) for variant in ("", ".webp")]
    present = names[:1050]
    for name in present:
        client.put_object(Bucket=bucket, Key="pre/" + name, Body=b"x")
    client.put_object(Bucket=bucket, Key="pre/220x220/p/0000.jpg.bak", Body=b"x")
    store = S3Store(Endpoint(bucket, endpoint_url=s3.endpoint_url), "pre", 60)

    def count(kind: str) -> int:
        return int(s3.requests_by_bucket()[(bucket, kind)])

    # SeaweedFS counts a request just after answering it: wait for the counts to settle.
    lists = count("LIST")
    assert [info.key for info in store.existing(names)] == present
    wait_until(lambda: count("LIST") - lists >= 550)
    deletes = count("DELETE")
    assert store.delete(names) == []
    wait_until(lambda: count("DELETE") - deletes >= 2)
    time.sleep(0.2)

    assert count("LIST") - lists == 550
    assert count("DELETE") - deletes == 2  # 1,100 keys
    assert keys(client, bucket) == {"pre/220x220/p/0000.jpg.bak"}
