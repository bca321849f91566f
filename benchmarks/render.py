"""Renderer throughput: one batched render vs the reference's item-by-item approach.

Renders ``--batch`` random five-stroke parses forward and backward (gradients w.r.t. control
points, blur and noise), then does the same work one parse and one stroke at a time with a full
2-D Gaussian kernel, as the reference renderer does; and the batched pass once more with the
smooth renderer (``RenderSettings(smooth=True)``, what Laplace's method uses), in float32 and in
float64 (Laplace works in float64). Prints a JSON object on its last line.

    python benchmarks/render.py [--batch 100] [--strokes 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from gns_pyro.parses import Parses
from gns_pyro.renderer import (
    RenderSettings,
    add_pixel_noise,
    broaden,
    deposit,
    render_control_points,
    sample_strokes,
)


def random_parses(batch: int, strokes: int, control: int, seed: int) -> Parses:
    g = torch.Generator().manual_seed(seed)
    start = 20 + 65 * torch.rand(batch, strokes, 1, 2, generator=g)
    steps = 6 * torch.randn(batch, strokes, control - 1, 2, generator=g)
    cpts = torch.cat([start, start + steps.cumsum(2)], 2).clamp(2, 102)
    return Parses.from_control_points([list(c) for c in cpts])


def blur_2d(image: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Reference-style blur: one full k x k Gaussian kernel, k = 2 ceil(3 sigma) + 1."""
    radius = max(1, math.ceil(3 * float(sigma.detach())))
    pos = torch.arange(-radius, radius + 1, dtype=image.dtype)
    d2 = pos.view(-1, 1) ** 2 + pos.view(1, -1) ** 2
    kernel = torch.exp(-d2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return F.conv2d(
        image.view(1, 1, *image.shape), kernel.view(1, 1, *kernel.shape), padding=radius
    )[0, 0]


def item_by_item(parses: Parses, blur: torch.Tensor, noise: torch.Tensor) -> None:
    for b in range(len(parses)):
        cpts = parses.control_points[b].clone().requires_grad_(True)
        sigma = blur[b].clone().requires_grad_(True)
        eps = noise[b].clone().requires_grad_(True)
        ink = torch.zeros(105, 105)
        for s in range(int(parses.num_strokes[b])):
            n = int(parses.num_control[b, s])
            points, weights = sample_strokes(cpts[s : s + 1, :n], torch.tensor([n]))
            ink = ink + deposit(points, weights, torch.tensor([0]), 1)[0]
        img = broaden(ink)
        for _ in range(2):
            img = blur_2d(img, sigma)
        img = add_pixel_noise(img.clamp(0, 1)[None], eps.view(1))[0]
        img.sum().backward()


def batched(
    parses: Parses, blur: torch.Tensor, noise: torch.Tensor, settings=RenderSettings()
) -> None:
    cpts = parses.control_points.clone().requires_grad_(True)
    sigma = blur.clone().requires_grad_(True)
    eps = noise.clone().requires_grad_(True)
    render_control_points(
        cpts, parses.num_control, parses.stroke_mask, sigma, eps, settings
    ).sum().backward()


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main(args: argparse.Namespace) -> dict:
    parses = random_parses(args.batch, args.strokes, args.control, args.seed)
    g = torch.Generator().manual_seed(args.seed)
    blur = 0.5 + 3.5 * torch.rand(args.batch, generator=g)
    noise = 1e-3 + 0.1 * torch.rand(args.batch, generator=g)
    t_batched = timeit(lambda: batched(parses, blur, noise), args.repeats)
    t_loop = timeit(lambda: item_by_item(parses, blur, noise), args.repeats)
    smooth = RenderSettings(smooth=True)
    t_smooth = timeit(lambda: batched(parses, blur, noise, smooth), args.repeats)
    p64, b64, n64 = parses.to(dtype=torch.float64), blur.double(), noise.double()
    t_reference64 = timeit(lambda: batched(p64, b64, n64), args.repeats)
    t_smooth64 = timeit(lambda: batched(p64, b64, n64, smooth), args.repeats)
    result = {
        "batch": args.batch,
        "strokes": args.strokes,
        "control_points": args.control,
        "torch_threads": torch.get_num_threads(),
        "batched_seconds": round(t_batched, 4),
        "item_by_item_seconds": round(t_loop, 4),
        "speedup": round(t_loop / t_batched, 1),
        "smooth_seconds": round(t_smooth, 4),
        "smooth_over_reference": round(t_smooth / t_batched, 2),
        "float64_reference_seconds": round(t_reference64, 4),
        "float64_smooth_seconds": round(t_smooth64, 4),
        "float64_smooth_over_reference": round(t_smooth64 / t_reference64, 2),
    }
    print(json.dumps(result))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--strokes", type=int, default=5)
    parser.add_argument("--control", type=int, default=8, help="control points per stroke")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
