"""The FLOP count of benchmarks/bench_flops.py on a layer with a hand-computed count."""

import torch

from benchmarks.bench_flops import matmul_peak, step_flops


class OneConv:
    """A StepTimer stand-in: one 3x3 convolution forward and backward on a fixed batch."""

    def __init__(self) -> None:
        self.conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
        self.x = torch.randn(2, 4, 5, 6)

    def step(self) -> None:
        self.conv(self.x).sum().backward()


def test_step_flops_counts_forward_and_backward_of_a_convolution():
    macs = 2 * 8 * 5 * 6 * 4 * 9  # batch x out channels x pixels x (in channels x kernel)
    # forward 2 * macs; backward: the weight gradient 2 * macs (the input needs no gradient)
    assert step_flops(OneConv()) == 4 * macs


def test_matmul_peak_is_a_positive_rate():
    assert matmul_peak(size=64, repeats=3) > 1e6
