"""A two-node Ray cluster on one machine, in a private network namespace with only loopback.

The test starts the head and a worker node itself (`ray start`), runs `curate run` against the
cluster, stops it, and checks the shards — curated corpus, rejects, and the mix's shards and token
arrays — are byte-identical to a one-node run.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from curate.config import parse_pipeline
from curate.run import run_pipeline
from curate.sample import generate_sample_corpus
from tests.test_mix_on_ray import MIX
from tests.test_pipeline_e2e import SMALL_SHARDS

pytestmark = [pytest.mark.slow, pytest.mark.multinode]


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


def test_two_node_cluster_gives_byte_identical_shards(ray_session, tmp_path):
    if not _can_unshare():
        pytest.skip("needs root and unshare (network namespaces) for a loopback-only two-node cluster")
    corpus = tmp_path / "corpus"
    generate_sample_corpus(corpus, seed=11, pages=200, pages_per_warc=50)
    pipeline = tmp_path / "pipeline.yaml"

    import yaml

    from tests.conftest import REPO

    # The shipped pipeline plus a mix (token arrays included): the mix shards must match too.
    data = yaml.safe_load((REPO / "pipelines" / "llama3.yaml").read_text())
    data["output"].update(SMALL_SHARDS)
    # Small mix shards, so that several are written (the quality filter leaves ~40k tokens to mix).
    data["mix"] = {**MIX, "shard_tokens": 10_000}
    pipeline.write_text(yaml.safe_dump(data, allow_unicode=True))
    config = parse_pipeline(data, origin=str(pipeline))
    one_node = run_pipeline(config, str(corpus / "warc"), tmp_path / "one", cards_dir=None, run_id="one-node")

    bin_dir = Path(sys.executable).parent
    node = "--num-cpus=1 --memory=3000000000 --object-store-memory=300000000"
    script = textwrap.dedent(
        f"""
        set -e
        ip link set lo up
        export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0
        unset RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER RAY_ADDRESS
        export PATH={bin_dir}:$PATH
        trap 'ray stop --force >/dev/null 2>&1 || true' EXIT
        ray start --head --port=6379 {node} --include-dashboard=false --disable-usage-stats >/dev/null
        ray start --address=127.0.0.1:6379 {node} >/dev/null
        python - <<'PY'
        import ray, json
        ray.init(address="127.0.0.1:6379")
        print("NODES", json.dumps(sum(1 for n in ray.nodes() if n["Alive"])))
        ray.shutdown()
        PY
        curate run --corpus {corpus / 'warc'} --pipeline {pipeline} --out {tmp_path / 'two'} --cards-dir {tmp_path / 'cards'} --run-id two-node --ray-address 127.0.0.1:6379
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run(
        ["unshare", "-n", "-p", "-f", "--mount-proc", "bash", "-c", script],
        capture_output=True, text=True, timeout=420, env=env, cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "NODES 2" in proc.stdout
    two = json.loads((tmp_path / "two" / "card.json").read_text())
    assert two["environment"]["ray"]["nodes"] == 2 and two["environment"]["ray"]["mode"] == "cluster"
    assert two["ledger"]["balanced"]
    shards = lambda card: {e["path"]: e["sha256"] for e in card["output"]["data"] + card["output"]["rejects"]}
    assert shards(two) == shards(one_node.card)
    assert len(shards(two)) > 2
    mixed = lambda out: [
        (s["path"], s["sha256"], s["arrays"]["bin"]["sha256"], s["arrays"]["idx"]["sha256"])
        for s in json.loads((out / "mix" / "mix.json").read_text())["shards"]
    ]
    assert two["mix"]["ledger"]["balanced"] and len(mixed(tmp_path / "two")) >= 2
    assert mixed(tmp_path / "two") == mixed(one_node.out_dir)
    assert two["mix"]["buckets"] == one_node.card["mix"]["buckets"]
