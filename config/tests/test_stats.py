from config.stats import percentiles


def test_percentiles_interpolate_between_ranks_and_round():
    values = [float(v) for v in range(1, 101)]  # 1 … 100 ms
    assert percentiles(values) == {"p50": 50.5, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([3.14159], digits=2) == {"p50": 3.14, "p95": 3.14, "p99": 3.14, "max": 3.14}
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
