"""Type-prior throughput: training, batched scoring vs one-by-one scoring, sampling.

Prints a JSON object on its last line:

* ``train_drawings_per_second``: one training step (``pyro.infer.SVI`` with ``Trace_ELBO``, the
  empty guide and the ``pyro.optim`` scheduler that ``gns-pyro train`` uses) on batches of 64
  real drawings; ``hand_loop_drawings_per_second``: the same steps written by hand
  (``-trace.log_prob_sum()``, ``backward``, one ``torch.optim.Adam``), and ``svi_overhead``, the
  ratio of their times, in the same run;
* ``score_batched_seconds`` / ``score_one_by_one_seconds`` / ``speedup``: log P(psi) of the same
  500 real parses scored as one plate vs one at a time, in the same run;
* ``sample_36_seconds``: sampling 36 new concepts at T = 0.5 with the shipped weights.

    python benchmarks/type_prior.py [--n-score 500] [--train-batches 5]
"""

from __future__ import annotations

import argparse
import json
import time

import pyro
import torch
from pyro import poutine

from gns_pyro.data import load_spline_dataset
from gns_pyro.models import CharacterParts, generate_type, type_log_prob
from gns_pyro.pretrained import load_type_prior
from gns_pyro.train import TrainSettings, empty_guide, make_optimizer, type_model


def main(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    data = load_spline_dataset(args.data_dir, exclude_alphabets=["Tagalog"])
    order = torch.randperm(len(data))
    parts = load_type_prior()
    result = {"torch_threads": torch.get_num_threads()}

    with pyro.validation_enabled(False):
        batches = [
            data.parses[order[k * 64 : (k + 1) * 64]].trim() for k in range(args.train_batches)
        ]
        seconds = {}
        for way in ("hand_loop", "svi", "hand_loop", "svi"):  # interleaved: a noisy machine
            pyro.clear_param_store()
            trainee = CharacterParts().train()
            optimizer = torch.optim.Adam(trainee.parameters(), 1e-3)
            svi = pyro.infer.SVI(
                type_model, empty_guide, make_optimizer(TrainSettings()), pyro.infer.Trace_ELBO()
            )
            start = time.perf_counter()
            for batch in batches:
                if way == "svi":
                    svi.step(trainee, batch)
                    continue
                trace = poutine.trace(generate_type).get_trace(trainee, parses=batch)
                loss = -trace.log_prob_sum() / len(batch)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainee.parameters(), 5.0)
                optimizer.step()
            seconds[way] = seconds.get(way, 0.0) + time.perf_counter() - start
        seen = 2 * sum(len(b) for b in batches)
        result["train_drawings_per_second"] = round(seen / seconds["svi"], 1)
        result["hand_loop_drawings_per_second"] = round(seen / seconds["hand_loop"], 1)
        result["svi_overhead"] = round(seconds["svi"] / seconds["hand_loop"], 3)

        parses = data.parses[order[: args.n_score]].trim()
        with torch.no_grad():
            start = time.perf_counter()
            batched = type_log_prob(parts, parses)
            t_batched = time.perf_counter() - start
            start = time.perf_counter()
            single = torch.cat([type_log_prob(parts, parses[b].trim()) for b in range(len(parses))])
            t_single = time.perf_counter() - start
        max_diff = float((batched - single).abs().max())
        result.update(
            n_score=len(parses),
            score_batched_seconds=round(t_batched, 3),
            score_one_by_one_seconds=round(t_single, 3),
            speedup=round(t_single / t_batched, 1),
            max_abs_difference=max_diff,
        )

        pyro.set_rng_seed(0)
        with torch.no_grad():
            start = time.perf_counter()
            generate_type(parts, batch_size=36, temperature=0.5)
            result["sample_36_seconds"] = round(time.perf_counter() - start, 3)
    print(json.dumps(result))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-score", type=int, default=500)
    parser.add_argument("--train-batches", type=int, default=5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
