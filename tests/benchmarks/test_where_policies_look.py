"""benchmarks.where_policies_look: an open-loop policy has one patch per step, spread 0."""

import json

from benchmarks import where_policies_look


def test_open_loop_and_image_dependent_policies_are_told_apart(tmp_path, capsys):
    out = tmp_path / "where.json"
    argv = ["--env", "GlanceFocus-ClutteredMNIST-v0", "--policies", "raster", "random"]
    results = where_policies_look.main([*argv, "--images", "40", "--json", str(out)])
    raster, random = results["policies"]
    assert raster["distinct_patches_per_step"] == [1, 1, 1, 1]
    assert raster["centre_spread_px_per_step"] == [0.0] * 4
    assert min(random["distinct_patches_per_step"]) > 20
    assert min(random["centre_spread_px_per_step"]) > 5
    assert raster["images"] == 40 and len(raster["accuracy_per_step"]) == 5
    assert json.loads(out.read_text())["policies"][0]["policy"] == "raster"
    assert "distinct patches" in capsys.readouterr().out
