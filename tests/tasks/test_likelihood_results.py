"""A saved likelihood result is reused only when it agrees with its own modes."""

import math

from gns_pyro.tasks.likelihood import consistent_marginal


def _result() -> dict:
    modes = [
        {"log_marginal": -410.25, "duplicate_of": None},
        {"log_marginal": -412.5, "duplicate_of": None},
        {"log_marginal": -410.3, "duplicate_of": 0},  # the same maximum: counted once
    ]
    total = math.log(math.exp(-410.25 + 410) + math.exp(-412.5 + 410)) - 410
    return {"log_marginal": total, "modes": 3, "distinct_modes": 2, "modes_detail": modes}


def test_a_result_is_the_log_sum_exp_of_its_distinct_modes():
    assert consistent_marginal(_result())


def test_an_edited_or_damaged_result_is_not_trusted():
    good = _result()
    assert not consistent_marginal({**good, "log_marginal": 12345.0})
    assert not consistent_marginal({**good, "log_marginal": float("nan")})
    assert not consistent_marginal({**good, "modes": 4})
    assert not consistent_marginal({**good, "distinct_modes": 3})
    assert not consistent_marginal({**good, "modes_detail": "many"})
    assert not consistent_marginal({**good, "modes_detail": []})
    no_modes = {k: v for k, v in good.items() if k != "modes_detail"}
    assert not consistent_marginal(no_modes)
    nan_mode = [{**good["modes_detail"][0], "log_marginal": float("nan")}] + good["modes_detail"][
        1:
    ]
    assert not consistent_marginal({**good, "modes_detail": nan_mode})
