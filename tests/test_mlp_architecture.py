import torch
from torch import nn

from matinv_bench.solvers.mlp import build_mlp, mlp_flops, mlp_param_count


def test_two_and_three_layer_nets_have_relu_between_linear_layers():
    two = build_mlp(2, 8, 2)
    assert [type(m) for m in two] == [nn.Linear, nn.ReLU, nn.Linear]
    three = build_mlp(3, 72, 3)
    assert [type(m) for m in three] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert three[0].in_features == 9 and three[-1].out_features == 9 and three[2].in_features == 72


def test_the_net_is_not_a_linear_map():
    torch.manual_seed(0)
    net = build_mlp(2, 8, 2)
    x = torch.randn(5, 4, dtype=torch.float64)
    assert not torch.allclose(net(x) + net(-x), 2 * net(torch.zeros_like(x)))


def test_flops_and_parameter_counts():
    assert mlp_flops(2, 8, 2) == 2 * (4 * 8 + 8 * 4)
    assert mlp_flops(3, 72, 3) == 2 * (9 * 72 + 72 * 72 + 72 * 9)
    assert (
        mlp_param_count(2, 8, 2) == (4 * 8 + 8) + (8 * 4 + 4) == sum(p.numel() for p in build_mlp(2, 8, 2).parameters())
    )
