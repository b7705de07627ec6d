"""advdemo.training.presets: how long each preset takes comes from a measurement (the benchmark's file, else the
bundled model's card), never from a constant; training computes in bfloat16 only where the CPU does so natively."""

from __future__ import annotations

import json

import pytest

from advdemo.models.cards import cpu_flags, cpu_name
from advdemo.training.presets import PRESETS, best_precision, preset_times, read_preset_times

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile
"""


def test_times_come_from_the_benchmarks_file(tmp_path):
    path = tmp_path / "preset-times.json"
    measured = {"train_seconds": 42.0, "measure_seconds": 250.0, "cpu": "AMD EPYC, 2 cores",
                "conditions": "load average 6.0 at the start, 7.5 at the end"}
    path.write_text(json.dumps({"quick": measured}))
    times = preset_times("quick", path=path, cards=tmp_path)
    assert (times.train_seconds, times.measure_seconds, times.cpu) == (42.0, 250.0, "AMD EPYC, 2 cores")
    assert times.machine == "AMD EPYC, 2 cores (load average 6.0 at the start, 7.5 at the end)"
    assert times.describe() == "training about 42 s, measuring about 4 min"
    assert times.source == "benchmarks/quick_presets.py"


def test_without_a_measurement_the_card_gives_the_training_time_and_nothing_is_made_up(tmp_path):
    (tmp_path / "robust.json").write_text(json.dumps({"training": {"seconds": 3504.0}, "machine": {"cpus": 2}}))
    missing = tmp_path / "none.json"
    robust = preset_times("robust", path=missing, cards=tmp_path)
    assert (robust.train_seconds, robust.measure_seconds) == (3504.0, None)
    assert robust.describe() == "training about 58 min" and robust.source == "pretrained/robust.json"
    untimed = preset_times("quick", path=missing, cards=tmp_path)
    assert untimed.train_seconds is None and untimed.describe() == "not timed"


def test_a_broken_times_file_is_an_error_for_the_benchmark_and_not_timed_for_the_page(tmp_path):
    path = tmp_path / "preset-times.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_preset_times(path)
    assert preset_times("quick", path=path, cards=tmp_path).describe() == "not timed"


def test_bfloat16_only_where_the_cpu_computes_it_natively():
    assert cpu_name(CPUINFO) == "AMD EPYC 9R14"
    assert best_precision(cpu_flags(CPUINFO)) == "mixed_bfloat16"
    assert best_precision(frozenset({"avx2", "fma"})) == "float32"
    assert best_precision(frozenset({"amx_bf16"})) == "mixed_bfloat16"
    request = PRESETS["quick"].request("mine", precision="float32")
    assert request.train_config.precision == "float32"
    assert PRESETS["quick"].request("mine").train_config.precision == best_precision()
