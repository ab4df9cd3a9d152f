"""The offline retrieval-quality benchmark runs end to end and the product path matches the reference."""

import pytest

pytest.importorskip("torch")


@pytest.mark.slow
def test_quality_bench_product_path_matches_the_reference_path(tmp_path, capsys):
    from benchmarks.quality_bench import main

    assert main(["--steps", "40", "--per-class", "9", "--dtypes", "fp32,int8", "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    import json

    report = json.loads(out.strip().splitlines()[-1])
    paths = report["paths"]
    assert set(paths) == {"reference", "product-fp32", "product-int8", "ann-fp32"}
    assert paths["product-fp32"]["image_cos_to_reference_min"] >= 0.9999  # same pixels, same model
    assert abs(paths["product-fp32"]["precision_delta"]) <= 0.01
    assert paths["ann-fp32"]["search_plan"] != "exact"  # 270 rows: the IVF index was built and used
